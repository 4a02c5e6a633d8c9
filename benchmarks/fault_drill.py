"""The fault drill of issue 16: kill a bot instance and a Galera node under load, bring them
back, then check that nothing acknowledged was lost or doubled.

    sudo bash scripts/cluster.sh up
    sudo bash scripts/cluster.sh drill [USERS] [SECONDS]     # 240 phones, 90 s by default
    sudo bash scripts/cluster.sh down

``drill`` runs ``python -m benchmarks.fault_drill`` with the bot's settings (bots.env). The
phones live in the fake Bot API server's process (its ``drill`` control action, registered
by ``python -m benchmarks.webhook_load serve``): a mix of payers (the whole payment
conversation: /dashboard, /bills, /pay, a bill, another amount, 5.00, account credit,
confirm, the receipt), slow payers (the same with a person's pauses between steps, so they
are mid-conversation when things die) and viewers (/dashboard and /bills). A phone waits
``--step-wait`` seconds for each answer; one that gets none counts the step as unanswered
and starts over, as a person would; one told to try or start again does so.

While they run, this process SIGKILLs bot instance ``--bot`` (``cluster.sh kill-bot``), then
Galera node ``--node`` (``cluster.sh kill``; node 1 is HAProxy's writer), starts both again
``--down-for`` seconds later, lets the load finish, and checks on every node directly:

* every receipt a phone was shown is one payment, on every node;
* no payment twice: no receipt number or idempotency key twice, and the drill's payments
  counted alike on every node;
* report totals equal a recount on every node;
* every step of every conversation was answered — finished, or told to start again (the
  steps left without an answer are counted, by phone);
* the killed node is back, Synced, in a cluster of 3, at the same commit position and with the
  same row counts as the others; HAProxy shows the killed bot instance up.

It prints what it found and exits 1 if any of it fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiomysql

from benchmarks.bot_tier import instance_stats
from benchmarks.webhook_load import load_customers
from domain import report_totals
from domain.db import Database, DatabaseUrl
from domain.models import PaymentMethod
from fake_telegram import FakeTelegramError, FakeTelegramServer, FakeUser
from fake_telegram.errors import NoReplyError
from fake_telegram.records import BotEvent, JSONDict
from fake_telegram.server import DEFAULT_TOKEN

PROJECT = Path(__file__).resolve().parent.parent
RECEIPT = re.compile(r"EB-\d{6}-[0-9A-Z]{8}")
# What the bot says when a step did not go through and the person must do it again.
AGAIN = re.compile(
    r"try again|try that again|start again|send that again|start it again|closed it|"
    r"press Confirm again|no longer active|out of date",
    re.IGNORECASE,
)
ROLES = ("payer", "slow payer", "viewer")
TABLES = (
    "payments",
    "bills",
    "credit_entries",
    "customers",
    "chat_states",
    "processed_updates",
    "payment_receipts",
)


# --------------------------------------------------------------------------- the phones


@dataclass
class Phone:
    """What one phone saw."""

    role: str
    steps: int = 0
    unanswered: int = 0  # steps with no answer within the wait
    told_again: int = 0  # steps answered "try / start again"
    journeys: int = 0  # payments finished with their receipt
    last: str = "none"  # the last step: answered, told, unanswered
    unanswered_at: list[float] = field(default_factory=list)  # when sent, s into the load
    began: float = 0.0
    told: Counter[str] = field(default_factory=Counter)  # what it was told, first words
    told_at: list[float] = field(default_factory=list)  # when those steps were sent
    errors: list[str] = field(default_factory=list)


class Restart(Exception):
    """The step was not answered as expected: the person starts over."""


async def step(
    user: FakeUser,
    phone: Phone,
    wait: float,
    action: Callable[[], Any],
    expect: str,
) -> BotEvent:
    """Act, then wait for a message, edit or toast saying ``expect``, or one saying to try
    again; raise Restart on the latter or on silence."""

    def text(event: BotEvent) -> str:
        if event.message is not None:
            return event.message.body
        return (event.answer.text or "") if event.answer is not None else ""

    try:
        await action()
    except FakeTelegramError as exc:  # the screen lacks the button: the person starts over
        phone.errors.append(repr(exc)[:300])
        raise Restart from exc
    phone.steps += 1
    sent = time.monotonic() - phone.began
    try:
        event = await user.wait_for_event(
            wait,
            kinds=("message", "edit", "answer"),
            predicate=lambda e: expect in text(e) or AGAIN.search(text(e)) is not None,
        )
    except NoReplyError:
        phone.unanswered += 1
        phone.unanswered_at.append(sent)
        phone.last = "unanswered"
        raise Restart from None
    if expect not in text(event):
        phone.told[text(event)[:90]] += 1
        phone.told_at.append(sent)
        phone.told_again += 1
        phone.last = "told"
        raise Restart(text(event))
    phone.last = "answered"
    return event


async def pay(user: FakeUser, phone: Phone, wait: float, think: float) -> None:
    """One payment conversation, ``think`` seconds (at most) of pause between steps."""

    async def pause() -> None:
        if think:
            await asyncio.sleep(random.uniform(0, think))

    await step(user, phone, wait, lambda: user.send("/dashboard"), "Balance due")
    await pause()
    await step(user, phone, wait, lambda: user.send("/bills"), "Bills you owe")
    await pause()
    bills = await step(user, phone, wait, lambda: user.send("/pay"), "Which bill")
    assert bills.message is not None
    first = bills.message.inline_keyboard[0][0]
    data = first.callback_data or ""
    await pause()
    await step(
        user,
        phone,
        wait,
        lambda: user.press_data(bills.message.message_id, data),  # type: ignore[union-attr]
        "How much would you like to pay?",
    )
    await pause()
    await step(user, phone, wait, lambda: user.press("Another amount"), "type the amount")
    await pause()
    await step(user, phone, wait, lambda: user.send("5"), "How will you pay")
    await pause()
    await step(user, phone, wait, lambda: user.press(PaymentMethod.CREDIT.label), "Please confirm")
    await pause()
    for attempt in range(3):
        try:
            done = await step(user, phone, wait, lambda: user.press("Confirm payment"), "recorded")
            break
        except Restart as told:
            # "Please press Confirm again in a minute": a person would, a few times.
            if attempt == 2 or "Confirm again" not in str(told):
                raise
            await asyncio.sleep(3)
    if done.message is not None and "Receipt: " in done.message.body:
        try:  # its PDF follows
            await user.wait_for_reply(wait, lambda m: m.document is not None)
        except NoReplyError:
            phone.unanswered += 1
            phone.unanswered_at.append(time.monotonic() - phone.began)
            phone.last = "unanswered"
            raise Restart from None
    phone.journeys += 1


async def view(user: FakeUser, phone: Phone, wait: float, think: float) -> None:
    await step(user, phone, wait, lambda: user.send("/dashboard"), "Balance due")
    await asyncio.sleep(random.uniform(0, think))
    await step(user, phone, wait, lambda: user.send("/bills"), "Bills you owe")
    await asyncio.sleep(random.uniform(0, think))


async def drive_phone(
    user: FakeUser, phone: Phone, deadline: float, wait: float, think: float
) -> None:
    """Run the phone's role until the deadline; what it saw goes into ``phone``."""
    while time.monotonic() < deadline:
        try:
            if phone.role == "viewer":
                await view(user, phone, wait, max(think, 1.0))
            else:
                await pay(user, phone, wait, think if phone.role == "slow payer" else 0.0)
        except Restart:
            await asyncio.sleep(random.uniform(0.5, 2.0))
        except (AssertionError, IndexError) as exc:
            phone.errors.append(repr(exc)[:300])
            await asyncio.sleep(1)


