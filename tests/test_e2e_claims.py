"""Payment claims end to end (issue 13): staff /claims over real HTTP to the fake Bot API
server, on the real MariaDB — confirm (the customer gets the receipt), reject (the customer
is told why), and presses by people who may not decide a claim.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain import admins, bills, claims, payments
from domain.db import Database
from domain.models import Admin, Bill, Customer, PaymentStatus
from fake_telegram import ChatMessage, FakeUser
from handlers.admin_claims import age_text
from handlers.admin_gate import STALE_BUTTON
from tests.e2e_support import Harness, activated_customer, harness, running_bot, settle
from tests.factories import make_bill
from tests.security_support import pdf_text

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8301
VIEWER_ID = 8302
CUSTOMER_ID = 8311
REFERENCE = "FT26<1107>&9"  # HTML-looking on purpose: shown escaped, as typed


async def make_staff(harness: Harness, telegram_user_id: int, role: str = "admin") -> Admin:
    return await admins.create_admin(
        harness.admin_db,
        admin_name=f"Claims {role} {telegram_user_id}",
        email=f"claims{telegram_user_id}@utility.example",
        password="a-long-staff-password",
        role=role,
        telegram_user_id=telegram_user_id,
    )


async def file_claim(
    harness: Harness, customer: Customer, amount: str = "5000.00"
) -> tuple[Bill, claims.Claim]:
    """A bill of ₦12,345.00 for September and the customer's transfer claim on it."""
    bill = await make_bill(harness.admin_db, customer, units="100", rate="123.45")
    claim = await claims.submit(
        harness.customer_db,
        customer_id=customer.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal(amount),
        method="bank_transfer",
        reference=REFERENCE,
    )
    return bill, claim


async def say(user: FakeUser, text: str) -> ChatMessage:
    await user.send(text)
    return await user.wait_for_reply()


async def tap(user: FakeUser, label: str, message: ChatMessage | None = None) -> ChatMessage:
    """Press a button; return the message the bot edited or sent in answer."""
    await user.press(label, message)
    event = await user.wait_for_event(kinds=("message", "edit"))
    assert event.message is not None
    return event.message


async def payment_count(db: Database) -> int:
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM payments")
        row = await cur.fetchone()
        return int(row[0])


async def test_staff_confirm_a_claim_and_the_customer_gets_the_receipt(
    harness: Harness,
) -> None:
    """A claim filed through domain.claims.submit is listed by /claims with the customer's
    name, meter, bill month, amount, method, reference and age; Confirm records the payment,
    the customer gets "Your bank transfer of ₦5,000.00 … was confirmed" and the receipt PDF,
    the bill owes ₦5,000.00 less; pressing Confirm again records nothing more."""
    staff = harness.server.user(ADMIN_ID, "Olu")
    payer = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, ADMIN_ID)
    async with running_bot(harness):
        customer = await activated_customer(harness, payer)
        bill, claim = await file_claim(harness, customer)

        listed = await say(staff, "/claims")
        for shown in (
            "Amina Bello",
            "MTR-20001",
            "Sep 2026",
            "₦5,000.00",
            "Bank transfer",
            REFERENCE,
            "just now",
            f"#{claim.claim_id}",
        ):
            assert shown in listed.body, (shown, listed.body)
        assert f"✖ Reject #{claim.claim_id}" in listed.button_labels

        done = await tap(staff, f"✅ Confirm #{claim.claim_id}", listed)
        assert f"Claim #{claim.claim_id} confirmed" in done.body
        assert "₦7,345.00" in done.body and "sent the receipt" in done.body
        told = await payer.wait_for_reply(predicate=lambda m: "was confirmed" in m.body)
        assert "Your bank transfer of ₦5,000.00" in told.body and REFERENCE in told.body
        receipt = await payer.wait_for_reply(predicate=lambda m: m.document is not None)
        assert receipt.document is not None and receipt.document.filename is not None
        assert receipt.document.filename.startswith("receipt-EB-")
        text = pdf_text(receipt.document.data)
        assert "5,000.00" in text and "Bank transfer" in text

        after = await bills.get(harness.admin_db, bill.bill_id)
        assert after.outstanding == bill.outstanding - Decimal("5000.00")
        assert after.payment_status is PaymentStatus.PARTIAL
        stored = (await claims.get(harness.admin_db, claim.claim_id)).claim
        assert stored.status is claims.ClaimStatus.CONFIRMED

        # The same button again (a double tap, a re-delivered update): nothing more.
        await staff.press_data(listed.message_id, f"aclok:{claim.claim_id}")
        again = await staff.wait_for_event(kinds=("message", "edit"))
        assert again.message is not None and "already confirmed" in again.message.body
        await payer.expect_no_reply()
        assert await payment_count(harness.admin_db) == 1
        assert "No claims are waiting" in (await say(staff, "/claims")).body


