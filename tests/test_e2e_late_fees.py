"""Late fees end to end (issue 15 §4): the bot's daily late-fee job charges an overdue bill
its tariff's fee once and tells the customer; a second run adds none; staff /waive it, with a
reason, and the customer is told. Over HTTP to the fake Bot API, on the real MariaDB."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from domain import bills, report_totals
from fake_telegram import ChatMessage, FakeUser
from handlers.notifications import LATE_FEE_JOB
from tests.e2e_support import Harness, activated_customer, harness, make_staff, running_bot
from tests.factories import fetch_dicts, make_customer, office_payment
from tests.late_fee_support import assign_tariff, make_tariff

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8301
VIEWER_ID = 8302
CUSTOMER_ID = 8401


async def say(user: FakeUser, text: str) -> ChatMessage:
    await user.send(text)
    return await user.wait_for_reply()


async def tap(user: FakeUser, label: str) -> ChatMessage:
    await user.press(label)
    event = await user.wait_for_event(kinds=("message", "edit"))
    assert event.message is not None
    return event.message


async def fee_lines(harness: Harness) -> list[dict[str, object]]:
    return await fetch_dicts(
        harness.admin_db, "SELECT bill_id, kind, amount FROM bill_lines WHERE kind <> 'energy'"
    )


async def test_the_late_fee_job_charges_once_tells_the_customer_and_a_waiver_removes_it(
    harness: Harness,
) -> None:
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    viewer_user = harness.server.user(VIEWER_ID, "Vic")
    customer_user = harness.server.user(CUSTOMER_ID, "Ada")
    await make_staff(harness, ADMIN_ID)
    await make_staff(harness, VIEWER_ID, role="viewer")
    tariff_id, tariff = await make_tariff(
        harness.admin_db, late_fee_percent="10", late_fee_cap="500.00", grace_days=2
    )
    today = datetime.now(harness.config.timezone).date()
    async with running_bot(harness) as application:
        customer = await activated_customer(harness, customer_user)
        await assign_tariff(harness.admin_db, customer, tariff_id)
        overdue = await bills.create_bill(
            harness.admin_db,
            customer_id=customer.customer_id,
            billing_month=date(2026, 1, 1),
            units_used=Decimal("600"),
            rate_per_unit=Decimal("1"),
            due_date=today - timedelta(days=3),
            tariff=tariff,
        )
        assert overdue.total_amount == Decimal("1200.00")  # 600 kWh at 2.0000
        in_grace = await bills.create_bill(
            harness.admin_db,
            customer_id=customer.customer_id,
            billing_month=date(2026, 2, 1),
            units_used=Decimal("100"),
            rate_per_unit=Decimal("1"),
            due_date=today - timedelta(days=2),
            tariff=tariff,
        )
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(LATE_FEE_JOB)

        await job.run(application)
        told = await customer_user.wait_for_reply(predicate=lambda m: "Late fee" in m.body)
        assert "Jan 2026" in told.body and "₦120.00" in told.body  # 10 % of ₦1,200.00
        assert "₦1,320.00" in told.body and "💳 Pay now" in told.button_labels
        assert await fee_lines(harness) == [
            {"bill_id": overdue.bill_id, "kind": "late_fee", "amount": Decimal("120.00")}
        ]

        await job.run(application)  # the same day again: nothing more, no second notice
        await customer_user.expect_no_reply(0.3)
        assert len(await fee_lines(harness)) == 1
        assert (await bills.get(harness.admin_db, overdue.bill_id)).total_amount == Decimal(
            "1320.00"
        )

        # A viewer may not waive; a bill without a fee has nothing to waive.
        refused = await say(viewer_user, f"/waive {overdue.bill_id}")
        assert "cannot change anything" in refused.body
        nothing = await say(admin_user, f"/waive {in_grace.bill_id}")
        assert "no late fee" in nothing.body
        assert "Send /waive" in (await say(admin_user, "/waive")).body

        shown = await say(admin_user, f"/waive #{overdue.bill_id}")
        assert "₦120.00" in shown.body and "Late fees" in shown.body
        asked = await admin_user.wait_for_reply(predicate=lambda m: "reason" in m.body)
        assert "₦120.00" in asked.body
        confirm = await say(admin_user, "First <late> payment")
        assert "First &lt;late&gt; payment" not in confirm.body  # shown as typed, escaped
        assert "First <late> payment" in confirm.body
        done = await tap(admin_user, "✅ Waive fee")
        assert "waived" in done.body and "₦1,200.00" in done.body
        waived = await customer_user.wait_for_reply(predicate=lambda m: "waived" in m.body)
        assert "₦120.00" in waived.body and "First <late> payment" in waived.body
        assert "₦1,200.00" in waived.body

        again = await say(admin_user, f"/waive {overdue.bill_id}")
        assert "already waived" in again.body
        log = await say(admin_user, f"/audit {overdue.bill_id}")
        assert "Late fee charged" in log.body and "Late fee waived" in log.body

    bill = await bills.get(harness.admin_db, overdue.bill_id)
    assert bill.total_amount == Decimal("1200.00")
    assert [line["kind"] for line in await fee_lines(harness)] == ["late_fee", "waiver"]
    assert await report_totals.differences(harness.admin_db) == []
    assert await harness.admin_db.fetch_all("lines_drift") == []


async def test_a_waiver_below_what_is_paid_is_refused_and_changes_nothing(
    harness: Harness,
) -> None:
    """The bill paid in full, fee included: without the fee it would be below what was paid,
    so the waiver is refused with the amount, and the bill keeps its fee."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_staff(harness, ADMIN_ID)
    tariff_id, tariff = await make_tariff(harness.admin_db, late_fee_fixed="50.00")
    customer = await make_customer(harness.admin_db)
    await assign_tariff(harness.admin_db, customer, tariff_id)
    today = datetime.now(harness.config.timezone).date()
    bill = await bills.create_bill(
        harness.admin_db,
        customer_id=customer.customer_id,
        billing_month=date(2026, 1, 1),
        units_used=Decimal("100"),
        rate_per_unit=Decimal("1"),
        due_date=today - timedelta(days=5),
        tariff=tariff,
    )
    async with running_bot(harness) as application:
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(LATE_FEE_JOB)
        await job.run(application)
        fined = await bills.get(harness.admin_db, bill.bill_id)
        assert fined.total_amount == Decimal("250.00")
        await office_payment(harness.admin_db, fined, fined.total_amount)
        await say(admin_user, f"/waive {bill.bill_id}")
        await admin_user.wait_for_reply(predicate=lambda m: "reason" in m.body)
        await say(admin_user, "goodwill")
        refused = await tap(admin_user, "✅ Waive fee")
        assert "Not waived" in refused.body and "₦250.00" in refused.body
    assert (await bills.get(harness.admin_db, bill.bill_id)).total_amount == Decimal("250.00")
    assert [line["kind"] for line in await fee_lines(harness)] == ["late_fee"]
    assert await report_totals.differences(harness.admin_db) == []
