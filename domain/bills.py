"""Bills: issue, correct (with recalculation), list and look up."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import csv
import functools
import io
import json
import re
import unicodedata
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import islice
from typing import NamedTuple

from domain import audit, ledger, validation
from domain.billing import Tariff, flat_tariff
from domain.db import Database, Row, UnitOfWork, ValuesList, error_code, values_list
from domain.errors import (
    BillNotFound,
    ControlCharacters,
    CustomerNotFound,
    DomainError,
    ImportRejected,
    InvalidAmount,
    InvalidInput,
)
from domain.models import Bill, BillFilter, Page, PaymentStatus, db_time, now_utc
from domain.money import MAX_AMOUNT, bill_total, parse_decimal
from domain.payments import apply_credit, lock_bill
from domain.report_totals import ZERO

MAX_UNITS = Decimal("9999999.99")
MAX_RATE = Decimal("99999.9999")


@functools.lru_cache(maxsize=64)
def default_due_date(billing_month: date, due_days: int, *, issued_on: date) -> date:
    """A bill falls due ``due_days`` after its month's last day, or after the day it is
    issued if that is later: a bill for a month long past still leaves ``due_days`` to pay,
    instead of being overdue the moment it arrives. Every way of issuing a bill (/newbill,
    /importbills, a corrected month) takes its due date from here."""
    days_in_month = calendar.monthrange(billing_month.year, billing_month.month)[1]
    last_day = billing_month.replace(day=days_in_month)
    return max(last_day, issued_on) + timedelta(days=due_days)


def _issue_day(issued_on: date | None) -> date:
    """The day a bill is issued: the utility's local date the handler gives, else UTC's."""
    return issued_on if issued_on is not None else now_utc().date()


def _check_figures(units_used: Decimal, rate_per_unit: Decimal) -> Decimal:
    if (
        units_used <= 0
        or units_used > MAX_UNITS
        or units_used != units_used.quantize(Decimal("0.01"))
    ):
        raise InvalidAmount("Units must be greater than zero, with at most two decimals.")
    if (
        rate_per_unit <= 0
        or rate_per_unit > MAX_RATE
        or rate_per_unit != rate_per_unit.quantize(Decimal("0.0001"))
    ):
        raise InvalidAmount("The rate must be greater than zero, with at most four decimals.")
    return _checked_total(units_used, rate_per_unit)


def _checked_total(units_used: Decimal, rate_per_unit: Decimal) -> Decimal:
    """The bill total of figures each already within its limits."""
    total = bill_total(units_used, rate_per_unit)
    # Both limits hold for each figure alone; their product can still round to 0.00 or
    # overflow DECIMAL(12,2), which the database would refuse with a raw error.
    if total <= 0:
        raise InvalidAmount("These units and rate make a bill of 0.00; please check them.")
    if total > MAX_AMOUNT:
        raise InvalidAmount("These units and rate make a bill larger than the system can hold.")
    return total


@dataclass(frozen=True)
class BillWithCustomer:
    bill: Bill
    meter_number: str
    full_name: str


async def create_bill(
    db: Database,
    *,
    customer_id: int,
    billing_month: date,
    units_used: Decimal,
    rate_per_unit: Decimal,
    due_days: int = 14,
    due_date: date | None = None,
    issued_on: date | None = None,
    admin_id: int | None = None,
    tariff: Tariff | None = None,
) -> Bill:
    """Issue a bill of ``units_used`` on ``tariff`` (the flat ``rate_per_unit`` when none:
    ``total_amount = units × rate`` rounded half up to the cent), through the ledger.

    Without ``due_date`` it falls due as :func:`default_due_date` says, counted from
    ``issued_on`` (the utility's local date; UTC's today if not given)."""
    month = validation.billing_month(billing_month)
    if tariff is None:
        _check_figures(units_used, rate_per_unit)
        tariff = flat_tariff(rate_per_unit)
    new = ledger.NewBill(
        customer_id=customer_id,
        billing_month=month,
        due_date=due_date or default_due_date(month, due_days, issued_on=_issue_day(issued_on)),
        units=units_used,
        tariff=tariff,
    )

    async def work(uow: UnitOfWork) -> Bill:
        if await uow.fetch_one("get_customer", {"customer_id": customer_id}) is None:
            raise CustomerNotFound()
        issued = await ledger.issue(uow, new, admin_id=admin_id)
        # The customer's account credit pays what it can of the new bill, at once.
        from_credit = await apply_credit(uow, issued)
        await uow.commit()
        return from_credit.bill if from_credit else issued

    return await db.transaction(work)


async def update_bill(
    db: Database,
    bill_id: int,
    *,
    billing_month: date | None = None,
    units_used: Decimal | None = None,
    rate_per_unit: Decimal | None = None,
    due_days: int = 14,
    issued_on: date | None = None,
    admin_id: int | None = None,
) -> Bill:
    """Correct a bill's month, units or rate; its lines, total and status are recomputed on
    the tariff it was issued with (a new rate makes it a flat-rate bill at that rate).

    A bill moved to another month falls due as if issued on ``issued_on`` (the day of the
    correction). Refused when the new total would be below what is already paid, or when the
    new month already has a bill for this customer.
    """

    async def work(uow: UnitOfWork) -> Bill:
        before = await lock_bill(uow, bill_id)
        if before is None:
            raise BillNotFound()
        month = validation.billing_month(billing_month) if billing_month else before.billing_month
        units = units_used if units_used is not None else before.units_used
        if rate_per_unit is not None and rate_per_unit != before.rate_per_unit:
            _check_figures(units, rate_per_unit)
            tariff = flat_tariff(rate_per_unit)
        else:
            tariff = await ledger.tariff_of(uow, before)
            if tariff.single_rate is not None:
                _check_figures(units, tariff.single_rate)
        due = before.due_date
        if month != before.billing_month:
            due = default_due_date(month, due_days, issued_on=_issue_day(issued_on))
        after = await ledger.correct(
            uow,
            before,
            tariff=tariff,
            units=units,
            billing_month=month,
            due_date=due,
            admin_id=admin_id,
        )
        await uow.commit()
        return after

    return await db.transaction(work)


async def get(db: Database, bill_id: int, *, customer_id: int | None = None) -> Bill:
    """A bill by id; with ``customer_id``, only if it is that customer's."""
    row = await db.fetch_one("get_bill", {"bill_id": bill_id})
    if row is None or (customer_id is not None and int(row["customer_id"]) != customer_id):
        raise BillNotFound()
    return Bill.from_row(row)


