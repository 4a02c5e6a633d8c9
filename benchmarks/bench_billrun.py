"""The monthly bill run: /billrun's domain function (``domain.billrun.run``) for every
customer of the data set on a three-band tariff, vs a bare multi-row INSERT of the same
finished rows.

Every customer is put on one three-band tariff (fixed charge and tax too) and given an
accepted reading for the month before the current one and for the current one (units spread
over all three bands). The run then finds each customer's previous reading and tariff version,
works out the bands, fixed charge and tax in SQL, writes the bills and their lines, its audit
entry and the month's turn, moves the report totals (triggers) and reports what it skipped —
a chunk of customers per transaction. The reference, in the same run, sends the very rows the
run wrote (bills and their lines, read back afterwards) as multi-row INSERTs of 2,000, in one
transaction, nothing else: what this server takes by INSERT. Everything is undone afterwards
(and the report totals recounted), so the data set is unchanged.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from typing import Any

from benchmarks.harness import Context, Figure, connect, settle
from domain import billrun, report_totals
from domain.db import Database
from domain.reports import month_add

TARGET_RATIO = 0.8  # bare INSERT time / bill run time
ROUNDS = 2  # each side is timed this often, alternately; the best of each counts
TARIFF_CODE = "BENCH3"
BILL_COLUMNS = (
    "bill_id, customer_id, billing_month, units_used, rate_per_unit, total_amount, amount_paid,"
    " payment_status, due_date, tariff_version_id, previous_reading, current_reading,"
    " estimated, import_audit_id"
)
LINE_COLUMNS = "bill_id, kind, band_from_kwh, band_to_kwh, units, rate, percent, amount, admin_id"


def _month() -> date:
    """The current month: the data set's bills end the month before."""
    return date.today().replace(day=1)


def _setup(ctx: Context, month: date) -> None:
    """The three-band tariff, every customer on it, and their two readings (untimed)."""
    previous = month_add(month, -1)
    conn = connect(ctx.database.admin)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO tariffs (tariff_code, name, customer_class)"
                " VALUES (%s, 'Residential, three bands', 'residential')",
                (TARIFF_CODE,),
            )
            tariff_id = cur.lastrowid
            cur.execute(
                "INSERT INTO tariff_versions (tariff_id, effective_from, fixed_charge,"
                " tax_percent) VALUES (%s, '2000-01-01', 1000.00, 7.50)",
                (tariff_id,),
            )
            version_id = cur.lastrowid
            cur.executemany(
                "INSERT INTO tariff_bands (version_id, band_no, from_kwh, to_kwh, rate_per_kwh)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (version_id, 1, 0, 50, Decimal("52.4000")),
                    (version_id, 2, 50, 150, Decimal("68.5000")),
                    (version_id, 3, 150, None, Decimal("81.2345")),
                ],
            )
            cur.execute("UPDATE customers SET tariff_id = %s", (tariff_id,))
            # Deterministic spread: previous readings anywhere on a six-digit register, units
            # 0.00–399.99 (every band, band edges included).
            cur.execute(
                "INSERT INTO meter_readings (customer_id, billing_month, reading, source)"
                " SELECT customer_id, %s, MOD(customer_id * 104729, 900000) / 1, 'staff'"
                " FROM customers",
                (previous,),
            )
            cur.execute(
                "INSERT INTO meter_readings (customer_id, billing_month, reading, source)"
                " SELECT customer_id, %s,"
                " MOD(customer_id * 104729, 900000) + MOD(customer_id * 7919, 40000) / 100,"
                " 'staff' FROM customers",
                (month,),
            )
            for table in ("customers", "meter_readings"):
                cur.execute(f"ANALYZE TABLE {table}")
                cur.fetchall()
        conn.commit()
    finally:
        conn.close()


def _teardown(ctx: Context, month: date) -> None:
    conn = connect(ctx.database.admin)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "DELETE FROM meter_readings WHERE billing_month >= %s", (month_add(month, -1),)
            )
            cur.execute("UPDATE customers SET tariff_id = NULL")
            cur.execute(
                "DELETE b FROM tariff_bands b JOIN tariff_versions v USING (version_id)"
                " JOIN tariffs t USING (tariff_id) WHERE t.tariff_code = %s",
                (TARIFF_CODE,),
            )
            cur.execute(
                "DELETE v FROM tariff_versions v JOIN tariffs t USING (tariff_id)"
                " WHERE t.tariff_code = %s",
                (TARIFF_CODE,),
            )
            cur.execute("DELETE FROM tariffs WHERE tariff_code = %s", (TARIFF_CODE,))
        conn.commit()
    finally:
        conn.close()


