"""Process faults: the bot (``python run_bot.py run``, a real child process) SIGKILLed in the
middle of a payment load and started again; SIGTERM ending it gracefully."""

from __future__ import annotations

import asyncio
import signal
from decimal import Decimal
from pathlib import Path

import pytest
from telegram import Bot
from telegram.ext import PersistenceInput, PicklePersistence
from telegram.ext._picklepersistence import _BotPickler

from bot.persistence import AtomicPicklePersistence
from fake_telegram import DEFAULT_TOKEN
from tests.e2e_support import Harness, harness
from tests.factories import give_credit, make_bill, make_customer
from tests.reliability_support import (
    BotProcess,
    Payer,
    Stopwatch,
    bot_environment,
    confirm_key,
    fetch_deferred_receipts,
    invariant_violations,
    link_telegram,
    receipt_numbers,
    record_figures,
    sql_rows,
    until,
)

__all__ = ["harness"]

PAYERS = 10


async def _payers(harness: Harness, count: int, first_id: int) -> tuple[list[Payer], list[int]]:
    payers, bill_ids = [], []
    for i in range(count):
        user = harness.server.user(first_id + i, f"Payer{i}")
        customer = await make_customer(harness.admin_db, full_name=f"Payer {user.id}")
        await link_telegram(harness.admin_db, customer.customer_id, user.id)
        bill = await make_bill(harness.admin_db, customer, units="1000", rate="10")
        await give_credit(harness.admin_db, bill, bill.total_amount)
        bill_ids.append(bill.bill_id)
        payers.append(Payer(user, Decimal("2.50"), step_timeout=30, repeat_after_silence=4))
    return payers, bill_ids


async def _recorded(harness: Harness, bill_ids: list[int]) -> list[tuple[str, str]]:
    rows = await sql_rows(
        harness.admin_db,
        "SELECT idempotency_key, receipt_number FROM payments WHERE bill_id IN ("
        + ",".join(str(b) for b in bill_ids)
        + ")",
    )
    return [(str(key), str(number)) for key, number in rows]


@pytest.mark.timeout(120)
async def test_a_bot_killed_mid_payment_load_loses_nothing_and_records_nothing_twice(
    harness: Harness, tmp_path: Path
) -> None:
    """SIGKILL the bot while 10 customers pay, start it again: every receipt sent belongs to
    a payment recorded exactly once, no bill is half-updated, every recorded payment's
    receipt reaches its customer, and a customer caught mid-flow either carries on or is
    told to start again."""
    payers, bill_ids = await _payers(harness, PAYERS, 72000)
    environ = bot_environment(harness.config, harness.server, LOG_LEVEL="INFO")
    stop = asyncio.Event()

    async def keep_paying(payer: Payer) -> None:
        while not stop.is_set():
            if not await payer.pay_once():
                await asyncio.sleep(0.2)

    clock = Stopwatch()
    async with (
        BotProcess(environ, tmp_path, "first") as first,
        BotProcess(environ, tmp_path, "second") as second,
    ):
        first_start = await first.start(harness.server)
        tasks = [asyncio.create_task(keep_paying(p)) for p in payers]
        try:
            await until(
                lambda: sum(len(p.log.acknowledged) for p in payers) >= 2 * PAYERS,
                timeout=60,
                what="20 payments before the kill",
            )
            mid_flow = [p for p in payers if p.in_flow]
            attempts_before = {id(p): p.log.attempted for p in payers}
            failures_before = {id(p): len(p.log.unavailable) + len(p.log.other) for p in payers}
            kill_at = clock()
            first.send_signal(signal.SIGKILL)
            killed_code = await first.wait()
            restart_took = await second.start(harness.server)
            ready_at = second.started_at
            await until(
                lambda: all(any(t > ready_at for t in p.log.acknowledged_at) for p in payers),
                timeout=60,
                what="every customer paying after the restart",
            )
            recovered = round(
                max(min(t for t in p.log.acknowledged_at if t > ready_at) for p in payers)
                - ready_at,
                3,
            )
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        # Receipts that never came as a PDF (the bot died in between) are asked for again.
        fetched = await fetch_deferred_receipts(harness.admin_db, payers)
        second.send_signal(signal.SIGTERM)
        exit_code = await second.wait()
        output = first.output() + second.output()

    assert killed_code == -signal.SIGKILL
    stuck = [p.user.transcript(last=12) for p in payers if p.log.no_reply]
    assert not stuck, "\n-----\n".join(stuck)
    assert exit_code == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert await invariant_violations(harness.admin_db) == []

    recorded = await _recorded(harness, bill_ids)
    recorded_receipts = [number for _, number in recorded]
    received = {number for p in payers for number in receipt_numbers(p.user)}
    acknowledged = [number for p in payers for number in p.log.acknowledged]
    assert len(set(recorded_receipts)) == len(recorded_receipts)
    assert received <= set(recorded_receipts)  # every receipt sent is a recorded payment
    assert len(acknowledged) == len(set(acknowledged))
    # …and every payment recorded was acknowledged to its customer, even across the kill,
    # and its PDF reached them (at the latest when they asked with /receipt).
    assert set(recorded_receipts) <= set(acknowledged)
    assert set(recorded_receipts) <= received
    assert fetched == [f"receipt-{n}.pdf" for p in payers for n in p.log.deferred]
    assert {key for key, _ in recorded} <= {key for p in payers for key in p.log.keys}

    # After the kill, a flow that did not simply carry on ended with "start again".
    after_kill = [
        text
        for p in payers
        for _, text in (p.log.unavailable + p.log.other)[failures_before[id(p)] :]
    ]
    assert all("start again" in t or "start it again" in t for t in after_kill), after_kill
    continued = sum(
        1
        for p in mid_flow
        if len(p.log.unavailable) + len(p.log.other) == failures_before[id(p)]
        and p.log.attempted >= attempts_before[id(p)]
    )
    record_figures(
        "sigkill_restart",
        {
            "customers_paying": PAYERS,
            "first_start_s": first_start,
            "killed_at_s": kill_at,
            "restart_until_polling_s": restart_took,
            "every_customer_paid_again_after_s": recovered,
            "mid_flow_at_kill": len(mid_flow),
            "mid_flow_carried_on": continued,
            "told_to_start_again": len(after_kill),
            "updates_never_answered": sum(p.log.no_reply for p in payers),
            "actions_repeated_after_silence": sum(p.log.repeated_actions for p in payers),
            "screens_answered_twice_after_restart": sum(p.log.repeats for p in payers),
            "payments_attempted": sum(p.log.attempted for p in payers),
            "payments_acknowledged": len(acknowledged),
            "receipts_received_distinct": len(received),
            "receipt_pdfs_lost_in_the_kill_then_fetched_with_slash_receipt": len(fetched),
            "payments_recorded": len(recorded),
            "sigterm_exit_code": exit_code,
        },
    )


