"""/billrun end to end over the fake Bot API: staff enter readings (by SQL here; /reading is
another part's), an admin runs the month, the bill has the three-band tariff's lines and
total, the progress and summary edit one message, and the customer is told of the bill."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from domain import ledger
from domain.db import Database
from fake_telegram import ChatMessage, FakeUser
from tests.billrun_support import enter_reading, make_tariff, put_on_tariff
from tests.e2e_support import Harness, activated_customer, harness, make_staff, running_bot
from tests.factories import fetch_dicts, make_bill, make_customer
from tests.test_domain_billrun import OCT, THREE_BANDS, bill_of, run

__all__ = ["harness"]

ADMIN_ID = 8101
VIEWER_ID = 8102
CUSTOMER_ID = 7101
AUG, SEP = date(2026, 8, 1), date(2026, 9, 1)


async def say(user: FakeUser, text: str) -> ChatMessage:
    await user.send(text)
    return await user.wait_for_reply()


async def bills_of_month(db: Database) -> list[dict[str, object]]:
    return await fetch_dicts(db, "SELECT * FROM bills WHERE billing_month = %s", SEP)


async def test_billrun_issues_the_three_band_bill_and_tells_the_customer(
    harness: Harness,
) -> None:
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    customer_user = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, ADMIN_ID)
    tariff = await make_tariff(harness.admin_db, THREE_BANDS)
    async with running_bot(harness):
        customer = await activated_customer(harness, customer_user)
        await put_on_tariff(harness.admin_db, customer.customer_id, THREE_BANDS.code)
        await enter_reading(harness.admin_db, customer.customer_id, AUG, "1000")
        await enter_reading(harness.admin_db, customer.customer_id, SEP, "1150.01")
        unread = await make_customer(harness.admin_db, meter_number="MTR-NOREAD")

        ask = await say(admin_user, "/billrun 2026-09")
        assert "Bill run for Sep 2026" in ask.body and "Run it now?" in ask.body
        await admin_user.press("▶ Run it", ask)
        done = await admin_user.wait_for_event(
            30, kinds=("edit",), predicate=lambda e: "✅" in (e.message.body if e.message else "")
        )
        assert done.message is not None
        summary = done.message
        assert summary.message_id == ask.message_id  # the same message, edited to the end
        edits = [
            str(call.params.get("text"))
            for call in harness.server.calls_to("editMessageText")
            if int(call.params.get("message_id", 0)) == ask.message_id
        ]
        assert any("100% of customers done" in text for text in edits), edits
        assert "Issued 1 bill (0 estimated), skipped 1." in "".join(edits)
        money = harness.config.currency.format
        assert "Issued: 1 bill totalling " + money(Decimal("3216.98")) in summary.body
        assert "Skipped: 1" in summary.body and unread.meter_number in summary.body
        notice = await customer_user.wait_for_reply(
            timeout=15, predicate=lambda m: "New bill for Sep 2026" in m.body
        )
        assert money(Decimal("3216.98")) in notice.body
        # The notice is the caption of the bill's statement, as for /newbill and /importbills.
        assert notice.document is not None
        assert (notice.document.filename or "").startswith("statement-2026-09-")
        told = await admin_user.wait_for_reply(predicate=lambda m: "notified" in m.body)
        assert "1 customer notified" in told.body
        # The customer's /dashboard shows the last bill's lines: bands, fixed charge, tax.
        board = await say(customer_user, "/dashboard")
        assert "Last bill: Sep 2026 · " + money(Decimal("3216.98")) in board.body
        for shown in (
            "Energy 0–50 kWh: 50 kWh × ",
            "Fixed charge: " + money(Decimal("500.00")),
            "Tax 7.5%: " + money(Decimal("224.44")),
        ):
            assert shown in board.body, board.body
        # The same Run button pressed again (a double tap, a re-sent update) starts nothing.
        await admin_user.press_data(ask.message_id, "billrun:go:202609")
        await admin_user.wait_for_answer()
        await admin_user.expect_no_reply(0.5)
        runs = await fetch_dicts(
            harness.admin_db, "SELECT audit_id FROM audit_log WHERE action = 'bill.run'"
        )
        assert len(runs) == 1

    rows = await bills_of_month(harness.admin_db)
    assert len(rows) == 1
    row = rows[0]
    assert row["customer_id"] == customer.customer_id
    assert (row["units_used"], row["total_amount"]) == (Decimal("150.01"), Decimal("3216.98"))
    lines = await ledger.lines(harness.admin_db, int(str(row["bill_id"])))
    assert [(line.kind.value, line.amount) for line in lines] == [
        ("energy", Decimal("617.28")),
        ("energy", Decimal("1875.01")),
        ("energy", Decimal("0.25")),
        ("fixed", Decimal("500.00")),
        ("tax", Decimal("224.44")),
    ]
    assert tuple(line.amount for line in lines) == tuple(
        line.amount for line in tariff.charges(Decimal("150.01"))
    )


async def test_a_customer_whose_estimate_the_run_corrects_is_told_before_the_new_bill(
    harness: Harness,
) -> None:
    """September was estimated (no reading); October's actual reading is below the estimate,
    so the October run corrects September's bill down. The customer hears of the corrected
    September bill, then of October's; the admin's count says so."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    customer_user = harness.server.user(CUSTOMER_ID, "Amina")
    await make_staff(harness, ADMIN_ID)
    await make_tariff(harness.admin_db, THREE_BANDS)
    async with running_bot(harness):
        customer = await activated_customer(harness, customer_user)
        await put_on_tariff(harness.admin_db, customer.customer_id, THREE_BANDS.code)
        for month, units in ((5, "90"), (6, "100"), (7, "121"), (8, "110")):
            await make_bill(
                harness.admin_db, customer, month=date(2026, month, 1), units=units, rate="1"
            )
        await enter_reading(harness.admin_db, customer.customer_id, AUG, "5000")
        september = await run(harness.admin_db)
        assert september.estimated == 1
        estimated = await bill_of(harness.admin_db, customer)
        await enter_reading(harness.admin_db, customer.customer_id, OCT, "5050")

        ask = await say(admin_user, "/billrun 2026-10")
        await admin_user.press("▶ Run it", ask)
        told = await admin_user.wait_for_reply(
            timeout=30, predicate=lambda m: "notified" in m.body
        )
        assert "1 customer notified, 1 of its estimated bill corrected." in told.body

        corrected = await bill_of(harness.admin_db, customer)
        assert corrected["total_amount"] < estimated["total_amount"]
        money = harness.config.currency.format
        notices = [
            m
            for m in customer_user.messages()
            if "was corrected" in m.body or "New bill for" in m.body
        ]
        assert [m.body.split("\n")[0] for m in notices] == [
            "✏️ Your bill for Sep 2026 was corrected",
            "🧾 New bill for Oct 2026",
        ]
        assert money(Decimal(str(corrected["total_amount"]))) in notices[0].body


