"""The customer's journey end to end: the real Application, over HTTP, to the fake Bot API
server, on the real MariaDB."""

from __future__ import annotations

import asyncio
import io
import unicodedata
from datetime import date
from decimal import Decimal

from pypdf import PdfReader

from domain import bills, customers
from domain.models import PaymentStatus
from tests.e2e_support import (
    Harness,
    activated_customer,
    harness,
    make_staff,
    running_bot,
    start_payment,
)
from tests.factories import give_credit, make_bill, office_payment

__all__ = ["harness"]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))


async def _payment_count(harness: Harness, bill_id: int) -> int:
    async with harness.admin_db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute("SELECT COUNT(*) FROM payments WHERE bill_id = %s", (bill_id,))
            row = await cur.fetchone()
            return int(row[0])


async def test_a_new_customer_activates_pays_in_two_parts_and_gets_both_receipts(
    harness: Harness,
) -> None:
    """Deep link → password twice → dashboard → bills → a part paid by card, the rest from
    account credit → PDFs."""
    harness = harness.with_config(payment_provider_token="TEST:provider-token")
    name = "Ngozi Ọkafọ́r & <Sons>"
    user = harness.server.user(5001, "Ngozi")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, full_name=name)
        # Both password messages were deleted from the chat.
        typed = [m for m in user.history() if not m.from_bot and m.text == "correct-horse-1"]
        assert len(typed) == 2 and all(m.deleted for m in typed)
        bill = await make_bill(harness.admin_db, customer, units="150", rate="68.5")
        assert bill.total_amount == Decimal("10275.00")

        await user.send("/dashboard")
        board = await user.wait_for_reply()
        assert name in board.body and "₦10,275.00" in board.body

        await user.send("/bills")
        listing = await user.wait_for_reply()
        assert "Sep 2026" in listing.body and "₦10,275.00" in listing.body

        # Partial payment with a typed amount, by card.
        await start_payment(user, "Another amount")
        await user.send("4,000.50")
        await user.wait_for_reply()
        await user.press("Card")
        await user.wait_until(lambda: bool(user.invoices()), timeout=10)
        assert (await user.pay_invoice()).ok
        await user.wait_for_reply(predicate=lambda m: m.document is not None)

        # The rest from account credit (money received earlier), after a confirm screen.
        await give_credit(harness.admin_db, bill, "7000.00")
        await start_payment(user, "Pay in full")
        await user.press("Account credit")
        confirm = await user.wait_for_edit()
        assert "₦6,274.50" in confirm.body and "₦0.00" in confirm.body
        await user.press("Confirm payment")
        await user.wait_for_reply(predicate=lambda m: m.document is not None)

        # /receipt lists both payments; the older one, sent again, is the same document.
        await user.send("/receipt")
        await user.wait_for_reply()
        assert len(user.buttons()) == 2
        await user.press(user.buttons()[1])
        await user.wait_for_reply(predicate=lambda m: m.document is not None)

    paid = await bills.get(harness.admin_db, bill.bill_id)
    assert paid.payment_status is PaymentStatus.PAID and paid.amount_paid == Decimal("10275.00")
    documents = user.documents()
    assert len(documents) == 3
    assert documents[2] == documents[0]  # re-sent later: same name, same bytes
    first, second = (pdf_text(data) for _, data in documents[:2])
    assert all(filename.startswith("receipt-EB-") for filename, _ in documents)
    assert name in first and "₦4,000.50" in first and "₦6,274.50" in first
    assert "Status Part-paid" in first
    assert name in second and "₦6,274.50" in second and "₦10,275.00" in second
    assert "Status Paid" in second and "₦0.00" in second


