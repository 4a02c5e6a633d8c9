"""Reports at utility scale: the domain's report functions vs the best raw SQL for each.

The domain reads the report totals kept by every write (migration 0003). The reference is
the best single query over the bills and payments themselves, on the same pool: where the
optimizer's own plan is not the fastest (the trend's month index makes it look up every
bill), each plan is timed and the fastest is the reference. Each domain report is also
checked against its raw query: the figures must be equal. Last, the recount that repairs the
totals (`run_bot.py recount`, the daily check) against a rebuild from scratch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from benchmarks.harness import Context, Figure, connect, median_ms, time_async
from domain import report_totals, reports
from domain.db import Database
from domain.models import db_time

LAGOS = timezone(timedelta(hours=1))
TARGET_MS = 100.0
TARGET_RATIO = 1.2

# Months of payment in Lagos time (UTC+1 all year), as the domain reports them.
RAW_REVENUE = """
SELECT payment_method, DATE_FORMAT(date_of_payment + INTERVAL 1 HOUR, '%%Y-%%m') AS month,
       SUM(amount_paid) AS total, COUNT(*) AS payments
FROM payments {hint}
WHERE voided_at IS NULL {period}
GROUP BY payment_method, month"""

RAW_OUTSTANDING = """
SELECT COALESCE(SUM(total_amount - amount_paid), 0) AS total, COUNT(*) AS bills,
       COUNT(DISTINCT customer_id) AS customers,
       COALESCE(SUM(IF(due_date >= %(today)s, total_amount - amount_paid, 0)), 0) AS not_due,
       COALESCE(SUM(IF(due_date < %(today)s AND DATEDIFF(%(today)s, due_date) <= 30,
                       total_amount - amount_paid, 0)), 0) AS days_0_30,
       COALESCE(SUM(IF(DATEDIFF(%(today)s, due_date) BETWEEN 31 AND 60,
                       total_amount - amount_paid, 0)), 0) AS days_31_60,
       COALESCE(SUM(IF(DATEDIFF(%(today)s, due_date) BETWEEN 61 AND 90,
                       total_amount - amount_paid, 0)), 0) AS days_61_90,
       COALESCE(SUM(IF(DATEDIFF(%(today)s, due_date) > 90,
                       total_amount - amount_paid, 0)), 0) AS days_over_90
FROM bills {hint}
WHERE payment_status IN ('unpaid', 'partial')"""

RAW_TOP_DEBTORS = """
SELECT c.customer_id, c.meter_number, c.full_name, d.owed, d.bills
FROM (
    SELECT customer_id, SUM(total_amount - amount_paid) AS owed, COUNT(*) AS bills
    FROM bills {hint}
    WHERE payment_status IN ('unpaid', 'partial')
    GROUP BY customer_id
    ORDER BY owed DESC, customer_id
    LIMIT 10
) d JOIN customers c ON c.customer_id = d.customer_id
ORDER BY d.owed DESC, c.customer_id"""

RAW_TREND = """
SELECT billing_month, SUM(units_used) AS units, SUM(total_amount) AS billed,
       SUM(amount_paid) AS collected, COUNT(*) AS bills
FROM bills {hint}
WHERE billing_month BETWEEN %(start)s AND %(end)s
GROUP BY billing_month ORDER BY billing_month"""


async def _raw(db: Database, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(sql, params or {})  # {}: PyMySQL still turns %% into %
            return list(await cur.fetchall())


async def _best_raw(
    db: Database,
    template: str,
    hints: dict[str, str],
    repeat: int,
    params: dict[str, Any] | None = None,
    period: str = "",
) -> tuple[str, float, list[Any]]:
    """Time each plan; return the fastest one's name, its median ms and its rows."""
    best: tuple[str, float, list[Any]] | None = None
    for name, hint in hints.items():
        sql = template.format(hint=hint, period=period)
        rows: list[Any] = []

        async def once(sql: str = sql, rows: list[Any] = rows) -> None:
            rows[:] = await _raw(db, sql, params)

        ms = median_ms(await time_async(once, repeat=repeat, warmup=1))
        if best is None or ms < best[1]:
            best = (name, ms, rows)
    assert best is not None
    return best


async def _domain(work: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, object]:
    result: list[object] = []

    async def once() -> None:
        result[:] = [await work()]

    return median_ms(await time_async(once, repeat=repeat, warmup=2)), result[0]


def _figure(
    ctx: Context, name: str, domain_ms: float, raw_name: str, raw_ms: float, equal: bool
) -> None:
    figure = Figure(
        "reports",
        name,
        domain_ms,
        "ms",
        reference=f"best raw SQL ({raw_name})",
        reference_value=raw_ms,
        higher_is_better=False,
        target=f"≤ {TARGET_RATIO}× raw and ≤ {TARGET_MS:.0f} ms",
        note="same figures as raw" if equal else "FIGURES DIFFER FROM RAW",
    )
    figure.met = equal and domain_ms <= TARGET_MS and (figure.ratio or 0) <= TARGET_RATIO
    ctx.results.add(figure)