def _undo(ctx: Context, month: date) -> None:
    """Delete the month's bills, their lines and the runs' audit entries and turns; wait for
    the server to purge them before the next step is timed."""
    conn = connect(ctx.database.admin)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "DELETE l FROM bill_lines l JOIN bills b ON b.bill_id = l.bill_id"
                " WHERE b.billing_month = %s",
                (month,),
            )
            cur.execute("DELETE FROM bills WHERE billing_month = %s", (month,))
            cur.execute("DELETE FROM audit_log WHERE action = %s", (billrun.RUN_ACTION,))
            cur.execute("DELETE FROM bill_runs")
            cur.execute(
                "DELETE FROM meter_readings WHERE billing_month = %s AND source = 'estimate'",
                (month,),
            )
        conn.commit()
    finally:
        conn.close()
    settle(ctx.database.root)


async def _bill_run(ctx: Context, month: date) -> tuple[float, billrun.BillRunResult]:
    db = await Database.connect(ctx.database.admin, minsize=1, maxsize=2)
    try:
        started = time.perf_counter()
        result = await billrun.run(
            db, billing_month=month, default_rate=Decimal("68.50"), due_days=14
        )
        return time.perf_counter() - started, result
    finally:
        await db.close()


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    return str(value)


def _finished_rows(ctx: Context, month: date) -> tuple[list[str], list[str]]:
    """The run's bills and lines, as the VALUES of multi-row INSERTs of 2,000 each."""
    conn = connect(ctx.database.admin)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT {BILL_COLUMNS} FROM bills WHERE billing_month = %s ORDER BY bill_id",
                (month,),
            )
            bills = [tuple(row) for row in cur.fetchall()]
            cur.execute(
                f"SELECT {', '.join('l.' + c.strip() for c in LINE_COLUMNS.split(','))}"
                " FROM bill_lines l JOIN bills b ON b.bill_id = l.bill_id"
                " WHERE b.billing_month = %s ORDER BY l.line_id",
                (month,),
            )
            lines = [tuple(row) for row in cur.fetchall()]
    finally:
        conn.close()

    def statements(table: str, columns: str, rows: list[tuple[Any, ...]]) -> list[str]:
        return [
            f"INSERT INTO {table} ({columns}) VALUES "
            + ",".join("(" + ",".join(map(_literal, row)) + ")" for row in rows[i : i + 2000])
            for i in range(0, len(rows), 2000)
        ]

    return statements("bills", BILL_COLUMNS, bills), statements("bill_lines", LINE_COLUMNS, lines)


def _bare_insert(ctx: Context, statements: list[str]) -> float:
    conn = connect(ctx.database.admin)
    try:
        with conn.cursor() as cur:
            started = time.perf_counter()
            for statement in statements:
                cur.execute(statement)
            conn.commit()
            return time.perf_counter() - started
    finally:
        conn.close()


async def run(ctx: Context) -> None:
    month = _month()
    print(
        f"\n== bill run: {ctx.customers:,} customers on a three-band tariff vs a bare "
        "multi-row INSERT of the same bills and lines",
        flush=True,
    )
    _setup(ctx, month)
    run_times: list[float] = []
    bare_times: list[float] = []
    result: billrun.BillRunResult | None = None
    lines = 0
    try:
        _undo(ctx, month)
        for _ in range(ROUNDS):
            seconds, result = await _bill_run(ctx, month)
            run_times.append(seconds)
            bill_statements, line_statements = _finished_rows(ctx, month)
            lines = sum(statement.count("),(") + 1 for statement in line_statements)
            _undo(ctx, month)
            bare_times.append(_bare_insert(ctx, bill_statements + line_statements))
            _undo(ctx, month)
    finally:
        _undo(ctx, month)
        _teardown(ctx, month)
        started = time.perf_counter()
        conn = connect(ctx.database.admin)
        try:
            report_totals.rebuild_sync(conn)
        finally:
            conn.close()
        print(f"  (report totals recounted in {time.perf_counter() - started:.1f} s)")
    assert result is not None
    best_run, best_bare = min(run_times), min(bare_times)
    ratio = best_bare / best_run
    ctx.results.add(
        Figure(
            "bill run",
            f"/billrun domain run, {result.issued:,} bills with {lines:,} lines (readings, "
            "bands, tax, audit, totals, skips reported)",
            best_run,
            "s",
            reference="bare multi-row INSERTs of the same bills and lines",
            reference_value=best_bare,
            higher_is_better=False,
            target=f"bare ÷ run ≥ {TARGET_RATIO}",
            met=ratio >= TARGET_RATIO,
            note=f"bare ÷ run = {ratio:.2f}; {result.issued / best_run:,.0f} bills/s; "
            f"runs {', '.join(f'{t:.2f}' for t in run_times)} s, bare "
            f"{', '.join(f'{t:.2f}' for t in bare_times)} s",
        )
    )
