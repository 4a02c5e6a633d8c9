"""Meter readings: how many units a month used, from the reading before it (issue 15).

A reading belongs to a customer's meter and a billing month (one per month). Staff type it
in the chat (accepted at once), import it from a CSV file, or accept a customer's own
submission (pending until then). Every way in goes through the same checks
(:func:`assess`), each refusal an exception that carries its figures:

* a month that has not begun: :class:`ReadingInFuture`;
* a month already billed: :class:`MonthAlreadyBilled` (re-entering a month's reading before
  its bill corrects it; after, the bill is corrected instead);
* more digits than the meter's register has: :class:`ReadingTooLarge`;
* lower than the previous reading and not a rollover: ``ReadingBelowPrevious`` (both
  figures); higher than a later month's reading already recorded: :class:`ReadingAboveNext`;
* the first reading of a meter has nothing to count from: it becomes the baseline, and a
  month's units asked of it raise :class:`NoPreviousReading`.

The previous reading of a month is the newest actual figure of an earlier month: an accepted
reading, or an issued bill's ``current_reading``. Estimates (a bill run's guesses) are never
a previous reading.

A register counts up to ``10**digits − 1`` and rolls over to 0. A reading lower than the last
is a rollover only when the register was near its end and the new figure near its start
(less than :data:`ROLLOVER_WINDOW` of the register's range apart); otherwise it is refused as
a probable mistake, with both figures, for staff to check.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain import audit, validation
from domain.db import Database, Row, UnitOfWork, error_code
from domain.errors import (
    CustomerNotFound,
    DomainError,
    ImportRejected,
    InvalidInput,
    NotFound,
    ReadingBelowPrevious,
)
from domain.models import Page, utc

ROLLOVER_WINDOW = Decimal("0.1")  # the last tenth of the register and the first tenth
MAX_READING = Decimal("9999999999.99")  # DECIMAL(12,2)
RECENT_READINGS = 6


def register_size(digits: int) -> Decimal:
    """How many kWh a register of ``digits`` digits counts before it rolls over."""
    return Decimal(10) ** digits


def consumption(previous: Decimal, current: Decimal, *, digits: int) -> tuple[Decimal, bool]:
    """The units used between ``previous`` and ``current`` and whether the register rolled
    over on the way; ReadingBelowPrevious when ``current`` is lower and not a rollover."""
    if current >= previous:
        return current - previous, False
    size = register_size(digits)
    used = size - previous + current
    if used <= size * ROLLOVER_WINDOW * 2 and previous < size:
        return used, True
    raise ReadingBelowPrevious(previous=previous, current=current)


# ---------------------------------------------------------------------------------------------
# Refusals, with their figures (the words people read are chosen in handlers/)


class ReadingInFuture(InvalidInput):
    """A reading for ``billing_month``, which begins after ``current_month``."""

    def __init__(self, billing_month: date, current_month: date) -> None:
        super().__init__(
            f"{billing_month:%Y-%m} has not begun yet (this month is {current_month:%Y-%m})."
        )
        self.billing_month = billing_month
        self.current_month = current_month


class MonthAlreadyBilled(DomainError):
    """``billing_month`` has its bill (``bill_id``, issued on ``billed_reading`` when it was
    billed from a reading): its reading can no longer change."""

    def __init__(self, billing_month: date, bill_id: int, billed_reading: Decimal | None) -> None:
        super().__init__(
            f"{billing_month:%Y-%m} is already billed (bill {bill_id}); correct the bill instead."
        )
        self.billing_month = billing_month
        self.bill_id = bill_id
        self.billed_reading = billed_reading


class ReadingTooLarge(InvalidInput):
    """``reading`` has more digits than the meter's register (``digits``) shows."""

    def __init__(self, reading: Decimal, digits: int) -> None:
        super().__init__(f"The reading {reading} has more than the meter's {digits} digits.")
        self.reading = reading
        self.digits = digits


class ReadingAboveNext(InvalidInput):
    """``current`` is higher than the reading already recorded for a later month
    (``next_month``: ``next_reading``) and the register cannot have rolled over between."""

    def __init__(self, *, current: Decimal, next_month: date, next_reading: Decimal) -> None:
        super().__init__(
            f"The reading {current} is higher than {next_reading}, recorded for "
            f"{next_month:%Y-%m}."
        )
        self.current = current
        self.next_month = next_month
        self.next_reading = next_reading