async def run(ctx: Context) -> None:
    print(
        f"\n== reports at {ctx.customers * ctx.months:,} bills: domain vs best raw SQL",
        flush=True,
    )
    repeat = 3 if ctx.quick else 7
    db = await Database.connect(ctx.database.admin, minsize=1, maxsize=2)
    today = datetime.now(LAGOS).date()
    try:
        # Revenue, all time: total, by method, by month (in Lagos time).
        plan, raw_ms, rows = await _best_raw(db, RAW_REVENUE, {"optimizer's plan": ""}, repeat)
        ms, report = await _domain(lambda: reports.revenue(db, zone=LAGOS), repeat)
        assert isinstance(report, reports.RevenueReport)
        _figure(ctx, "revenue, all time", ms, plan, raw_ms, _same_revenue(report, rows))

        # Revenue for last month in the utility's time zone (part-days at both edges).
        last = reports.month_add(today.replace(day=1), -1)
        start = datetime(last.year, last.month, 1, tzinfo=LAGOS)
        end = datetime(today.year, today.month, 1, tzinfo=LAGOS)
        plan, raw_ms, rows = await _best_raw(
            db,
            RAW_REVENUE,
            {"optimizer's plan": "", "full scan": "IGNORE INDEX (ix_payments_date)"},
            repeat,
            {"start": db_time(start), "end": db_time(end)},
            period="AND date_of_payment >= %(start)s AND date_of_payment < %(end)s",
        )
        ms, report = await _domain(
            lambda: reports.revenue(db, start=start, end=end, zone=LAGOS), repeat
        )
        assert isinstance(report, reports.RevenueReport)
        _figure(
            ctx, f"revenue, {last:%B %Y} (Lagos)", ms, plan, raw_ms, _same_revenue(report, rows)
        )

        # Outstanding: total, counts, ageing; then the top ten debtors.
        summary_plan, summary_ms, summary = await _best_raw(
            db,
            RAW_OUTSTANDING,
            {"optimizer's plan": "", "full scan": "IGNORE INDEX (ix_bills_status_due)"},
            repeat,
            {"today": today},
        )
        debtor_plan, debtor_ms, debtors = await _best_raw(
            db,
            RAW_TOP_DEBTORS,
            {
                "optimizer's plan": "",
                "status index": "FORCE INDEX (ix_bills_status_due)",
                "full scan": "IGNORE INDEX (ix_bills_status_due, uq_bills_customer_month)",
            },
            repeat,
        )
        ms, report = await _domain(lambda: reports.outstanding(db, today=today), repeat)
        assert isinstance(report, reports.OutstandingReport)
        _figure(
            ctx,
            "outstanding: total, ageing, top 10 debtors",
            ms,
            f"{summary_plan} + {debtor_plan}",
            summary_ms + debtor_ms,
            _same_outstanding(report, summary, debtors),
        )

        # Monthly trend over the data set's months.
        newest = reports.month_add(today.replace(day=1), -1)
        oldest = reports.month_add(newest, -(ctx.months - 1))
        plan, raw_ms, rows = await _best_raw(
            db,
            RAW_TREND,
            {"optimizer's plan": "", "full scan": "IGNORE INDEX (ix_bills_month)"},
            repeat,
            {"start": oldest, "end": newest},
        )
        ms, trend = await _domain(
            lambda: reports.usage_trend(db, months=ctx.months, until=newest), repeat
        )
        assert isinstance(trend, list)
        same = [(t.billing_month, t.units, t.billed, t.collected, t.bills) for t in trend] == [
            (r[0], r[1], r[2], r[3], r[4]) for r in rows
        ]
        _figure(ctx, f"usage trend, {ctx.months} months", ms, plan, raw_ms, same)

        await _recount(ctx, db, repeat=1 if ctx.quick else 3)
    finally:
        await db.close()


async def _recount(ctx: Context, db: Database, *, repeat: int) -> None:
    """The recount of `run_bot.py recount` and the bot's daily check, on totals that need no
    repair. Reference: the from-scratch rebuild the loader runs with nothing else writing
    (empty the totals, INSERT … SELECT from the rows)."""
    conn = connect(ctx.database.admin)
    try:
        scratch_ms = median_ms(
            await time_async(
                lambda: asyncio.to_thread(report_totals.rebuild_sync, conn),
                repeat=repeat,
                warmup=0,
            )
        )
    finally:
        conn.close()
    found: list[report_totals.Drift] = []

    async def recount() -> None:
        found.extend(await report_totals.rebuild(db, source="benchmark"))

    recount_ms = median_ms(await time_async(recount, repeat=repeat, warmup=1))
    ctx.results.add(
        Figure(
            "reports",
            "recount (`run_bot.py recount`, daily check), nothing to repair",
            recount_ms,
            "ms",
            reference="from scratch (`rebuild_sync`; nothing else writing)",
            reference_value=scratch_ms,
            higher_is_better=False,
            note="found nothing" if not found else f"FOUND {len(found)} DIFFERENCES",
        )
    )


def _same_revenue(report: reports.RevenueReport, rows: list[Any]) -> bool:
    methods: dict[str, list[Any]] = {}
    months: dict[str, list[Any]] = {}
    for method, month, total, count in rows:
        for key, sums in ((method, methods), (month, months)):
            found = sums.setdefault(key, [Decimal(0), 0])
            found[0] += total
            found[1] += count
    return {line.key: [line.total, line.payments] for line in report.by_method} == methods and {
        line.key: [line.total, line.payments] for line in report.by_month
    } == months


def _same_outstanding(
    report: reports.OutstandingReport, summary: list[Any], debtors: list[Any]
) -> bool:
    total, bills, customers, *ageing = summary[0]
    return (
        (report.total, report.bills, report.customers) == (total, bills, customers)
        and [report.ageing[b] for b in reports.AGEING_BUCKETS] == ageing
        and [(d.customer_id, d.owed, d.bills) for d in report.top_debtors]
        == [(r[0], r[3], r[4]) for r in debtors]
    )