def shown_receipts(user: FakeUser) -> set[str]:
    """Receipt numbers the bot told this phone (in any message, as it stands now)."""
    found: set[str] = set()
    for message in user.messages():
        if message.from_bot:
            found.update(RECEIPT.findall(message.body))
            if message.document is not None:
                found.update(RECEIPT.findall(message.document.filename or ""))
    return found


async def drill_action(server: FakeTelegramServer, params: JSONDict) -> JSONDict:
    """The ``drill`` control action: {telegram_ids, seconds, step_wait?, think?}: every phone
    runs its role for ``seconds``; the answer counts what they saw."""
    ids = [int(t) for t in params["telegram_ids"]]
    wait = float(params.get("step_wait", 30))
    think = float(params.get("think", 3))
    users = [server.user(tid, f"Drill {tid}") for tid in ids]
    phones = [
        Phone(ROLES[0] if n % 5 < 3 else ROLES[1] if n % 5 == 3 else ROLES[2])
        for n in range(len(ids))
    ]
    before = [shown_receipts(u) for u in users]  # a chat's earlier runs on this server
    began = time.monotonic()
    for phone in phones:
        phone.began = began
    deadline = began + float(params["seconds"])
    await asyncio.gather(
        *(drive_phone(u, p, deadline, wait, think) for u, p in zip(users, phones, strict=True))
    )
    receipts = sorted(
        set().union(*(shown_receipts(u) - old for u, old in zip(users, before, strict=True)))
    )
    by_role: dict[str, Counter[str]] = {}
    for phone in phones:
        role = by_role.setdefault(phone.role, Counter())
        role["phones"] += 1
        role["steps"] += phone.steps
        role["unanswered steps"] += phone.unanswered
        role["told to try again"] += phone.told_again
        role["payments finished"] += phone.journeys
        role["phones with a step unanswered"] += phone.unanswered > 0
        role[f"last step {phone.last}"] += 1
    return {
        "seconds": round(time.monotonic() - began, 1),
        "steps": sum(p.steps for p in phones),
        "by_role": {k: dict(v) for k, v in by_role.items()},
        "unanswered": [
            {
                "telegram_id": u.id,
                "role": p.role,
                "sent_at": [round(t, 1) for t in p.unanswered_at],
                "last": p.last,
            }
            for u, p in zip(users, phones, strict=True)
            if p.unanswered
        ],
        "receipts": receipts,
        "told": sum((p.told for p in phones), Counter()).most_common(5),
        "told_at": sorted(round(t, 1) for p in phones for t in p.told_at),
        "errors": [e for p in phones for e in p.errors][:10],
        "webhook_retries": server.webhook_retries,
    }