async def test_staff_reject_a_claim_with_a_reason_and_the_customer_is_told(
    harness: Harness,
) -> None:
    """Reject asks for the reason (Cancel leaves the claim pending; a two-letter reason is
    asked for again); the typed reason reaches the customer exactly as typed, and nothing is
    paid."""
    staff = harness.server.user(ADMIN_ID, "Olu")
    payer = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, ADMIN_ID)
    async with running_bot(harness):
        customer = await activated_customer(harness, payer)
        bill, claim = await file_claim(harness, customer)

        listed = await say(staff, "/claims")
        asked = await tap(staff, f"✖ Reject #{claim.claim_id}", listed)
        assert "Type the reason" in asked.body and REFERENCE in asked.body
        assert "Cancelled" in (await tap(staff, "Cancel", asked)).body
        assert (await claims.get(harness.admin_db, claim.claim_id)).claim.is_pending

        listed = await say(staff, "/claims")
        await tap(staff, f"✖ Reject #{claim.claim_id}", listed)
        assert "3 to 500" in (await say(staff, "no")).body
        reason = "No transfer <FT26> reached us & the amount differs"
        done = await say(staff, reason)
        assert f"Claim #{claim.claim_id} rejected" in done.body and "told why" in done.body
        told = await payer.wait_for_reply(predicate=lambda m: "could not be confirmed" in m.body)
        assert f"Reason: {reason}" in told.body
        assert "₦5,000.00" in told.body and "Nothing was paid" in told.body

        stored = (await claims.get(harness.admin_db, claim.claim_id)).claim
        assert (stored.status, stored.reject_reason) == (claims.ClaimStatus.REJECTED, reason)
        assert await bills.get(harness.admin_db, bill.bill_id) == bill
        assert await payment_count(harness.admin_db) == 0
        # A stray message afterwards is not read as a second reason.
        assert "not sure what you mean" in (await say(staff, "Another reason")).body


async def test_a_customer_pressing_a_forged_claim_button_gets_nothing_done(
    harness: Harness,
) -> None:
    """The customer forges the staff's Confirm and Reject data for their own claim: each is
    answered as a stale button, and the claim stays pending with nothing paid."""
    payer = harness.server.user(CUSTOMER_ID, "Amina")
    async with running_bot(harness):
        customer = await activated_customer(harness, payer)
        _, claim = await file_claim(harness, customer)
        anchor = payer.last_message()
        assert anchor is not None
        for data in (f"aclok:{claim.claim_id}", f"aclrj:{claim.claim_id}", "aclp:0"):
            await payer.press_data(anchor.message_id, data)
            answer = await payer.wait_for_answer()
            assert answer.text == STALE_BUTTON
        await payer.expect_no_reply()
    assert (await claims.get(harness.admin_db, claim.claim_id)).claim.is_pending
    assert await payment_count(harness.admin_db) == 0


async def test_a_viewer_sees_the_list_but_cannot_confirm_or_reject(harness: Harness) -> None:
    """A viewer's /claims lists the claim without Confirm or Reject buttons; forged ones are
    refused as read-only, and nothing changes."""
    viewer = harness.server.user(VIEWER_ID, "Vee")
    payer = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, VIEWER_ID, role="viewer")
    async with running_bot(harness):
        customer = await activated_customer(harness, payer)
        _, claim = await file_claim(harness, customer)
        listed = await say(viewer, "/claims")
        assert REFERENCE in listed.body and "Amina Bello" in listed.body
        assert not any("Confirm" in label or "Reject" in label for label in listed.button_labels)
        for data in (f"aclok:{claim.claim_id}", f"aclrj:{claim.claim_id}"):
            await viewer.press_data(listed.message_id, data)
            answer = await viewer.wait_for_answer()
            assert answer.text is not None and "cannot change anything" in answer.text
        await settle()
    assert (await claims.get(harness.admin_db, claim.claim_id)).claim.is_pending
    assert await payment_count(harness.admin_db) == 0


async def test_a_claim_on_a_bill_paid_meanwhile_is_explained_and_not_recorded(
    harness: Harness,
) -> None:
    """The bill was paid off at the office after the claim was filed: Confirm says so and
    offers Reject, records nothing, and the customer hears nothing yet."""
    staff = harness.server.user(ADMIN_ID, "Olu")
    payer = harness.server.user(CUSTOMER_ID, "Amina")
    admin = await make_staff(harness, ADMIN_ID)
    async with running_bot(harness):
        customer = await activated_customer(harness, payer)
        bill, claim = await file_claim(harness, customer)
        await payments.pay_bill(
            harness.admin_db,
            bill_id=bill.bill_id,
            amount=bill.outstanding,
            method="cash",
            idempotency_key="office-pay-off",
            admin_id=admin.admin_id,
        )
        listed = await say(staff, "/claims")
        refused = await tap(staff, f"✅ Confirm #{claim.claim_id}", listed)
        assert "was not confirmed" in refused.body and "paid in full" in refused.body
        assert f"✖ Reject #{claim.claim_id}" in refused.button_labels
        await payer.expect_no_reply()
    assert await payment_count(harness.admin_db) == 1
    assert (await claims.get(harness.admin_db, claim.claim_id)).claim.is_pending


def test_a_claim_card_shows_its_age_in_words() -> None:
    """Ages read as a person would say them on a small screen."""
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert [
        age_text(now - timedelta(seconds=s), now)
        for s in (5, 120, 3 * 3600, 30 * 3600, 5 * 86400, -10)
    ] == ["just now", "2 min ago", "3 h ago", "30 h ago", "5 days ago", "just now"]
    assert re.fullmatch(r"\d+ min ago", age_text(now - timedelta(minutes=59), now))
