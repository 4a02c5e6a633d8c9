"""The ledger: the one place that writes a bill and its lines.

Every way a bill comes to be or changes — /newbill, /editbill, the CSV and legacy imports,
a bill run, a late fee, a waiver — asks :mod:`domain.billing` what the money rules decide and
hands the result here, which writes the bill row, its lines and the audit entry together in
the caller's transaction (the caller commits). The report totals and the customer balances
follow the bill row in the same statement, moved by the database's triggers (migration 0005),
so no writer can forget them; payments are written by :func:`domain.payments.insert_payment`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain import audit, tariffs
from domain.billing import Charges, Line, LineKind, Tariff
from domain.db import Database, UnitOfWork, error_code, query
from domain.errors import DuplicateBill
from domain.models import Bill, json_date
from domain.money import MAX_AMOUNT

Row = dict[str, Any]


@dataclass(frozen=True)
class NewBill:
    """A bill to issue: ``units`` of a month on ``tariff``, and the readings they came from."""

    customer_id: int
    billing_month: date
    due_date: date
    units: Decimal
    tariff: Tariff
    previous_reading: Decimal | None = None
    current_reading: Decimal | None = None
    estimated: bool = False


def line_from_row(row: Row) -> Line:
    def number(name: str) -> Decimal | None:
        return None if row[name] is None else Decimal(row[name])

    return Line(
        kind=LineKind(row["kind"]),
        amount=Decimal(row["amount"]),
        units=number("units"),
        rate=number("rate"),
        band_from_kwh=number("band_from_kwh"),
        band_to_kwh=number("band_to_kwh"),
        percent=number("percent"),
        fee_period=row["fee_period"],
        waives_line_id=None if row["waives_line_id"] is None else int(row["waives_line_id"]),
        note=row["note"],
        line_id=int(row["line_id"]),
    )


def line_from_json(value: dict[str, Any]) -> Line:
    """A line read from a JSON object of the server (its numbers already Decimals)."""
    return line_from_row({**value, "fee_period": json_date(value["fee_period"])})


async def lines(uow: UnitOfWork | Database, bill_id: int) -> tuple[Line, ...]:
    """A bill's lines, in the order they were written."""
    rows = await uow.fetch_all("ledger_bill_lines", {"bill_id": bill_id})
    return tuple(line_from_row(row) for row in rows)


async def charges(uow: UnitOfWork, bill: Bill) -> Charges:
    """A bill's money as a value (its lines and what is paid on it)."""
    return Charges(await lines(uow, bill.bill_id), bill.amount_paid)


def _with_lines(bill: Bill, bill_lines: tuple[Line, ...], **more: Any) -> dict[str, Any]:
    """What the audit log keeps of a bill: its columns, its lines and anything ``more``."""
    return {**dataclasses.asdict(bill), "lines": bill_lines, **more}


def _line_values(bill_id: int, line: Line, admin_id: int | None) -> dict[str, Any]:
    return {
        "bill_id": bill_id,
        "kind": line.kind.value,
        "band_from_kwh": line.band_from_kwh,
        "band_to_kwh": line.band_to_kwh,
        "units": line.units,
        "rate": line.rate,
        "percent": line.percent,
        "amount": line.amount,
        "fee_period": line.fee_period,
        "waives_line_id": line.waives_line_id,
        "admin_id": admin_id,
        "note": line.note,
    }


async def _write_lines(
    uow: UnitOfWork, bill_id: int, new_lines: tuple[Line, ...], admin_id: int | None
) -> None:
    await uow.execute_many(
        "ledger_insert_line", [_line_values(bill_id, line, admin_id) for line in new_lines]
    )