class NoPreviousReading(DomainError):
    """The reading of ``billing_month`` (``current``) is the meter's first: the baseline that
    later months count from; it has no units of its own."""

    def __init__(self, billing_month: date, current: Decimal) -> None:
        super().__init__(
            f"The reading {current} of {billing_month:%Y-%m} is the meter's first: no units yet."
        )
        self.billing_month = billing_month
        self.current = current


class NoReading(NotFound):
    """No accepted reading of ``billing_month`` (``pending``: one waits for staff)."""

    def __init__(self, billing_month: date, *, pending: bool = False) -> None:
        super().__init__(f"No accepted reading for {billing_month:%Y-%m}.")
        self.billing_month = billing_month
        self.pending = pending


class InvalidReading(InvalidInput):
    """``text`` is not a meter reading (a number of at most two decimals, 0 or more)."""

    def __init__(self, text: str) -> None:
        super().__init__("A reading is the number on the meter, e.g. 12345 or 12345.6.")
        self.text = text


class ReadingNotFound(NotFound):
    def __init__(self, reading_id: int) -> None:
        super().__init__("That reading could not be found.")
        self.reading_id = reading_id


class ReadingAlreadyReviewed(DomainError):
    """A submission staff tried to review was already ``status`` (accepted or rejected)."""

    def __init__(self, reading_id: int, status: ReadingStatus) -> None:
        super().__init__(f"That reading has already been {status.value}.")
        self.reading_id = reading_id
        self.status = status


class ReadingAlreadySent(DomainError):
    """The customer's ``billing_month`` already has a reading (``existing``): recorded,
    waiting for staff, or rejected by them."""

    def __init__(self, existing: Reading) -> None:
        super().__init__(
            f"{existing.billing_month:%Y-%m} already has a reading ({existing.status.value})."
        )
        self.existing = existing


# ---------------------------------------------------------------------------------------------
# Records


class ReadingSource(StrEnum):
    STAFF = "staff"  # typed in the chat by staff
    IMPORT = "import"  # a CSV file
    CUSTOMER = "customer"  # submitted by the customer in the chat
    ESTIMATE = "estimate"  # made by a bill run


class ReadingStatus(StrEnum):
    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Meter:
    customer_id: int
    meter_number: str
    full_name: str
    digits: int
    telegram_user_id: int | None

    @classmethod
    def from_row(cls, row: Row) -> Meter:
        return cls(
            customer_id=int(row["customer_id"]),
            meter_number=row["meter_number"],
            full_name=row["full_name"],
            digits=int(row["meter_digits"]),
            telegram_user_id=row["telegram_user_id"],
        )


@dataclass(frozen=True)
class Reading:
    reading_id: int
    customer_id: int
    billing_month: date
    reading: Decimal
    source: ReadingSource
    status: ReadingStatus
    submitted_reading: Decimal | None  # what the customer typed, when staff corrected it
    photo_file_id: str | None
    entered_by_admin_id: int | None
    reviewed_by_admin_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Reading:
        submitted = row["submitted_reading"]
        created = utc(row["created_at"])
        updated = utc(row["updated_at"])
        assert created is not None and updated is not None
        return cls(
            reading_id=int(row["reading_id"]),
            customer_id=int(row["customer_id"]),
            billing_month=row["billing_month"],
            reading=Decimal(row["reading"]),
            source=ReadingSource(row["source"]),
            status=ReadingStatus(row["status"]),
            submitted_reading=None if submitted is None else Decimal(submitted),
            photo_file_id=row["photo_file_id"],
            entered_by_admin_id=row["entered_by_admin_id"],
            reviewed_by_admin_id=row["reviewed_by_admin_id"],
            created_at=created,
            updated_at=updated,
        )


@dataclass(frozen=True)
class MonthReading:
    """A figure of a month that another month is checked against: an accepted reading, or
    (``from_bill``) the current reading an issued bill was computed from."""

    billing_month: date
    reading: Decimal
    from_bill: bool = False

    @classmethod
    def from_row(cls, row: Row | None) -> MonthReading | None:
        if row is None:
            return None
        return cls(row["billing_month"], Decimal(row["reading"]), bool(row["from_bill"]))