def _status_params(bill_filter: BillFilter) -> dict[str, str | None]:
    """The filter as the queries' two status parameters (both NULL: every status)."""
    if bill_filter is BillFilter.ALL:
        return {"status_a": None, "status_b": None}
    statuses = bill_filter.statuses
    return {"status_a": statuses[0].value, "status_b": statuses[-1].value}


async def customer_bills(
    db: Database,
    customer_id: int,
    *,
    bill_filter: BillFilter = BillFilter.OWED,
    page: int = 0,
    page_size: int = 5,
) -> Page[Bill]:
    """One customer's bills that ``bill_filter`` lets through (by default, every bill still
    owed): open ones first (oldest due first), then paid ones."""
    page = max(0, page)
    params = {"customer_id": customer_id, **_status_params(bill_filter)}
    counted, rows = await db.read_batch(
        [
            ("count_customer_bills", params),
            ("customer_bills", {**params, "limit": page_size, "offset": page * page_size}),
        ]
    )
    total = int(next(iter(counted[0].values())))
    return Page([Bill.from_row(r) for r in rows], page, page_size, total)


async def pending_bills(db: Database, customer_id: int, *, limit: int = 50) -> list[Bill]:
    """A customer's unpaid and partly paid bills, oldest due first."""
    return (await customer_bills(db, customer_id, page_size=limit)).items


