"""What customers and clerks read about bills (issue 14, item F), end to end over the fake
Bot API on the real MariaDB: units and rate on /bills, overdue bills flagged, filters that
name what they show, one label per status and one month format, and a month or correction
that cannot be saved said at once rather than offered.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from domain import admins, bills
from domain.models import Admin, Bill, Customer
from domain.reports import month_add
from fake_telegram import ChatMessage, FakeUser
from tests.e2e_support import Harness, activated_customer, harness, running_bot
from tests.factories import make_bill, make_customer, office_payment

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8301
CUSTOMER_ID = 8401


async def make_admin(harness: Harness, telegram_user_id: int = ADMIN_ID) -> Admin:
    return await admins.create_admin(
        harness.admin_db,
        admin_name=f"Clerk {telegram_user_id}",
        email=f"clerk{telegram_user_id}@utility.example",
        password="a-long-clerk-password",
        telegram_user_id=telegram_user_id,
    )


async def say(user: FakeUser, text: str) -> ChatMessage:
    """Send text; return the bot's next message."""
    await user.send(text)
    return await user.wait_for_reply()


async def tap(user: FakeUser, label: str) -> ChatMessage:
    """Press a button; return the message the bot edited or sent in answer."""
    await user.press(label)
    event = await user.wait_for_event(kinds=("message", "edit"))
    assert event.message is not None
    return event.message


def today_in(harness: Harness) -> date:
    return datetime.now(harness.config.timezone).date()


async def three_bills(harness: Harness, customer: Customer) -> tuple[Bill, Bill, Bill]:
    """An overdue part-paid bill (Jul), an unpaid one not yet due (this month) and a paid one
    (Jun), dated from today so the test means the same on any day."""
    today = today_in(harness)
    this_month = today.replace(day=1)
    late = await make_bill(
        harness.admin_db,
        customer,
        month=month_add(this_month, -5),
        units="150",
        rate="68.5",
        due_date=today - timedelta(days=20),
    )
    await office_payment(harness.admin_db, late, "275.00", key=f"late-{customer.customer_id}")
    fresh = await make_bill(
        harness.admin_db,
        customer,
        month=this_month,
        units="40",
        rate="70.25",
        due_date=today + timedelta(days=20),
    )
    paid = await make_bill(
        harness.admin_db, customer, month=month_add(this_month, -6), units="10", rate="10"
    )
    await office_payment(harness.admin_db, paid, "100.00", key=f"paid-{customer.customer_id}")
    return late, fresh, paid


def blocks(message: ChatMessage) -> list[str]:
    return message.body.split("\n\n")


# --------------------------------------------------------------------------- customers


async def test_customer_bills_show_units_rate_and_flag_the_overdue_bill(harness: Harness) -> None:
    """/bills: each bill's units and rate beside its total, balance and status; the bill past
    its due date is flagged; part-paid is owed, so it is listed by default."""
    user = harness.server.user(CUSTOMER_ID, "Ada")
    async with running_bot(harness):
        customer = await activated_customer(harness, user)
        late, fresh, _ = await three_bills(harness, customer)
        listing = await say(user, "/bills")
    late_block, fresh_block = blocks(listing)[1:3]
    assert f"{late.billing_month:%b %Y}" in late_block
    assert "150 units × ₦68.50 = ₦10,275.00" in late_block
    assert "Part-paid" in late_block and "Balance ₦10,000.00" in late_block
    assert "overdue" in late_block
    assert "40 units × ₦70.25 = ₦2,810.00" in fresh_block and "Unpaid" in fresh_block
    assert "overdue" not in fresh_block
    assert f"due {fresh.due_date:%d %b %Y}" in fresh_block
    assert "owe" in blocks(listing)[0]  # the title names what is listed


async def test_customer_dashboard_says_what_is_overdue_instead_of_a_past_next_due_date(
    harness: Harness,
) -> None:
    user = harness.server.user(CUSTOMER_ID, "Ada")
    async with running_bot(harness):
        customer = await activated_customer(harness, user)
        late, _, _ = await three_bills(harness, customer)
        board = await say(user, "/dashboard")
    assert f"Overdue: ₦10,000.00 since {late.due_date:%d %b %Y} (1 bill)" in board.body
    assert "Next due date" not in board.body  # a date in the past is not "next"


async def test_customer_filters_name_what_they_list(harness: Harness) -> None:
    """/bills unpaid leaves the part-paid bill out and says so; /bills partial and the status
    label find it; /bills all adds the paid one."""
    user = harness.server.user(CUSTOMER_ID, "Ada")
    async with running_bot(harness):
        customer = await activated_customer(harness, user)
        late, fresh, paid = await three_bills(harness, customer)
        unpaid = await say(user, "/bills unpaid")
        partial = await say(user, "/bills part-paid")
        everything = await say(user, "/bills all")
        nonsense = await say(user, "/bills soon")

    def months(message: ChatMessage) -> list[str]:
        return re.findall(r"^[A-Z][a-z]{2} \d{4}", message.body, flags=re.MULTILINE)

    assert "nothing paid yet" in unpaid.body
    assert months(unpaid) == [f"{fresh.billing_month:%b %Y}"]
    assert months(partial) == [f"{late.billing_month:%b %Y}"]
    assert f"{paid.billing_month:%b %Y}" in everything.body and len(months(everything)) == 3
    assert "owed, unpaid, partial, paid or all" in nonsense.body