@dataclass(frozen=True)
class Consumption:
    """A month's reading and the units it makes: ``units`` is None for a meter's first
    reading (the baseline), which has no ``previous``."""

    billing_month: date
    current: Decimal
    previous: MonthReading | None
    units: Decimal | None
    rolled_over: bool = False
    # An estimate stored by a bill run after ``previous`` (a month with no reading): the run
    # counts this month from it, or corrects that month's bill down to this reading.
    estimate: MonthReading | None = None

    @property
    def baseline(self) -> bool:
        return self.previous is None


@dataclass(frozen=True)
class Recorded:
    """A reading as stored, the units it makes, and the figure it replaced (a re-entry)."""

    reading: Reading
    meter: Meter
    consumption: Consumption
    replaced: Decimal | None = None


@dataclass(frozen=True)
class PendingReading:
    """A customer's submission waiting for staff, with the figure it is counted from."""

    reading: Reading
    meter: Meter
    previous: MonthReading | None


# ---------------------------------------------------------------------------------------------
# The rules (pure)

_READING_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
_GROUPED_RE = re.compile(r"^\d{1,3}(,\d{3})+(\.\d{1,2})?$")


def parse_reading(text: str) -> Decimal:
    """A reading as typed: digits, at most two decimals, thousands commas allowed (12,345.6)."""
    cleaned = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if _GROUPED_RE.match(cleaned):
        cleaned = cleaned.replace(",", "")
    if not cleaned.isascii() or not _READING_RE.match(cleaned):
        raise InvalidReading(text)
    value = Decimal(cleaned)
    if value > MAX_READING:
        raise InvalidReading(text)
    return value


def assess(
    *,
    billing_month: date,
    reading: Decimal,
    digits: int,
    previous: MonthReading | None,
    following: MonthReading | None,
    current_month: date,
) -> Consumption:
    """Check ``reading`` for ``billing_month`` against the figures around it and count the
    units it makes; each refusal is an exception with its figures (see the module's doc)."""
    if billing_month > current_month:
        raise ReadingInFuture(billing_month, current_month)
    if reading >= register_size(digits):
        raise ReadingTooLarge(reading, digits)
    if following is not None:
        try:
            consumption(reading, following.reading, digits=digits)
        except ReadingBelowPrevious as exc:
            raise ReadingAboveNext(
                current=reading,
                next_month=following.billing_month,
                next_reading=following.reading,
            ) from exc
    if previous is None:
        return Consumption(billing_month, reading, None, None)
    try:
        units, rolled_over = consumption(previous.reading, reading, digits=digits)
    except ReadingBelowPrevious as exc:
        raise ReadingBelowPrevious(
            previous=previous.reading, current=reading, previous_month=previous.billing_month
        ) from exc
    return Consumption(billing_month, reading, previous, units, rolled_over)


# ---------------------------------------------------------------------------------------------
# Reading the database


async def meter(db: Database, meter_number: str) -> Meter:
    """A customer's meter by its number; CustomerNotFound if no customer has it."""
    row = await db.fetch_one(
        "reading_meter", {"meter_number": validation.meter_number(meter_number)}
    )
    if row is None:
        raise CustomerNotFound(meter_number)
    return Meter.from_row(row)


async def meter_of_customer(db: Database, customer_id: int) -> Meter:
    row = await db.fetch_one("reading_meter_of_customer", {"customer_id": customer_id})
    if row is None:
        raise CustomerNotFound()
    return Meter.from_row(row)


async def recent(db: Database, customer_id: int, *, limit: int = RECENT_READINGS) -> list[Reading]:
    """A customer's latest readings (any status), newest month first."""
    rows = await db.fetch_all("recent_readings", {"customer_id": customer_id, "limit": limit})
    return [Reading.from_row(row) for row in rows]


async def reading_of_month(db: Database, customer_id: int, billing_month: date) -> Reading | None:
    row = await db.fetch_one(
        "reading_of_month", {"customer_id": customer_id, "billing_month": billing_month}
    )
    return None if row is None else Reading.from_row(row)


async def bill_of_month(db: Database, customer_id: int, billing_month: date) -> int | None:
    """The id of the customer's bill of ``billing_month``, if issued (its reading is final)."""
    which = {"customer_id": customer_id, "billing_month": billing_month}
    row = await db.fetch_one("bill_of_reading_month", which)
    return None if row is None else int(row["bill_id"])


