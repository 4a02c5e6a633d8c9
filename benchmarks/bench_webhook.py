"""Several bot instances behind one webhook (issue 16): throughput with 1, 2 and 3 instances.

The fake Bot API server (in this process, 50 ms added to every call, as Telegram's round
trip) pushes every update to HAProxy, which hands it to one of N ``run_bot.py run --webhook``
instances (benchmarks.bot_tier); 200+ simulated users run the paying journey of the bot
benchmark (benchmarks.webhook_load). The phases alternate (1, 2, 3 instances, then again in
a full run) and each keeps its best rate: the machine is shared. Afterwards: one payment per
receipt shown, none twice, and report totals equal to a recount.

HAProxy sends each chat's updates to one instance (``affinity``) until the conversation state
lives in the database; ``BENCH_WEBHOOK_BALANCE=roundrobin`` sends them in turn instead.
"""

from __future__ import annotations

import asyncio
import os
from typing import cast

from benchmarks.bench_bot import link_chats
from benchmarks.bot_tier import Balance, BotTier
from benchmarks.harness import (
    BenchDatabase,
    Context,
    Figure,
    connect,
    cpu_seconds,
    descendants,
    machine_jiffies,
)
from benchmarks.webhook_load import LoadRun, count_receipts, drive_users
from domain import report_totals
from domain.db import Database
from fake_telegram import FakeTelegramServer

INSTANCES = (1, 2, 3)
LATENCY = 0.05


def room_for_instances(database: BenchDatabase, count: int) -> int:
    """Let both accounts, and the server, hold the connections of ``count`` instances (an
    instance opens up to 20 + 32 admin connections and 20 customer ones; init-db's limit of
    100 is for two, and the server's default max_connections of 151 for two: three instances
    on it met "Too many connections"). Returns the server's max_connections before."""
    per_account = 80 * count + 20
    conn = connect(database.root)
    try:
        with conn.cursor() as cur:
            for url in (database.admin, database.customer):
                cur.execute("SELECT Host FROM mysql.user WHERE User = %s", (url.user,))
                for (host,) in cur.fetchall():
                    cur.execute(
                        "ALTER USER %s@%s WITH MAX_USER_CONNECTIONS %s",
                        (url.user, host, per_account),
                    )
            cur.execute("SELECT @@GLOBAL.max_connections")
            before = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                "SET GLOBAL max_connections = GREATEST(@@GLOBAL.max_connections, %s)",
                (2 * per_account + 50,),
            )
            return int(before)
    finally:
        conn.close()


def restore_max_connections(database: BenchDatabase, before: int) -> None:
    conn = connect(database.root)
    try:
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL max_connections = %s", (before,))
    finally:
        conn.close()


