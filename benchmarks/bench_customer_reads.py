"""Customer reads at utility scale: the domain behind /dashboard and /bills for one customer.

Each call is timed for customers spread over the whole data set (so most pages are not the
ones the previous call read), on the customer account's pool as the chat uses it. The
reference is the same SQL statements sent bare on a plain cursor, a round trip each (no
domain, no records); the domain sends them in one round trip, so it can be the faster.
EXPLAIN of every statement is printed, to show each reads a handful of index entries.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.harness import Context, Figure, connect, percentile, time_async
from domain import bills, customers
from domain.db import Database, query
from domain.models import BillFilter, now_utc

TARGET_MS = 5.0

# (query name, parameters besides customer_id) for each read, in the order the domain runs it.
Statements = tuple[tuple[str, dict[str, Any]], ...]
# The dashboard's statements take an id or a Telegram user, and the day overdue is counted on.
BY_ID = {"telegram_user_id": None, "today": now_utc().date()}
DASHBOARD: Statements = (("get_dashboard", BY_ID),)  # one statement: a JSON object
OWED = {"status_a": "unpaid", "status_b": "partial"}  # /bills: every bill still owed
EVERY = {"status_a": None, "status_b": None}  # /bills all
BILLS_PAGE: Statements = (
    ("count_customer_bills", OWED),
    ("customer_bills", {**OWED, "limit": 5, "offset": 0}),
)
BILLS_ALL: Statements = (
    ("count_customer_bills", EVERY),
    ("customer_bills", {**EVERY, "limit": 5, "offset": 0}),
)


def explain(ctx: Context, customer_id: int) -> list[str]:
    """EXPLAIN of every statement the two reads run, as printable lines."""
    lines: list[str] = []
    conn = connect(ctx.database.admin)
    try:
        with conn.cursor() as cur:
            for name, extra in (*DASHBOARD, *BILLS_PAGE):
                cur.execute("EXPLAIN " + query(name), {"customer_id": customer_id, **extra})
                columns = [d[0] for d in cur.description]
                lines.append(f"  EXPLAIN {name}:")
                for row in cur.fetchall():
                    shown = dict(zip(columns, row, strict=True))
                    if shown["table"] is None:
                        continue  # the subquery by Telegram user, not run when given an id
                    lines.append(
                        f"    {shown['table']}: type={shown['type']} key={shown['key']} "
                        f"rows={shown['rows']} {shown['Extra'] or ''}".rstrip()
                    )
    finally:
        conn.close()
    return lines


async def _bare(
    db: Database, statements: tuple[tuple[str, dict[str, Any]], ...], cid: int
) -> None:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            for name, extra in statements:
                await cur.execute(query(name), {"customer_id": cid, **extra})
                await cur.fetchall()


async def run(ctx: Context) -> None:
    print(
        f"\n== customer reads at {ctx.customers * ctx.months:,} bills: /dashboard and /bills",
        flush=True,
    )
    calls = 300 if ctx.quick else 2000
    rng = random.Random(6)
    ids = [rng.randrange(1, ctx.customers + 1) for _ in range(calls)]
    for line in explain(ctx, ids[0]):
        print(line)
    db = await Database.connect(ctx.database.customer, minsize=1, maxsize=2)
    try:
        reads: list[tuple[str, Callable[[int], Awaitable[object]], Statements]] = [
            ("dashboard()", lambda cid: customers.dashboard(db, cid), DASHBOARD),
            (
                "customer_bills() (/bills)",
                lambda cid: bills.customer_bills(db, cid, page_size=5),
                BILLS_PAGE,
            ),
            (
                "customer_bills(all) (/bills all)",
                lambda cid: bills.customer_bills(db, cid, bill_filter=BillFilter.ALL, page_size=5),
                BILLS_ALL,
            ),
        ]
        for name, read, statements in reads:
            domain = await _samples(read, ids)

            async def bare_read(cid: int, statements: Statements = statements) -> None:
                await _bare(db, statements, cid)

            bare = await _samples(bare_read, ids)
            p50, p95 = percentile(domain, 50) * 1000, percentile(domain, 95) * 1000
            figure = Figure(
                "customer reads",
                f"{name}, p50",
                p50,
                "ms",
                reference="same SQL, a round trip each (bare cursor)",
                reference_value=percentile(bare, 50) * 1000,
                higher_is_better=False,
                target=f"< {TARGET_MS:.0f} ms",
                met=p95 < TARGET_MS,
                note=f"p95 {p95:.2f} ms over {len(ids):,} customers",
            )
            ctx.results.add(figure)
    finally:
        await db.close()


async def _samples(read: Callable[[int], Awaitable[object]], ids: list[int]) -> list[float]:
    samples: list[float] = []
    iterator = iter(ids)

    async def once() -> None:
        await read(next(iterator))

    samples = await time_async(once, repeat=len(ids) - 3, warmup=3)
    return samples
