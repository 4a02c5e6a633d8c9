"""Run every benchmark: ``.venv/bin/python -m benchmarks [--quick] [--only NAME ...]``.

Creates its own database (``ebb_bench`` with its own two accounts, through ``init-db``'s
code) on the MariaDB at 127.0.0.1, loads the data set, runs the benchmarks, prints each
figure beside its reference and drops the database (``--keep`` keeps it; ``--reuse`` then
skips loading next time). ``--quick`` is a smoke run of about five minutes at 10,000 customers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

from benchmarks import (
    bench_billrun,
    bench_bot,
    bench_checkout,
    bench_customer_reads,
    bench_galera,
    bench_import,
    bench_late_fees,
    bench_payments,
    bench_receipts,
    bench_reports,
    bench_webhook,
    dataset,
)
from benchmarks.harness import (
    BenchDatabase,
    Context,
    Results,
    check_loopback,
    connect,
    create_bench_database,
    drop_bench_database,
    machine,
    settle,
    triggers_set_aside,
)
from domain import report_totals
from domain.db import DatabaseUrl

# In the order they run: reads before the writes that change the data set.
BENCHMARKS: dict[str, Callable[[Context], Awaitable[None]]] = {
    "reports": bench_reports.run,
    "customer_reads": bench_customer_reads.run,
    "receipts": bench_receipts.run,
    # Before payments: that one gives every customer account credit, which a bill run then
    # spends on the month's bills (payments its clean-up cannot delete, and not the run's mix).
    "billrun": bench_billrun.run,
    "payments": bench_payments.run,
    "import": bench_import.run,
    "bot": bench_bot.run,
    # Several bot instances behind HAProxy, updates pushed by webhook (needs haproxy).
    "webhook": bench_webhook.run,
    "checkout": bench_checkout.run,
    # On a database of its own (bills on a tariff, with their lines).
    "late_fees": bench_late_fees.run,
    # On databases of its own, on 3306 and on a Galera cluster it starts (issue 16).
    "galera": bench_galera.run,
}
# These need none of the data set: run alone they skip loading it (and the buffer pool).
NO_DATA_SET = {"galera"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (10,000 customers)")
    parser.add_argument("--customers", type=int, help="customers in the data set (100,000)")
    parser.add_argument("--months", type=int, default=12, help="monthly bills per customer")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these benchmarks"
    )
    parser.add_argument("--database", default="ebb_bench", help="the benchmark database's name")
    parser.add_argument(
        "--root-url",
        default=os.environ.get("DATABASE_ROOT_URL", "mysql://root@127.0.0.1:3306"),
        help="a privileged account on loopback (creates the database and its accounts)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept database of the same size"
    )
    parser.add_argument(
        "--buffer-pool-mib",
        type=int,
        default=2048,
        help="raise innodb_buffer_pool_size to this for the run if it is smaller (0: leave "
        "it); the previous size is restored at the end",
    )
    parser.add_argument("--output", type=Path, help="also write the results table (Markdown)")
    return parser.parse_args(argv)


def _buffer_pool(root: DatabaseUrl, mib: int) -> int | None:
    """Raise the buffer pool to ``mib`` if smaller; return the size to restore, if changed."""
    if mib <= 0:
        return None
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.innodb_buffer_pool_size")
            row = cur.fetchone()
            current = int(row[0]) if row else 0
            if current >= mib * 1024 * 1024:
                return None
            cur.execute("SET GLOBAL innodb_buffer_pool_size = %s", (mib * 1024 * 1024,))
            print(f"innodb_buffer_pool_size raised from {current // 2**20} to {mib} MiB")
            return current
    finally:
        conn.close()


def _restore_buffer_pool(root: DatabaseUrl, size: int) -> None:
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL innodb_buffer_pool_size = %s", (size,))
        print(f"innodb_buffer_pool_size restored to {size // 2**20} MiB")
    finally:
        conn.close()


def prepare(root: DatabaseUrl, args: argparse.Namespace, customers: int) -> BenchDatabase:
    """The benchmark database with the data set loaded (or reused) and its totals rebuilt."""
    rows = customers * args.months
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (args.database,))
            exists = cur.fetchone() is not None
            if exists and args.reuse:
                cur.execute(f"SELECT COUNT(*) FROM `{args.database}`.customers")
                found = cur.fetchone()
                if found and int(found[0]) == customers:
                    database = create_bench_database(root, args.database)
                    print(f"reusing {args.database} ({customers:,} customers)")
                    return database
            if exists:
                cur.execute(f"DROP DATABASE `{args.database}`")
    finally:
        conn.close()
    database = create_bench_database(root, args.database)
    print(f"loading {customers:,} customers × {args.months} months = {rows:,} bills …", flush=True)
    data = dataset.DataSet(customers, args.months, date.today())
    conn = connect(database.admin, local_infile=True)
    try:
        with triggers_set_aside(conn):
            report = dataset.load(data, conn)
        started = time.perf_counter()
        report_totals.rebuild_sync(conn)
        rebuilt = time.perf_counter() - started
        with conn.cursor() as cur:
            for table in ("customers", "bills", "payments"):
                cur.execute(f"ANALYZE TABLE {table}")
                cur.fetchall()
    finally:
        conn.close()
    total = report.customers + report.bills + report.payments
    print(
        f"loaded {report.customers:,} customers, {report.bills:,} bills, "
        f"{report.payments:,} payments ({report.bytes / 2**20:,.0f} MiB of TSV) in "
        f"{report.seconds:.1f} s = {total / report.seconds:,.0f} rows/s; "
        f"report totals rebuilt in {rebuilt:.1f} s",
        flush=True,
    )
    return database


async def run_all(ctx: Context, names: list[str]) -> None:
    for name in names:
        settle(ctx.database.root)  # the last area's (or the load's) old rows purged first
        started = time.perf_counter()
        await BENCHMARKS[name](ctx)
        print(f"   ({name} took {time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = DatabaseUrl.parse(args.root_url)
    check_loopback(root)
    customers = args.customers or (10_000 if args.quick else 100_000)
    names = args.only or list(BENCHMARKS)
    started = time.perf_counter()
    print("== the machine")
    for key, value in machine(root).items():
        print(f"  {key}: {value}")
    standalone = set(names) <= NO_DATA_SET
    restore = None if standalone else _buffer_pool(root, args.buffer_pool_mib)
    results = Results()
    database: BenchDatabase | None = None
    try:
        if standalone:
            database = create_bench_database(root, args.database)  # empty: no data set
        else:
            database = prepare(root, args, customers)
        with tempfile.TemporaryDirectory(prefix="ebb-bench-") as workdir:
            ctx = Context(database, customers, args.months, args.quick, results, Path(workdir))
            asyncio.run(run_all(ctx, names))
    finally:
        if database is not None and not args.keep:
            drop_bench_database(database)
            print(f"dropped {database.name}")
        if restore is not None:
            _restore_buffer_pool(root, restore)
    print(f"\n== results ({time.perf_counter() - started:.0f} s in all)\n")
    table = results.markdown()
    print(table)
    if args.output:
        args.output.write_text(table + "\n", encoding="utf-8")
    missed = [f for f in results.figures if f.met is False]
    if missed:
        print(f"\n{len(missed)} figure(s) missed their target.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