async def test_confirming_twice_and_a_redelivered_update_record_one_payment(
    harness: Harness,
) -> None:
    """Double tap on Confirm and the same update delivered again: one payment, one receipt
    document; each repeat is answered with a short notice naming the receipt, not a second
    PDF (issue 14 F)."""
    user = harness.server.user(5002, "Tunde")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-20002")
        bill = await make_bill(harness.admin_db, customer)
        await give_credit(harness.admin_db, bill, bill.total_amount)
        await start_payment(user, "Pay in full")
        await user.press("Account credit")
        await user.wait_for_edit()
        confirm_message = user.last_message()
        assert confirm_message is not None
        first_press = await user.press("Confirm payment", confirm_message)
        await user.press("Confirm payment", confirm_message)

        def repeats() -> int:
            return sum("Already recorded" in m.body for m in user.messages())

        await user.wait_until(lambda: repeats() >= 1, timeout=10)
        harness.server.queue_raw_update(first_press)
        await user.wait_until(lambda: repeats() >= 2, timeout=10)
        await asyncio.sleep(0.5)  # a second document would have arrived by now

    assert await _payment_count(harness, bill.bill_id) == 1
    assert len(user.documents()) == 1
    ((filename, _),) = user.documents()
    notices = [m.body for m in user.messages() if "Already recorded" in m.body]
    assert len(notices) == 2 and all(filename.removeprefix("receipt-")[:-4] in n for n in notices)


async def test_an_amount_in_another_currency_is_refused_and_nothing_is_paid(
    harness: Harness,
) -> None:
    """/pay → Another amount → 'USD 7', '$7', '€7', 'EUR 7': each is refused with a reply
    naming the currency taken (NGN, ₦), and the flow stays at the amount; '₦7' then goes on
    to the method. Nothing is recorded: the bill is untouched and has no payment."""
    user = harness.server.user(5008, "Dollar")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-20008")
        bill = await make_bill(harness.admin_db, customer)
        await start_payment(user, "Another amount")
        refusals = []
        for typed in ("USD 7", "$7", "€7", "EUR 7"):
            await user.send(typed)
            refusals.append((typed, (await user.wait_for_reply()).body))
        await user.send("₦7")
        accepted = await user.wait_for_reply()
        await user.send("/cancel")
        await user.wait_for_reply()
    for typed, body in refusals:
        assert "only take amounts in NGN (₦)" in body, (typed, body)
        assert "How will you pay" not in body
    assert "“USD” is not NGN" in refusals[0][1] and "“$” is not NGN" in refusals[1][1]
    assert "How will you pay" in accepted.body
    assert await _payment_count(harness, bill.bill_id) == 0
    after = await bills.get(harness.admin_db, bill.bill_id)
    assert after.amount_paid == 0 and after.payment_status is PaymentStatus.UNPAID


async def test_a_customer_cannot_see_pay_or_fetch_receipts_of_another_customer(
    harness: Harness,
) -> None:
    """Hand-made callback data naming another customer's bill or payment reveals nothing."""
    alice = harness.server.user(5003, "Alice")
    mallory = harness.server.user(5004, "Mallory")
    async with running_bot(harness):
        victim = await activated_customer(
            harness, alice, full_name="Alice Victim", meter_number="MTR-20003"
        )
        own_customer = await activated_customer(
            harness, mallory, full_name="Mallory", meter_number="MTR-20004"
        )
        bill = await make_bill(harness.admin_db, victim)
        own_bill = await make_bill(harness.admin_db, own_customer, units="10", rate="2")
        paid = await office_payment(harness.admin_db, bill, "10.00", key="victim-payment")
        await mallory.send("/pay")
        menu = await mallory.wait_for_reply()
        await mallory.press_data(menu.message_id, f"paybill:{bill.bill_id}")
        refused = await mallory.wait_for_event(kinds=("message", "edit"))
        await mallory.press_data(menu.message_id, f"rcpt:{paid.payment.payment_id}")
        not_found = await mallory.wait_for_reply()
        await mallory.send("/bills all")
        own = await mallory.wait_for_reply()
        await mallory.send("/receipt")
        receipts_list = await mallory.wait_for_reply()

    assert refused.message is not None and "could not be found" in refused.message.body
    assert "could not be found" in not_found.body
    assert mallory.documents() == []
    everything = "\n".join(m.body for m in mallory.messages())
    assert "Alice" not in everything and "MTR-20003" not in everything
    assert "₦20.00" in own.body and "₦123.45" not in own.body
    assert "no payments" in receipts_list.body.lower()
    assert (await bills.get(harness.admin_db, own_bill.bill_id)).amount_paid == 0
    assert await _payment_count(harness, bill.bill_id) == 1


