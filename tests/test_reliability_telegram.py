"""Telegram faults: the fake Bot API server answers with 429 (retry_after), 5xx, or hangs past
the bot's timeout while customers pay; a customer who blocked the bot gets an office payment."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import pytest

from domain import admins
from tests.e2e_support import Harness, harness, running_bot
from tests.factories import give_credit, make_bill, make_customer
from tests.reliability_support import (
    LogRecords,
    Payer,
    Stopwatch,
    fetch_deferred_receipts,
    invariant_violations,
    link_telegram,
    receipt_numbers,
    record_figures,
    sql_rows,
    until,
)

__all__ = ["harness"]

PAYERS = 8
OWN_MODULES = ("bot", "handlers", "domain")


def errors_from_our_code(log: LogRecords) -> list[str]:
    return [
        r.getMessage()
        for r in log.records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in OWN_MODULES
    ]


@pytest.mark.timeout(120)
async def test_telegram_errors_and_timeouts_neither_crash_the_bot_nor_double_record(
    harness: Harness,
) -> None:
    """While 8 customers pay: a flood limit (HTTP 429 with retry_after), 5xx answers to
    edits, messages, documents and polls, and calls that hang past the bot's timeout. Every
    payment is recorded at most once, every receipt the bot could not send is recorded and
    is fetched with /receipt, the bot logs no unhandled error and keeps answering."""
    server = harness.server
    payers, bill_ids = [], []
    for i in range(PAYERS):
        user = server.user(73000 + i, f"Payer{i}")
        customer = await make_customer(harness.admin_db, full_name=f"Payer {user.id}")
        await link_telegram(harness.admin_db, customer.customer_id, user.id)
        bill = await make_bill(harness.admin_db, customer, units="500", rate="10")
        await give_credit(harness.admin_db, bill, bill.total_amount)
        bill_ids.append(bill.bill_id)
        payers.append(Payer(user, Decimal("3.00"), step_timeout=25, repeat_after_silence=7))
    stop = asyncio.Event()

    async def keep_paying(payer: Payer) -> None:
        while not stop.is_set():
            if not await payer.pay_once():
                await asyncio.sleep(0.2)

    faults = {
        "editMessageText 502": ("editMessageText", 6, 502, 0.0),
        "sendMessage 500": ("sendMessage", 4, 500, 0.0),
        "sendDocument 503": ("sendDocument", 3, 503, 0.0),
        "getUpdates 502": ("getUpdates", 2, 502, 0.0),
        "answerCallbackQuery 500": ("answerCallbackQuery", 4, 500, 0.0),
        "sendDocument hangs 6 s": ("sendDocument", 2, None, 6.0),
        "editMessageText hangs 6 s": ("editMessageText", 1, None, 6.0),
    }
    log = LogRecords(logging.WARNING)
    logging.getLogger().addHandler(log)
    clock = Stopwatch()
    try:
        async with running_bot(harness):
            tasks = [asyncio.create_task(keep_paying(p)) for p in payers]
            try:
                await until(
                    lambda: sum(len(p.log.acknowledged) for p in payers) >= PAYERS,
                    what="the first payments",
                )
                # Flood limit: 8 messages a second, a burst of 8 (429 with retry_after).
                server.rate_limit = 8
                server.rate_limit_tolerance = 0.0
                await asyncio.sleep(2)
                server.rate_limit = None
                for method, times, status, hang in faults.values():
                    server.fail_next(method, times, status=status, hang=hang, deliver=hang > 0)
                await until(
                    lambda: not any(server._faults.values()),
                    timeout=60,
                    what="every injected fault to be met",
                )
                faults_done_at = clock()
                done = {id(p): len(p.log.acknowledged) for p in payers}
                await until(
                    lambda: all(len(p.log.acknowledged) > done[id(p)] for p in payers),
                    timeout=60,
                    what="every customer paying after the faults",
                )
                recovered = round(clock() - faults_done_at, 3)
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
            # Receipts the bot could not send are recorded: /receipt sends them.
            fetched = await fetch_deferred_receipts(harness.admin_db, payers)
            await payers[0].user.send("/help")
            assert "What I can do" in (await payers[0].user.wait_for_reply(10)).body
    finally:
        logging.getLogger().removeHandler(log)

    assert await invariant_violations(harness.admin_db) == []
    rows = await sql_rows(
        harness.admin_db,
        "SELECT idempotency_key, receipt_number FROM payments WHERE bill_id IN ("
        + ",".join(str(b) for b in bill_ids)
        + ")",
    )
    keys = [str(k) for k, _ in rows]
    recorded = {str(n) for _, n in rows}
    attempted = [k for p in payers for k in p.log.keys]
    acknowledged = [n for p in payers for n in p.log.acknowledged]
    deferred = [n for p in payers for n in p.log.deferred]
    assert len(keys) == len(set(keys)) and set(keys) <= set(attempted)
    assert set(acknowledged) <= recorded and len(acknowledged) == len(set(acknowledged))
    assert fetched == [f"receipt-{n}.pdf" for n in deferred]
    # A payment recorded without the customer hearing of it must not exist.
    missing = recorded - set(acknowledged)
    assert not missing, [
        (p.log.other, p.log.unavailable, p.user.transcript(last=14))
        for p in payers
        if any(n in m.body for m in p.user.messages() for n in missing)
    ]
    assert not errors_from_our_code(log), errors_from_our_code(log)
    failed_replies = [text for p in payers for _, text in p.log.unavailable + p.log.other]
    record_figures(
        "telegram_faults",
        {
            "customers_paying": PAYERS,
            "faults_injected": {name: spec[1] for name, spec in faults.items()},
            "http_429_answered": server.rate_limited_count,
            "payments_attempted": len(attempted),
            "payments_acknowledged": len(acknowledged),
            "payments_recorded": len(keys),
            "receipts_not_sent_then_fetched_with_slash_receipt": len(fetched),
            "receipt_pdfs_received": sum(len(receipt_numbers(p.user)) for p in payers),
            "flows_ended_by_a_failed_call": len(failed_replies),
            "actions_repeated_after_7_s_of_silence": sum(p.log.repeated_actions for p in payers),
            "updates_never_answered": sum(p.log.no_reply for p in payers),
            "every_customer_paid_again_after_faults_s": recovered,
            "unhandled_errors_logged_by_the_bot": len(errors_from_our_code(log)),
            "ptb_network_errors_logged": sum(
                1 for r in log.records if r.name.startswith("telegram")
            ),
        },
    )


@pytest.mark.timeout(60)
async def test_an_office_payment_for_a_customer_who_blocked_the_bot_is_recorded_once(
    harness: Harness,
) -> None:
    """The customer's receipt cannot be delivered (403, the bot is blocked): the payment is
    recorded once, the admin gets the receipt and is not told that nothing was recorded."""
    server = harness.server
    staff = server.user(73100, "Clerk")
    customer_user = server.user(73101, "Blocker")
    await admins.create_admin(
        harness.admin_db,
        admin_name="Clerk",
        email="clerk@utility.example",
        password="a-long-staff-password",
        telegram_user_id=staff.id,
    )
    customer = await make_customer(harness.admin_db, full_name="Blocking Customer")
    await link_telegram(harness.admin_db, customer.customer_id, customer_user.id)
    bill = await make_bill(harness.admin_db, customer, units="100", rate="2")
    customer_user.block()
    async with running_bot(harness):
        await staff.send(f"/recordpayment {customer.meter_number}")
        await staff.press("#", await staff.wait_for_reply())
        await staff.press("Full", await staff.wait_for_edit())
        await staff.press("Cash", await staff.wait_for_edit())
        confirm = await staff.wait_for_edit()
        await staff.press("Record payment", confirm)
        await staff.wait_until(lambda: bool(staff.documents()), timeout=10)
        await asyncio.sleep(0.2)
    said = "\n".join(m.body for m in staff.messages())
    assert "Nothing was recorded" not in said and "Nothing was charged" not in said
    assert "recorded" in said
    rows = await sql_rows(
        harness.admin_db, "SELECT COUNT(*) FROM payments WHERE bill_id = %s", (bill.bill_id,)
    )
    assert rows[0][0] == 1
    assert customer_user.documents() == []
    assert await invariant_violations(harness.admin_db) == []