@pytest.mark.timeout(60)
async def test_sigterm_finishes_the_payment_in_hand_closes_the_pools_and_exits_0(
    harness: Harness, tmp_path: Path
) -> None:
    """SIGTERM right after the bot took a Confirm: the payment is recorded and its receipt
    sent before the process exits with status 0, having closed its database pools."""
    (payer,), bill_ids = await _payers(harness, 1, 72100)
    user = payer.user
    environ = bot_environment(harness.config, harness.server, LOG_LEVEL="INFO")
    async with BotProcess(environ, tmp_path, "sigterm") as bot:
        await bot.start(harness.server)
        await user.send("/pay")
        await user.press("owed", await user.wait_for_reply(10))
        await user.press("Pay in full", await user.wait_for_edit(timeout=10))
        await user.press("Account credit", await user.wait_for_edit(timeout=10))
        confirm = await user.wait_for_edit(timeout=10)
        key = confirm_key(confirm)
        answered = len(harness.server.calls_to("answerCallbackQuery"))
        await user.press("Confirm payment", confirm)
        # The Confirm handler's first act is to answer the button: it is now in hand.
        await until(
            lambda: len(harness.server.calls_to("answerCallbackQuery")) > answered,
            timeout=10,
            what="the bot taking the Confirm",
        )
        clock = Stopwatch()
        bot.send_signal(signal.SIGTERM)
        exit_code = await bot.wait(30)
        took = clock()
        output = bot.output()

    assert exit_code == 0, output[-3000:]
    assert "database pools closed" in output
    assert "Traceback" not in output, output[-3000:]
    recorded = await _recorded(harness, bill_ids)
    assert [k for k, _ in recorded] == [key]
    assert receipt_numbers(user) == [recorded[0][1]]
    assert await invariant_violations(harness.admin_db) == []
    record_figures(
        "sigterm",
        {
            "exit_code": exit_code,
            "seconds_from_sigterm_to_exit": took,
            "payment_in_hand_recorded": len(recorded),
            "its_receipt_sent": len(receipt_numbers(user)),
        },
    )


def _file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("atomic", [False, True], ids=["ptb-pickle", "atomic-pickle"])
async def test_a_state_write_cut_short_leaves_the_previous_state_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, atomic: bool
) -> None:
    """A process killed while writing its conversation state: PTB's own PicklePersistence
    leaves a truncated file that stops the next start; ours keeps the previous state."""
    path = tmp_path / "state.pickle"
    kind = AtomicPicklePersistence if atomic else PicklePersistence
    bot = Bot(DEFAULT_TOKEN)
    keep = PersistenceInput(bot_data=False, callback_data=False)
    first = kind(filepath=path, store_data=keep)
    first.set_bot(bot)
    await first.update_user_data(1, {"pay": {"bill_id": "7"}})

    def killed_midway(self: object, obj: object) -> None:
        raise KeyboardInterrupt("killed while writing")

    # Each writer's own pickling: PTB's Pickler, our persistence's _dump.
    if atomic:
        monkeypatch.setattr(AtomicPicklePersistence, "_dump", staticmethod(killed_midway))
    else:
        monkeypatch.setattr(_BotPickler, "dump", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        await first.update_user_data(1, {"pay": {"bill_id": "8"}})
    monkeypatch.undo()

    second = kind(filepath=path, store_data=keep)
    second.set_bot(bot)
    if atomic:
        assert await second.get_user_data() == {1: {"pay": {"bill_id": "7"}}}
        assert _file_names(tmp_path) == ["state.pickle"]  # no temporary file left behind
    else:
        with pytest.raises(TypeError):
            await second.get_user_data()
