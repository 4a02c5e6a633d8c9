"""Bulk billing: /importbills' domain import of a 100,000-line CSV vs a bare INSERT of the rows.

The import (``domain.bills.import_bill_file``, what /importbills runs on the downloaded
file) checks every line, stages it, looks every meter up, refuses repeats and clashes, issues
the bills and their lines, writes the import's audit entry (named by each bill) and moves the
report totals, in one transaction. It runs in its own process so its peak memory is its own;
a file a tenth the size shows that memory does not grow with the file (it is read in
chunks). The reference (issue 15: the import at ≥ 0.8× it) is bare multi-row INSERTs of the
same bills, already resolved to customer ids and totals, through the same triggers, nothing
else; LOAD DATA LOCAL of those rows shows the fastest the server takes them. All are undone
afterwards (and the report totals recounted), so the data set is unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from benchmarks.dataset import iter_csv_rows
from benchmarks.harness import PROJECT, Context, Figure, connect, settle
from domain import report_totals
from domain.bills import default_due_date
from domain.db import values_list
from domain.models import now_utc

TARGET_RATIO = 0.8  # of the bare multi-row INSERT of the same finished rows (issue 15)
# The reference: the finished rows as bare multi-row INSERTs (the statement the import used
# to send itself), through the same triggers, with nothing else around them.
BARE_INSERT = (
    "INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount, "
    "due_date, import_audit_id) VALUES"
)


def _month(ctx: Context) -> date:
    """The current month: the data set's bills end the month before."""
    return date.today().replace(day=1)


def _write_csv(path: Path, rows: int, month: date) -> None:
    meters = [f"MTR-{i:07d}" for i in range(1, rows + 1)]
    with path.open("w", encoding="utf-8") as out:
        for line in iter_csv_rows(meters, month, rows):
            out.write(line + "\n")


def _write_tsv(csv_path: Path, tsv_path: Path, month: date) -> int:
    """The same bills as LOAD DATA rows (customer id, figures, status, due date)."""
    # The due date the import gives these bills today (it is not told the issue day).
    due = default_due_date(month, 14, issued_on=now_utc().date()).isoformat()
    count = 0
    with csv_path.open(encoding="utf-8") as source, tsv_path.open("w") as out:
        next(source)
        for line in source:
            meter, _, units_text, rate_text = line.rstrip("\n").split(",")
            units = Decimal(units_text)
            rate = Decimal(rate_text or "68.50")
            total = (units * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            out.write(
                f"{int(meter[4:])}\t{month.isoformat()}\t{units}\t{rate}\t{total}\t0.00\t"
                f"unpaid\t{due}\n"
            )
            count += 1
    return count


def _undo(ctx: Context, month: date) -> None:
    """Delete the bills (and audit entries) the last step wrote, and wait for the server to
    purge them before the next step is timed."""
    conn = connect(ctx.database.admin)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "DELETE l FROM bill_lines l JOIN bills b ON b.bill_id = l.bill_id "
                "WHERE b.billing_month = %s",
                (month,),
            )
            # A join, not `audit_id IN (SELECT …)`: MariaDB ran that subquery for every row of
            # audit_log (minutes at 120,000 bills, over ten at 1.2M).
            cur.execute(
                "DELETE a FROM audit_log a JOIN bills b ON b.import_audit_id = a.audit_id "
                "WHERE b.billing_month = %s",
                (month,),
            )
            cur.execute("DELETE FROM bills WHERE billing_month = %s", (month,))
    finally:
        conn.close()
    settle(ctx.database.root)