async def _previous(
    uow: UnitOfWork | Database, customer_id: int, month: date
) -> MonthReading | None:
    which = {"customer_id": customer_id, "billing_month": month}
    return MonthReading.from_row(await uow.fetch_one("previous_reading", which))


async def _following(
    uow: UnitOfWork | Database, customer_id: int, month: date
) -> MonthReading | None:
    which = {"customer_id": customer_id, "billing_month": month}
    return MonthReading.from_row(await uow.fetch_one("next_reading", which))


async def _estimate_since(uow: UnitOfWork, made: Consumption, customer_id: int) -> Consumption:
    """``made`` with the estimate stored after its previous actual reading, if any."""
    if made.previous is None:
        return made
    which = {"customer_id": customer_id, "billing_month": made.billing_month}
    estimate = MonthReading.from_row(await uow.fetch_one("estimate_before", which))
    if estimate is None or estimate.billing_month <= made.previous.billing_month:
        return made
    return replace(made, estimate=estimate)


async def previous_reading(
    db: Database, customer_id: int, billing_month: date
) -> MonthReading | None:
    """The figure ``billing_month``'s units are counted from (see the module's doc)."""
    return await _previous(db, customer_id, billing_month)


async def units(db: Database, customer_id: int, billing_month: date) -> Consumption:
    """The units ``billing_month`` used, from its accepted reading and the previous one.

    NoReading when the month has no accepted reading (``pending`` if one waits for staff);
    NoPreviousReading when it is the meter's first; ReadingBelowPrevious when the figures
    disagree (a reading recorded before an earlier month was corrected).
    """

    async def work(uow: UnitOfWork) -> Consumption:
        which = {"customer_id": customer_id, "billing_month": billing_month}
        row = await uow.fetch_one("reading_of_month", which)
        if row is None or row["status"] != ReadingStatus.ACCEPTED:
            pending = row is not None and row["status"] == ReadingStatus.PENDING
            raise NoReading(billing_month, pending=pending)
        current = Decimal(row["reading"])
        found = await uow.fetch_one("reading_meter_of_customer", {"customer_id": customer_id})
        if found is None:
            raise CustomerNotFound()
        previous = await _previous(uow, customer_id, billing_month)
        if previous is None:
            raise NoPreviousReading(billing_month, current)
        try:
            used, rolled_over = consumption(
                previous.reading, current, digits=int(found["meter_digits"])
            )
        except ReadingBelowPrevious as exc:
            raise ReadingBelowPrevious(
                previous=previous.reading, current=current, previous_month=previous.billing_month
            ) from exc
        made = Consumption(billing_month, current, previous, used, rolled_over)
        return await _estimate_since(uow, made, customer_id)

    return await db.read(work)


async def preview(
    db: Database, customer_id: int, billing_month: date, reading: Decimal, *, current_month: date
) -> Consumption:
    """What recording ``reading`` would make, checked as :func:`record` checks it, without
    writing anything (the confirmation staff see before they save)."""

    async def work(uow: UnitOfWork) -> Consumption:
        found = await uow.fetch_one("reading_meter_of_customer", {"customer_id": customer_id})
        if found is None:
            raise CustomerNotFound()
        return await _assessed(
            uow, Meter.from_row(found), billing_month, reading, current_month=current_month
        )

    return await db.read(work)


async def _assessed(
    uow: UnitOfWork, meter: Meter, month: date, reading: Decimal, *, current_month: date
) -> Consumption:
    """:func:`assess` with the month's bill and the figures around it read from ``uow``."""
    if month > current_month:  # before anything is read
        raise ReadingInFuture(month, current_month)
    which = {"customer_id": meter.customer_id, "billing_month": month}
    bill = await uow.fetch_one("bill_of_reading_month", which)
    if bill is not None:
        billed = bill["current_reading"]
        raise MonthAlreadyBilled(
            month, int(bill["bill_id"]), None if billed is None else Decimal(billed)
        )
    made = assess(
        billing_month=month,
        reading=reading,
        digits=meter.digits,
        previous=await _previous(uow, meter.customer_id, month),
        following=await _following(uow, meter.customer_id, month),
        current_month=current_month,
    )
    return await _estimate_since(uow, made, meter.customer_id)


# ---------------------------------------------------------------------------------------------
# Staff: record a reading (accepted at once)