async def issue(
    uow: UnitOfWork, new: NewBill, *, admin_id: int | None, action: str = "bill.create"
) -> Bill:
    """Issue ``new``: the bill row and its lines, and the audit entry; the bill as stored
    (unpaid: the caller applies any account credit). Raises DuplicateBill when the customer
    already has a bill for the month."""
    bill_charges = Charges.issue(new.tariff, new.units)
    try:
        bill_id = await uow.insert(
            "ledger_insert_bill",
            {
                "customer_id": new.customer_id,
                "billing_month": new.billing_month,
                "units_used": new.units,
                "rate_per_unit": new.tariff.average_rate(new.units),
                "total_amount": bill_charges.total,
                "due_date": new.due_date,
                "tariff_version_id": new.tariff.version_id,
                "previous_reading": new.previous_reading,
                "current_reading": new.current_reading,
                "estimated": new.estimated,
            },
        )
    except Exception as exc:
        if error_code(exc) == 1062:
            raise DuplicateBill(f"{new.billing_month:%Y-%m}") from exc
        raise
    await _write_lines(uow, bill_id, bill_charges.lines, admin_id)
    row = await uow.fetch_one("get_bill", {"bill_id": bill_id})
    assert row is not None
    bill = Bill.from_row(row)
    await audit.record(
        uow,
        admin_id=admin_id,
        action=action,
        entity_type="bill",
        entity_id=bill_id,
        customer_id=new.customer_id,
        bill_id=bill_id,
        after=_with_lines(bill, bill_charges.lines, tariff=new.tariff.code),
    )
    return bill


async def correct(
    uow: UnitOfWork,
    before: Bill,
    *,
    tariff: Tariff,
    units: Decimal,
    billing_month: date,
    due_date: date,
    admin_id: int | None,
) -> Bill:
    """Re-compute ``before`` (locked by the caller) for ``units`` on ``tariff``, in
    ``billing_month``: its charge lines replaced, its late fees and waivers kept, never below
    what is already paid (TotalBelowPaid); DuplicateBill when the month is taken."""
    old = await charges(uow, before)
    new = old.correct(tariff, units)
    try:
        await uow.execute(
            "ledger_update_bill",
            {
                "bill_id": before.bill_id,
                "billing_month": billing_month,
                "units_used": units,
                "rate_per_unit": tariff.average_rate(units),
                "total_amount": new.total,
                "payment_status": new.status.value,
                "due_date": due_date,
                "tariff_version_id": tariff.version_id,
            },
        )
    except Exception as exc:
        if error_code(exc) == 1062:
            raise DuplicateBill(f"{billing_month:%Y-%m}") from exc
        raise
    if billing_month != before.billing_month:
        await uow.execute(
            "move_bill_payments_month", {"bill_id": before.bill_id, "billing_month": billing_month}
        )
    await uow.execute("ledger_delete_charge_lines", {"bill_id": before.bill_id})
    charge_lines = tuple(line for line in new.lines if line.line_id is None)
    await _write_lines(uow, before.bill_id, charge_lines, admin_id)
    fresh = await uow.fetch_one("get_bill", {"bill_id": before.bill_id})
    assert fresh is not None
    after = Bill.from_row(fresh)
    await audit.record(
        uow,
        admin_id=admin_id,
        action="bill.edit",
        entity_type="bill",
        entity_id=before.bill_id,
        customer_id=before.customer_id,
        bill_id=before.bill_id,
        before=_with_lines(before, old.lines),
        after=_with_lines(after, new.lines, tariff=tariff.code),
    )
    return after


async def settle_estimate(
    uow: UnitOfWork, bill: Bill, *, units: Decimal, reading: Decimal, admin_id: int | None
) -> Bill:
    """Correct an estimated ``bill`` (locked by the caller) to end at the actual ``reading``
    that followed it, ``units`` from its own previous reading: :func:`correct` on its tariff
    (TotalBelowPaid when it was paid beyond the new total), then no longer estimated."""
    tariff = await tariff_of(uow, bill)
    after = await correct(
        uow,
        bill,
        tariff=tariff,
        units=units,
        billing_month=bill.billing_month,
        due_date=bill.due_date,
        admin_id=admin_id,
    )
    await uow.execute("ledger_estimate_settled", {"bill_id": bill.bill_id, "reading": reading})
    return after