async def test_five_wrong_passwords_lock_login_even_for_the_right_password(
    harness: Harness,
) -> None:
    """Throttling: the sixth attempt is refused although the password is right."""
    user = harness.server.user(5005, "Guesser")
    customer = await customers.add_customer(
        harness.admin_db, meter_number="MTR-20005", full_name="Guessed", address="1 Road"
    )
    await customers.set_password(harness.admin_db, customer.customer_id, "right-password-1")
    async with running_bot(harness):
        for attempt in range(6):
            await user.send("/login")
            await user.wait_for_reply()
            await user.send("MTR-20005")
            await user.wait_for_reply()
            await user.send("right-password-1" if attempt == 5 else f"wrong-{attempt}")
            answer = await user.wait_for_reply()
            if attempt < 5:
                assert "do not match" in answer.body
        # Said once, with the wait: not "… minute(s) and try again.\nSend /login to try again."
        assert answer.body == "Too many wrong attempts. Send /login again in about 15 minutes."
    typed = [m for m in user.history() if not m.from_bot and m.text and "password" in m.text]
    assert typed and all(m.deleted for m in typed)
    wrong = [m for m in user.history() if not m.from_bot and m.text and m.text.startswith("wrong")]
    assert len(wrong) == 5 and all(m.deleted for m in wrong)
    assert await customers.find_by_telegram(harness.admin_db, user.id) is None


async def test_a_payment_conversation_continues_after_the_bot_restarts(
    harness: Harness,
) -> None:
    """Stop the application mid-flow and start it again: the flow goes on where it was."""
    user = harness.server.user(5006, "Restart")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-20006")
        bill = await make_bill(harness.admin_db, customer)
        await give_credit(harness.admin_db, bill, "20.00")
        await start_payment(user, "Another amount")
    async with running_bot(harness):
        await user.send("12.34")
        await user.wait_for_reply()
        await user.press("Account credit")
        await user.wait_for_edit()
        await user.press("Confirm payment")
        await user.wait_for_reply(predicate=lambda m: m.document is not None)
    after = await bills.get(harness.admin_db, bill.bill_id)
    assert after.amount_paid == Decimal("12.34")
    assert after.payment_status is PaymentStatus.PARTIAL


async def test_a_stranger_is_told_how_to_link_instead_of_silence(harness: Harness) -> None:
    """An unlinked person asking for their bills gets a short explanation."""
    user = harness.server.user(5007, "Stranger")
    async with running_bot(harness):
        await user.send("/dashboard")
        answer = await user.wait_for_reply()
        await user.send("/customers")
        unknown = await user.wait_for_reply()
    assert "not linked" in answer.body and "/login" in answer.body
    assert "don't know that command" in unknown.body


async def test_an_overdue_bill_is_flagged_where_it_is_paid(harness: Harness) -> None:
    """Issue 14 F: overdue bills were not flagged. /pay's bill list and the bill's screen say
    "overdue" for a bill past its due date with money owed, and not for one still in time;
    so does the office's /recordpayment bill picker."""
    user = harness.server.user(5031, "Late")
    clerk = harness.server.user(8031, "Clerk")
    await make_staff(harness, clerk.id)
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-20031")
        await make_bill(harness.admin_db, customer, due_date=date(2026, 10, 14))
        await make_bill(
            harness.admin_db, customer, month=date(2099, 1, 1), due_date=date(2099, 2, 14)
        )
        await user.send("/pay")
        labels = (await user.wait_for_reply()).button_labels  # the message is edited next
        await user.press("Sep 2026")
        screen = await user.wait_for_edit()
        await clerk.send("/recordpayment MTR-20031")
        picker = await clerk.wait_for_reply()
    assert any("Sep 2026" in b and "overdue" in b for b in labels), labels
    assert any("Jan 2099" in b and "overdue" not in b for b in labels), labels
    assert "14 Oct 2026 (overdue)" in screen.body
    office = picker.button_labels
    assert any("Sep 2026" in b and "overdue" in b for b in office), office
    assert any("Jan 2099" in b and "overdue" not in b for b in office), office
