"""Meter readings end to end (issue 15): over real HTTP to the fake Bot API server, on the real
MariaDB — staff type a reading with /reading <meter> and see its units before saving; a
customer sends /reading with a photo of the meter, staff see it in /readings and accept or
correct it, and the customer is told; a readings CSV goes through /importbills.
"""

from __future__ import annotations

import asyncio
import logging
import re
import struct
from datetime import date, datetime
from decimal import Decimal

import pytest

from domain import readings
from domain.models import Customer
from domain.readings import ReadingSource, ReadingStatus
from fake_telegram import ChatMessage, FakeUser
from handlers.admin_gate import STALE_BUTTON
from handlers.common import month_label
from tests.e2e_support import Harness, activated_customer, harness, make_staff, running_bot
from tests.factories import make_bill, make_customer
from tests.test_security_hostile_input import CORPUS, ErrorLog

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8501
CUSTOMER_ID = 8511
# A camera's photo as the fake server takes it: a PNG header saying 640×480.
METER_PHOTO = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 640, 480) + b"\0" * 64


def this_month(harness: Harness) -> date:
    return datetime.now(harness.config.timezone).date().replace(day=1)


def month_before(month: date, back: int = 1) -> date:
    index = month.year * 12 + month.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


async def say(user: FakeUser, text: str) -> ChatMessage:
    await user.send(text)
    return await user.wait_for_reply()


async def tap(user: FakeUser, label: str, message: ChatMessage | None = None) -> ChatMessage:
    """Press a button; return the message the bot edited or sent in answer."""
    await user.press(label, message)
    event = await user.wait_for_event(kinds=("message", "edit"))
    assert event.message is not None
    return event.message


async def record(harness: Harness, customer: Customer, month: date, value: str) -> None:
    await readings.record(
        harness.admin_db,
        customer_id=customer.customer_id,
        billing_month=month,
        reading=Decimal(value),
        admin_id=None,
        current_month=this_month(harness),
    )


async def test_staff_enter_a_reading_in_the_chat_and_see_its_units(harness: Harness) -> None:
    """/reading <meter>: the last readings, a refusal that shows both figures (nothing
    saved), a billed month refused, then the units shown and the reading saved on Save."""
    staff = harness.server.user(ADMIN_ID, "Olu")
    admin = await make_staff(harness, ADMIN_ID)
    customer = await make_customer(harness.admin_db, meter_number="MTR-30001")
    now = this_month(harness)
    last, billed = month_before(now), month_before(now, 2)
    await record(harness, customer, billed, "11500")
    await make_bill(harness.admin_db, customer, month=billed)
    await record(harness, customer, last, "12000")
    async with running_bot(harness):
        shown = await say(staff, "/reading mtr-30001")
        assert "MTR-30001" in shown.body
        assert f"{month_label(last)}: 12000 (staff)" in shown.body, shown.body
        assert f"reading for {month_label(now)}" in shown.body

        lower = await say(staff, "11000")
        assert "11000 is lower than the previous reading, 12000" in lower.body, lower.body
        assert await readings.reading_of_month(harness.admin_db, customer.customer_id, now) is None

        billed_answer = await say(staff, f"{billed:%Y-%m} 11600")
        assert "already billed" in billed_answer.body and "/editbill" in billed_answer.body

        confirm = await say(staff, "12,345")
        assert "Units: 345 kWh" in confirm.body, confirm.body
        assert "Previous reading: 12000" in confirm.body
        saved = await tap(staff, "Save", confirm)
        assert "Saved" in saved.body and "345 kWh" in saved.body, saved.body
        log = await say(staff, "/audit MTR-30001")
        assert "Meter reading recorded" in log.body and "12345" in log.body, log.body
    stored = await readings.reading_of_month(harness.admin_db, customer.customer_id, now)
    assert stored is not None and stored.reading == Decimal("12345")
    assert (stored.source, stored.status) == (ReadingSource.STAFF, ReadingStatus.ACCEPTED)
    assert stored.entered_by_admin_id == admin.admin_id
    made = await readings.units(harness.admin_db, customer.customer_id, now)
    assert made.units == Decimal("345")