async def bill_for_month(db: Database, customer_id: int, billing_month: date) -> Bill | None:
    """The customer's bill for ``billing_month``, if one was issued."""
    row = await db.fetch_one(
        "customer_bill_for_month", {"customer_id": customer_id, "billing_month": billing_month}
    )
    return Bill.from_row(row) if row else None


async def list_bills(
    db: Database,
    *,
    bill_filter: BillFilter = BillFilter.ALL,
    billing_month: date | None = None,
    page: int = 0,
    page_size: int = 8,
) -> Page[BillWithCustomer]:
    """All bills that ``bill_filter`` lets through, newest month first, optionally of one
    month."""
    page = max(0, page)

    async def work(uow: UnitOfWork) -> Page[BillWithCustomer]:
        params = {**_status_params(bill_filter), "billing_month": billing_month}
        total = int(await uow.fetch_value("count_bills", params))
        rows = await uow.fetch_all(
            "list_bills", {**params, "limit": page_size, "offset": page * page_size}
        )
        items = [
            BillWithCustomer(Bill.from_row(r), r["meter_number"], r["full_name"]) for r in rows
        ]
        return Page(items, page, page_size, total)

    return await db.read(work)


# ---------------------------------------------------------------------------------------------
# Bulk billing from a CSV file

IMPORT_REQUIRED_COLUMNS = ("meter_number", "billing_month", "units_used")
IMPORT_OPTIONAL_COLUMNS = ("rate_per_unit",)
MAX_IMPORT_ROWS = 200_000
MAX_IMPORT_ERRORS = 200  # a file with more bad lines than this is reported in part
# Lines checked and written at a time: an import holds one chunk in memory, whatever the size
# of the file, and gives the event loop back between chunks (~30 ms of checking each).
IMPORT_CHUNK = 2_000
_READ_BETWEEN_TURNS = 200  # lines read (and checked) at a time while looking ahead


class BillLine(NamedTuple):
    """One valid line of a bulk-billing file, before the database has been consulted (a
    named tuple: a file makes a hundred thousand of them)."""

    line: int
    meter_number: str
    billing_month: date
    units_used: Decimal
    rate_per_unit: Decimal
    total_amount: Decimal


@dataclass(frozen=True)
class ImportedBill:
    bill: Bill
    meter_number: str
    full_name: str
    telegram_user_id: int | None


@dataclass(frozen=True)
class ImportResult:
    count: int
    total: Decimal
    linked: list[ImportedBill]  # the bills of customers with a Telegram account, to notify
    bills: list[ImportedBill]  # every bill issued, when asked for (small files)


def _bill_lines(
    lines: Iterable[str],
    default_rate: Decimal,
    errors: list[tuple[int, str]],
    latest_month: date | None = None,
) -> Iterator[BillLine]:
    """Each good line of a ``meter_number,billing_month,units_used[,rate_per_unit]`` file, as
    the file is read; each bad one goes to ``errors`` as ``(line number, message)``, the
    message quoting the value at fault (``units 'abc' is not a number.``).

    The header is line 1 and blank lines count, so the numbers match what a spreadsheet or
    editor shows. A month after ``latest_month`` (default: the current month, UTC) is refused:
    a bill is for a month that has begun. Stops after MAX_IMPORT_ERRORS errors or
    MAX_IMPORT_ROWS bills.
    """
    latest = validation.billing_month(latest_month or now_utc().date())
    reader = csv.reader(_without_bom(lines))
    columns: dict[str, int] | None = None
    count = 0
    try:
        for record in reader:
            number = reader.line_num
            if not "".join(record).strip():  # a blank line, or only blank cells
                continue
            if columns is None:
                columns, problem = _import_header(record)
                if problem:
                    errors.append((number, problem))
                    return
                continue
            if len(errors) >= MAX_IMPORT_ERRORS:
                return
            if count + len(errors) >= MAX_IMPORT_ROWS:
                errors.append((number, f"A file may hold at most {MAX_IMPORT_ROWS} bills."))
                return
            if len(record) > len(columns) and "".join(record[len(columns) :]).strip():
                errors.append(
                    (
                        number,
                        f"Expected at most {len(columns)} values separated by commas, "
                        f"found {len(record)}.",
                    )
                )
                continue
            if len(record) < len(columns):
                # A missing trailing cell (an optional rate left out) reads as empty.
                record = record + [""] * (len(columns) - len(record))
            try:
                line = _import_line(number, record, columns, default_rate, latest)
            except DomainError as exc:
                errors.append((number, str(exc)))
                continue
            count += 1
            yield line
    except csv.Error as exc:
        errors.append((reader.line_num, f"The file is not valid CSV: {exc}."))
    if columns is None:
        errors.append((1, "The file is empty: the first line must name the columns."))


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    first = True
    for line in lines:
        yield line.lstrip("\ufeff") if first else line
        first = False