# --------------------------------------------------------------------------- staff


async def test_staff_bills_list_everything_owed_by_default_and_flag_overdue_bills(
    harness: Harness,
) -> None:
    """/bills: unpaid and part-paid (money owed), not paid; /bills unpaid says it leaves
    part-paid bills out; old words still work; statuses and months read one way."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness)
    customer = await make_customer(harness.admin_db, meter_number="MTR-83001")
    late, fresh, paid = await three_bills(harness, customer)
    async with running_bot(harness):
        owed = await say(admin_user, "/bills")
        unpaid = await say(admin_user, "/bills unpaid")
        partial = await say(admin_user, "/bills partial")
        everything = await say(admin_user, "/bills all")

    def ids(message: ChatMessage) -> set[int]:
        return {int(n) for n in re.findall(r"^(?:<b>)?Bill: (\d+)", message.body, re.MULTILINE)}

    assert ids(owed) == {late.bill_id, fresh.bill_id}
    assert "owed" in owed.body.splitlines()[0]
    assert ids(unpaid) == {fresh.bill_id} and "nothing paid yet" in unpaid.body
    assert ids(partial) == {late.bill_id}
    assert ids(everything) == {late.bill_id, fresh.bill_id, paid.bill_id}
    assert f"Due: {late.due_date:%d %b %Y} (overdue)" in owed.body
    assert f"Due: {fresh.due_date:%d %b %Y}\n" in owed.body
    assert "Status: Part-paid" in owed.body and "partial" not in owed.body
    assert f"Month: {late.billing_month:%b %Y}" in owed.body
    assert not re.search(r"\b\d{4}-\d{2}\b(?!-)", everything.body)


async def test_pending_and_the_customer_card_flag_overdue_bills(harness: Harness) -> None:
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness)
    customer = await make_customer(harness.admin_db, meter_number="MTR-83002")
    late, fresh, _ = await three_bills(harness, customer)
    async with running_bot(harness):
        pending = await say(admin_user, "/pending MTR-83002")
        card = await say(admin_user, "/customer MTR-83002")
    assert "Overdue: ₦10,000.00 on 1 bill" in pending.body
    assert f"{late.due_date:%d %b %Y} (overdue)" in pending.body
    assert f"{fresh.due_date:%d %b %Y} (overdue)" not in pending.body
    assert f"Record payment · {late.billing_month:%b %Y}" in " ".join(pending.button_labels)
    assert "Overdue: ₦10,000.00 on 1 bill" in card.body
    assert "Part-paid!" in card.body and "! overdue" in card.body


async def test_newbill_says_a_month_is_taken_as_soon_as_it_is_typed(harness: Harness) -> None:
    """The month already billed is refused at the month step, before units and rate; a bill
    for a month long past falls due counted from today, not before it is issued."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness)
    customer = await make_customer(harness.admin_db, meter_number="MTR-83003")
    taken = await make_bill(harness.admin_db, customer, month=date(2026, 3, 1))
    today = today_in(harness)
    async with running_bot(harness):
        await say(admin_user, "/newbill MTR-83003")
        refused = await say(admin_user, "2026-03")
        asked = await say(admin_user, "2025-11")
        await say(admin_user, "100")
        confirm = await tap(admin_user, "Default tariff")
        issued = await tap(admin_user, "Issue bill")
    assert "already has a bill for Mar 2026" in refused.body
    assert f"/editbill {taken.bill_id}" in refused.body
    assert "How many units" in asked.body and "Nov 2025" in asked.body
    due = today + timedelta(days=harness.config.due_days)
    assert f"Due {due:%d %b %Y}" in confirm.body
    assert "Bill issued" in issued.body
    stored = await bills.bill_for_month(harness.admin_db, customer.customer_id, date(2025, 11, 1))
    assert stored is not None and stored.due_date == due


async def test_editbill_offers_no_save_that_would_be_refused(harness: Harness) -> None:
    """A total below what is paid, or a month the customer already has a bill for: said at
    once, with no Save button; another value can be sent straight away."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness)
    customer = await make_customer(harness.admin_db, meter_number="MTR-83004")
    bill = await make_bill(harness.admin_db, customer, month=date(2026, 9, 1), rate="68.5")
    other = await make_bill(harness.admin_db, customer, month=date(2026, 10, 1))
    await office_payment(harness.admin_db, bill, "5000", key="editbill-none")
    async with running_bot(harness):
        await say(admin_user, f"/editbill {bill.bill_id}")
        await tap(admin_user, "Units")
        too_small = await say(admin_user, "10")
        fixed = await say(admin_user, "80")
        offered = (fixed.body, fixed.button_labels)  # before Save edits the message
        saved = await tap(admin_user, "Save correction")
        await say(admin_user, f"/editbill {bill.bill_id}")
        await tap(admin_user, "Month")
        clash = await say(admin_user, "2026-10")
    assert "cannot be saved" in too_small.body and "₦5,000.00" in too_small.body
    assert not any("Save" in label for label in too_small.button_labels)
    assert "✅ Save correction" in offered[1] and "₦5,480.00" in offered[0]
    assert "Bill corrected" in saved.body
    assert f"bill #{other.bill_id} for Oct 2026" in clash.body and "cannot be saved" in clash.body
    assert not any("Save" in label for label in clash.button_labels)
    assert (await bills.get(harness.admin_db, bill.bill_id)).billing_month == date(2026, 9, 1)