def _reading_audit(reading: Reading | None) -> dict[str, Any] | None:
    if reading is None:
        return None
    return {
        "billing_month": f"{reading.billing_month:%Y-%m}",
        "reading": reading.reading,
        "source": reading.source.value,
        "status": reading.status.value,
    }


async def record(
    db: Database,
    *,
    customer_id: int,
    billing_month: date,
    reading: Decimal,
    admin_id: int | None,
    current_month: date,
    source: ReadingSource = ReadingSource.STAFF,
) -> Recorded:
    """Record a month's reading, accepted at once, in one transaction with its audit entry.

    A month that already has a reading (typed before, imported, or a customer's submission)
    gets the new figure, as long as the month is not billed (MonthAlreadyBilled). Every check
    of :func:`assess` applies; a meter's first reading is recorded as its baseline (units
    None).
    """
    month = validation.billing_month(billing_month)

    async def work(uow: UnitOfWork) -> Recorded:
        recorded = await _record(
            uow, customer_id, month, reading, admin_id, source, current_month=current_month
        )
        await audit.record(
            uow,
            admin_id=admin_id,
            action="reading.record" if recorded.replaced is None else "reading.correct",
            entity_type="meter_reading",
            entity_id=recorded.reading.reading_id,
            customer_id=customer_id,
            before=None if recorded.replaced is None else {"reading": recorded.replaced},
            after=_reading_audit(recorded.reading),
        )
        await uow.commit()
        return recorded

    return await db.transaction(work)


async def _record(
    uow: UnitOfWork,
    customer_id: int,
    month: date,
    reading: Decimal,
    admin_id: int | None,
    source: ReadingSource,
    *,
    current_month: date,
) -> Recorded:
    """Check and write one staff or imported reading in the caller's transaction."""
    locked = await uow.fetch_one("lock_reading_meter", {"customer_id": customer_id})
    if locked is None:
        raise CustomerNotFound()
    the_meter = Meter.from_row(locked)
    which = {"customer_id": customer_id, "billing_month": month}
    row = await uow.fetch_one("lock_reading_of_month", which)
    existing = None if row is None else Reading.from_row(row)
    assessed = await _assessed(uow, the_meter, month, reading, current_month=current_month)
    if existing is None:
        reading_id = await uow.insert(
            "insert_reading",
            {**which, "reading": reading, "source": source.value, "admin_id": admin_id},
        )
        replaced = None
    else:
        reading_id = existing.reading_id
        # Over a customer's submission the customer's figure is kept, as a correction's is.
        submitted = None
        if existing.source is ReadingSource.CUSTOMER:
            submitted = existing.submitted_reading
            if submitted is None:
                submitted = existing.reading
        await uow.execute(
            "update_reading",
            {
                "reading_id": reading_id,
                "reading": reading,
                "source": source.value,
                "status": ReadingStatus.ACCEPTED.value,
                "submitted_reading": submitted,
                "entered_by_admin_id": admin_id,
                "reviewed_by_admin_id": (
                    admin_id
                    if existing.status is ReadingStatus.PENDING
                    else existing.reviewed_by_admin_id
                ),
            },
        )
        replaced = existing.reading if existing.status is ReadingStatus.ACCEPTED else None
    stored = await uow.fetch_one("reading_by_id", {"reading_id": reading_id})
    assert stored is not None
    return Recorded(Reading.from_row(stored), the_meter, assessed, replaced)


# ---------------------------------------------------------------------------------------------
# Customers: submit their own reading (pending until staff review it)


async def submit(
    db: Database,
    *,
    customer_id: int,
    reading: Decimal,
    current_month: date,
    photo_file_id: str | None = None,
) -> Recorded:
    """A customer's reading of the current month (with the photo's Telegram file id, if they
    sent one), stored pending for staff. Checked as staff readings are; a month that already
    has a reading raises ReadingAlreadySent. Runs on the customer account, which may only
    insert it (the table's trigger makes it pending)."""
    month = validation.billing_month(current_month)
    if photo_file_id is not None and not 0 < len(photo_file_id) <= 255:
        raise InvalidInput("That photo cannot be kept; please send it again.")

    async def work(uow: UnitOfWork) -> Recorded:
        found = await uow.fetch_one("reading_meter_of_customer", {"customer_id": customer_id})
        if found is None:
            raise CustomerNotFound()
        the_meter = Meter.from_row(found)
        which = {"customer_id": customer_id, "billing_month": month}
        row = await uow.fetch_one("reading_of_month", which)
        if row is not None:
            raise ReadingAlreadySent(Reading.from_row(row))
        assessed = await _assessed(uow, the_meter, month, reading, current_month=month)
        try:
            reading_id = await uow.insert(
                "insert_customer_reading",
                {**which, "reading": reading, "photo_file_id": photo_file_id},
            )
        except Exception as exc:
            if error_code(exc) != 1062:
                raise
            row = await uow.fetch_one("reading_of_month", which)  # sent twice at once
            if row is None:
                raise
            raise ReadingAlreadySent(Reading.from_row(row)) from exc
        stored = await uow.fetch_one("reading_by_id", {"reading_id": reading_id})
        assert stored is not None
        await uow.commit()
        return Recorded(Reading.from_row(stored), the_meter, assessed)

    return await db.transaction(work)