async def test_billrun_is_for_admins_only_and_bad_months_change_nothing(
    harness: Harness,
) -> None:
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    viewer = harness.server.user(VIEWER_ID, "Vee")
    await make_staff(harness, ADMIN_ID)
    await make_staff(harness, VIEWER_ID, role="viewer")
    customer = await make_customer(harness.admin_db)
    await enter_reading(harness.admin_db, customer.customer_id, AUG, "10")
    await enter_reading(harness.admin_db, customer.customer_id, SEP, "20")
    async with running_bot(harness):
        refused = await say(viewer, "/billrun 2026-09")
        assert "cannot change anything" in refused.body
        # A forged Run button from the viewer is refused on press, too.
        await viewer.press_data(refused.message_id, "billrun:go:202609")
        answer = await viewer.wait_for_answer()
        assert answer.text and "cannot change anything" in answer.text

        for text in ("/billrun", "/billrun 2026-13", "/billrun <b>x</b>", "/billrun 2100-01"):
            usage = await say(admin_user, text)
            assert "Use /billrun YYYY-MM" in usage.body, text
        # Another run holds the month's turn (another instance, say): refused, in a new
        # message, and nothing is issued.
        async with harness.admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
            await cur.execute(
                "INSERT INTO bill_runs (billing_month, run_audit_id, started_at, heartbeat_at)"
                " VALUES (%s, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
                (SEP,),
            )
            await uow.commit()
        ask = await say(admin_user, "/billrun 2026-09")
        await admin_user.press("▶ Run it", ask)
        busy = await admin_user.wait_for_reply(predicate=lambda m: "already running" in m.body)
        assert "A bill run for Sep 2026 is already running (started " in busy.body
        async with harness.admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
            await cur.execute("DELETE FROM bill_runs")
            await uow.commit()

        ask = await say(admin_user, "/billrun 2026-09")
        await admin_user.press("✖ Cancel", ask)
        cancelled = await admin_user.wait_for_edit(ask.message_id)
        assert "No bills were issued" in cancelled.body
        await viewer.expect_no_reply(0.3)
    assert await bills_of_month(harness.admin_db) == []
    assert await fetch_dicts(harness.admin_db, "SELECT * FROM bill_runs") == []
