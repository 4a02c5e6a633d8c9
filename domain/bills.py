"""Bills: issue, correct (with recalculation), list and look up."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import csv
import functools
import re
import tempfile
import unicodedata
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import NamedTuple

from domain import audit, ledger, validation
from domain.billing import Tariff, flat_tariff
from domain.db import Database, UnitOfWork, error_code
from domain.errors import (
    BillNotFound,
    ControlCharacters,
    CustomerNotFound,
    DomainError,
    ImportRejected,
    InvalidAmount,
    InvalidInput,
)
from domain.models import Bill, BillFilter, Page, db_time, now_utc
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
# Lines checked and staged at a time: an import holds a few hundred lines in memory whatever
# the size of the file (a chunk is written out to disk as it is read), and the database
# issues one chunk's bills while the next is read.
IMPORT_CHUNK = 20_000
_READ_BETWEEN_TURNS = 500  # lines read (and checked) at a time while the database works


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


@dataclass
class _Chunk:
    """Good lines of the file, written out as tab-separated text for the staging table."""

    path: Path
    first_line: int
    last_line: int
    count: int
    total: Decimal  # what their bills add up to


@dataclass
class _Run:
    """What an import has staged and issued so far."""

    import_id: int  # the import's audit entry, named by each of its bills
    count: int = 0  # bills issued
    total: Decimal = ZERO
    first_id: int = 0  # the first bill's id
    refused: bool = False  # a staged line will be refused: issue nothing more, keep checking
    local_infile: bool = True  # LOAD DATA LOCAL allowed (else multi-row INSERTs)


async def import_bill_file(
    db: Database,
    open_lines: Callable[[], Iterable[str]],
    *,
    default_rate: Decimal,
    due_days: int = 14,
    issued_on: date | None = None,
    admin_id: int | None = None,
    latest_month: date | None = None,
) -> ImportResult:
    """Issue every bill of a CSV file in ONE transaction, or none of them, reading the file
    as it goes (``open_lines()`` gives its lines; called again if the transaction is retried).

    Each line's format is checked here as it is read (each error quotes the value at fault),
    and its month is no later than ``latest_month`` (the utility's current month; default:
    the current month in UTC). The good lines go :data:`IMPORT_CHUNK` at a time into a staging
    table (LOAD DATA LOCAL of a file written out, while the next chunk is read), from which
    the ledger issues them set-based (:func:`ledger.issue_staged`); a meter nobody has, a
    meter and month given twice, or a month already billed is found by the database. Any
    error raises :class:`ImportRejected` with all the errors by line number (up to
    MAX_IMPORT_ERRORS) and the transaction is rolled back: nothing is written. The import
    writes one audit entry, which each of its bills names, each bill's energy line, and adds
    its bills to the report totals (one GROUP BY), in the same transaction. Due dates are
    counted as :func:`default_due_date` says, from ``issued_on`` (the utility's local date;
    UTC's today if not given).
    """
    issue_day = _issue_day(issued_on)

    async def work(uow: UnitOfWork) -> ImportResult:
        import_id = await audit.record(
            uow, admin_id=admin_id, action="bill.import", entity_type="import", entity_id=""
        )
        await uow.execute("import_create_staging")
        await ledger.begin_bulk_totals(uow, import_id)
        try:
            errors: list[tuple[int, str]] = []
            source = open_lines()
            try:
                lines = _bill_lines(source, default_rate, errors, latest_month)
                with tempfile.TemporaryDirectory(prefix="ebb-import-") as directory:
                    chunks = _written_chunks(lines, Path(directory), due_days, issue_day)
                    run = await _stage_and_issue(uow, chunks, errors, import_id)
            finally:
                close = getattr(source, "close", None)
                if close is not None:
                    close()
            if errors or run.refused:
                if not errors:  # a clash with bills someone committed after the lines were read
                    raise InvalidInput(
                        "Some of these bills were issued by someone else just now; nothing "
                        "was imported. Please send the file again."
                    )
                raise ImportRejected(sorted(errors)[:MAX_IMPORT_ERRORS])
            if not run.count:
                raise ImportRejected([(2, "The file has a header but no bills.")])
            await ledger.add_bulk_totals(uow, import_id=import_id, first_id=run.first_id)
            rows = await uow.fetch_all(
                "imported_linked_bills", {"import_id": import_id, "first_id": run.first_id}
            )
            await audit.finish(uow, import_id, after={"bills": run.count, "total": run.total})
        except Exception:
            with contextlib.suppress(Exception):  # the connection may be the failure
                await _end_staging(uow)
            raise
        await _end_staging(uow)
        await uow.commit()
        linked = [
            ImportedBill(
                Bill.from_row(r), r["meter_number"], r["full_name"], int(r["telegram_user_id"])
            )
            for r in rows
        ]
        return ImportResult(run.count, run.total, linked)

    return await db.transaction(work)


async def _end_staging(uow: UnitOfWork) -> None:
    """Give the pooled connection back as it was: bills move the totals by trigger again, and
    the staging table is gone."""
    await ledger.end_bulk_totals(uow)
    await uow.execute("import_drop_staging")


async def _stage_and_issue(
    uow: UnitOfWork,
    chunks: AsyncGenerator[_Chunk, None],
    errors: list[tuple[int, str]],
    import_id: int,
) -> _Run:
    """Stage each chunk and, while the file has no error, issue its bills at once (the next
    chunk is read meanwhile). Once a line is wrong nothing more is issued, but each chunk is
    still staged and checked (:func:`_refusals`) until MAX_IMPORT_ERRORS errors are found
    (then the file is read no further), so that every wrong line can be reported."""
    run = _Run(import_id)
    try:
        async for chunk in chunks:
            await _stage(uow, chunk, run)
            if not (errors or run.refused):
                try:
                    issued, first_id = await ledger.issue_staged(
                        uow,
                        import_id=import_id,
                        first_line=chunk.first_line,
                        last_line=chunk.last_line,
                    )
                except Exception as exc:
                    if error_code(exc) != 1062:
                        raise
                    issued, first_id = 0, 0  # a repeat, or a month already billed
                if issued == chunk.count:
                    run.first_id = run.first_id or first_id
                    run.count += issued
                    run.total += chunk.total
                    continue
                run.refused = True  # and a meter no customer has, when fewer were issued
            errors += await _refusals(uow, import_id, chunk, {number for number, _ in errors})
    finally:
        await chunks.aclose()
    return run


async def _stage(uow: UnitOfWork, chunk: _Chunk, run: _Run) -> None:
    """A chunk into the staging table: sent as a file (LOAD DATA LOCAL) where the server and
    the connection allow it, else as multi-row INSERTs of the same rows."""
    if run.local_infile:
        try:
            loaded = await uow.execute("import_load_staging", {"path": str(chunk.path)})
        except Exception as exc:
            if error_code(exc) not in _LOCAL_INFILE_REFUSED:
                raise
            run.local_infile = False
        else:
            if loaded != chunk.count:
                raise RuntimeError(f"{loaded} of {chunk.count} lines staged")
            return
    with chunk.path.open(encoding="utf-8") as staged:
        rows = [
            dict(zip(_STAGED_COLUMNS, line.rstrip("\n").split("\t"), strict=True))
            for line in staged
        ]
    await uow.execute_many("import_stage_line", rows)


# The server refuses LOAD DATA LOCAL: not allowed by the client (1148) or by the server's
# local_infile setting (4166).
_LOCAL_INFILE_REFUSED = (1148, 4166)
_STAGED_COLUMNS = (
    "line",
    "meter_number",
    "billing_month",
    "units_used",
    "rate_per_unit",
    "due_date",
)


async def _written_chunks(
    lines: Iterator[BillLine], directory: Path, due_days: int, issued_on: date
) -> AsyncGenerator[_Chunk, None]:
    """The good lines :data:`IMPORT_CHUNK` at a time, each chunk written to a file of its own
    in ``directory``. The next chunk is read and written while the caller stages and issues
    the one before (:data:`_READ_BETWEEN_TURNS` lines at a time, giving the event loop back in
    between, so the caller's next statement is never kept waiting)."""
    due_dates: dict[date, str] = {}

    def row(line: BillLine) -> str:
        month = line.billing_month
        due = due_dates.get(month)
        if due is None:
            due = due_dates[month] = default_due_date(
                month, due_days, issued_on=issued_on
            ).isoformat()
        return (
            f"{line.line}\t{line.meter_number}\t{month.isoformat()}\t{line.units_used:f}\t"
            f"{line.rate_per_unit:f}\t{due}\n"
        )

    async def write_next(number: int) -> _Chunk | None:
        path = directory / f"lines-{number}.tsv"
        count, first, last, total = 0, 0, 0, ZERO
        with path.open("w", encoding="utf-8", newline="") as out:
            while count < IMPORT_CHUNK:
                part = list(islice(lines, min(_READ_BETWEEN_TURNS, IMPORT_CHUNK - count)))
                if not part:
                    break
                out.write("".join([row(line) for line in part]))
                first = first or part[0].line
                last = part[-1].line
                count += len(part)
                total += sum([line.total_amount for line in part], ZERO)
                await asyncio.sleep(0)
        return _Chunk(path, first, last, count, total) if count else None

    number = 0
    ahead = asyncio.create_task(write_next(number))
    try:
        while (ready := await ahead) is not None:
            number += 1
            ahead = asyncio.create_task(write_next(number))  # read while `ready` is written
            yield ready
    finally:
        if not ahead.done():
            ahead.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ahead


async def _refusals(
    uow: UnitOfWork, import_id: int, chunk: _Chunk, reported: set[int]
) -> list[tuple[int, str]]:
    """What the database finds wrong with a staged chunk's lines, by line, one error a line
    (lines already ``reported`` are left out), at most MAX_IMPORT_ERRORS of each kind: a
    meter no customer has, a meter and month already on an earlier line of the file, a
    month the customer already has a bill for."""
    found: list[tuple[int, str]] = []
    which = {
        "first_line": chunk.first_line,
        "last_line": chunk.last_line,
        "limit": MAX_IMPORT_ERRORS,
    }

    def add(number: int, problem: str) -> None:
        if number not in reported:
            reported.add(number)
            found.append((number, problem))

    for r in await uow.fetch_all("import_unknown_meters", which):
        add(int(r["line"]), f"No customer has meter number {r['meter_number']}.")
    for r in await uow.fetch_all("import_repeats", which):
        add(
            int(r["line"]),
            f"{r['meter_number']} {r['billing_month']:%Y-%m} is already on line "
            f"{r['first_line']}.",
        )
    for r in await uow.fetch_all("import_clashes", {**which, "import_id": import_id}):
        add(
            int(r["line"]),
            f"{r['meter_number']} already has a bill for {r['billing_month']:%Y-%m}.",
        )
    return found


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
