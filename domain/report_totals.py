"""Report totals: what the staff reports read instead of scanning every bill and payment.

The totals are kept by the database itself (the triggers of migration 0005): every INSERT or
UPDATE of a bill moves its contribution (one bill, its units, its total, what was paid on it,
whether it is open and what is still owed) from the bill as it was to the bill as it is, and
every payment or void adds to or takes from its day's revenue, in the statement that changes
the row, whoever sends it. Rows are split into shards by the connection's id, so concurrent
payments do not wait for each other's COMMIT on one hot row; a figure is the sum of its
shards.

:func:`differences` recounts everything from the bills and payments and lists what does not
match (the tests use it); :func:`rebuild` recounts from scratch (after rows were deleted or
the totals written by hand).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.db import SQL_DIR, Database, Row, UnitOfWork, query

# A billing month's totals are spread over BILL_SHARDS rows, a day's payments by one method
# over PAYMENT_SHARDS (the triggers use CONNECTION_ID() MOD these; a rebuild, the bill id).
BILL_SHARDS = 64
PAYMENT_SHARDS = 16
MIGRATION = SQL_DIR / "migrations" / "0003_report_totals.sql"
ZERO = Decimal("0.00")


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