async def test_a_customer_s_reading_with_a_photo_is_accepted_by_staff(harness: Harness) -> None:
    """The customer types the number and sends a photo; it waits, pending, until staff (who
    can see the photo) accept it; a forged Accept from the customer's own chat does nothing;
    the customer is told."""
    staff = harness.server.user(ADMIN_ID, "Olu")
    customer_user = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, ADMIN_ID)
    now = this_month(harness)
    async with running_bot(harness):
        customer = await activated_customer(harness, customer_user, meter_number="MTR-30002")
        await record(harness, customer, month_before(now), "12000")

        asked = await say(customer_user, "/reading")
        assert f"Meter reading for {month_label(now)}" in asked.body
        assert "Your last reading: 12000" in asked.body, asked.body
        units = await say(customer_user, "12200")
        assert "200 kWh" in units.body, units.body
        await customer_user.send_photo(METER_PHOTO)
        thanks = await customer_user.wait_for_reply()
        assert "Thank you" in thanks.body and "with its photo" in thanks.body, thanks.body

        sent = await readings.reading_of_month(harness.customer_db, customer.customer_id, now)
        assert sent is not None and sent.status is ReadingStatus.PENDING
        assert sent.source is ReadingSource.CUSTOMER and sent.photo_file_id
        again = await say(customer_user, "/reading")
        assert "our staff are checking it" in again.body

        listed = await say(staff, "/readings")
        assert f"#{sent.reading_id}" in listed.body and "200 kWh since 12000" in listed.body
        await staff.press(f"Photo #{sent.reading_id}", listed)
        photo = await staff.wait_for_reply(predicate=lambda m: m.photo is not None)
        assert photo.photo is not None and photo.photo.data == METER_PHOTO
        assert "MTR-30002" in photo.body

        # The customer forges the Accept button's data in their own chat: refused.
        await customer_user.press_data(thanks.message_id, f"ardok:{sent.reading_id}")
        assert (await customer_user.wait_for_answer()).text == STALE_BUTTON
        pending = await readings.get(harness.admin_db, sent.reading_id)
        assert pending.status is ReadingStatus.PENDING

        accepted = await tap(staff, f"✅ #{sent.reading_id}", listed)
        assert "accepted" in accepted.body and "The customer was told." in accepted.body
        told = await customer_user.wait_for_reply(predicate=lambda m: "accepted" in m.body)
        assert "12200" in told.body and month_label(now) in told.body
    stored = await readings.get(harness.admin_db, sent.reading_id)
    assert stored.status is ReadingStatus.ACCEPTED and stored.reading == Decimal("12200")
    assert stored.photo_file_id == sent.photo_file_id


async def test_staff_correct_a_customer_s_reading_and_the_customer_is_told(
    harness: Harness,
) -> None:
    staff = harness.server.user(ADMIN_ID, "Olu")
    customer_user = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, ADMIN_ID)
    now = this_month(harness)
    async with running_bot(harness):
        customer = await activated_customer(harness, customer_user, meter_number="MTR-30003")
        await record(harness, customer, month_before(now), "12000")
        await say(customer_user, "/reading")
        await say(customer_user, "12900")
        thanks = await tap(customer_user, "Send without a photo")
        assert "Thank you" in thanks.body and "photo" not in thanks.body

        listed = await say(staff, "/readings")
        sent = await readings.reading_of_month(harness.admin_db, customer.customer_id, now)
        assert sent is not None
        asked = await tap(staff, f"✏️ #{sent.reading_id}", listed)
        assert "The customer sent 12900" in asked.body, asked.body
        lower = await say(staff, "11000")
        assert "lower than the previous reading, 12000" in lower.body
        saved = await say(staff, "12090")
        assert "saved as 12090" in saved.body and "the customer sent 12900" in saved.body
        told = await customer_user.wait_for_reply(predicate=lambda m: "corrected" in m.body)
        assert "12090" in told.body and "you sent 12900" in told.body
    stored = await readings.get(harness.admin_db, sent.reading_id)
    assert (stored.status, stored.reading, stored.submitted_reading) == (
        ReadingStatus.ACCEPTED,
        Decimal("12090"),
        Decimal("12900"),
    )