def read_bill_csv(
    text: str, *, default_rate: Decimal, latest_month: date | None = None
) -> tuple[list[BillLine], list[tuple[int, str]]]:
    """Check every line of a bulk-billing file held in memory (see :func:`_bill_lines`);
    a meter and month given twice is also an error here."""
    errors: list[tuple[int, str]] = []
    lines: list[BillLine] = []
    seen: dict[tuple[str, date], int] = {}
    for line in _bill_lines(io.StringIO(text), default_rate, errors, latest_month):
        key = (line.meter_number, line.billing_month)
        if key in seen:
            errors.append(
                (
                    line.line,
                    f"{line.meter_number} {line.billing_month:%Y-%m} is already on "
                    f"line {seen[key]}.",
                )
            )
            continue
        seen[key] = line.line
        lines.append(line)
    return lines, sorted(errors)


def _import_header(record: list[str]) -> tuple[dict[str, int], str | None]:
    names = [cell.strip().lower() for cell in record]
    known = IMPORT_REQUIRED_COLUMNS + IMPORT_OPTIONAL_COLUMNS
    expected = ", ".join(IMPORT_REQUIRED_COLUMNS) + "[, rate_per_unit]"
    unknown = [n for n in names if n not in known]
    missing = [n for n in IMPORT_REQUIRED_COLUMNS if n not in names]
    if unknown or missing or len(set(names)) != len(names):
        return {}, f"The first line must name the columns: {expected}."
    return {name: index for index, name in enumerate(names)}, None


# A file's lines share a few months: each month's text is read once (and each due date is
# worked out once: default_due_date is cached).
_billing_month = functools.lru_cache(maxsize=256)(validation.billing_month)


def _import_line(
    number: int,
    record: list[str],
    columns: dict[str, int],
    default_rate: Decimal,
    latest_month: date,
) -> BillLine:
    meter_text = record[columns["meter_number"]]
    try:
        meter = validation.meter_number(meter_text)
    except InvalidInput as exc:
        raise InvalidInput(_bad_meter(meter_text, exc)) from exc
    month_text = record[columns["billing_month"]].strip()
    try:
        month = _billing_month(month_text)
    except InvalidInput as exc:
        raise InvalidInput(_bad_month(month_text)) from exc
    if month > latest_month:
        raise InvalidInput(
            f"month {_quoted(month_text)} is after the current month ({latest_month:%Y-%m}): "
            "a bill is issued for a month that has begun."
        )
    units = _figure(record[columns["units_used"]], what="units", places=2, maximum=MAX_UNITS)
    rate_text = record[columns["rate_per_unit"]].strip() if "rate_per_unit" in columns else ""
    rate = (
        _figure(rate_text, what="rate", places=4, maximum=MAX_RATE) if rate_text else default_rate
    )
    # _figure has checked each figure's decimals and limits: only the total is left.
    return BillLine(number, meter, month, units, rate, _checked_total(units, rate))