async def _import(ctx: Context, path: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "DATABASE_URL": ctx.database.admin.to_url(),
        "PYTHONPATH": str(PROJECT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.import_process",
        str(path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the import failed ({process.returncode})")
    result: dict[str, float] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _load_data(ctx: Context, tsv: Path) -> float:
    conn = connect(ctx.database.admin, local_infile=True)
    try:
        with conn.cursor() as cur:
            started = time.perf_counter()
            cur.execute(
                "LOAD DATA LOCAL INFILE %s INTO TABLE bills FIELDS TERMINATED BY '\\t' "
                "LINES TERMINATED BY '\\n' (customer_id, billing_month, units_used, "
                "rate_per_unit, total_amount, amount_paid, payment_status, due_date)",
                (str(tsv),),
            )
            return time.perf_counter() - started
    finally:
        conn.close()


def _multi_row_insert(ctx: Context, tsv: Path) -> float:
    """The same resolved bills as multi-row INSERTs of 2,000 (the import's statement, with
    nothing else): how fast this server takes these rows by INSERT."""
    rows: list[tuple[int | Decimal | date, ...]] = []
    with tsv.open() as source:
        for line in source:
            customer, month, units, rate, total, _, _, due = line.rstrip("\n").split("\t")
            rows.append(
                (
                    int(customer),
                    date.fromisoformat(month),
                    Decimal(units),
                    Decimal(rate),
                    Decimal(total),
                    date.fromisoformat(due),
                    0,  # the import's audit entry
                )
            )
    statements = [
        BARE_INSERT + "\n" + values_list(rows[start : start + 2_000])
        for start in range(0, len(rows), 2_000)
    ]
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
    rows = min(ctx.customers, 10_000 if ctx.quick else 100_000)
    print(f"\n== bulk billing: a {rows:,}-line CSV through the import vs LOAD DATA", flush=True)
    month = _month(ctx)
    big, small = ctx.workdir / "bills.csv", ctx.workdir / "bills-small.csv"
    _write_csv(big, rows, month)
    _write_csv(small, rows // 10, month)
    tsv = ctx.workdir / "bills.tsv"
    _write_tsv(big, tsv, month)
    try:
        _undo(ctx, month)
        small_run = await _import(ctx, small)
        _undo(ctx, month)
        full_run = await _import(ctx, big)
        _undo(ctx, month)
        load_seconds = _load_data(ctx, tsv)
        _undo(ctx, month)
        insert_seconds = _multi_row_insert(ctx, tsv)
        _undo(ctx, month)
    finally:
        started = time.perf_counter()
        conn = connect(ctx.database.admin)
        try:
            report_totals.rebuild_sync(conn)
        finally:
            conn.close()
        print(f"  (report totals recounted in {time.perf_counter() - started:.1f} s)")
    rate = full_run["bills"] / full_run["seconds"]
    insert_rate = rows / insert_seconds
    ratio = rate / insert_rate
    ctx.results.add(
        Figure(
            "bulk import",
            f"/importbills domain import, {rows:,} lines (checked, staged, issued with their "
            "lines, audited, totals kept)",
            rate,
            "rows/s",
            reference="bare multi-row INSERTs of the same finished rows (2,000 a statement)",
            reference_value=insert_rate,
            target=f"≥ {TARGET_RATIO}× the bare INSERT",
            met=ratio >= TARGET_RATIO,
            note=f"{full_run['seconds']:.2f} s vs {insert_seconds:.2f} s",
        )
    )
    ctx.results.add(
        Figure(
            "bulk import",
            "bare multi-row INSERTs of the same finished rows (2,000 a statement, nothing "
            "else; through the triggers)",
            insert_rate,
            "rows/s",
            reference="LOAD DATA LOCAL of the same rows",
            reference_value=rows / load_seconds,
            note=f"{insert_seconds:.2f} s vs {load_seconds:.2f} s: what this server takes",
        )
    )
    ctx.results.add(
        Figure(
            "memory",
            f"peak RSS of the import process, {rows:,} lines",
            full_run["peak_rss_kib"] / 1024,
            "MiB",
            reference=f"the same import of {rows // 10:,} lines",
            reference_value=small_run["peak_rss_kib"] / 1024,
            higher_is_better=False,
            note="memory does not grow with the file"
            if full_run["peak_rss_kib"] < 1.2 * small_run["peak_rss_kib"]
            else "memory grows with the file",
        )
    )
