"""The bot's daily check of the report totals, end to end (issue 14): the real Application,
its job queue, the fake Bot API server and the real MariaDB."""

from __future__ import annotations

from datetime import date

import pymysql
import pytest

from domain import admins, audit, report_totals
from fake_telegram import ChatMessage, FakeUser
from handlers.notifications import RECOUNT_JOB, RECOUNT_TIME
from tests.e2e_support import Harness, harness, running_bot
from tests.factories import load_bill_past_the_triggers, make_bill, make_customer

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8401
VIEWER_ID = 8402


async def say(user: FakeUser, text: str) -> ChatMessage:
    """Send text; return the bot's next message."""
    await user.send(text)
    return await user.wait_for_reply()


async def test_the_daily_check_repairs_a_bill_loaded_past_the_triggers_and_tells_staff(
    harness: Harness, admin_conn: pymysql.connections.Connection
) -> None:
    """Issue 14's screen: /outstanding says ₦181.98 on 4 bills while the tables hold a fifth
    bill of ₦100.00, loaded with the triggers set aside. The daily check repairs it, writes
    the audit entry and tells the admin who turned notifications on (not the viewer who did
    not); /outstanding then says ₦281.98 on 5 bills. Run again, it finds nothing and says
    nothing."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    viewer_user = harness.server.user(VIEWER_ID, "Vee")
    for telegram_user_id, role in ((ADMIN_ID, "admin"), (VIEWER_ID, "viewer")):
        await admins.create_admin(
            harness.admin_db,
            admin_name=f"Staff {telegram_user_id}",
            email=f"staff{telegram_user_id}@utility.example",
            password="a-long-staff-password",
            role=role,
            telegram_user_id=telegram_user_id,
        )
    customer = await make_customer(harness.admin_db, meter_number="MTR-14001")
    for month, units in ((8, "50.00"), (9, "40.00"), (10, "60.00"), (11, "31.98")):
        await make_bill(
            harness.admin_db, customer, month=date(2026, month, 1), units=units, rate="1"
        )
    async with running_bot(harness) as application:
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(RECOUNT_JOB)
        assert job.next_t is not None
        local = job.next_t.astimezone(harness.config.timezone)
        assert (local.hour, local.minute) == (RECOUNT_TIME.hour, RECOUNT_TIME.minute)

        assert "now on" in (await say(admin_user, "/notify on")).body
        load_bill_past_the_triggers(admin_conn, customer, "2026-12-01", "100.00")
        assert "Total: ₦181.98 on 4 bills" in (await say(admin_user, "/outstanding")).body

        await job.run(application)
        notice = await admin_user.wait_for_reply()
        assert "Report totals repaired" in notice.body, notice.body
        assert "/outstanding +₦100.00, +1 open bill" in notice.body, notice.body
        assert "/trend billed +₦100.00 on +1 bill, collected ₦0.00 (Dec 2026)" in notice.body
        assert "1 customer balance" in notice.body and "/revenue" not in notice.body
        assert "Total: ₦281.98 on 5 bills" in (await say(admin_user, "/outstanding")).body
        log = await say(admin_user, "/audit")
        assert "Report totals repaired" in log.body and "#daily check" in log.body, log.body
        assert "by the system" in log.body and "totals.recount" not in log.body

        await job.run(application)
        await admin_user.expect_no_reply(0.3)
    assert viewer_user.messages() == []
    assert await report_totals.differences(harness.admin_db) == []
    entries = await audit.entries(harness.admin_db)
    assert [e.entity_id for e in entries if e.action == "totals.recount"] == ["daily check"]
