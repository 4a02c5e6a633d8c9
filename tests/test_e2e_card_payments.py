"""Real money end to end (issue 13): a phone user pays by card through Telegram Payments —
the fake Bot API sends the pre-checkout query and, only if the bot says yes, the successful
payment — the real Application answers and records, on the real MariaDB. Transfers become
claims that change nothing until staff confirm them."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import date
from decimal import Decimal
from typing import Any

from domain import bills, card_payments
from domain.models import PaymentStatus
from fake_telegram import FakeUser
from tests.e2e_support import (
    Harness,
    activated_customer,
    harness,
    make_staff,
    running_bot,
    start_payment,
)
from tests.factories import fetch_dicts, give_credit, make_bill, office_payment

__all__ = ["harness"]

PROVIDER = "TEST:provider-token"


async def _rows(harness: Harness, sql: str, *args: Any) -> list[dict[str, Any]]:
    return await fetch_dicts(harness.admin_db, sql, *args)


async def _ask_for_an_invoice(user: FakeUser) -> None:
    """/pay → the bill → Pay in full → Card, until the invoice is in the chat."""
    await start_payment(user, "Pay in full")
    await user.press("Card")
    await user.wait_until(lambda: bool(user.invoices()), timeout=10)


def _with_cards(harness: Harness, **changes: Any) -> Harness:
    return harness.with_config(payment_provider_token=PROVIDER, **changes)


async def test_a_card_payment_is_recorded_once_with_both_charge_ids_and_its_receipt_sent(
    harness: Harness,
) -> None:
    """/pay → full → Card: an invoice for exactly the amount (in kobo) → Pay → pre-checkout
    accepted → one card payment carrying both charge ids, the bill paid, the receipt PDF."""
    harness = _with_cards(harness)
    user = harness.server.user(6101, "Card Payer")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-61001")
        bill = await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(user)
        [invoice] = user.invoices()
        assert invoice.invoice is not None and invoice.invoice.total_amount == 1_027_500
        assert invoice.invoice.currency == "NGN"
        # The payload is only the invoice row's random reference: no bill id, no amount.
        [row] = await _rows(harness, "SELECT reference, bill_id FROM invoices")
        assert invoice.invoice.payload == row["reference"] and row["bill_id"] == bill.bill_id
        outcome = await user.pay_invoice()
        assert outcome.ok, outcome.error_message
        assert outcome.answered_in < 1.0
        await user.wait_for_reply(predicate=lambda m: m.document is not None, timeout=10)
    assert outcome.successful_payment is not None
    [payment] = await _rows(
        harness,
        "SELECT amount_paid, payment_method, telegram_payment_charge_id,"
        " provider_payment_charge_id FROM payments",
    )
    assert payment == {
        "amount_paid": Decimal("10275.00"),
        "payment_method": "card",
        "telegram_payment_charge_id": outcome.successful_payment["telegram_payment_charge_id"],
        "provider_payment_charge_id": outcome.successful_payment["provider_payment_charge_id"],
    }
    paid = await bills.get(harness.admin_db, bill.bill_id)
    assert paid.payment_status is PaymentStatus.PAID
    said = user.transcript()
    assert "Card payment of ₦10,275.00 received" in said
    assert len(user.documents()) == 1


async def test_the_pre_checkout_is_refused_when_the_office_cleared_the_bill_first(
    harness: Harness,
) -> None:
    """The invoice was sent; staff then took the money at the office: Telegram is told not to
    charge, with a reason a person understands; no charge and no second payment exist."""
    harness = _with_cards(harness)
    user = harness.server.user(6102, "Paid Twice")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-61002")
        bill = await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(user)
        await office_payment(harness.admin_db, bill, bill.outstanding)
        outcome = await user.pay_invoice()
    assert not outcome.ok
    assert outcome.error_message is not None and "paid meanwhile" in outcome.error_message
    assert "nothing was charged" in outcome.error_message
    assert await _rows(harness, "SELECT * FROM provider_charges") == []
    [office] = await _rows(harness, "SELECT payment_method FROM payments")
    assert office == {"payment_method": "cash"}


async def test_a_charge_reported_after_the_bill_was_cleared_becomes_credit_for_the_next_bill(
    harness: Harness,
) -> None:
    """The pre-checkout had passed when the office took the money, and Telegram then reports
    the charge: it is recorded, all of it as credit, the payer is told so; the next bill is
    paid from that credit at once, and /dashboard shows what is left."""
    harness = _with_cards(harness)
    user = harness.server.user(6103, "Raced")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-61003")
        bill = await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(user)
        await office_payment(harness.admin_db, bill, bill.outstanding)
        user.report_payment()
        told = await user.wait_for_reply(predicate=lambda m: "account credit" in m.body)
        assert "₦10,275.00" in told.body
        later = await make_bill(
            harness.admin_db, customer, month=date(2026, 10, 1), units="100", rate="68.5"
        )
        await user.send("/dashboard")
        board = await user.wait_for_reply()
    assert later.payment_status is PaymentStatus.PAID
    assert await card_payments.credit_balance(harness.admin_db, customer.customer_id) == (
        Decimal("3425.00")
    )
    assert "₦3,425.00" in board.body and "credit" in board.body.lower()
    [charge] = await _rows(harness, "SELECT amount, credited FROM provider_charges")
    assert charge == {"amount": Decimal("10275.00"), "credited": Decimal("10275.00")}


async def test_the_same_successful_payment_delivered_twice_is_one_payment_and_one_receipt(
    harness: Harness,
) -> None:
    """Telegram delivers the successful payment twice: one payment, one receipt, one
    "received" message."""
    harness = _with_cards(harness)
    user = harness.server.user(6104, "Twice")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-61004")
        await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(user)
        outcome = await user.pay_invoice(deliver_twice=True)
        assert outcome.ok
        await user.wait_for_reply(predicate=lambda m: m.document is not None, timeout=10)
        await asyncio.sleep(0.5)
    assert len(await _rows(harness, "SELECT payment_id FROM payments")) == 1
    assert len(user.documents()) == 1
    assert user.transcript().count("received") == 1


async def test_the_same_invoice_paid_twice_keeps_the_second_charge_as_credit(
    harness: Harness,
) -> None:
    """Two charges of one invoice (both pre-checkouts passed): the bill takes the first, the
    second is never refused and becomes credit; the payer is told each time."""
    harness = _with_cards(harness)
    user = harness.server.user(6105, "Double Tap")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-61005")
        await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(user)
        assert (await user.pay_invoice()).ok
        await user.wait_for_reply(predicate=lambda m: m.document is not None, timeout=10)
        user.report_payment()
        await user.wait_for_reply(predicate=lambda m: "account credit" in m.body)
    charges = await _rows(harness, "SELECT credited FROM provider_charges ORDER BY charge_id")
    assert charges == [{"credited": Decimal("0.00")}, {"credited": Decimal("10275.00")}]
    assert len(await _rows(harness, "SELECT payment_id FROM payments")) == 1
    assert await card_payments.credit_balance(harness.admin_db, customer.customer_id) == (
        Decimal("10275.00")
    )


async def test_an_expired_invoice_and_another_customers_invoice_are_refused(
    harness: Harness,
) -> None:
    """An invoice past its lifetime is refused at pre-checkout; so is an invoice forwarded to
    someone who is not its customer. Nothing is charged either time."""
    harness = _with_cards(harness, invoice_lifetime_minutes=0)
    owner = harness.server.user(6106, "Owner")
    other = harness.server.user(6107, "Other")
    async with running_bot(harness):
        customer = await activated_customer(harness, owner, meter_number="MTR-61006")
        await activated_customer(harness, other, meter_number="MTR-61007")
        await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(owner)
        expired = await owner.pay_invoice()
        forwarded = await other.pay_forwarded_invoice(owner.invoices()[0])
    assert not expired.ok and "expired" in (expired.error_message or "")
    assert not forwarded.ok and "another account" in (forwarded.error_message or "")
    assert await _rows(harness, "SELECT * FROM provider_charges") == []


async def test_card_is_not_offered_without_a_provider_or_below_telegrams_minimum(
    harness: Harness,
) -> None:
    """No provider token: no Card button. With one, an amount under ₦412 gets no Card button
    but a line saying why and what else to do; account credit is offered when there is some."""
    user = harness.server.user(6108, "Small")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-61008")
        bill = await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await start_payment(user, "Pay in full")
        without_provider = user.buttons()
    async with running_bot(_with_cards(harness)):
        await give_credit(harness.admin_db, bill, "50.00")
        await start_payment(user, "Another amount")
        await user.send("100")
        small = await user.wait_for_reply()
    assert not any("Card" in label for label in without_provider)
    assert "Bank transfer" in " ".join(without_provider)
    assert not any("Card" in label for label in small.button_labels)
    assert "Card payments start at ₦412.00" in small.body
    assert any("Account credit · ₦50.00" in label for label in small.button_labels)


async def test_a_transfer_is_a_pending_claim_that_changes_no_balance(harness: Harness) -> None:
    """Bank transfer: the account details are shown, the reference typed is filed as a
    pending claim; the bill is unchanged; the same reference again is refused."""
    user = harness.server.user(6109, "Transfer")
    async with running_bot(harness.with_config(transfer_details="Bank: Test Bank 0123456789")):
        customer = await activated_customer(harness, user, meter_number="MTR-61009")
        bill = await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await start_payment(user, "Pay in full")
        await user.press("Bank transfer")
        details = await user.wait_for_edit()
        await user.send("TRF-2026-0001")
        filed = await user.wait_for_reply()
        await start_payment(user, "Another amount")
        await user.send("100")
        await user.wait_for_reply()
        await user.press("Bank transfer")
        await user.wait_for_edit()
        await user.send("trf-2026-0001")
        again = await user.wait_for_reply()
    assert "Test Bank 0123456789" in details.body
    assert "pending" in filed.body and "TRF-2026-0001" in filed.body
    assert "already been claimed" in again.body
    unchanged = await bills.get(harness.admin_db, bill.bill_id)
    assert unchanged.amount_paid == 0
    claims = await _rows(harness, "SELECT status, amount FROM payment_claims")
    assert claims == [{"status": "pending", "amount": Decimal("10275.00")}]


async def test_staff_who_asked_to_be_told_hear_of_a_card_payment(harness: Harness) -> None:
    """/notify on covers every payment (SPEC): a card payment's bill part reaches the admin
    who opted in, once, with method Card; a staff member who did not opt in hears nothing."""
    from domain import admins

    harness = _with_cards(harness)
    user = harness.server.user(6111, "Card Payer")
    told = harness.server.user(8111, "Told")
    quiet = harness.server.user(8112, "Quiet")
    await make_staff(harness, told.id)
    await make_staff(harness, quiet.id)
    listener = await admins.find_by_telegram(harness.admin_db, told.id)
    assert listener is not None
    await admins.set_notify(harness.admin_db, listener.admin_id, True)
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-61011")
        await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(user)
        outcome = await user.pay_invoice()
        assert outcome.ok, outcome.error_message
        notice = await told.wait_for_reply(predicate=lambda m: "💰" in m.body, timeout=10)
        await asyncio.sleep(0.3)  # a second notice would have come by now
    assert "₦10,275.00" in notice.body and "by Card" in notice.body
    assert sum("💰" in m.body for m in told.messages()) == 1
    assert quiet.messages() == []


async def test_a_charge_has_a_lane_no_other_work_can_take(harness: Harness) -> None:
    """Every connection of the bot's admin pool is taken (as by a thousand busy chats and
    staff): the charge is still recorded and acknowledged at once, on the payment lane's own
    connections; the receipt (drawn from a read on the admin pool) follows once the other
    work lets go."""
    harness = _with_cards(harness)
    user = harness.server.user(6121, "Lane Payer")
    async with running_bot(harness) as application:
        customer = await activated_customer(harness, user, meter_number="MTR-61021")
        await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        await _ask_for_an_invoice(user)
        data = application.bot_data
        assert data.admin_db is not None
        async with contextlib.AsyncExitStack() as held:
            for _ in range(data.admin_db.max_connections):
                await held.enter_async_context(data.admin_db.unit_of_work())
            outcome = await user.pay_invoice()
            assert outcome.ok, outcome.error_message
            assert outcome.answered_in < 1.0
            received = await user.wait_for_reply(
                predicate=lambda m: "received" in m.body, timeout=5
            )
            assert user.documents() == []  # the receipt's drawing reads on the admin pool
        await user.wait_for_reply(predicate=lambda m: m.document is not None, timeout=10)
    assert "Card payment of ₦10,275.00 received" in received.body
    [payment] = await _rows(harness, "SELECT payment_method FROM payments")
    assert payment == {"payment_method": "card"}
