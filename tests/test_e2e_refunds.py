"""Staff pay money back over the chat: card refunds owed at the provider are listed and marked
made (/refunds), and account credit is refunded with a reason (/refundcredit). Over HTTP:
phone user → fake Bot API → the real Application → MariaDB."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from domain import card_payments, customers, payments
from domain.models import Admin
from domain.money import Currency
from handlers.admin_gate import READ_ONLY, STALE_BUTTON
from tests.e2e_support import Harness, activated_customer, harness, make_staff, running_bot
from tests.factories import fetch_dicts, give_credit, make_bill, make_customer

__all__ = ["harness"]

NAIRA = Currency("NGN", "₦")
ADMIN_ID = 8101
VIEWER_ID = 8102


async def _voided_card_payment(harness: Harness, clerk: Admin) -> int:
    """A card payment of a whole 1,000.00 bill, voided: a refund is owed at the provider."""
    customer = await make_customer(harness.admin_db, meter_number="MTR-RF001")
    bill = await make_bill(harness.admin_db, customer, units="100", rate="10")
    invoice = await card_payments.create_invoice(
        harness.customer_db,
        customer_id=customer.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal("1000.00"),
        currency=NAIRA,
        lifetime=timedelta(minutes=30),
    )
    charge = await card_payments.record_charge(
        harness.admin_db,
        reference=invoice.reference,
        charge=payments.ChargeIds("tg-refund-1", "prov-refund-1"),
        currency_code="NGN",
        total_minor=NAIRA.to_minor(Decimal("1000.00")),
        currency=NAIRA,
    )
    assert charge.payment is not None
    voided = await payments.void_payment(
        harness.admin_db, charge.payment.payment_id, admin_id=clerk.admin_id, reason="duplicate"
    )
    assert voided.refund_owed == Decimal("1000.00")
    (owed,) = await card_payments.refunds(harness.admin_db, status="owed")
    return owed.refund_id


async def test_an_admin_marks_a_card_refund_made_with_the_providers_reference(
    harness: Harness,
) -> None:
    """/refunds lists the refund owed with the provider's charge id; "Mark refunded" asks for
    the provider's refund reference and records it as made, once; then none is owed."""
    clerk = await make_staff(harness, ADMIN_ID, "admin")
    refund_id = await _voided_card_payment(harness, clerk)
    user = harness.server.user(ADMIN_ID, "Olu")
    async with running_bot(harness):
        await user.send("/refunds")
        listed = (await user.wait_for_reply()).body  # the message is edited next
        await user.press(f"Mark #{refund_id} refunded")
        asked = await user.wait_for_edit()
        await user.send("   ")  # blank: refused, asked again
        blank = await user.wait_for_reply()
        await user.send("RFND-<77>")
        done = await user.wait_for_reply()
        await user.send("/refunds")
        after = await user.wait_for_reply()
    assert "₦1,000.00" in listed and "prov-refund-1" in listed and "why: duplicate" in listed
    assert "refund reference" in asked.body
    assert "type the reference again" in blank.body
    assert (
        f"Refund #{refund_id} marked as made" in done.body and "RFND-&lt;77&gt;" not in done.body
    )
    assert "RFND-<77>" in done.body  # shown as typed (escaped on the wire, not doubled)
    assert "No card refunds are owed" in after.body
    (row,) = await fetch_dicts(
        harness.admin_db,
        "SELECT status, provider_reference FROM provider_refunds WHERE refund_id = %s",
        refund_id,
    )
    assert (row["status"], row["provider_reference"]) == ("made", "RFND-<77>")


async def test_a_viewer_sees_refunds_owed_but_cannot_mark_one(harness: Harness) -> None:
    clerk = await make_staff(harness, ADMIN_ID, "admin")
    await make_staff(harness, VIEWER_ID, "viewer")
    refund_id = await _voided_card_payment(harness, clerk)
    viewer = harness.server.user(VIEWER_ID, "Vee")
    async with running_bot(harness):
        await viewer.send("/refunds")
        listed = await viewer.wait_for_reply()
        await viewer.press_data(listed.message_id, f"arfm:{refund_id}")  # forged
        await asyncio.sleep(0.3)
    assert "₦1,000.00" in listed.body and not listed.inline_keyboard
    answers = [c.params.get("text") for c in harness.server.calls_to("answerCallbackQuery")]
    assert READ_ONLY.format(role="viewer") in answers
    (row,) = await card_payments.refunds(harness.admin_db)
    assert row.status == "owed"