_QUOTED_LIMIT = 30  # characters of a bad value quoted back in an import error
# What a figure that parse_decimal refused may still be, to say why it was refused: a number
# with a sign or too many decimals (thousands commas taken out first, as parse_decimal does).
_LOOSE_NUMBER_RE = re.compile(r"^[+\-\u2212]?[0-9]+(\.[0-9]+)?$")
_GROUPED_RE = re.compile(r"^[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$")


def _quoted(text: str) -> str:
    """A value from a file, quoted in an error: trimmed, shortened, invisible characters
    shown as ``?`` (the handler escapes it for HTML)."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in text.strip())
    if len(shown) > _QUOTED_LIMIT:
        shown = shown[: _QUOTED_LIMIT - 1] + "…"
    return f"'{shown}'"


def _bad_meter(text: str, problem: InvalidInput) -> str:
    if not text.strip():
        return "meter number is empty."
    if isinstance(problem, ControlCharacters):
        return f"meter number {_quoted(text)} contains control characters."
    return (
        f"meter number {_quoted(text)} is not a meter number: 3 to 32 letters, digits or "
        "dashes, e.g. MTR-10001."
    )


def _bad_month(text: str) -> str:
    if not text:
        return "month is empty."
    return f"month {_quoted(text)} is not a month: YYYY-MM between 2000-01 and 2100-12."


def _figure(text: str, *, what: str, places: int, maximum: Decimal) -> Decimal:
    """``parse_decimal`` for a figure of an import line; a refusal quotes the value and
    says what is wrong with it."""
    try:
        return parse_decimal(text, places=places, what=what, maximum=maximum)
    except InvalidAmount as exc:
        raise InvalidInput(_bad_figure(text, what=what, places=places, maximum=maximum)) from exc


def _bad_figure(text: str, *, what: str, places: int, maximum: Decimal) -> str:
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        return f"{what} is empty."
    shown = _quoted(text)
    plain = cleaned.replace(",", "") if _GROUPED_RE.match(cleaned) else cleaned
    if not _LOOSE_NUMBER_RE.match(plain):
        return f"{what} {shown} is not a number."
    value = Decimal(plain.replace("\u2212", "-"))
    if value <= 0:
        return f"{what} {shown} must be greater than zero."
    if value > maximum:
        return f"{what} {shown} is too large (at most {maximum:,})."
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        return f"{what} {shown} has more than {places} decimals."
    return f"{what} {shown} is not a number."


async def import_bills(
    db: Database,
    csv_text: str,
    *,
    default_rate: Decimal,
    due_days: int = 14,
    issued_on: date | None = None,
    admin_id: int | None = None,
    latest_month: date | None = None,
) -> list[ImportedBill]:
    """Issue every bill of a CSV file held in memory, in ONE transaction, or none of them.

    See :func:`import_bill_file`; returns every bill issued, in the file's order.
    """
    result = await import_bill_file(
        db,
        lambda: io.StringIO(csv_text),
        default_rate=default_rate,
        due_days=due_days,
        issued_on=issued_on,
        admin_id=admin_id,
        keep_all=True,
        latest_month=latest_month,
    )
    return result.bills


@dataclass
class _Import:
    """What an import has done so far."""

    due_days: int
    issued_on: date  # every bill of the file is issued on this day (for its due date)
    admin_id: int | None
    keep_all: bool
    import_id: int = 0  # the import's audit entry, named by each of its bills
    newest_before: int = 0  # bills after this id were issued since the import began
    consecutive_ids: bool = False  # a chunk's bills get the ids first_id, first_id + 1, …
    count: int = 0
    total: Decimal = ZERO
    linked: list[ImportedBill] = field(default_factory=list)
    bills: list[ImportedBill] = field(default_factory=list)


async def import_bill_file(
    db: Database,
    open_lines: Callable[[], Iterable[str]],
    *,
    default_rate: Decimal,
    due_days: int = 14,
    issued_on: date | None = None,
    admin_id: int | None = None,
    keep_all: bool = False,
    latest_month: date | None = None,
) -> ImportResult:
    """Issue every bill of a CSV file in ONE transaction, or none of them, reading the file
    as it goes (``open_lines()`` gives its lines; called again if the transaction is retried).

    Lines are checked and written :data:`IMPORT_CHUNK` at a time: format (each error quotes
    the value at fault), a month no later than ``latest_month`` (the utility's current month;
    default: the current month in UTC), known meter, no repeat in the file, no bill already
    issued for that month. Any error raises
    :class:`ImportRejected` with all the errors by line number (up to MAX_IMPORT_ERRORS) and
    the transaction is rolled back: nothing is written. The import writes one audit entry,
    which each of its bills names, and moves the report totals, in the same transaction.
    Due dates are counted as :func:`default_due_date` says, from ``issued_on`` (the
    utility's local date; UTC's today if not given).
    """
    issue_day = _issue_day(issued_on)

    async def work(uow: UnitOfWork) -> ImportResult:
        state = _Import(due_days, issue_day, admin_id, keep_all)
        start = await uow.fetch_one("import_start")
        assert start is not None
        state.newest_before = int(start["newest_bill_id"])
        state.consecutive_ids = bool(start["consecutive_ids"])
        state.import_id = await audit.record(
            uow, admin_id=admin_id, action="bill.import", entity_type="import", entity_id=""
        )
        errors: list[tuple[int, str]] = []
        source = open_lines()
        lines = _bill_lines(source, default_rate, errors, latest_month)
        chunks = _prepared_chunks(db, uow, lines, state)
        try:
            async for chunk in chunks:
                await _import_chunk(uow, chunk, errors, state)
        finally:
            await chunks.aclose()
            close = getattr(source, "close", None)
            if close is not None:
                close()
        if errors:
            raise ImportRejected(sorted(errors)[:MAX_IMPORT_ERRORS])
        await ledger.lines_for_import(
            uow, import_id=state.import_id, first_id=state.newest_before + 1
        )
        if not state.count:
            raise ImportRejected([(2, "The file has a header but no bills.")])
        await audit.finish(
            uow, state.import_id, after={"bills": state.count, "total": state.total}
        )
        await uow.commit()
        return ImportResult(state.count, state.total, state.linked, state.bills)

    return await db.transaction(work)


@dataclass
class _Chunk:
    """A chunk of good lines, checked as far as it can be on its own, ready to be written."""

    good: list[tuple[BillLine, Row]]  # each line with its customer
    here: dict[tuple[int, date], int]  # (customer id, month) → the line that bills it
    problems: list[tuple[int, str]]  # unknown meters, repeats within the chunk
    values: ValuesList  # the good lines' bills, for the INSERT
    total: Decimal  # what the good lines' bills add up to


async def _prepared_chunks(
    db: Database, uow: UnitOfWork, lines: Iterator[BillLine], state: _Import
) -> AsyncGenerator[_Chunk, None]:
    """The lines :data:`IMPORT_CHUNK` at a time, each chunk looked up and made ready.

    The next chunk is read, checked, its meters looked up (on another connection of the pool:
    customers are only read) and its INSERT written out while the caller writes the one
    before, so the server's writing and this process's reading overlap. A pool of one
    connection cannot: there the chunks are prepared in turn on the import's own connection.
    """

    async def prepare(chunk: list[BillLine], on: UnitOfWork) -> _Chunk:
        meters = sorted({line.meter_number for line in chunk})
        found = await on.fetch_json_in("customers_by_meters", "meters", meters)
        by_meter = {row["meter_number"]: row for row in found}
        return _checked_chunk(chunk, by_meter, state)

    if db.max_connections < 2:
        while chunk := list(islice(lines, IMPORT_CHUNK)):
            yield await prepare(chunk, uow)
        return

    async def prepare_next() -> _Chunk | None:
        chunk: list[BillLine] = []
        while len(chunk) < IMPORT_CHUNK:
            part = list(islice(lines, min(_READ_BETWEEN_TURNS, IMPORT_CHUNK - len(chunk))))
            if not part:
                break
            chunk += part
            # Let the writer send its next statement as soon as the server answers the last.
            await asyncio.sleep(0)
        return await db.read(functools.partial(prepare, chunk)) if chunk else None

    ahead = asyncio.create_task(prepare_next())
    try:
        while (ready := await ahead) is not None:
            ahead = asyncio.create_task(prepare_next())  # runs while the caller writes `ready`
            yield ready
    finally:
        if not ahead.done():
            ahead.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ahead


def _checked_chunk(chunk: list[BillLine], by_meter: dict[str, Row], state: _Import) -> _Chunk:
    """Sort a chunk's lines into those with a known meter, billed once in the chunk, and the
    rest (problems), and write out the INSERT of the good ones (naming the import's entry)."""
    good: list[tuple[BillLine, Row]] = []
    here: dict[tuple[int, date], int] = {}
    problems: list[tuple[int, str]] = []
    rows = []
    total = ZERO
    for line in chunk:
        number, meter, month, units, rate, bill_total = line
        customer = by_meter.get(meter)
        if customer is None:
            problems.append((number, f"No customer has meter number {meter}."))
            continue
        customer_id = customer["customer_id"]  # an int, as the JSON document gives it
        key = (customer_id, month)
        if (earlier := here.get(key)) is not None:
            problems.append((number, f"{meter} {month:%Y-%m} is already on line {earlier}."))
            continue
        here[key] = number
        good.append((line, customer))
        due = default_due_date(month, state.due_days, issued_on=state.issued_on)
        rows.append((customer_id, month, units, rate, bill_total, due, state.import_id))
        total += bill_total
    return _Chunk(good, here, problems, values_list(rows), total)


async def _import_chunk(
    uow: UnitOfWork, chunk: _Chunk, errors: list[tuple[int, str]], state: _Import
) -> None:
    """Check a chunk against the database; if the file has no error yet, issue it.

    The bills go in as one multi-row INSERT of checked, typed values (a bill already issued
    for a customer and month makes it fail on the unique key, and is then looked for to be
    reported by line). The report totals move with each bill, in the INSERT itself (the
    triggers of migration 0005). A chunk costs one or two round trips however many lines it
    has.
    """
    good, here = chunk.good, chunk.here
    errors.extend(chunk.problems)
    if errors or not good:
        # The file will be refused: keep checking, write nothing more.
        await _report_clashes(uow, good, here, errors, state)
        return
    try:
        first_id = await uow.insert_values("insert_bills_values", chunk.values)
    except Exception as exc:
        if error_code(exc) != 1062:
            raise
        # The statement is undone; the transaction goes on, to report every clash.
        if not await _report_clashes(uow, good, here, errors, state):
            raise InvalidInput(  # issued by someone else, committed after this import began
                "Some of these bills were issued by someone else just now; nothing was "
                "imported. Please send the file again."
            ) from exc
        return
    # Records are kept only of the bills someone needs: those to notify (or all, when asked).
    wanted = [i for i, (_, c) in enumerate(good) if state.keep_all or c["telegram_user_id"]]
    issued = await _issued_bills(uow, good, wanted, first_id, state)
    state.count += len(good)
    state.total += chunk.total
    for bill, index in zip(issued, wanted, strict=True):
        customer = good[index][1]
        item = ImportedBill(
            bill, customer["meter_number"], customer["full_name"], customer["telegram_user_id"]
        )
        if state.keep_all:
            state.bills.append(item)
        if item.telegram_user_id is not None:
            state.linked.append(item)


def _pairs(good: list[tuple[BillLine, Row]]) -> str:
    """The JSON array of ``[customer_id, "YYYY-MM-01"]`` of the bills of ``good``."""
    return json.dumps(
        [[int(customer["customer_id"]), line.billing_month.isoformat()] for line, customer in good]
    )


async def _report_clashes(
    uow: UnitOfWork,
    good: list[tuple[BillLine, Row]],
    here: dict[tuple[int, date], int],
    errors: list[tuple[int, str]],
    state: _Import,
) -> int:
    """Add an error for each line of ``good`` whose customer already has a bill for that month
    (issued before the import, or by an earlier line of it); return how many there were."""
    if not good:
        return 0
    meter_of_line = {line.line: line.meter_number for line, _ in good}
    clashes = await uow.fetch_all("bills_for_customer_months", {"pairs": _pairs(good)})
    for row in clashes:
        number = here[(int(row["customer_id"]), row["billing_month"])]
        meter = meter_of_line[number]
        if int(row["bill_id"]) > state.newest_before:  # issued by this import, earlier
            problem = f"{meter} {row['billing_month']:%Y-%m} is on an earlier line."
        else:
            problem = f"{meter} already has a bill for {row['billing_month']:%Y-%m}."
        errors.append((number, problem))
    return len(clashes)


async def _issued_bills(
    uow: UnitOfWork,
    good: list[tuple[BillLine, Row]],
    wanted: list[int],
    first_id: int,
    state: _Import,
) -> list[Bill]:
    """The ``wanted`` bills (indexes into ``good``) of a chunk just written, whose first id
    is ``first_id``, as stored.

    The chunk's bills are the import's from ``first_id`` on (its later chunks are not written
    yet). Where a multi-row INSERT gets consecutive ids (MariaDB's default) they are exactly
    ``first_id …`` in the order of ``good`` — counted to be sure — and the records are built
    here; where other writers' ids may interleave (auto-increment lock mode 2, MySQL 8's
    default) they are read back and matched by customer and month.
    """
    if not wanted:
        return []
    which = {"first_id": first_id, "import_id": state.import_id}
    if not state.consecutive_ids:
        rows = await uow.fetch_all("imported_bills_from", which)
        found = {(int(r["customer_id"]), r["billing_month"]): Bill.from_row(r) for r in rows}
        return [
            found[(int(good[index][1]["customer_id"]), good[index][0].billing_month)]
            for index in wanted
        ]
    last_id = first_id + len(good) - 1
    mine = await uow.fetch_value("count_imported_range", {**which, "last_id": last_id})
    if mine != len(good):  # not the chunk's bills alone: undo everything
        raise RuntimeError(f"{mine} of bills {first_id}–{last_id}, not the {len(good)} issued")
    issued = []
    for index in wanted:
        line, customer = good[index]
        issued.append(
            Bill(
                bill_id=first_id + index,
                customer_id=int(customer["customer_id"]),
                billing_month=line.billing_month,
                units_used=line.units_used,
                rate_per_unit=line.rate_per_unit,
                total_amount=line.total_amount,
                amount_paid=ZERO,
                payment_status=PaymentStatus.UNPAID,
                due_date=default_due_date(
                    line.billing_month, state.due_days, issued_on=state.issued_on
                ),
            )
        )
    return issued


# ---------------------------------------------------------------------------------------------
# Due-date reminders


@dataclass(frozen=True)
class ReminderDue:
    bill: Bill
    telegram_user_id: int
    full_name: str
    meter_number: str


async def due_for_reminder(
    db: Database, *, today: date, within_days: int, limit: int = 5000
) -> list[ReminderDue]:
    """Open bills of linked customers due within ``within_days`` and not yet reminded."""
    rows = await db.fetch_all(
        "bills_due_for_reminder",
        {"today": today, "until": today + timedelta(days=within_days), "limit": limit},
    )
    return [
        ReminderDue(
            Bill.from_row(r), int(r["telegram_user_id"]), r["full_name"], r["meter_number"]
        )
        for r in rows
    ]


async def claim_reminder(db: Database, bill: Bill) -> bool:
    """Mark a bill reminded for its due date; False if it already was (send nothing then)."""

    async def work(uow: UnitOfWork) -> bool:
        claimed = await uow.execute(
            "claim_bill_reminder",
            {"bill_id": bill.bill_id, "due_date": bill.due_date, "now": db_time(now_utc())},
        )
        await uow.commit()
        return claimed > 0

    return await db.transaction(work)