async def run_tier(
    ctx: Context, count: int, ids: list[int], run: LoadRun, balance: Balance, label: str
) -> tuple[float, list[str], int, str]:
    """One phase: (updates/s, receipts shown, errors, what the CPUs did while timed)."""
    # Each phase's fake Bot API server numbers its updates from 1 again: the ids the last
    # phase's instances claimed (processed_updates) would drop them all as redeliveries.
    forget = await Database.connect(ctx.database.admin, minsize=1, maxsize=1)
    try:
        async with forget.unit_of_work() as uow, uow.connection.cursor() as cur:
            await cur.execute("DELETE FROM processed_updates")
            await uow.commit()
    finally:
        await forget.close()
    async with FakeTelegramServer(latency=LATENCY, record_calls=False) as server:
        server.webhook_timeout = 10
        environ = {
            **os.environ,
            "BOT_TOKEN": server.token,
            "BOT_API_BASE_URL": server.url,
            "DATABASE_URL": ctx.database.admin.to_url(),
            "CUSTOMER_DATABASE_URL": ctx.database.customer.to_url(),
            "DATABASE_ROOT_URL": ctx.database.root.to_url(),
        }
        async with BotTier(environ, ctx.workdir / label, count, balance=balance) as tier:
            pids = [i.process.pid for i in tier.instances if i.process is not None]
            cpu: list[float] = []

            def instances_cpu() -> float:  # the instances with their receipt workers
                return sum(cpu_seconds(p) for pid in pids for p in (pid, *descendants(pid)))

            async def measure_cpu() -> None:
                await asyncio.sleep(run.ramp)
                cpu.extend((instances_cpu(), cpu_seconds(os.getpid()), *machine_jiffies()))
                await asyncio.sleep(run.seconds)
                cpu.extend((instances_cpu(), cpu_seconds(os.getpid()), *machine_jiffies()))

            outcome, _ = await asyncio.gather(drive_users(server, run), measure_cpu())
            await asyncio.sleep(0.5 + LATENCY * 4)  # the last answers land
            served = tier.sessions()
    share = phones = busy = 0.0
    if len(cpu) == 8:
        share = (cpu[4] - cpu[0]) / run.seconds
        phones = (cpu[5] - cpu[1]) / run.seconds
        busy = (cpu[6] - cpu[2]) / max(1.0, cpu[7] - cpu[3])
    print(
        f"  [{count} instance{'s' if count > 1 else ''}] {outcome.updates:,} updates in "
        f"{outcome.seconds:.0f} s = {outcome.rate:,.1f}/s, p50 {outcome.p(50):.0f} ms, "
        f"p95 {outcome.p(95):.0f} ms, {outcome.journeys} journeys, {len(outcome.errors)} "
        f"errors, {server.webhook_retries} webhook retries, instances' CPU (with their receipt "
        f"workers, of one core) {share:.0%}, "
        f"phones+server CPU {phones:.0%}, all cores {busy:.0%} busy, "
        f"requests per instance {served}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for error in outcome.errors[:3]:
        print(f"    error: {error}")
    cpus = f"instances' CPU {share:.0%} of one core, all cores {busy:.0%} busy"
    return outcome.rate, outcome.receipts, len(outcome.errors), cpus


async def run(ctx: Context) -> None:
    print("\n== several bot instances behind HAProxy, updates pushed by webhook", flush=True)
    balance = cast(Balance, os.environ.get("BENCH_WEBHOOK_BALANCE", "affinity"))
    admin = await Database.connect(ctx.database.admin, minsize=1, maxsize=2)
    max_connections = room_for_instances(ctx.database, max(INSTANCES))
    try:
        users = 200 if ctx.quick else 300
        ids = await link_chats(admin, users)
        run_ = LoadRun(ids, ctx.seconds(20.0, 10.0), ramp=ctx.seconds(10.0, 5.0))
        best: dict[int, tuple[float, str]] = {}
        receipts: list[str] = []
        errors = 0
        for round_ in range(1 if ctx.quick else 2):
            for count in INSTANCES:
                rate, shown, failed, cpus = await run_tier(
                    ctx, count, ids, run_, balance, f"tier-{count}-{round_}"
                )
                receipts += shown
                errors += failed
                if count not in best or rate > best[count][0]:
                    best[count] = (rate, cpus)
        recorded = await count_receipts(admin, receipts)
        differences = await report_totals.differences(admin)
    finally:
        await admin.close()
        restore_max_connections(ctx.database, max_connections)
    one = best[1][0]
    for count in INSTANCES:
        rate, cpus = best[count]
        ctx.results.add(
            Figure(
                "bot instances",
                f"journey, 50 ms RTT, {len(ids)} chats, {count} webhook instance"
                f"{'s' if count > 1 else ''} behind HAProxy ({balance})",
                rate,
                "updates/s",
                reference="one instance (same run)",
                reference_value=one,
                note=cpus,
            )
        )
    correct = recorded == len(receipts) == len(set(receipts)) and not differences and not errors
    print(
        "  every conversation correct: "
        + (
            f"yes ({len(receipts)} receipts, one payment each; report totals equal a recount)"
            if correct
            else f"NO: {recorded} payments for {len(receipts)} receipts, {errors} errors, "
            f"{differences[:3]}"
        ),
        flush=True,
    )
