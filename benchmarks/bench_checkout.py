"""Card payments end to end (issue 13): the pre-checkout answer, card payments per second and
the time from the charge to the "received" message, with the bot in its own process.

The real bot (``benchmarks.bot_process billing``, given a payment provider token) polls the
local fake Bot API server, which adds a 50 ms round trip to every call, as Telegram does. Each
chat pays by card again and again: /pay → a bill owing at least ₦500 → "Another amount" →
500 → Card → the invoice → Pay (``FakeUser.pay_invoice``: the pre-checkout query, the bot's
answer, then ``successful_payment``) → "Card payment of ₦500.00 received" and the receipt PDF.
₦500 is inside Telegram's NGN bounds (``domain.money.CARD_LIMITS``: ₦412 to ₦4,120,000).

Phases, each with a fresh fake server and a fresh bot process: one chat at a time (the
reference: the same payments on an otherwise idle bot), then many chats at once, up to
1,000. Three figures per phase:

- the pre-checkout answer time, from the query queued to the bot's answer reaching the server
  (what the payer waits for; Telegram gives up after 10 s and charges nothing);
- card payments completed per second (the "received" message and the receipt delivered);
- the time from the charge (``successful_payment`` queued for the bot) to the "received"
  message: the charge is recorded and the receipt drawn before that message is sent, so at
  1,000 chats it includes the wait for a receipt worker.

After each phase: one provider charge and one card payment recorded per payment the phones
made, each acknowledged once with its own receipt; at the end the report totals must equal a
recount.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from benchmarks.bench_bot import (
    CONCURRENCY,
    STEP_TIMEOUT,
    TELEGRAM_ID_BASE,
    Stop,
    check_receipt,
    start_bot_process,
    warm_up,
)
from benchmarks.harness import (
    Context,
    Figure,
    cpu_seconds,
    descendants,
    machine_jiffies,
    percentile,
)
from domain import report_totals
from domain.db import Database, UnitOfWork
from domain.money import Currency
from fake_telegram import ChatMessage, FakeTelegramError, FakeTelegramServer, FakeUser

NAIRA = Currency("NGN", "₦")
AMOUNT = Decimal("500.00")
# Telegram refuses an invoice outside the currency's bounds (₦412 to ₦4,120,000).
assert NAIRA.card_limits is not None
assert NAIRA.card_limits.min_minor <= NAIRA.to_minor(AMOUNT) <= NAIRA.card_limits.max_minor
# A linked customer owes at least this much in all: room for many payments of AMOUNT.
OWED_AT_LEAST = AMOUNT * 40
PRE_CHECKOUT_TARGET = 1.0  # seconds, p99 (Telegram's own limit is 10 s)
RECEIVED_TARGET = 2.0  # seconds, p95, from the charge to "received"
REFERENCE_CHATS = 20  # the one-chat-at-a-time phase walks these chats in turn
_OWED = re.compile(r"([\d,]+\.\d\d) owed")


@dataclass
class Phase:
    name: str
    chats: int
    at_once: bool  # every chat at the same time, or one chat at a time
    seconds: float  # measured…
    ramp: float  # …after this long, so the chats are at every step of their payments


@dataclass
class Outcome:
    window: tuple[float, float] = (0.0, float("inf"))  # what completes in it is counted
    seconds: float = 0.0
    answers: list[float] = field(default_factory=list)  # pre-checkout answer times
    received: list[float] = field(default_factory=list)  # charge → "received"
    presses: list[float] = field(default_factory=list)  # a bill button → its screen
    payments: int = 0  # completed in the window
    charged: int = 0  # every charge the phones made, in the window or not
    acknowledged: int = 0  # … and their "received" messages
    timed_out: int = 0  # pre-checkouts the bot did not answer within 10 s
    receipts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bot_cpu: float = 0.0  # CPU seconds the bot process used while timed
    workers_cpu: float = 0.0  # … its receipt workers (and their forkserver)
    bench_cpu: float = 0.0  # … this process (fake server and phones)
    machine_busy: float = 0.0  # the share of all cores busy meanwhile (anything running)

    def counts(self) -> bool:
        return self.window[0] <= time.perf_counter() <= self.window[1]

    @property
    def rate(self) -> float:
        return self.payments / self.seconds if self.seconds else 0.0


def ms(samples: list[float], q: float) -> float:
    return percentile(samples, q) * 1000


async def _step(
    deadline: float,
    action: Callable[[], Awaitable[object]],
    reaction: Callable[[], Awaitable[ChatMessage]],
) -> tuple[ChatMessage, float]:
    """One update: the user acts, then waits for what the bot must show; (shown, seconds)."""
    if time.perf_counter() >= deadline:
        raise Stop
    started = time.perf_counter()
    await action()
    shown = await reaction()
    return shown, time.perf_counter() - started


async def pay_by_card(user: FakeUser, outcome: Outcome, deadline: float) -> None:
    """/pay → a bill owing at least AMOUNT → another amount → AMOUNT → Card → invoice → Pay →
    "received" → receipt."""

    def reply(text: str) -> Callable[[], Awaitable[ChatMessage]]:
        return lambda: user.wait_for_reply(STEP_TIMEOUT, lambda m: text in m.body)

    def edit(text: str) -> Callable[[], Awaitable[ChatMessage]]:
        async def wait() -> ChatMessage:
            event = await user.wait_for_event(
                STEP_TIMEOUT,
                kinds=("edit",),
                predicate=lambda e: e.message is not None and text in e.message.body,
            )
            assert event.message is not None
            return event.message

        return wait

    bills, _ = await _step(deadline, lambda: user.send("/pay"), reply("Which bill"))
    owing = [
        button
        for row in bills.inline_keyboard
        for button in row
        if (found := _OWED.search(button.text))
        and Decimal(found.group(1).replace(",", "")) >= AMOUNT
    ]
    if not owing or owing[0].callback_data is None:
        raise AssertionError(f"no bill owes {AMOUNT}: {bills.button_labels}")
    data = owing[0].callback_data
    _, took = await _step(
        deadline,
        lambda: user.press_data(bills.message_id, data),
        edit("How much would you like to pay?"),
    )
    if outcome.counts():
        outcome.presses.append(took)
    await _step(deadline, lambda: user.press("Another amount"), edit("type the amount"))
    await _step(deadline, lambda: user.send(f"{AMOUNT:.0f}"), reply("How will you pay"))
    await _step(deadline, lambda: user.press("Card"), edit("Here is your invoice"))
    if time.perf_counter() >= deadline:
        raise Stop
    invoice = user.invoices()[-1]
    assert invoice.invoice is not None and invoice.invoice.total_text == NAIRA.format(AMOUNT)
    paid = await user.pay_invoice(invoice)
    charged = time.perf_counter()  # successful_payment has just been queued for the bot
    if outcome.counts():
        outcome.answers.append(paid.answered_in)
    if not paid.ok:
        if paid.error_message == "timed out":
            outcome.timed_out += 1
        raise AssertionError(f"pre-checkout not passed: {paid.error_message}")
    outcome.charged += 1
    done = await user.wait_for_reply(
        STEP_TIMEOUT, lambda m: "Card payment of" in m.body and "received" in m.body
    )
    took = time.perf_counter() - charged
    outcome.acknowledged += 1
    document = await user.wait_for_reply(STEP_TIMEOUT, lambda m: m.document is not None)
    assert document.document is not None
    number = done.body.split("(receipt ")[1].split(")")[0]
    check_receipt(document, number)
    outcome.receipts.append(number)
    if outcome.counts():
        outcome.received.append(took)
        outcome.payments += 1


async def run_phase(ctx: Context, phase: Phase, telegram_ids: list[int]) -> Outcome:
    outcome = Outcome()
    async with FakeTelegramServer(latency=0.05, record_calls=False) as server:
        process = await start_bot_process(
            ctx,
            server,
            kind="billing",
            concurrency=CONCURRENCY,
            state=f"checkout-{phase.name}",
            PAYMENT_PROVIDER_TOKEN="284685063:TEST:benchmark",  # noqa: S106 - the fake server takes any
            CURRENCY_CODE="NGN",
            CURRENCY_SYMBOL="₦",
        )
        users = [server.user(tid, f"Chat {tid}") for tid in telegram_ids[: phase.chats]]
        try:
            await warm_up(users)
            begun = time.perf_counter()
            outcome.window = (begun + phase.ramp, begun + phase.ramp + phase.seconds)
            deadline = outcome.window[1]

            async def payer(chats: list[FakeUser]) -> None:
                turn = 0
                while True:
                    user = chats[turn % len(chats)]
                    turn += 1
                    try:
                        await pay_by_card(user, outcome, deadline)
                    except Stop:
                        return
                    except (FakeTelegramError, AssertionError, IndexError) as exc:
                        outcome.errors.append(f"chat {user.id}: {exc!r}"[:2000])
                        if len(chats) == 1:
                            return

            async def measure_cpu() -> None:
                await asyncio.sleep(phase.ramp)
                workers = descendants(process.pid)
                started = (
                    cpu_seconds(process.pid),
                    sum(cpu_seconds(pid) for pid in workers),
                    cpu_seconds(os.getpid()),
                )
                machine = machine_jiffies()
                await asyncio.sleep(phase.seconds)
                outcome.bot_cpu = cpu_seconds(process.pid) - started[0]
                outcome.workers_cpu = sum(cpu_seconds(pid) for pid in workers) - started[1]
                outcome.bench_cpu = cpu_seconds(os.getpid()) - started[2]
                busy, total = machine_jiffies()
                outcome.machine_busy = (busy - machine[0]) / max(1, total - machine[1])

            groups = [[u] for u in users] if phase.at_once else [users]
            await asyncio.gather(measure_cpu(), *(payer(g) for g in groups))
            outcome.seconds = phase.seconds
            await asyncio.sleep(0.5)  # let the last answers land before the bot stops
        finally:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.close()
            await asyncio.wait_for(process.stdout.read(), 60)
            await process.wait()
    return outcome


async def link_payers(db: Database, chats: int) -> list[int]:
    """Link ``chats`` Telegram ids to customers who owe at least OWED_AT_LEAST in open bills."""

    async def work(uow: UnitOfWork) -> list[int]:
        async with uow.connection.cursor() as cur:
            await cur.execute("UPDATE customers SET telegram_user_id = NULL")
            await cur.execute(
                "SELECT customer_id FROM bills WHERE payment_status <> 'paid' "
                "GROUP BY customer_id HAVING SUM(total_amount - amount_paid) >= %s "
                "AND MAX(total_amount - amount_paid) >= %s ORDER BY customer_id LIMIT %s",
                (OWED_AT_LEAST, AMOUNT * 4, chats),
            )
            ids = [int(r[0]) for r in await cur.fetchall()]
            await cur.executemany(
                "UPDATE customers SET telegram_user_id = %s WHERE customer_id = %s",
                [(TELEGRAM_ID_BASE + cid, cid) for cid in ids],
            )
        await uow.commit()
        return [TELEGRAM_ID_BASE + cid for cid in ids]

    return await db.transaction(work)


async def _recorded_since(db: Database, after: tuple[int, int]) -> tuple[int, int, int, int]:
    """Provider charges and card payments recorded after ``after`` (their highest ids):
    (charges, card payments, highest charge id, highest payment id)."""

    async def work(uow: UnitOfWork) -> tuple[int, int, int, int]:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "SELECT COUNT(*), COALESCE(MAX(charge_id), 0) FROM provider_charges "
                "WHERE charge_id > %s",
                (after[0],),
            )
            charges, top_charge = await cur.fetchone()
            await cur.execute(
                "SELECT COUNT(*), COALESCE(MAX(payment_id), 0) FROM payments "
                "WHERE payment_id > %s AND payment_method = 'card' "
                "AND telegram_payment_charge_id IS NOT NULL",
                (after[1],),
            )
            card, top_payment = await cur.fetchone()
            return (
                int(charges),
                int(card),
                max(after[0], int(top_charge)),
                max(after[1], int(top_payment)),
            )

    return await db.read(work)


def _show(phase: Phase, outcome: Outcome) -> None:
    print(
        f"  [{phase.name}] {outcome.payments:,} card payments in {outcome.seconds:.0f} s = "
        f"{outcome.rate:,.1f}/s; pre-checkout p50 {ms(outcome.answers, 50):.0f} ms, "
        f"p99 {ms(outcome.answers, 99):.0f} ms, max {ms(outcome.answers, 100):.0f} ms "
        f"({len(outcome.answers):,} answers, {outcome.timed_out} timed out); charge → "
        f"received p50 {ms(outcome.received, 50):.0f} ms, p95 {ms(outcome.received, 95):.0f} "
        f"ms; a bill button p50 {ms(outcome.presses, 50):.0f} ms, p99 "
        f"{ms(outcome.presses, 99):.0f} ms; {len(outcome.errors)} errors; CPU (of one core): "
        f"bot {outcome.bot_cpu / outcome.seconds:.0%}, its receipt workers "
        f"{outcome.workers_cpu / outcome.seconds:.0%}, phones+server "
        f"{outcome.bench_cpu / outcome.seconds:.0%}; all cores {outcome.machine_busy:.0%} busy",
        flush=True,
    )
    for error in outcome.errors[:3]:
        print(f"    error: {error}")


async def run(ctx: Context) -> None:
    print("\n== card payments end to end (fake Bot API server, 50 ms round trip)", flush=True)
    admin = await Database.connect(ctx.database.admin, minsize=1, maxsize=2)
    try:
        await _run(ctx, admin)
    finally:
        await admin.close()


async def _run(ctx: Context, admin: Database) -> None:
    # At 1,000 chats one card payment takes tens of seconds, too long for a smoke run's
    # window: it stops at 300.
    growth: tuple[int, ...] = (100, 300) if ctx.quick else (100, 1000)
    ids = await link_payers(admin, max(growth))
    if len(ids) < max(growth):
        print(f"  only {len(ids)} customers owe enough; using that many chats")
        growth = (*(n for n in growth if n < len(ids)), len(ids))
    seconds = ctx.seconds(20.0, 6.0)
    # The ramp covers the first receipt of the bot (it prepares the font subset: ~1.5 s).
    phases = [Phase("one chat at a time", REFERENCE_CHATS, False, seconds, ctx.seconds(6.0, 4.0))]
    for chats in growth:
        # Long enough for every chat to be anywhere in its payment when counting starts.
        ramp = ctx.seconds(10.0, 4.0) * max(1.0, chats / 300)
        measure = seconds * (2 if chats >= 1000 else 1)
        phases.append(Phase(f"{chats:,} chats", chats, True, measure, ramp))

    recorded = (await _recorded_since(admin, (0, 0)))[2:]
    outcomes: list[tuple[Phase, Outcome]] = []
    wrong: list[str] = []
    for phase in phases:
        outcome = await run_phase(ctx, phase, ids)
        _show(phase, outcome)
        outcomes.append((phase, outcome))
        charges, card, *top = await _recorded_since(admin, recorded)
        recorded = (top[0], top[1])
        if not (
            charges == card == outcome.charged == outcome.acknowledged == len(outcome.receipts)
            and len(set(outcome.receipts)) == len(outcome.receipts)
        ):
            wrong.append(
                f"{phase.name}: {outcome.charged} charged, {charges} charges and {card} card "
                f"payments recorded, {outcome.acknowledged} acknowledged, "
                f"{len(outcome.receipts)} receipts"
            )

    reference = outcomes[0][1]
    for phase, outcome in outcomes[1:]:
        most = phase.chats == max(growth)
        clean = not outcome.errors and not outcome.timed_out
        note = f"{len(outcome.errors)} errors" if outcome.errors else ""
        if most:
            ctx.results.add(
                Figure(
                    "card payments",
                    f"pre-checkout answer p50, 50 ms RTT, {phase.chats:,} chats",
                    ms(outcome.answers, 50),
                    "ms",
                    reference="the same, one chat at a time",
                    reference_value=ms(reference.answers, 50),
                    higher_is_better=False,
                    note=f"{len(outcome.answers):,} answers",
                )
            )
        p99 = ms(outcome.answers, 99)
        ctx.results.add(
            Figure(
                "card payments",
                f"pre-checkout answer p99, 50 ms RTT, {phase.chats:,} chats",
                p99,
                "ms",
                reference="the same, one chat at a time",
                reference_value=ms(reference.answers, 99),
                higher_is_better=False,
                target=f"< {PRE_CHECKOUT_TARGET * 1000:,.0f} ms (Telegram: 10 s)"
                if most
                else None,
                met=(p99 < PRE_CHECKOUT_TARGET * 1000 and clean) if most else None,
                note=(
                    f"max {ms(outcome.answers, 100):,.0f} ms, {outcome.timed_out} unanswered; "
                    f"a bill button's screen in the same phase: p50 "
                    f"{ms(outcome.presses, 50):,.0f} ms, p99 {ms(outcome.presses, 99):,.0f} ms"
                ),
            )
        )
        ctx.results.add(
            Figure(
                "card payments",
                f"card payments end to end, 50 ms RTT, {phase.chats:,} chats",
                outcome.rate,
                "payments/s",
                reference="one chat at a time",
                reference_value=reference.rate,
                note=(
                    f"/pay → receipt: 5 chat steps, the pre-checkout and the payment; bot "
                    f"{outcome.bot_cpu / outcome.seconds:.0%} of a core, receipt workers "
                    f"{outcome.workers_cpu / outcome.seconds:.0%}, all cores "
                    f"{outcome.machine_busy:.0%} busy" + (f"; {note}" if note else "")
                ),
            )
        )
        p95 = ms(outcome.received, 95)
        ctx.results.add(
            Figure(
                "card payments",
                f"charge → “received” p95, 50 ms RTT, {phase.chats:,} chats",
                p95,
                "ms",
                reference="the same, one chat at a time",
                reference_value=ms(reference.received, 95),
                higher_is_better=False,
                target=f"< {RECEIVED_TARGET * 1000:,.0f} ms" if most else None,
                met=(p95 < RECEIVED_TARGET * 1000 and clean) if most else None,
                note=f"p50 {ms(outcome.received, 50):,.0f} ms",
            )
        )
    errors = sum(len(outcome.errors) for _, outcome in outcomes)
    differences = await report_totals.differences(admin)
    correct = not wrong and not errors and not differences
    print(
        "  every card payment correct: "
        + (
            "yes (one charge, one card payment, one message and one receipt per payment; "
            "report totals equal a recount)"
            if correct
            else f"NO: {wrong} {errors} errors {differences[:3]}"
        )
    )
    ctx.results.add(
        Figure(
            "card payments",
            "every charge recorded once, acknowledged once with its receipt; totals = recount",
            1.0 if correct else 0.0,
            "",
            target="all",
            met=correct,
            note=f"{sum(o.charged for _, o in outcomes):,} charges in all",
        )
    )