async def test_an_admin_refunds_account_credit_with_a_reason_and_the_customer_is_told(
    harness: Harness,
) -> None:
    """More than the credit is refused; the refund is recorded once (a second press of the
    confirm records nothing more); the customer is told; credit = received − refunded."""
    await make_staff(harness, ADMIN_ID, "admin")
    customer_user = harness.server.user(5301, "Chi")
    user = harness.server.user(ADMIN_ID, "Olu")
    async with running_bot(harness):
        customer = await activated_customer(harness, customer_user, meter_number="MTR-RF002")
        bill = await make_bill(harness.admin_db, customer, units="10", rate="10")
        await give_credit(harness.admin_db, bill, "300.00")
        await user.send("/refundcredit MTR-RF002")
        shown = await user.wait_for_reply()
        await user.send("500")
        too_much = await user.wait_for_reply()
        await user.send("120.50")
        await user.wait_for_reply()
        await user.send("Moved away; paid back by transfer")
        confirm = await user.wait_for_reply()
        confirm_body = confirm.body
        await user.press("Record refund")
        done = await user.wait_for_edit()
        # The same confirm pressed again (double tap, re-delivery): no flow, nothing recorded.
        await user.press_data(confirm.message_id, f"arcok:{customer.customer_id}")
        await asyncio.sleep(0.3)
    assert "₦300.00" in shown.body
    assert "only ₦300.00" in too_much.body
    assert "₦120.50" in confirm_body and "Moved away" in confirm_body
    assert "Credit refund of ₦120.50 recorded" in done.body and "₦179.50" in done.body
    answers = [c.params.get("text") for c in harness.server.calls_to("answerCallbackQuery")]
    assert answers[-1] == STALE_BUTTON
    told = await customer_user.wait_for_reply(predicate=lambda m: "paid back" in m.body)
    assert "₦120.50" in told.body and "Moved away" in told.body and "₦179.50" in told.body
    after = await customers.get(harness.admin_db, customer.customer_id)
    assert after.credit == Decimal("179.50")
    entries = await fetch_dicts(
        harness.admin_db,
        "SELECT kind, amount FROM credit_entries WHERE customer_id = %s ORDER BY entry_id",
        customer.customer_id,
    )
    assert [(e["kind"], e["amount"]) for e in entries][-1] == ("refunded", Decimal("120.50"))
    assert sum(e["kind"] == "refunded" for e in entries) == 1


async def test_a_refund_of_credit_spent_meanwhile_is_refused_naming_the_credit_left(
    harness: Harness,
) -> None:
    """The credit shrinks between the amount typed and the confirm (another member of staff
    refunded some): the domain refuses with the credit left as a figure, and the chat says it
    in the configured currency (issue 15: the words are chosen in handlers). Nothing more is
    refunded."""
    clerk = await make_staff(harness, ADMIN_ID, "admin")
    user = harness.server.user(ADMIN_ID, "Olu")
    async with running_bot(harness):
        customer = await make_customer(harness.admin_db, meter_number="MTR-RF003")
        bill = await make_bill(harness.admin_db, customer, units="10", rate="10")
        await give_credit(harness.admin_db, bill, "300.00")
        await user.send("/refundcredit MTR-RF003")
        await user.wait_for_reply()
        await user.send("250")
        await user.wait_for_reply()
        await user.send("Moved away; paid back by transfer")
        await user.wait_for_reply()
        await card_payments.refund_credit(
            harness.admin_db,
            customer.customer_id,
            amount=Decimal("200.00"),
            admin_id=clerk.admin_id,
            reason="paid back in cash",
        )
        await user.press("Record refund")
        refused = await user.wait_for_edit()
    assert "Not recorded: The customer's credit is only ₦100.00." in refused.body
    after = await customers.get(harness.admin_db, customer.customer_id)
    assert after.credit == Decimal("100.00")