# ---------------------------------------------------------------------------------------------
# Staff: review customers' submissions


async def pending(db: Database, *, page: int = 0, page_size: int = 5) -> Page[PendingReading]:
    """A page of the submissions waiting for staff, oldest first."""

    async def work(uow: UnitOfWork) -> Page[PendingReading]:
        total = int(await uow.fetch_value("count_pending_readings") or 0)
        rows = await uow.fetch_all(
            "pending_readings", {"limit": page_size, "offset": page * page_size}
        )
        items = []
        for row in rows:
            reading = Reading.from_row(row)
            previous = await _previous(uow, reading.customer_id, reading.billing_month)
            items.append(PendingReading(reading, Meter.from_row(row), previous))
        return Page(items, page, page_size, total)

    return await db.read(work)


async def get(db: Database, reading_id: int) -> Reading:
    row = await db.fetch_one("reading_by_id", {"reading_id": reading_id})
    if row is None:
        raise ReadingNotFound(reading_id)
    return Reading.from_row(row)


async def _locked_pending(uow: UnitOfWork, reading_id: int) -> tuple[Reading, Meter]:
    """A pending submission and its meter, both locked (the meter first, as _record does)."""
    row = await uow.fetch_one("reading_by_id", {"reading_id": reading_id})
    if row is None:
        raise ReadingNotFound(reading_id)
    locked = await uow.fetch_one("lock_reading_meter", {"customer_id": row["customer_id"]})
    row = await uow.fetch_one("lock_reading_by_id", {"reading_id": reading_id})
    if row is None or locked is None:
        raise ReadingNotFound(reading_id)
    reading = Reading.from_row(row)
    if reading.status is not ReadingStatus.PENDING:
        raise ReadingAlreadyReviewed(reading_id, reading.status)
    return reading, Meter.from_row(locked)


async def accept(
    db: Database,
    reading_id: int,
    *,
    admin_id: int,
    current_month: date,
    corrected: Decimal | None = None,
) -> Recorded:
    """Accept a customer's submission, as sent or with staff's ``corrected`` figure (the
    customer's stays in ``submitted_reading``), checked as every reading is.

    ReadingAlreadyReviewed when someone decided it first; MonthAlreadyBilled when its month
    has been billed since."""

    async def work(uow: UnitOfWork) -> Recorded:
        submitted, the_meter = await _locked_pending(uow, reading_id)
        figure = submitted.reading if corrected is None else corrected
        assessed = await _assessed(
            uow, the_meter, submitted.billing_month, figure, current_month=current_month
        )
        changed = figure != submitted.reading
        await uow.execute(
            "update_reading",
            {
                "reading_id": reading_id,
                "reading": figure,
                "source": submitted.source.value,
                "status": ReadingStatus.ACCEPTED.value,
                "submitted_reading": submitted.reading if changed else None,
                "entered_by_admin_id": submitted.entered_by_admin_id,
                "reviewed_by_admin_id": admin_id,
            },
        )
        await audit.record(
            uow,
            admin_id=admin_id,
            action="reading.correct" if changed else "reading.accept",
            entity_type="meter_reading",
            entity_id=reading_id,
            customer_id=submitted.customer_id,
            before=_reading_audit(submitted),
            after={"reading": figure, "status": ReadingStatus.ACCEPTED.value},
        )
        stored = await uow.fetch_one("reading_by_id", {"reading_id": reading_id})
        assert stored is not None
        await uow.commit()
        return Recorded(Reading.from_row(stored), the_meter, assessed)

    return await db.transaction(work)


