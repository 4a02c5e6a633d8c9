"""Payments on a Galera cluster against the single server, in the same run (issue 16).

The same payment load — ``pay_bill`` from account credit on the customer account, as the chat
does — on three targets, each a database of its own with the same small data set:

- the single MariaDB on 3306 (a throw-away database beside the run's own);
- a three-node Galera cluster (``scripts/cluster.sh``, its own ports: base
  ``EBB_BENCH_CLUSTER_PORT``, default 4470) through HAProxy, which sends every connection to
  one writer node;
- the same cluster with every node written at once (each payer's pool on its own node:
  multi-primary, what HAProxy would do with ``balance roundrobin``).

Each with 16 payers, first each on their own bills and then all on a few hot bills (where
two nodes meet on a bill and one of them fails certification: 1213 at COMMIT, run again by
the retry policy). Figures: payments/s, p50/p95 latency, the 1213s the policy retried and the
payments that failed after every attempt. Run it alone:
``.venv/bin/python -m benchmarks --only galera --output /tmp/galera.md`` (about 2 minutes;
needs root, ``galera-4`` and ``haproxy``).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pymysql

from benchmarks.bench_payments import give_credit
from benchmarks.harness import (
    BenchDatabase,
    Context,
    Figure,
    cluster_command,
    connect,
    counting_retries,
    create_bench_database,
    drop_bench_database,
    percentile,
)
from domain import payments
from domain.db import Database, DatabaseUrl
from domain.models import PaymentMethod

CLUSTER_PORT = int(os.environ.get("EBB_BENCH_CLUSTER_PORT", "4470"))
CLUSTER_DIR = str(Path(tempfile.gettempdir()) / "ebb-cluster-galera-bench")
DATABASE = "ebb_bench_galera"
CUSTOMERS = 400  # one open bill each
PAYERS = 16
HOT_BILLS = 4  # the contended shape: every payer on these few bills
AMOUNT = Decimal("0.01")
CREDIT = Decimal("100000.00")


@dataclass
class Run:
    rate: float
    latencies: list[float]
    deadlocks_retried: int
    failed: int


async def _load(database: BenchDatabase) -> tuple[list[int], dict[int, int]]:
    """``CUSTOMERS`` customers with one large open bill each, and ample credit; the bills
    and their owners."""
    conn = connect(database.admin)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO customers (meter_number, full_name, address) "
                "SELECT CONCAT('GAL-', seq), CONCAT('Galera Payer ', seq), '1 Bench Road' "
                f"FROM seq_1_to_{CUSTOMERS}"
            )
            cur.execute(
                "INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, "
                "total_amount, due_date) SELECT customer_id, '2026-09-01', 100000, 1, 100000, "
                "'2026-10-14' FROM customers WHERE meter_number LIKE 'GAL-%'"
            )
            cur.execute(
                "SELECT bill_id, customer_id FROM bills b JOIN customers c USING (customer_id) "
                "WHERE c.meter_number LIKE 'GAL-%' ORDER BY bill_id"
            )
            owners = {int(bill): int(customer) for bill, customer in cur.fetchall()}
    finally:
        conn.close()
    admin = await Database.connect(database.admin, maxsize=2)
    try:
        await give_credit(admin, sorted(set(owners.values())), CREDIT)
    finally:
        await admin.close()
    return list(owners), owners


async def _measure(
    pools: Sequence[Database], bills: list[int], owners: dict[int, int], seconds: float
) -> Run:
    """``PAYERS`` payers for ``seconds``, payer i on pool i mod len(pools) and on bills
    i, i + PAYERS, … of ``bills`` (all of them when there are fewer bills than payers)."""
    latencies: list[float] = []
    failed = 0
    deadline = time.perf_counter() + seconds

    async def payer(index: int) -> None:
        nonlocal failed
        db = pools[index % len(pools)]
        own = bills[index::PAYERS] if len(bills) >= PAYERS else bills[index % len(bills) :]
        for bill_id in itertools.cycle(own):
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            try:
                await payments.pay_bill(
                    db,
                    bill_id=bill_id,
                    amount=AMOUNT,
                    method=PaymentMethod.CREDIT,
                    idempotency_key=secrets.token_urlsafe(24),
                    customer_id=owners[bill_id],
                )
            except pymysql.err.OperationalError:
                failed += 1  # a deadlock on every attempt: answered, nothing written
                continue
            latencies.append(time.perf_counter() - started)

    with counting_retries() as retries:
        started = time.perf_counter()
        await asyncio.gather(*(payer(i) for i in range(PAYERS)))
        elapsed = time.perf_counter() - started
    return Run(len(latencies) / elapsed, latencies, retries.codes[1213], failed)


async def _topology(
    urls: Sequence[DatabaseUrl], bills: list[int], owners: dict[int, int], seconds: float
) -> dict[str, Run]:
    """Both shapes of load on pools of the customer account at ``urls``."""
    per_pool = -(-PAYERS // len(urls))
    pools = [await Database.connect(url, minsize=per_pool, maxsize=per_pool) for url in urls]
    try:
        await _measure(pools, bills, owners, 0.5)  # warm the pools and the caches
        return {
            "distinct bills": await _measure(pools, bills, owners, seconds),
            "hot bills": await _measure(pools, bills[:HOT_BILLS], owners, seconds),
        }
    finally:
        for pool in pools:
            await pool.close()


def _figure(name: str, run: Run, single: Run | None) -> Figure:
    return Figure(
        "galera",
        name,
        run.rate,
        "payments/s",
        reference=None if single is None else "single server (3306), same load",
        reference_value=None if single is None else single.rate,
        note=(
            f"p50 {percentile(run.latencies, 50) * 1000:.1f} ms, "
            f"p95 {percentile(run.latencies, 95) * 1000:.1f} ms, "
            f"1213 retried {run.deadlocks_retried}, failed {run.failed}"
        ),
    )


async def run(ctx: Context) -> None:
    print("\n== galera: payments on the single server and on a 3-node cluster", flush=True)
    seconds = ctx.seconds(8.0, 3.0)
    single_db = create_bench_database(ctx.database.root, DATABASE)
    try:
        bills, owners = await _load(single_db)
        single = await _topology([single_db.customer], bills, owners, seconds)
    finally:
        drop_bench_database(single_db)

    cluster_command("down", port=CLUSTER_PORT, directory=CLUSTER_DIR)  # a left-over run's
    try:
        up = cluster_command("up", port=CLUSTER_PORT, directory=CLUSTER_DIR)
        if up.returncode != 0:
            raise RuntimeError(f"the Galera cluster did not start:\n{up.stdout}\n{up.stderr}")
        via_haproxy = create_bench_database(DatabaseUrl("root", port=CLUSTER_PORT), DATABASE)
        bills, owners = await _load(via_haproxy)
        customer = via_haproxy.customer
        one_writer = await _topology([customer], bills, owners, seconds)
        nodes = [
            DatabaseUrl(
                customer.user,
                customer.password,
                customer.host,
                CLUSTER_PORT + n,
                customer.database,
            )
            for n in (1, 2, 3)
        ]
        all_nodes = await _topology(nodes, bills, owners, seconds)
    finally:
        cluster_command("down", port=CLUSTER_PORT, directory=CLUSTER_DIR)

    for shape in ("distinct bills", "hot bills"):
        ctx.results.add(_figure(f"single server, {shape}", single[shape], None))
        ctx.results.add(
            _figure(f"cluster, one writer via HAProxy, {shape}", one_writer[shape], single[shape])
        )
        ctx.results.add(
            _figure(f"cluster, all 3 nodes written, {shape}", all_nodes[shape], single[shape])
        )
