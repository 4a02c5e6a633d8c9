"""Report totals: what the staff reports read instead of scanning every bill and payment.

The totals are kept by the database itself (the triggers of migration 0005): every INSERT or
UPDATE of a bill moves its contribution (one bill, its units, its total, what was paid on it,
whether it is open and what is still owed) from the bill as it was to the bill as it is, and
every payment or void adds to or takes from its day's revenue, in the statement that changes
the row, whoever sends it (a CSV import adds its own bills with one GROUP BY in its
transaction instead: migration 0023, ``ledger.add_bulk_totals``). Rows are split into
shards by the connection's id, so concurrent payments do not wait for each other's COMMIT
on one hot row; a figure is the sum of its shards.

What the triggers cannot see drifts: rows deleted by hand (there are no DELETE triggers; the
application never deletes a bill or a payment), rows loaded with the triggers set aside, the
totals tables written by hand. :func:`differences` recounts everything from the bills and
payments and lists what does not match; :func:`rebuild` repairs it, safely while the bot
runs (``run_bot.py recount`` and the bot's daily check call it); :func:`rebuild_sync`
recounts from scratch after a bulk load, with nothing else writing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain import audit
from domain.db import SQL_DIR, Database, Row, UnitOfWork, query

# A billing month's totals are spread over BILL_SHARDS rows, a day's payments by one method
# over PAYMENT_SHARDS (the triggers take CONNECTION_ID() MOD these, kept apart per Galera node by
# migration 0026; rebuild_sync, the bill id).
BILL_SHARDS = 64
PAYMENT_SHARDS = 16
# A repair adds to the shard one past those: no trigger writes it, so a repair never waits
# for a payment's row lock (nor a payment for a repair's), and what was ever repaired can be
# read there.
BILL_REPAIR_SHARD = BILL_SHARDS
PAYMENT_REPAIR_SHARD = PAYMENT_SHARDS
MIGRATION = SQL_DIR / "migrations" / "0003_report_totals.sql"
ZERO = Decimal("0.00")
# The audit entry of a repair lists this many of the totals it changed (and how many there
# were): after a load past the triggers there can be one per customer.
AUDIT_LISTED = 50


# ---------------------------------------------------------------------------------------------
# Recount and repair


@dataclass(frozen=True)
class _Totals:
    """One table of totals: what its rows are keyed by, what they keep, its two queries."""

    name: str
    key: tuple[str, ...]
    figures: tuple[str, ...]
    drift_query: str
    repair_query: str
    repair_shard: int | None  # None: one row per key, no shards


BILL_TOTALS = "bill totals"
PAYMENT_TOTALS = "payment totals"
CUSTOMER_BALANCES = "customer balances"
_TOTALS = (
    _Totals(
        BILL_TOTALS,
        ("billing_month", "due_date"),
        ("bills", "units_used", "billed", "collected", "open_bills", "owed"),
        "bill_totals_drift",
        "repair_bill_totals",
        BILL_REPAIR_SHARD,
    ),
    _Totals(
        PAYMENT_TOTALS,
        ("payment_date", "payment_method"),
        ("payments", "amount"),
        "payment_totals_drift",
        "repair_payment_totals",
        PAYMENT_REPAIR_SHARD,
    ),
    _Totals(
        CUSTOMER_BALANCES,
        ("customer_id",),
        ("open_bills", "owed"),
        "customer_balances_drift",
        "repair_customer_balances",
        None,
    ),
)


@dataclass(frozen=True)
class Drift:
    """A kept total that differs from a count of the rows it sums."""

    totals: str  # BILL_TOTALS, PAYMENT_TOTALS or CUSTOMER_BALANCES
    key: dict[str, Any]  # billing_month, due_date | payment_date, payment_method | customer_id
    kept: dict[str, Decimal]
    counted: dict[str, Decimal]

    @property
    def change(self) -> dict[str, Decimal]:
        """What a repair adds to each figure: counted − kept."""
        return {name: self.counted[name] - kept for name, kept in self.kept.items()}

    @property
    def label(self) -> str:
        return f"{self.totals} {' '.join(str(value) for value in self.key.values())}"

    def __str__(self) -> str:
        def figures(values: dict[str, Decimal]) -> str:
            return ", ".join(f"{name} {value}" for name, value in values.items())

        return f"{self.label}: kept {figures(self.kept)}; counted {figures(self.counted)}"


def _drift(totals: _Totals, row: Row) -> Drift:
    return Drift(
        totals.name,
        {name: row[name] for name in totals.key},
        {name: Decimal(row[f"kept_{name}"]) for name in totals.figures},
        {name: Decimal(row[f"counted_{name}"]) for name in totals.figures},
    )


def _repair_row(totals: _Totals, drift: Drift) -> dict[str, Any]:
    shard = {} if totals.repair_shard is None else {"shard": totals.repair_shard}
    return {**drift.key, **shard, **drift.change}


def net_change(drift: Sequence[Drift], totals: str) -> dict[str, Decimal]:
    """What repairing ``drift`` adds to each figure of one table of totals, in all."""
    summed: dict[str, Decimal] = {}
    for found in drift:
        if found.totals == totals:
            for name, change in found.change.items():
                summed[name] = summed.get(name, ZERO) + change
    return summed


_DRIFT_QUERIES: list[tuple[str, dict[str, Any]]] = [(t.drift_query, {}) for t in _TOTALS]


def _find_drift(read: list[list[Row]]) -> list[Drift]:
    return [
        _drift(totals, row) for totals, rows in zip(_TOTALS, read, strict=True) for row in rows
    ]


async def differences(db: Database) -> list[str]:
    """Every kept total that differs from a recount of the bills and payments (none: [])."""
    return [str(found) for found in _find_drift(await db.read_batch(_DRIFT_QUERIES))]


async def rebuild(db: Database, *, source: str) -> list[Drift]:
    """Make every total equal a count of the rows it sums, in one transaction; return what
    differed (nothing: []). Anything repaired is written to the audit log, by ``source``
    (the daily check, the command line).

    Safe while the bot writes. Each table is compared with its rows in one statement, so
    both sides are read at the same moment, and the difference is *added* to what is kept:
    a payment that commits meanwhile has moved its rows and the totals alike, so it changes
    neither the difference nor what the repair adds, and its own addition to the totals
    stays. Two recounts take turns (migration 0010): the second counts after the first's
    COMMIT and finds nothing left to repair.
    """

    async def work(uow: UnitOfWork) -> list[Drift]:
        await uow.execute("take_recount_turn")
        drift = _find_drift(await uow.fetch_batch(_DRIFT_QUERIES))
        for totals in _TOTALS:
            await uow.execute_many(
                totals.repair_query,
                [_repair_row(totals, found) for found in drift if found.totals == totals.name],
            )
        if drift:
            listed = drift[:AUDIT_LISTED]
            await audit.record(
                uow,
                admin_id=None,
                action="totals.recount",
                entity_type="totals",
                entity_id=source,
                before={found.label: found.kept for found in listed},
                after={
                    "totals repaired": len(drift),
                    **{found.label: found.counted for found in listed},
                },
            )
        await uow.commit()
        return drift

    return await db.transaction(work)


# ---------------------------------------------------------------------------------------------
# From scratch, after a bulk load


_SHARDS = {"bill_shards": BILL_SHARDS, "payment_shards": PAYMENT_SHARDS}
REBUILD = (
    "clear_bill_totals",
    "clear_payment_totals",
    "clear_customer_balances",
    "rebuild_bill_totals",
    "rebuild_payment_totals",
    "rebuild_customer_balances",
)


def rebuild_sync(conn: Any) -> None:
    """Recount every total from scratch over a PyMySQL connection, spreading the rows over the
    shards by bill id: after a bulk load past the triggers (the benchmarks' loader), with
    nothing else writing. Not while the bot runs: a payment between the DELETE and the
    recount would be counted twice or not at all; :func:`rebuild` is safe then."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        for name in REBUILD:
            cur.execute(query(name), _SHARDS)
        cur.execute("COMMIT")