async def reject(db: Database, reading_id: int, *, admin_id: int) -> tuple[Reading, Meter]:
    """Reject a customer's submission (it stays, rejected, with who decided it)."""

    async def work(uow: UnitOfWork) -> tuple[Reading, Meter]:
        submitted, the_meter = await _locked_pending(uow, reading_id)
        await uow.execute(
            "update_reading",
            {
                "reading_id": reading_id,
                "reading": submitted.reading,
                "source": submitted.source.value,
                "status": ReadingStatus.REJECTED.value,
                "submitted_reading": None,
                "entered_by_admin_id": submitted.entered_by_admin_id,
                "reviewed_by_admin_id": admin_id,
            },
        )
        await audit.record(
            uow,
            admin_id=admin_id,
            action="reading.reject",
            entity_type="meter_reading",
            entity_id=reading_id,
            customer_id=submitted.customer_id,
            before=_reading_audit(submitted),
            after={"status": ReadingStatus.REJECTED.value},
        )
        stored = await uow.fetch_one("reading_by_id", {"reading_id": reading_id})
        assert stored is not None
        await uow.commit()
        return Reading.from_row(stored), the_meter

    return await db.transaction(work)


# ---------------------------------------------------------------------------------------------
# Readings from a CSV file (/importbills with a meter_number,billing_month,reading header)

READING_COLUMNS = ("meter_number", "billing_month", "reading")
MAX_READING_ROWS = 50_000
MAX_READING_ERRORS = 200


def is_readings_header(first_line: str) -> bool:
    """Whether a CSV file's first line names the readings columns (in any order)."""
    cells = next(csv.reader([first_line.lstrip("\ufeff")]), [])
    names = [cell.strip().lower() for cell in cells]
    return "reading" in names


@dataclass(frozen=True)
class ReadingLine:
    line: int
    meter_number: str
    billing_month: date
    reading: Decimal


@dataclass(frozen=True)
class ReadingsImported:
    count: int
    baselines: int  # first readings of their meters: no units yet
    replaced: int  # months whose reading the file changed
    units: Decimal  # the units the file's readings make, in all


def _reading_lines(
    lines: Iterable[str], errors: list[tuple[int, str]], latest_month: date
) -> list[ReadingLine]:
    """Every good line of a readings file; each bad one goes to ``errors`` by line number."""
    reader = csv.reader(line.lstrip("\ufeff") if i == 0 else line for i, line in enumerate(lines))
    columns: dict[str, int] | None = None
    good: list[ReadingLine] = []
    seen: dict[tuple[str, date], int] = {}
    try:
        for record in reader:
            number = reader.line_num
            if not "".join(record).strip():
                continue
            if columns is None:
                names = [cell.strip().lower() for cell in record]
                if sorted(names) != sorted(READING_COLUMNS):
                    errors.append(
                        (
                            number,
                            "The first line must name the columns: "
                            + ",".join(READING_COLUMNS)
                            + ".",
                        )
                    )
                    return []
                columns = {name: index for index, name in enumerate(names)}
                continue
            if len(errors) >= MAX_READING_ERRORS:
                break
            if len(good) + len(errors) >= MAX_READING_ROWS:
                errors.append((number, f"A file may hold at most {MAX_READING_ROWS} readings."))
                break
            if len(record) != len(columns):
                errors.append(
                    (
                        number,
                        f"Expected {len(columns)} values separated by commas, "
                        f"found {len(record)}.",
                    )
                )
                continue
            problem, line = _reading_line(number, record, columns, latest_month)
            if line is None:
                errors.append((number, problem))
                continue
            key = (line.meter_number, line.billing_month)
            if key in seen:
                errors.append(
                    (
                        number,
                        f"{line.meter_number} {line.billing_month:%Y-%m} is already on "
                        f"line {seen[key]}.",
                    )
                )
                continue
            seen[key] = number
            good.append(line)
    except csv.Error as exc:
        errors.append((reader.line_num, f"The file is not valid CSV: {exc}."))
    if columns is None and not errors:
        errors.append((1, "The file is empty: the first line must name the columns."))
    return good


def _quoted(text: str, limit: int = 30) -> str:
    shown = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    return f"'{shown[: limit - 1] + '…' if len(shown) > limit else shown}'"


