"""The daily late-fee run at utility scale (issue 15 §4): N customers × M months of bills on a
tariff with a late-fee rule, 10% of them still owing past their due date and grace days.

It runs on a database of its own (``<bench database>_lf``, dropped afterwards), made in SQL:
the main data set's bills are flat-rate bills without lines, while the run needs bills on a
tariff, each with its energy line (a bill's total is the sum of its lines).

Figures, each with its reference measured in this run:
  * the run (domain/late_fees.run: chunks of bill ids, each staging its fees with the bills
    locked, then the fee lines, the bills' totals, an audit entry per fee) against the bare
    minimum of SQL doing the same money work — the fee lines by one INSERT … SELECT and the
    bills by one UPDATE (their triggers moving the report totals), in one transaction
    (rolled back);
  * what the per-row ``bills_after_update`` trigger costs: that UPDATE on ``bills`` against
    the same UPDATE on a copy of the table without triggers (both rolled back);
  * the run again on the same day (its run record: nothing to do), and a pass over every
    chunk again (the unique key of the fee lines: nothing charged).
The report totals are then checked against a recount, and every bill against its lines.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import pymysql

from benchmarks.harness import (
    Context,
    Figure,
    connect,
    create_bench_database,
    drop_bench_database,
    settle,
    triggers_set_aside,
)
from domain import late_fees, ledger, report_totals
from domain.db import Database, UnitOfWork
from domain.models import db_time, now_utc

TARGET_SECONDS = 10.0
TODAY = date(2026, 12, 1)
RATE = "68.5000"
# The rule: 5% of what is owed, at most 500.00, after 3 grace days.
PERCENT, CAP, GRACE_DAYS = "5.00", "500.00", 3

DIGITS = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL " \
    "SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 " \
    "UNION ALL SELECT 9)"  # fmt: skip

# The fees the run charges today, as the bare reference computes them (the same rule).
BARE_FEES = f"""
    SELECT b.bill_id, b.due_date - INTERVAL (DAYOFMONTH(b.due_date) - 1) DAY AS fee_period,
           LEAST(ROUND((b.total_amount - b.amount_paid) * {PERCENT} / 100, 2), {CAP}) AS amount
    FROM bills b
    WHERE b.payment_status <> 'paid' AND b.due_date < %(today)s - INTERVAL {GRACE_DAYS} DAY"""


def _load(conn: pymysql.connections.Connection, customers: int, months: int) -> int:
    """The data set, in SQL: ``customers`` × ``months`` bills on one tariff (one band at RATE,
    the late-fee rule above), each with its energy line. The newest month is not due yet (half
    of it unpaid); of the older bills 6 in 55 are unpaid and overdue (10% of all bills), the
    rest paid. Returns how many bills are overdue."""
    newest = TODAY.replace(day=1) - timedelta(days=1)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO tariffs (tariff_code, name, customer_class)"
            " VALUES ('LF', 'Late fees', 'residential')"
        )
        tariff_id = cur.lastrowid
        cur.execute(
            "INSERT INTO tariff_versions (tariff_id, effective_from, late_fee_percent,"
            " late_fee_cap, grace_days) VALUES (%s, '2000-01-01', %s, %s, %s)",
            (tariff_id, PERCENT, CAP, GRACE_DAYS),
        )
        version_id = cur.lastrowid
        cur.execute(
            "INSERT INTO tariff_bands (version_id, band_no, from_kwh, to_kwh, rate_per_kwh)"
            " VALUES (%s, 0, 0, NULL, %s)",
            (version_id, RATE),
        )
        cur.execute("CREATE TABLE lf_seq (n INT UNSIGNED NOT NULL PRIMARY KEY)")
        cur.execute(
            f"INSERT INTO lf_seq SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d"
            f" + 10000 * f.d + 100000 * g.d FROM {DIGITS} a, {DIGITS} b, {DIGITS} c,"
            f" {DIGITS} e, {DIGITS} f, {DIGITS} g"
        )
        cur.execute(
            "INSERT INTO customers (customer_id, meter_number, full_name, address, tariff_id)"
            " SELECT n + 1, CONCAT('LF-', LPAD(n + 1, 7, '0')), CONCAT('Customer ', n + 1),"
            " 'Marina Road', %s FROM lf_seq WHERE n < %s",
            (tariff_id, customers),
        )
        # Bill (c, m): id c × months + m + 1; month m counts back from the newest.
        cur.execute(
            f"""
            INSERT INTO bills (bill_id, customer_id, billing_month, units_used, rate_per_unit,
                               total_amount, amount_paid, payment_status, due_date,
                               tariff_version_id)
            SELECT s.id, s.c + 1, s.month, s.units, {RATE}, ROUND(s.units * {RATE}, 2),
                   IF(s.owing, 0, ROUND(s.units * {RATE}, 2)),
                   IF(s.owing, 'unpaid', 'paid'),
                   LAST_DAY(s.month) + INTERVAL 14 DAY, %(version)s
            FROM (
                SELECT c.n AS c, m.n AS m, c.n * %(months)s + m.n + 1 AS id,
                       %(newest)s - INTERVAL (%(months)s - 1 - m.n) MONTH AS month,
                       50 + (c.n * 7 + m.n * 13) MOD 400 AS units,
                       IF(m.n = %(months)s - 1, c.n MOD 2 = 0,
                          (c.n * %(months)s + m.n) MOD 55 < 6) AS owing
                FROM lf_seq c JOIN lf_seq m ON m.n < %(months)s
                WHERE c.n < %(customers)s
            ) s
            """,
            {
                "version": version_id,
                "months": months,
                "customers": customers,
                "newest": newest.replace(day=1),
            },
        )
        cur.execute(
            "INSERT INTO bill_lines (bill_id, kind, band_from_kwh, units, rate, amount)"
            " SELECT bill_id, 'energy', 0, units_used, rate_per_unit, total_amount FROM bills"
        )
        cur.execute("DROP TABLE lf_seq")
        cur.execute(
            "SELECT COUNT(*) FROM bills WHERE payment_status <> 'paid'"
            " AND due_date < %s - INTERVAL %s DAY",
            (TODAY, GRACE_DAYS),
        )
        row = cur.fetchone()
        for table in ("customers", "bills", "bill_lines"):
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()
    return int(row[0]) if row else 0


def _timed_and_rolled_back(conn: pymysql.connections.Connection, statements: list[str]) -> float:
    """Seconds ``statements`` took in one transaction, which is then rolled back."""
    params = {"today": TODAY}
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION")
        started = time.perf_counter()
        for sql in statements:
            cur.execute(sql, params)
        seconds = time.perf_counter() - started
        cur.execute("ROLLBACK")
    return seconds


BARE_LINES = (
    "INSERT INTO bill_lines (bill_id, kind, percent, amount, fee_period)"
    f" SELECT f.bill_id, 'late_fee', {PERCENT}, f.amount, f.fee_period FROM ({BARE_FEES}) f"
)
BARE_BILLS = (
    "UPDATE {table} b JOIN ({fees}) f ON f.bill_id = b.bill_id"
    " SET b.total_amount = b.total_amount + f.amount,"
    " b.payment_status = IF(b.amount_paid = 0, 'unpaid', 'partial')"
)


async def run(ctx: Context) -> None:
    customers = ctx.customers
    bills = customers * ctx.months
    print(f"\n== the late-fee run over {bills:,} bills (10% overdue)", flush=True)
    database = create_bench_database(ctx.database.root, f"{ctx.database.name}_lf")
    try:
        conn = connect(database.admin)
        try:
            started = time.perf_counter()
            with triggers_set_aside(conn):
                overdue = _load(conn, customers, ctx.months)
            report_totals.rebuild_sync(conn)
            print(
                f"  loaded {bills:,} bills ({overdue:,} overdue) with their lines in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            bare = _timed_and_rolled_back(
                conn, [BARE_LINES, BARE_BILLS.format(table="bills", fees=BARE_FEES)]
            )
            settle(database.root)
            with_triggers = _timed_and_rolled_back(
                conn, [BARE_BILLS.format(table="bills", fees=BARE_FEES)]
            )
            settle(database.root)
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE lf_bills_copy LIKE bills")
                cur.execute("INSERT INTO lf_bills_copy SELECT * FROM bills")
            without_triggers = _timed_and_rolled_back(
                conn, [BARE_BILLS.format(table="lf_bills_copy", fees=BARE_FEES)]
            )
            with conn.cursor() as cur:
                cur.execute("DROP TABLE lf_bills_copy")
            settle(database.root)
        finally:
            conn.close()

        db = await Database.connect(database.admin, minsize=1, maxsize=2)
        try:
            started = time.perf_counter()
            result = await late_fees.run(db, TODAY)
            seconds = time.perf_counter() - started
            assert result.charged == overdue, (result.charged, overdue)
            ctx.results.add(
                Figure(
                    "late fees",
                    f"run over {bills:,} bills: {result.charged:,} fees",
                    seconds,
                    "s",
                    reference="bare INSERT…SELECT + UPDATE, one transaction",
                    reference_value=bare,
                    higher_is_better=False,
                    target=f"< {TARGET_SECONDS:.0f} s",
                    met=None if ctx.quick else seconds < TARGET_SECONDS,
                    note=f"{late_fees.CHUNK_BILLS:,} bill ids a transaction",
                )
            )
            ctx.results.add(
                Figure(
                    "late fees",
                    f"bills UPDATE of {overdue:,} rows, per-row triggers moving the totals",
                    with_triggers,
                    "s",
                    reference="the same UPDATE on a copy without triggers",
                    reference_value=without_triggers,
                    higher_is_better=False,
                    note=f"{(with_triggers - without_triggers) / overdue * 1e6:.1f} µs a row",
                )
            )
            started = time.perf_counter()
            again = await late_fees.run(db, TODAY)
            rerun = time.perf_counter() - started

            async def every_chunk_again() -> int:
                charged = 0
                async with db.unit_of_work() as uow:
                    first_id, last_id = await ledger.bill_id_span(uow)
                for low in range(first_id, last_id + 1, late_fees.CHUNK_BILLS):

                    async def chunk(uow: UnitOfWork, low: int = low) -> int:
                        count = await ledger.charge_late_fees(
                            uow,
                            run_date=TODAY,
                            first_id=low,
                            last_id=min(low + late_fees.CHUNK_BILLS - 1, last_id),
                            now=db_time(now_utc()),
                        )
                        await uow.commit()
                        return count

                    charged += await db.transaction(chunk)
                return charged

            started = time.perf_counter()
            repeated = await every_chunk_again()
            repass = time.perf_counter() - started
            assert (again.charged, repeated) == (0, 0)
            ctx.results.add(
                Figure(
                    "late fees",
                    "the same day's run again (its run record)",
                    rerun,
                    "s",
                    higher_is_better=False,
                    note="0 fees",
                )
            )
            ctx.results.add(
                Figure(
                    "late fees",
                    "every chunk again (the fee lines' unique key)",
                    repass,
                    "s",
                    reference="the run",
                    reference_value=seconds,
                    higher_is_better=False,
                    note="0 fees",
                )
            )
            drift = await report_totals.differences(db)
            lines_drift = await db.fetch_all("lines_drift")
            assert drift == [] and lines_drift == [], (drift[:3], lines_drift[:3])
            print("  report totals = recount; every bill = the sum of its lines", flush=True)
        finally:
            await db.close()
    finally:
        drop_bench_database(database)