async def add_line(
    uow: UnitOfWork, bill: Bill, line: Line, *, admin_id: int | None, action: str
) -> tuple[Bill, Line]:
    """Add ``line`` (a late fee, a waiver, a correction) to ``bill``, locked by the caller:
    the line, the bill's total and status, and the audit entry; the bill after it and the
    line as written."""
    current = await charges(uow, bill)
    after_charges = current.add(line)
    line_id = await uow.insert("ledger_insert_line", _line_values(bill.bill_id, line, admin_id))
    await uow.execute(
        "ledger_move_total",
        {
            "bill_id": bill.bill_id,
            "total_amount": after_charges.total,
            "payment_status": after_charges.status.value,
        },
    )
    written = replace(line, line_id=line_id)
    after = replace(bill, total_amount=after_charges.total, payment_status=after_charges.status)
    await audit.record(
        uow,
        admin_id=admin_id,
        action=action,
        entity_type="bill",
        entity_id=bill.bill_id,
        customer_id=bill.customer_id,
        bill_id=bill.bill_id,
        before={"total_amount": bill.total_amount},
        after={"total_amount": after.total_amount, "line": written},
    )
    return after, written


async def tariff_of(uow: UnitOfWork, bill: Bill) -> Tariff:
    """The tariff ``bill`` was computed with."""
    version_id = await uow.fetch_value("ledger_bill_tariff", {"bill_id": bill.bill_id})
    return await tariffs.of_bill(
        uow, None if version_id is None else int(version_id), bill.rate_per_unit
    )


# ---------------------------------------------------------------------------------------------
# Late fees, set-based: the daily run over every bill (domain/late_fees.py drives it)
#
# The same consequences as add_line of Charges.late_fee for each bill, in a few statements
# per chunk of bill ids instead of a round trip per bill: the fee lines, the bills' totals and
# statuses, their report totals and balances (one GROUP BY statement each: the bills trigger
# leaves this batch's fees to them, migration 0021), an audit entry per fee. The fees are
# staged in late_fee_charges first (migration 0021), under a token of the transaction's own
# that the later statements pick them by; the staged bills are then locked, and one that
# changed since it was read is left for the next run.


@dataclass(frozen=True)
class LateFeeRunRecord:
    """What the run of a day has done: ``finished_at`` None while it is under way."""

    run_date: date
    started_at: datetime
    finished_at: datetime | None
    fees: int
    amount: Decimal


