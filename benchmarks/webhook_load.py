"""Simulated phone users paying through a webhook: the load of ``scripts/cluster.sh load`` and
of the multi-instance benchmark (``bench_webhook``).

Each user runs the bot benchmark's journey (bench_bot.journey: /dashboard, /bills, /pay, a
bill, another amount, 5.00, account credit, confirm, the receipt PDF) again and again, every
screen checked; the fake Bot API server pushes each step to the webhook.

    python -m benchmarks.webhook_load serve --port 4330     # the fake server, standalone
    python -m benchmarks.webhook_load drive --users 200 --seconds 30

``serve`` is ``python -m fake_telegram`` with a ``load`` control action. ``drive`` (with the
bot's database URLs in the environment, as ``run_bot.py`` reads them) makes sure ``--users``
customers named LOAD-000001… exist, each with a bill and account credit and linked to a
Telegram id, asks the server to run the load, then checks the database: one payment per
receipt the phones were shown, none twice, report totals equal to a recount.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp

from benchmarks.bench_bot import Outcome, Stop, journey_loop, read_loop, warm_up
from benchmarks.bench_payments import CREDIT, give_credit
from domain import bills, customers, report_totals
from domain.db import Database, UnitOfWork
from fake_telegram import FakeTelegramError, FakeTelegramServer, FakeUser
from fake_telegram.records import JSONDict
from fake_telegram.server import DEFAULT_TOKEN
from fake_telegram.standalone import main as standalone_main

LOAD_TELEGRAM_BASE = 910_000_000  # Telegram ids of the load's users: this + customer id
LOAD_METER = "LOAD-{:06d}"


@dataclass
class LoadRun:
    """How many users, for how long (after ``ramp`` seconds in which nothing is counted)."""

    telegram_ids: list[int]
    seconds: float
    ramp: float = 5.0
    journey: bool = True  # the paying journey, or /dashboard only


async def drive_users(server: FakeTelegramServer, run: LoadRun) -> Outcome:
    """Every user's journey, side by side, until the window closes."""
    outcome = Outcome()
    users = [server.user(tid, f"Load {tid}") for tid in run.telegram_ids]
    await warm_up(users)
    begun = time.perf_counter()
    outcome.window = (begun + run.ramp, begun + run.ramp + run.seconds)

    async def chat(user: FakeUser) -> None:
        try:
            if run.journey:
                await journey_loop(user, outcome, outcome.window[1])
            else:
                await read_loop(user, outcome, outcome.window[1], "Balance due")
        except Stop:
            pass
        except (FakeTelegramError, AssertionError, IndexError) as exc:
            outcome.errors.append(f"chat {user.id}: {exc!r}"[:2000])

    await asyncio.gather(*(chat(u) for u in users))
    outcome.seconds = run.seconds
    return outcome


def summary(outcome: Outcome, server: FakeTelegramServer) -> JSONDict:
    return {
        "updates": outcome.updates,
        "seconds": outcome.seconds,
        "updates_per_second": round(outcome.rate, 1),
        "journeys": outcome.journeys,
        "p50_ms": round(outcome.p(50)),
        "p95_ms": round(outcome.p(95)),
        "receipts": outcome.receipts,
        "errors": outcome.errors[:5],
        "error_count": len(outcome.errors),
        "webhook_retries": server.webhook_retries,
    }


async def load_action(server: FakeTelegramServer, params: JSONDict) -> JSONDict:
    """The ``load`` control action: {telegram_ids, seconds, ramp?, journey?}."""
    run = LoadRun(
        [int(t) for t in params["telegram_ids"]],
        float(params.get("seconds", 30)),
        float(params.get("ramp", 5)),
        bool(params.get("journey", True)),
    )
    return summary(await drive_users(server, run), server)


# --------------------------------------------------------------------------- drive


async def load_customers(db: Database, count: int, today: date) -> list[int]:
    """Telegram ids of ``count`` load customers (made on first use: a bill each, account
    credit for many 5.00 payments), linked to their chats."""
    ids: list[int] = []
    for n in range(1, count + 1):
        meter = LOAD_METER.format(n)
        row = await db.fetch_one("get_customer_by_meter", {"meter_number": meter})
        if row is None:
            customer = await customers.add_customer(
                db, meter_number=meter, full_name=f"Load Customer {n}", address=f"{n} Load Row"
            )
            await bills.create_bill(
                db,
                customer_id=customer.customer_id,
                billing_month=today.replace(day=1),
                units_used=Decimal("1000"),
                rate_per_unit=Decimal("10"),
            )
            ids.append(customer.customer_id)
            await give_credit(db, [customer.customer_id], CREDIT)
        else:
            ids.append(int(row["customer_id"]))

    async def link(uow: UnitOfWork) -> None:
        async with uow.connection.cursor() as cur:
            await cur.executemany(
                "UPDATE customers SET telegram_user_id = %s WHERE customer_id = %s",
                [(LOAD_TELEGRAM_BASE + cid, cid) for cid in ids],
            )
        await uow.commit()

    await db.transaction(link)
    return [LOAD_TELEGRAM_BASE + cid for cid in ids]


async def count_receipts(db: Database, receipts: list[str]) -> int:
    """Payments recorded under these receipt numbers."""
    if not receipts:
        return 0
    marks = ", ".join(["%s"] * len(receipts))

    async def work(uow: UnitOfWork) -> int:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                f"SELECT COUNT(*) FROM payments WHERE receipt_number IN ({marks})", receipts
            )
            (found,) = await cur.fetchone()
            return int(found)

    return await db.read(work)


async def drive(args: argparse.Namespace) -> int:
    from bot.config import load_config

    config = load_config(environ=os.environ, env_file=None)
    db = await Database.connect(config.database, minsize=1, maxsize=4)
    try:
        ids = await load_customers(db, args.users, date.today())
        body = {"telegram_ids": ids, "seconds": args.seconds, "ramp": args.ramp}
        url = f"{args.server.rstrip('/')}/control/{args.token}/load"
        timeout = aiohttp.ClientTimeout(total=args.seconds + args.ramp + 600)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(url, json=body) as response:
                answer: dict[str, Any] = await response.json()
        result = answer["result"]
        receipts: list[str] = result.pop("receipts")
        recorded = await count_receipts(db, receipts)
        differences = await report_totals.differences(db)
    finally:
        await db.close()
    print(json.dumps(result, indent=2))
    correct = recorded == len(receipts) == len(set(receipts)) and not differences
    print(
        f"{len(receipts)} receipts shown, {recorded} payments recorded under them, "
        f"{len(set(receipts))} distinct; report totals "
        + ("equal a recount" if not differences else f"differ: {differences[:3]}")
    )
    return 0 if correct and not result["error_count"] else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from benchmarks.fault_drill import drill_action

        standalone_main(argv[1:], {"load": load_action, "drill": drill_action})
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhook_load drive")
    parser.add_argument("command", choices=["drive"])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--ramp", type=float, default=5)
    parser.add_argument("--server", default="http://127.0.0.1:4330")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    return asyncio.run(drive(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