def _reading_line(
    number: int, record: list[str], columns: dict[str, int], latest_month: date
) -> tuple[str, ReadingLine | None]:
    meter_text = record[columns["meter_number"]]
    try:
        meter_number = validation.meter_number(meter_text)
    except InvalidInput:
        return f"meter number {_quoted(meter_text)} is not a meter number.", None
    month_text = record[columns["billing_month"]].strip()
    try:
        month = validation.billing_month(month_text)
    except InvalidInput:
        return f"month {_quoted(month_text)} is not a month: YYYY-MM.", None
    if month > latest_month:
        return (
            f"month {_quoted(month_text)} has not begun yet (this month is {latest_month:%Y-%m}).",
            None,
        )
    reading_text = record[columns["reading"]]
    try:
        value = parse_reading(reading_text)
    except InvalidReading:
        if not reading_text.strip():
            return "reading is empty.", None
        return f"reading {_quoted(reading_text)} is not a meter reading.", None
    return "", ReadingLine(number, meter_number, month, value)


def figure(value: Decimal) -> str:
    """A reading as the meter shows it: no trailing zeros (``12000.00`` → ``12000``)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def refusal_text(exc: DomainError) -> str:
    """A reading refusal as an import line's error (the chat's own words are chosen by its
    handler; a file's errors are read together, so they say the figures plainly)."""
    if isinstance(exc, ReadingBelowPrevious):
        month = f" ({exc.previous_month:%Y-%m})" if exc.previous_month else ""
        return (
            f"reading {figure(exc.current)} is lower than the previous reading "
            f"{figure(exc.previous)}{month} and is not a rollover."
        )
    if isinstance(exc, ReadingAboveNext):
        return (
            f"reading {figure(exc.current)} is higher than {figure(exc.next_reading)}, already "
            f"recorded for {exc.next_month:%Y-%m}."
        )
    if isinstance(exc, MonthAlreadyBilled):
        return f"{exc.billing_month:%Y-%m} is already billed (bill {exc.bill_id})."
    if isinstance(exc, ReadingTooLarge):
        return f"reading {figure(exc.reading)} has more than the meter's {exc.digits} digits."
    return str(exc)


async def import_reading_file(
    db: Database,
    open_lines: Callable[[], Iterable[str]],
    *,
    admin_id: int | None,
    latest_month: date,
) -> ReadingsImported:
    """Record every reading of a ``meter_number,billing_month,reading`` file in ONE
    transaction, or none: each line is checked as a reading typed by staff is (with the lines
    before it of the same meter), and any error raises ImportRejected with every error by
    line number. One audit entry for the file."""

    async def work(uow: UnitOfWork) -> ReadingsImported:
        errors: list[tuple[int, str]] = []
        source = open_lines()
        try:
            lines = _reading_lines(source, errors, latest_month)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        meters: dict[str, Meter] = {}
        for name in sorted({line.meter_number for line in lines}):
            row = await uow.fetch_one("reading_meter", {"meter_number": name})
            if row is not None:
                meters[name] = Meter.from_row(row)
        count = baselines = replaced = 0
        total = Decimal(0)
        # Month by month per meter: each reading is checked against the one before it.
        for line in sorted(lines, key=lambda item: (item.meter_number, item.billing_month)):
            found = meters.get(line.meter_number)
            if found is None:
                errors.append((line.line, f"No customer has meter number {line.meter_number}."))
                continue
            try:
                recorded = await _record(
                    uow,
                    found.customer_id,
                    line.billing_month,
                    line.reading,
                    admin_id,
                    ReadingSource.IMPORT,
                    current_month=latest_month,
                )
            except DomainError as exc:
                errors.append((line.line, refusal_text(exc)))
                continue
            count += 1
            baselines += recorded.consumption.baseline
            replaced += recorded.replaced is not None
            total += recorded.consumption.units or 0
        if errors:
            raise ImportRejected(sorted(errors)[:MAX_READING_ERRORS])
        if not count:
            raise ImportRejected([(2, "The file has a header but no readings.")])
        await audit.record(
            uow,
            admin_id=admin_id,
            action="reading.import",
            entity_type="import",
            entity_id="",
            after={"readings": count, "baselines": baselines, "replaced": replaced},
        )
        await uow.commit()
        return ReadingsImported(count, baselines, replaced, total)

    return await db.transaction(work)