# --------------------------------------------------------------------------- the drill


@dataclass
class Checks:
    failed: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str) -> None:
        self.lines.append(f"[{'ok' if ok else 'FAIL'}] {what}")
        if not ok:
            self.failed.append(what)

    def note(self, what: str) -> None:
        self.lines.append(f"       {what}")


def log(what: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {what}", flush=True)


async def cluster(state_dir: Path, *args: str) -> None:
    """``scripts/cluster.sh ARGS`` (same $EBB_CLUSTER_* settings), logged. Its output goes
    to a file: a bot it starts keeps the file descriptors it was given."""
    out = state_dir / "drill-cluster.log"
    with out.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            "bash",
            str(PROJECT / "scripts" / "cluster.sh"),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
        await process.wait()
    for line in out.read_text(errors="replace").splitlines():
        log(f"  cluster.sh {' '.join(args)}: {line}")
    if process.returncode:
        raise RuntimeError(f"cluster.sh {' '.join(args)} failed ({process.returncode})")


async def faults(args: argparse.Namespace, timeline: list[str]) -> None:
    """Kill the bot, then the node, mid-load; start both again."""
    start = time.monotonic()

    async def at(offset: float, *command: str) -> None:
        await asyncio.sleep(max(0.0, start + offset - time.monotonic()))
        log(f"t+{time.monotonic() - start:.0f}s: {' '.join(command)}")
        timeline.append(f"t+{time.monotonic() - start:.0f}s {' '.join(command)}")
        await cluster(args.state_dir, *command)

    await at(args.kill_bot_at, "kill-bot", str(args.bot))
    await at(args.kill_node_at, "kill", str(args.node))
    await at(args.kill_bot_at + args.down_for, "start-bot", str(args.bot))
    await at(args.kill_node_at + args.down_for, "start", str(args.node))
    timeline.append(f"t+{time.monotonic() - start:.0f}s node{args.node} ready")


async def node_query(url: DatabaseUrl, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    conn = await aiomysql.connect(
        host=url.host,
        port=url.port,
        user=url.user,
        password=url.password,
        db=url.database,
        autocommit=True,
        init_command="SET SESSION wsrep_sync_wait = 1",
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql, params)
            return list(await cur.fetchall())
    finally:
        conn.close()


async def wsrep(url: DatabaseUrl) -> dict[str, str]:
    rows = await node_query(url, "SHOW STATUS LIKE 'wsrep_%'")
    return {str(k): str(v) for k, v in rows}


async def settle(nodes: list[DatabaseUrl], timeout: float = 180) -> list[dict[str, str]]:  # noqa: ASYNC109
    """Wait until every node is Synced in a cluster of 3 at one commit position."""
    deadline = time.monotonic() + timeout
    while True:
        states: list[dict[str, str]] = []
        with contextlib.suppress(aiomysql.Error, OSError):
            states = [await wsrep(n) for n in nodes]
        if (
            len(states) == len(nodes)
            and all(s.get("wsrep_local_state_comment") == "Synced" for s in states)
            and all(s.get("wsrep_cluster_size") == str(len(nodes)) for s in states)
            and len({s.get("wsrep_last_committed") for s in states}) == 1
        ):
            return states
        if time.monotonic() > deadline:
            return states
        await asyncio.sleep(1)


def haproxy_bots(state_dir: Path) -> dict[str, str]:
    """HAProxy's status of each bot instance (bot1: UP …)."""
    return {row[1]: row[17] for row in instance_stats(state_dir)}


def balance_of(state_dir: Path) -> str:
    config = (state_dir / "haproxy-bots.cfg").read_text(encoding="utf-8")
    return "round robin" if "balance roundrobin" in config else "chat hash (affinity)"


async def check_node(
    n: int, url: DatabaseUrl, receipts: list[str], since: datetime, checks: Checks
) -> dict[str, Any]:
    """The invariants on node ``n``; returns its figures (row counts) for comparing."""
    found: dict[str, int] = {}
    for chunk in range(0, len(receipts), 500):
        part = receipts[chunk : chunk + 500]
        marks = ", ".join(["%s"] * len(part))
        for number, count in await node_query(
            url,
            f"SELECT receipt_number, COUNT(*) FROM payments WHERE receipt_number IN ({marks}) "
            "GROUP BY receipt_number",
            part,
        ):
            found[str(number)] = int(count)
    missing = [r for r in receipts if r not in found]
    doubled = [r for r, c in found.items() if c != 1]
    checks.check(
        not missing and not doubled,
        f"node{n}: {len(receipts)} receipts shown, {len(found)} found once each"
        + (f"; missing {missing[:5]}" if missing else "")
        + (f"; more than once {doubled[:5]}" if doubled else ""),
    )
    dup_keys = await node_query(
        url,
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM payments GROUP BY idempotency_key "
        "HAVING COUNT(*) > 1) k), (SELECT COUNT(*) FROM (SELECT 1 FROM payments "
        "GROUP BY receipt_number HAVING COUNT(*) > 1) r)",
    )
    keys, numbers = (int(v) for v in dup_keys[0])
    checks.check(
        keys == 0 and numbers == 0,
        f"node{n}: no idempotency key or receipt number twice ({keys}, {numbers} found)",
    )
    (drill_payments,) = (
        await node_query(
            url,
            "SELECT COUNT(*) FROM payments p JOIN bills b ON b.bill_id = p.bill_id "
            "JOIN customers c ON c.customer_id = b.customer_id "
            "WHERE c.meter_number LIKE 'LOAD-%%' AND p.created_at >= %s",
            (since,),
        )
    )[0]
    counts = {}
    for table in TABLES:
        (counts[table],) = (await node_query(url, f"SELECT COUNT(*) FROM {table}"))[0]
    (paid,) = (await node_query(url, "SELECT COALESCE(SUM(amount_paid), 0) FROM payments"))[0]
    counts["sum(payments.amount_paid)"] = str(paid)
    db = await Database.connect(url, minsize=1, maxsize=2)
    try:
        differences = await report_totals.differences(db)
    finally:
        await db.close()
    checks.check(
        not differences,
        f"node{n}: report totals equal a recount"
        + (f" — differ: {differences[:3]}" if differences else ""),
    )
    return {"drill payments": int(drill_payments), **counts}


async def run(args: argparse.Namespace) -> int:
    from bot.config import load_config

    config = load_config(environ=os.environ, env_file=None)
    state_dir: Path = args.state_dir
    admin = config.database
    base: int = args.base_port
    nodes = [replace(admin, host="127.0.0.1", port=base + n) for n in (1, 2, 3)]
    checks = Checks()
    log(
        f"fault drill: {args.users} phones for {args.seconds:.0f} s, bots balanced by "
        f"{balance_of(state_dir)}, database through HAProxy {base} (one writer, node1)"
    )
    db = await Database.connect(admin, minsize=1, maxsize=4)
    try:
        ids = await load_customers(db, args.users, date.today())
    finally:
        await db.close()
    since = datetime.now()
    body = {
        "telegram_ids": ids,
        "seconds": args.seconds,
        "step_wait": args.step_wait,
        "think": args.think,
    }
    url = f"{args.server.rstrip('/')}/control/{args.token}/drill"
    timeline: list[str] = []

    async def load() -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=args.seconds + args.step_wait * 12 + 600)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(url, json=body) as response:
                answer: dict[str, Any] = await response.json()
        return dict(answer["result"])

    log("load started")
    result, _ = await asyncio.gather(load(), faults(args, timeline))
    log("load finished; waiting for the cluster to settle")
    states = await settle(nodes)
    await asyncio.sleep(3)  # HAProxy's checks of the restarted instance
    receipts: list[str] = result.pop("receipts")

    checks.note(f"balance: {balance_of(state_dir)}; timeline: {'; '.join(timeline)}")
    figures = []
    for n, node in enumerate(nodes, start=1):
        figures.append(await check_node(n, node, receipts, since, checks))
    same = all(f == figures[0] for f in figures)
    checks.check(same, "the same row counts and payment sum on every node")
    for n, f in enumerate(figures, start=1):
        checks.note(f"node{n}: {json.dumps(f)}")
    unshown = [
        (created - since).total_seconds()
        for number, created in await node_query(
            nodes[1],
            "SELECT p.receipt_number, p.created_at FROM payments p "
            "JOIN bills b ON b.bill_id = p.bill_id JOIN customers c ON c.customer_id = "
            "b.customer_id WHERE c.meter_number LIKE 'LOAD-%%' AND p.created_at >= %s",
            (since,),
        )
        if number not in set(receipts)
    ]
    checks.note(
        "payments recorded but never shown were made at (s after the load's start, about): "
        + ", ".join(f"{t:.0f}" for t in sorted(unshown))
    )
    recorded = figures[0]["drill payments"]
    checks.note(
        f"{recorded} payments of the drill's customers recorded during it, {len(receipts)} "
        f"receipts shown to phones ({recorded - len(receipts)} recorded but never shown)"
    )
    for n, s in enumerate(states, start=1):
        checks.check(
            s.get("wsrep_local_state_comment") == "Synced" and s.get("wsrep_cluster_size") == "3",
            f"node{n}: {s.get('wsrep_local_state_comment')}, cluster size "
            f"{s.get('wsrep_cluster_size')}, last committed {s.get('wsrep_last_committed')}",
        )
    bots = haproxy_bots(state_dir)
    checks.check(
        all(v.startswith("UP") for v in bots.values()) and f"bot{args.bot}" in bots,
        f"HAProxy shows the bots {bots}",
    )
    by_role = result["by_role"]
    unanswered_steps = sum(r.get("unanswered steps", 0) for r in by_role.values())
    phones_hit = len(result["unanswered"])
    left = sum(r.get("last step unanswered", 0) for r in by_role.values())
    checks.check(
        unanswered_steps == 0,
        f"every step answered or told to start again: {unanswered_steps} steps of "
        f"{result['steps']} left without an answer within {args.step_wait:.0f} s, on "
        f"{phones_hit} of {args.users} phones ({left} of them on their last step)",
    )
    sent = sorted(t for u in result["unanswered"] for t in u["sent_at"])
    checks.note(
        "unanswered steps were sent at (s into the load, faults as in the timeline): "
        + ", ".join(f"{t:.0f}" for t in sent)
    )
    for role, figures_of_role in by_role.items():
        checks.note(f"{role}: {json.dumps(figures_of_role)}")
    checks.note(f"what phones were told to do again (most often): {result['told']}")
    checks.note(
        "steps told to start again were sent at (s into the load): "
        + ", ".join(f"{t:.0f}" for t in result["told_at"][:60])
        + (" …" if len(result["told_at"]) > 60 else "")
    )
    checks.note(
        f"webhook deliveries retried by the Bot API server: {result['webhook_retries']}; "
        f"phone errors (first): {result['errors'][:3]}"
    )
    print()
    print("\n".join(checks.lines))
    print(
        f"\nfault drill: {'PASSED' if not checks.failed else 'FAILED'} "
        f"({len(checks.failed)} invariant(s) failed)"
    )
    return 1 if checks.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fault_drill")
    parser.add_argument("--users", type=int, default=240)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--bot", type=int, default=2, help="the bot instance to kill")
    parser.add_argument("--node", type=int, default=1, help="the Galera node to kill (1: writer)")
    parser.add_argument("--kill-bot-at", type=float, default=20)
    parser.add_argument("--kill-node-at", type=float, default=35)
    parser.add_argument("--down-for", type=float, default=15)
    parser.add_argument("--step-wait", type=float, default=30, help="a phone's patience, s")
    parser.add_argument("--think", type=float, default=3, help="a slow payer's pauses, s")
    parser.add_argument("--state-dir", type=Path, required=True, help="$EBB_CLUSTER_DIR")
    parser.add_argument("--base-port", type=int, default=4310, help="$EBB_CLUSTER_PORT")
    parser.add_argument("--server", default="http://127.0.0.1:4330")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