async def test_a_readings_csv_goes_through_importbills(harness: Harness) -> None:
    """A meter_number,billing_month,reading file: a bad line refuses the whole file (errors by
    line, nothing written); the fixed file records every reading."""
    staff = harness.server.user(ADMIN_ID, "Olu")
    await make_staff(harness, ADMIN_ID)
    now = this_month(harness)
    last = month_before(now)
    first = await make_customer(harness.admin_db, meter_number="MTR-30011")
    second = await make_customer(harness.admin_db, meter_number="MTR-30012")
    await record(harness, first, month_before(now, 2), "5000")
    header = "meter_number,billing_month,reading\n"
    bad = (
        f"{header}MTR-30011,{last:%Y-%m},5100\n"
        f"MTR-30011,{now:%Y-%m},4000\n"
        f"MTR-39999,{now:%Y-%m},1\n"
    )
    good = (
        f"{header}MTR-30011,{last:%Y-%m},5100\n"
        f"MTR-30011,{now:%Y-%m},5250\n"
        f"MTR-30012,{now:%Y-%m},777\n"
    )
    async with running_bot(harness):
        intro = await say(staff, "/importbills")
        assert "meter_number,billing_month,reading" in intro.body
        await staff.upload("readings.csv", bad.encode())
        errors = await staff.wait_for_reply(timeout=20)
        assert re.findall(r"Line (\d+):", errors.body) == ["3", "4"], errors.body
        assert "lower than the previous reading 5100" in errors.body
        assert await readings.recent(harness.admin_db, second.customer_id) == []
        assert len(await readings.recent(harness.admin_db, first.customer_id)) == 1

        await staff.upload("readings.csv", good.encode())
        done = await staff.wait_for_reply(timeout=20)
        assert "Recorded 3 meter readings" in done.body, done.body
        assert "250 kWh in all" in done.body and "1 first reading" in done.body
    assert (await readings.units(harness.admin_db, first.customer_id, now)).units == Decimal("150")
    kept = await readings.reading_of_month(harness.admin_db, second.customer_id, now)
    assert kept is not None and kept.source is ReadingSource.IMPORT


async def test_hostile_input_at_the_reading_prompts_gets_a_reply_and_changes_nothing(
    harness: Harness,
) -> None:
    """Every input of the hostile corpus, typed where staff and a customer type a reading:
    each gets a non-empty reply (HTML-looking text escaped), nothing is logged as an error,
    and no reading is written (a figure that would do is shown for Save, never saved)."""
    staff = harness.server.user(ADMIN_ID, "Olu")
    customer_user = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, ADMIN_ID)
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)

    async def type_all(user: FakeUser, start: str, advanced: str) -> list[str]:
        await say(user, start)
        bodies = []
        for text in CORPUS:
            answer = await say(user, text)
            bodies.append(answer.body)
            if advanced in answer.body:
                await say(user, start)
        return bodies

    try:
        async with running_bot(harness):
            customer = await activated_customer(harness, customer_user, meter_number="MTR-30021")
            await record(harness, customer, month_before(this_month(harness)), "12000")
            staff_bodies, customer_bodies = await asyncio.gather(
                type_all(staff, "/reading MTR-30021", "Save it?"),
                type_all(customer_user, "/reading", "Send a photo"),
            )
    finally:
        logging.getLogger().removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records[:5]]
    assert all(body.strip() for body in staff_bodies + customer_bodies)
    assert any("Type the reading again" in body for body in staff_bodies)
    assert any("Type the reading again" in body for body in customer_bodies)
    assert len(await readings.recent(harness.admin_db, customer.customer_id)) == 1
