"""Report totals kept in the same transaction as every write to bills and payments.

The staff reports (``domain.reports``) read these instead of scanning every bill and payment.
Each write moves a bill's *contribution* — one bill, its units, its total, what was paid on
it, whether it is open and what is still owed — from the bill as it was to the bill as it is
now (:func:`bill_change_statements`), and a payment or a void adds to or takes from its day's
revenue (:func:`payment_statement`). Rows are split into shards, and a transaction writes to
the shard of the database connection it runs on (:attr:`UnitOfWork.shard_seed`): concurrent
payments run on different connections, so they do not wait for each other's COMMIT on one hot
row however their bills fall. A figure is the sum of its shards, so which shard a change lands
in does not matter; a recount (:func:`rebuild`) spreads rows by bill id.

:func:`differences` recounts everything from the bills and payments and lists what does not
match (the tests use it); :func:`rebuild` recounts from scratch after a bulk load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.db import SQL_DIR, Database, Row, UnitOfWork, query
from domain.models import Bill, PaymentStatus

# Every payment of a billing month (most come in the days before its due date) updates one of
# that month's BILL_SHARDS rows; a day's payments by one method share PAYMENT_SHARDS rows. The
# shard is the connection's id modulo these (connections of one pool have consecutive ids).
BILL_SHARDS = 64
PAYMENT_SHARDS = 16
MIGRATION = SQL_DIR / "migrations" / "0003_report_totals.sql"
ZERO = Decimal("0.00")

Statement = tuple[str, Mapping[str, Any]]
# New bills of one billing month and due date: how many, their units, their total.
ImportedFigures = tuple[int, Decimal, Decimal]


def bill_shard(seed: int) -> int:
    return seed % BILL_SHARDS


def payment_shard(seed: int) -> int:
    return seed % PAYMENT_SHARDS


@dataclass(frozen=True)
class _Contribution:
    bills: int
    units_used: Decimal
    billed: Decimal
    collected: Decimal
    open_bills: int
    owed: Decimal

    @classmethod
    def of(cls, bill: Bill) -> _Contribution:
        is_open = bill.payment_status is not PaymentStatus.PAID
        return cls(
            1,
            bill.units_used,
            bill.total_amount,
            bill.amount_paid,
            int(is_open),
            bill.total_amount - bill.amount_paid,
        )

    def plus(self, other: _Contribution) -> _Contribution:
        return _Contribution(
            self.bills + other.bills,
            self.units_used + other.units_used,
            self.billed + other.billed,
            self.collected + other.collected,
            self.open_bills + other.open_bills,
            self.owed + other.owed,
        )

    def negated(self) -> _Contribution:
        return _Contribution(
            -self.bills,
            -self.units_used,
            -self.billed,
            -self.collected,
            -self.open_bills,
            -self.owed,
        )

    @property
    def is_zero(self) -> bool:
        return not (
            self.bills
            or self.units_used
            or self.billed
            or self.collected
            or self.open_bills
            or self.owed
        )


def _bill_totals_row(month: date, due: date, shard: int, c: _Contribution) -> dict[str, Any]:
    return {
        "billing_month": month,
        "due_date": due,
        "shard": shard,
        "bills": c.bills,
        "units_used": c.units_used,
        "billed": c.billed,
        "collected": c.collected,
        "open_bills": c.open_bills,
        "owed": c.owed,
    }


def bill_change_statements(
    before: Bill | None, after: Bill | None, *, seed: int
) -> list[Statement]:
    """The statements that move a bill's contribution from ``before`` to ``after``, in the
    shard of ``seed`` (the transaction's :attr:`UnitOfWork.shard_seed`).

    ``before`` is None for a new bill. Rows are touched in key order (bill totals by their
    key, then the customer), the same order in every transaction, so two writers never wait
    for each other in a circle.
    """
    rows: dict[tuple[date, date, int], _Contribution] = {}
    if before is not None:
        key = (before.billing_month, before.due_date, bill_shard(seed))
        rows[key] = _Contribution.of(before).negated()
    if after is not None:
        key = (after.billing_month, after.due_date, bill_shard(seed))
        gained = _Contribution.of(after)
        rows[key] = rows[key].plus(gained) if key in rows else gained
    statements: list[Statement] = [
        ("add_bill_totals", _bill_totals_row(*key, change))
        for key, change in sorted(rows.items())
        if not change.is_zero
    ]
    bill = after or before
    assert bill is not None
    open_change = sum(c.open_bills for c in rows.values())
    owed_change = sum((c.owed for c in rows.values()), ZERO)
    if open_change or owed_change:
        statements.append(
            (
                "add_customer_balance",
                {"customer_id": bill.customer_id, "open_bills": open_change, "owed": owed_change},
            )
        )
    return statements


def payment_statement(
    *, seed: int, moment: datetime, method: str, amount: Decimal, payments: int
) -> Statement:
    """Add ``payments`` payments of ``amount`` in all (negative: a void) to their day's revenue,
    in the shard of ``seed`` (the transaction's :attr:`UnitOfWork.shard_seed`).

    ``moment`` is the payment's stored (UTC, naive) time.
    """
    return (
        "add_payment_totals",
        {
            "payment_date": moment.date(),
            "payment_method": method,
            "shard": payment_shard(seed),
            "payments": payments,
            "amount": amount,
        },
    )


async def bill_changed(uow: UnitOfWork, before: Bill | None, after: Bill | None) -> None:
    """Move a bill's contribution to the totals, inside the caller's transaction."""
    statements = bill_change_statements(before, after, seed=uow.shard_seed)
    if statements:
        await uow.execute_batch(statements)


def bills_imported_statements(
    import_id: int, new_bills: Mapping[tuple[date, date], ImportedFigures], *, seed: int
) -> list[Statement]:
    """The statements that add a bulk import's chunk of new, unpaid bills to the totals, sent
    after the chunk's INSERT in its round trip: the bill totals from ``new_bills`` (per
    billing month and due date: how many, their units and their total, added up while the
    chunk was prepared), then the customers' balances, added up by the server from the bills
    of import ``import_id`` (their audit entry) from LAST_INSERT_ID() on."""
    shard = bill_shard(seed)
    statements: list[Statement] = [
        (
            "add_bill_totals",
            _bill_totals_row(
                month, due, shard, _Contribution(count, units, billed, ZERO, count, billed)
            ),
        )
        for (month, due), (count, units, billed) in sorted(new_bills.items())
    ]
    statements.append(("add_imported_customer_balances", {"import_id": import_id}))
    return statements


# ---------------------------------------------------------------------------------------------
# Recount and rebuild


async def differences(db: Database) -> list[str]:
    """Every kept total that differs from a recount of the bills and payments (none: [])."""

    async def work(uow: UnitOfWork) -> list[str]:
        found: list[str] = []
        for what, kept, counted, key in (
            ("bill totals", "kept_bill_totals", "recount_bill_totals", 2),
            ("payment totals", "kept_payment_totals", "recount_payment_totals", 2),
            ("customer balances", "kept_customer_balances", "recount_customer_balances", 1),
        ):
            found += _compare(what, await uow.fetch_all(kept), await uow.fetch_all(counted), key)
        return found

    return await db.read(work)


def _compare(what: str, kept: list[Row], counted: list[Row], key_columns: int) -> list[str]:
    def index(rows: list[Row]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        out = {}
        for row in rows:
            values = list(row.values())
            figures = tuple(Decimal(v) for v in values[key_columns:])
            if any(figures):  # a row back at zero is the same as no row
                out[tuple(values[:key_columns])] = figures
        return out

    have, want = index(kept), index(counted)
    return [
        f"{what} {key}: kept {have.get(key)}, recount {want.get(key)}"
        for key in sorted(have.keys() | want.keys(), key=repr)
        if have.get(key) != want.get(key)
    ]


_SHARDS = {"bill_shards": BILL_SHARDS, "payment_shards": PAYMENT_SHARDS}
REBUILD = (
    "clear_bill_totals",
    "clear_payment_totals",
    "clear_customer_balances",
    "rebuild_bill_totals",
    "rebuild_payment_totals",
    "rebuild_customer_balances",
)


async def rebuild(db: Database) -> None:
    """Recount every total from scratch (admin account; after a bulk load)."""

    async def work(uow: UnitOfWork) -> None:
        for name in REBUILD:
            await uow.execute(name, _SHARDS)
        await uow.commit()

    await db.transaction(work)


def rebuild_sync(conn: Any) -> None:
    """:func:`rebuild` over a PyMySQL connection (the benchmarks' loader)."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        for name in REBUILD:
            cur.execute(query(name), _SHARDS)
        cur.execute("COMMIT")