def _run_record(row: Row) -> LateFeeRunRecord:
    return LateFeeRunRecord(
        run_date=row["run_date"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        fees=int(row["fees"]),
        amount=Decimal(row["amount"]),
    )


async def start_late_fee_run(uow: UnitOfWork, run_date: date, now: datetime) -> LateFeeRunRecord:
    """The record of the run of ``run_date``, made now if there is none yet."""
    await uow.execute("ledger_late_fee_run_start", {"run_date": run_date, "now": now})
    row = await uow.fetch_one("ledger_late_fee_run", {"run_date": run_date})
    assert row is not None
    return _run_record(row)


async def bill_id_span(uow: UnitOfWork) -> tuple[int, int]:
    """The first and last bill ids (0, 0 when there are no bills)."""
    row = await uow.fetch_one("ledger_late_fee_bill_span")
    assert row is not None
    return int(row["first_id"]), int(row["last_id"])


async def charge_late_fees(
    uow: UnitOfWork, *, run_date: date, first_id: int, last_id: int, now: datetime
) -> int:
    """Charge the late fee of every bill with an id from ``first_id`` to ``last_id`` that
    Charges.late_fee says owes one on ``run_date`` (on its tariff version's rule; none on the
    flat tariff), in the caller's transaction; how many were charged. A bill already charged
    for its due date's month is skipped, so a chunk run again charges nothing."""
    await uow.fetch_value("ledger_late_fee_lock_run", {"run_date": run_date})
    # Names this transaction's staged rows: a chunk rolled back leaves none, so a random
    # token cannot meet rows of a committed chunk (62 bits: no collision in practice).
    batch = {"batch": secrets.randbits(62)}
    staged = await uow.execute(
        "ledger_late_fee_stage",
        {**batch, "run_date": run_date, "first_id": first_id, "last_id": last_id},
    )
    if staged:
        await uow.fetch_value("ledger_late_fee_lock", batch)
        staged -= await uow.execute("ledger_late_fee_unstage_changed", batch)
    if staged:
        try:
            await uow.execute_batch(
                [
                    ("ledger_late_fee_lines", batch),
                    ("ledger_late_fee_batch_on", batch),
                    ("ledger_late_fee_bills", batch),
                    ("ledger_late_fee_batch_off", {}),
                    ("ledger_late_fee_bill_totals", batch),
                    ("ledger_late_fee_balances", batch),
                    ("ledger_late_fee_audit", {**batch, "now": now}),
                ]
            )
        except BaseException:
            # A statement failed with the batch named: unname it on this pooled connection
            # (only that batch's exact fees could ever be left to the statements; still).
            with contextlib.suppress(Exception):
                await uow.execute("ledger_late_fee_batch_off")
            raise
    return staged


async def finish_late_fee_run(uow: UnitOfWork, run_date: date, now: datetime) -> LateFeeRunRecord:
    """Mark the run of ``run_date`` finished, with how many fees it charged and how much."""
    await uow.execute("ledger_late_fee_run_finish", {"run_date": run_date, "now": now})
    row = await uow.fetch_one("ledger_late_fee_run", {"run_date": run_date})
    assert row is not None
    return _run_record(row)


# Bill runs, set-based (domain/billrun.py)
#
# A run issues a chunk of customers' bills in a few statements instead of a round trip per
# bill: the bills with their figures (ledger_run_issue_bills: the band maths of
# Tariff.charges in SQL), then their lines, then the report totals and customer balances
# (one GROUP BY each, as a CSV import's: the bills trigger leaves the run's bills to them,
# migration 0023). The consequences are the same as issue()'s: the totals move by each bill,
# the lines add up to the total, and the audit entry is the run's own, which each bill names
# (bills.import_audit_id).


@dataclass(frozen=True)
class RunChunk:
    """The customers (by id, ``first_customer``..``last_customer``) a bill run issues next."""

    run_id: int  # the run's audit entry
    admin_id: int | None
    billing_month: date
    due_date: date
    default_rate: Decimal  # the flat tariff of customers without one
    first_customer: int
    last_customer: int


async def issue_run_chunk(uow: UnitOfWork, chunk: RunChunk) -> int | None:
    """Issue the bills of ``chunk``'s customers who have none for the month and an accepted
    reading for it, with their lines, in the caller's transaction; the first new bill's id
    (the chunk's bills are the run's from there on), or None when there were none."""
    await begin_bulk_totals(uow, chunk.run_id)
    try:
        first_bill_id = await _issue_run_bills(uow, chunk)
    finally:
        with contextlib.suppress(Exception):  # the connection may be the failure
            await end_bulk_totals(uow)
    return first_bill_id


async def _issue_run_bills(uow: UnitOfWork, chunk: RunChunk) -> int | None:
    issued = await uow.execute(
        "ledger_run_issue_bills",
        {
            "billing_month": chunk.billing_month,
            "due_date": chunk.due_date,
            "default_rate": chunk.default_rate,
            "max_total": MAX_AMOUNT,
            "run_id": chunk.run_id,
            "first_customer": chunk.first_customer,
            "last_customer": chunk.last_customer,
        },
    )
    if not issued:
        return None
    first_bill_id = int(await uow.fetch_value("ledger_last_insert_id"))
    which = {"first_bill_id": first_bill_id, "run_id": chunk.run_id, "admin_id": chunk.admin_id}
    totals = {"import_id": chunk.run_id, "first_id": first_bill_id}
    await uow.execute_batch(
        [
            ("ledger_run_energy_lines", which),
            ("ledger_run_fixed_lines", which),
            ("ledger_run_tax_lines", which),
            ("ledger_bulk_bill_totals", totals),
            ("ledger_bulk_balances", totals),
        ]
    )
    return first_bill_id


# Imports: flat bills issued set-based (the CSV and legacy imports)


async def issue_imported(
    uow: UnitOfWork,
    *,
    customer_id: int,
    billing_month: date,
    units: Decimal,
    rate: Decimal,
    total: Decimal,
    due_date: date,
    import_id: int,
) -> int:
    """Issue one bill brought in from another system with its own figures (the legacy
    import), naming the import's audit entry ``import_id``; its id. Its energy line follows
    with :func:`lines_for_import`. Raises DuplicateBill when the month is taken."""
    try:
        return await uow.insert(
            "ledger_insert_imported_bill",
            {
                "customer_id": customer_id,
                "billing_month": billing_month,
                "units_used": units,
                "rate_per_unit": rate,
                "total_amount": total,
                "due_date": due_date,
                "import_audit_id": import_id,
            },
        )
    except Exception as exc:
        if error_code(exc) == 1062:
            raise DuplicateBill(f"{billing_month:%Y-%m}") from exc
        raise


async def lines_for_import(uow: UnitOfWork, *, import_id: int, first_id: int = 0) -> int:
    """The one energy line (units × rate) of each flat bill an import issued set-based from
    id ``first_id`` on that has no lines yet; how many were written."""
    return await uow.execute(
        "ledger_lines_for_import", {"import_id": import_id, "first_id": first_id}
    )


async def begin_bulk_totals(uow: UnitOfWork, import_id: int) -> None:
    """From now on this connection's bills naming ``import_id`` leave the report totals to
    :func:`add_bulk_totals` (migration 0023), which the caller must run before it commits;
    :func:`end_bulk_totals` ends it (also on failure: the connection returns to the pool)."""
    await uow.execute("ledger_bulk_totals_begin", {"import_id": import_id})


async def end_bulk_totals(uow: UnitOfWork) -> None:
    await uow.execute("ledger_bulk_totals_end")


async def issue_staged(
    uow: UnitOfWork, *, import_id: int, first_line: int, last_line: int
) -> tuple[int, int]:
    """Issue the lines ``first_line``–``last_line`` of the import's staging table
    (:mod:`domain.bills`) whose meter a customer has, as unpaid flat bills (units × rate)
    of ``import_id``, with their energy lines: one statement each. Returns (bills issued,
    the first one's id). A repeat or a month already billed fails on the unique key (the
    statement is undone); a line whose meter nobody has is left out: the caller counts."""
    params = {"import_id": import_id, "first_line": first_line, "last_line": last_line}
    async with uow.connection.cursor() as cur:
        issued = int(await cur.execute(query("ledger_issue_staged"), params))
        first_id = int(cur.lastrowid or 0)
    if issued:
        await uow.execute(
            "ledger_lines_for_staged", {"import_id": import_id, "first_id": first_id}
        )
    return issued, first_id


async def add_bulk_totals(uow: UnitOfWork, *, import_id: int, first_id: int) -> None:
    """Add the bills of ``import_id`` (ids from ``first_id`` on), issued while
    :func:`begin_bulk_totals` held, to the bill totals and their customers' balances: one
    GROUP BY each, what the trigger would have added bill by bill."""
    params = {"import_id": import_id, "first_id": first_id}
    await uow.execute_batch(
        [("ledger_bulk_bill_totals", params), ("ledger_bulk_balances", params)]
    )
