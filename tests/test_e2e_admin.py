"""The staff's chat end to end: the real Application, over HTTP, to the fake Bot API server,
on the real MariaDB (issue 4's "Must show").
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import struct
import warnings
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from telegram.warnings import PTBUserWarning

from domain import admins, bills, customers, payments
from domain.db import Database
from domain.models import Admin, PaymentStatus
from domain.reports import month_add
from fake_telegram import ChatMessage, FakeUser
from handlers.admin_gate import STALE_BUTTON, UNKNOWN_COMMAND
from handlers.notifications import REMINDER_JOB, THROTTLE_CLEANUP_JOB, Notice, send_many
from handlers.render import chart
from handlers.render.formatting import units_text
from tests.e2e_support import Harness, activated_customer, harness, running_bot, settle
from tests.factories import make_bill, make_customer, office_payment

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8001
VIEWER_ID = 8002
CUSTOMER_ID = 8101
MONEY = re.compile(r"₦[\d,]+\.\d\d")


# --------------------------------------------------------------------------- helpers


async def make_admin(harness: Harness, telegram_user_id: int, role: str = "admin") -> Admin:
    return await admins.create_admin(
        harness.admin_db,
        admin_name=f"Staff {telegram_user_id}",
        email=f"staff{telegram_user_id}@utility.example",
        password="a-long-staff-password",
        role=role,
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


def amount(text: str) -> Decimal:
    return Decimal(text.replace("₦", "").replace(",", ""))


def total_in(message: ChatMessage) -> Decimal:
    """The amount on a report's "Total: ₦…" line."""
    found = re.search(r"Total: (₦[\d,]+\.\d\d)", message.body)
    assert found, message.body
    return amount(found.group(1))


async def scalar(db: Database, sql: str) -> Decimal:
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(sql)
        row = await cur.fetchone()
        return Decimal(row[0])


async def revenue_from_rows(db: Database) -> Decimal:
    return await scalar(
        db, "SELECT COALESCE(SUM(amount_paid), 0) FROM payments WHERE voided_at IS NULL"
    )


async def outstanding_from_rows(db: Database) -> Decimal:
    return await scalar(
        db,
        "SELECT COALESCE(SUM(total_amount - amount_paid), 0) FROM bills "
        "WHERE payment_status IN ('unpaid', 'partial')",
    )


async def count(db: Database, table: str) -> int:
    return int(await scalar(db, f"SELECT COUNT(*) FROM {table}"))


async def report_totals(admin: FakeUser) -> tuple[Decimal, Decimal]:
    """Revenue (all time) and outstanding totals as the staff's reports show them."""
    revenue = total_in(await say(admin, "/revenue"))
    outstanding = total_in(await say(admin, "/outstanding"))
    return revenue, outstanding


async def export_csv(user: FakeUser, message: ChatMessage) -> list[dict[str, str]]:
    """Press a report's Export CSV button; return the document's rows."""
    await user.press("Export CSV", message)
    document = await user.wait_for_reply(predicate=lambda m: m.document is not None)
    assert document.document is not None and document.document.filename
    assert document.document.filename.endswith(".csv")
    return list(csv.DictReader(io.StringIO(document.document.data.decode("utf-8"))))


def table_rows(message: ChatMessage) -> list[dict[str, str]]:
    """A phone table's rows as dicts, whether sent as a <pre> table or as cards."""
    blocks = message.pre_blocks()
    if blocks:
        lines = blocks[0].splitlines()
        headers = lines[0].split()
        return [dict(zip(headers, line.split(), strict=True)) for line in lines[2:]]
    rows = []
    for card in message.body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in card.splitlines() if ": " in line)
        if "Month" in fields:
            rows.append(fields)
    return rows


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --------------------------------------------------------------------------- the admin day


async def test_the_whole_admin_day_adds_bills_takes_and_voids_a_payment(
    harness: Harness,
) -> None:
    """Add a customer → activation link → bill (customer told) → office payment (customer
    gets the receipt, a second press records nothing) → void (customer told); the reports
    equal sums taken straight from the rows before and after each step."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    customer_user = harness.server.user(CUSTOMER_ID, "Ada")
    await make_admin(harness, ADMIN_ID)
    async with running_bot(harness):
        assert "now on" in (await say(admin_user, "/notify on")).body
        await say(admin_user, "/addcustomer")
        await say(admin_user, "MTR-10001")
        await say(admin_user, "Ada <Lovelace> & Co")
        await say(admin_user, "1 Analytical Street, Ikeja")
        await say(admin_user, "+2348012345678")
        await tap(admin_user, "Skip")
        confirm = await tap(admin_user, "Add customer")
        link = re.search(r"https://t\.me/fake_billing_bot\?start=([\w-]+)", confirm.body)
        assert link, confirm.body
        assert "Ada <Lovelace> & Co" in confirm.body  # escaped on the way, shown as typed

        # The customer opens the deep link and chooses a password.
        await say(customer_user, f"/start {link.group(1)}")
        await say(customer_user, "ada-secret-pass-1")
        linked = await say(customer_user, "ada-secret-pass-1")
        assert "linked" in linked.body

        assert await report_totals(admin_user) == (Decimal("0.00"), Decimal("0.00"))

        # Issue a bill; the customer is told.
        await say(admin_user, "/newbill MTR-10001")
        await say(admin_user, "2026-10")
        await say(admin_user, "250")
        await tap(admin_user, "Default tariff")
        issued = await tap(admin_user, "Issue bill")
        assert "₦17,125.00" in issued.body and "customer was notified" in issued.body
        notice = await customer_user.wait_for_reply()
        assert "New bill for Oct 2026" in notice.body and "₦17,125.00" in notice.body
        assert (
            await report_totals(admin_user)
            == (
                await revenue_from_rows(harness.admin_db),
                await outstanding_from_rows(harness.admin_db),
            )
            == (Decimal("0.00"), Decimal("17125.00"))
        )

        # Record an office payment from /pending.
        await say(admin_user, "/pending MTR-10001")
        await tap(admin_user, "Record payment")
        await tap(admin_user, "Another amount")
        await say(admin_user, "5,000")
        await tap(admin_user, "Cash")
        confirm_screen = admin_user.last_message()
        assert confirm_screen is not None and "₦12,125.00" in confirm_screen.body
        confirm_data = next(
            b.callback_data
            for row in confirm_screen.inline_keyboard
            for b in row
            if "Record payment" in b.text
        )
        recorded = await tap(admin_user, "Record payment")
        assert "₦5,000.00 recorded" in recorded.body
        receipt = await customer_user.wait_for_reply(predicate=lambda m: m.document is not None)
        # The customer is told what happened before the PDF arrives, not sent a bare file.
        told_customer = customer_user.messages()[-2]
        assert "recorded your payment of ₦5,000.00" in told_customer.body
        assert "Cash" in told_customer.body and "₦12,125.00" in told_customer.body
        assert receipt.document is not None
        assert receipt.document.filename is not None
        assert receipt.document.filename.startswith("receipt-EB-")
        assert receipt.document.data.startswith(b"%PDF")
        await admin_user.wait_for_reply(predicate=lambda m: m.document is not None)
        told_staff = await admin_user.wait_for_reply(predicate=lambda m: "💰" in m.body)
        assert "₦5,000.00" in told_staff.body and "Cash" in told_staff.body
        # A second press of the same confirm (double tap, re-delivery) records nothing more
        # and sends no second receipt: a short notice names the one recorded.
        assert confirm_data is not None
        await admin_user.press_data(confirm_screen.message_id, confirm_data)
        again = await admin_user.wait_for_reply(predicate=lambda m: "Already recorded" in m.body)
        assert receipt.document.filename[len("receipt-") : -len(".pdf")] in again.body
        await asyncio.sleep(0.3)  # a second PDF would have come by now
        assert sum(m.document is not None for m in admin_user.messages()) == 1
        # One receipt (the bill itself came as its statement, with the new-bill notice).
        sent = [m.document.filename for m in customer_user.messages() if m.document is not None]
        assert sent == ["statement-2026-10-MTR-10001.pdf", receipt.document.filename]
        assert await count(harness.admin_db, "payments") == 1
        assert (
            await report_totals(admin_user)
            == (
                await revenue_from_rows(harness.admin_db),
                await outstanding_from_rows(harness.admin_db),
            )
            == (Decimal("5000.00"), Decimal("12125.00"))
        )

        # Void it, with a reason; the customer is told.
        payment_id = (await payments.list_payments(harness.admin_db)).items[0].payment.payment_id
        await say(admin_user, f"/voidpayment {payment_id}")
        await say(admin_user, "Cheque <bounced>")
        voided = await tap(admin_user, "Void payment")
        assert "voided" in voided.body and "₦17,125.00" in voided.body
        told = await customer_user.wait_for_reply(predicate=lambda m: "voided" in m.body)
        assert "Cheque <bounced>" in told.body
        assert (
            await report_totals(admin_user)
            == (
                await revenue_from_rows(harness.admin_db),
                await outstanding_from_rows(harness.admin_db),
            )
            == (Decimal("0.00"), Decimal("17125.00"))
        )
        bill = (await bills.list_bills(harness.admin_db)).items[0].bill
        assert bill.payment_status is PaymentStatus.UNPAID and bill.amount_paid == 0

        # Every change is in the audit log, with who did it.
        log = await say(admin_user, "/audit MTR-10001")
        for action in ("Customer added", "Bill issued", "Office payment recorded"):
            assert action in log.body
        assert "Payment voided" in log.body and "Reason: Cheque" in log.body
        assert "payment.void" not in log.body and "amount_paid" not in log.body
        assert "Staff 8001" in log.body


async def test_an_admin_corrects_a_bill_and_a_refusal_is_explained(harness: Harness) -> None:
    """/editbill recalculates the total; a total below what is paid is refused, unchanged."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    customer = await make_customer(harness.admin_db, meter_number="MTR-30001")
    bill = await make_bill(harness.admin_db, customer, units="100", rate="68.5")
    await office_payment(harness.admin_db, bill, "5000", method="cash", key="edit-test-1")
    async with running_bot(harness):
        await say(admin_user, f"/editbill {bill.bill_id}")
        await tap(admin_user, "Units")
        preview = await say(admin_user, "120")
        assert "₦6,850.00 → ₦8,220.00" in preview.body
        saved = await tap(admin_user, "Save correction")
        assert "Bill corrected" in saved.body and "₦8,220.00" in saved.body

        # Cancel leaves the bill alone.
        await say(admin_user, f"/editbill {bill.bill_id}")
        await tap(admin_user, "Rate")
        assert "Cancelled" in (await say(admin_user, "/cancel")).body
        assert "not sure what you mean" in (await say(admin_user, "1")).body

        # A total below what is paid is refused at once: no Save button is offered for it.
        await say(admin_user, f"/editbill {bill.bill_id}")
        await tap(admin_user, "Units")
        refused = await say(admin_user, "10")
        assert "cannot be saved" in refused.body and "already paid" in refused.body
        assert "✅ Save correction" not in refused.button_labels
        assert "Cancelled" in (await say(admin_user, "/cancel")).body
    stored = await bills.get(harness.admin_db, bill.bill_id)
    assert stored.total_amount == Decimal("8220.00") and stored.units_used == Decimal("120")


async def test_cancelling_editcustomer_after_a_save_says_what_was_saved(
    harness: Harness,
) -> None:
    """ "Cancelled. Nothing was changed." would be untrue once a field is saved."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    customer = await make_customer(harness.admin_db, meter_number="MTR-30005")
    async with running_bot(harness):
        await say(admin_user, "/editcustomer MTR-30005")
        await tap(admin_user, "Name")
        await say(admin_user, "Adaeze Obi")
        await tap(admin_user, "Phone")
        await say(admin_user, "+234 802 000 1111")
        await tap(admin_user, "Email")
        cancelled = await say(admin_user, "/cancel")
        await say(admin_user, "/editcustomer MTR-30005")
        untouched = await say(admin_user, "/cancel")
    assert cancelled.body == "Cancelled. Already saved: Name, Phone. Nothing else was changed."
    assert untouched.body == "Cancelled. Nothing was changed."
    stored = await customers.get(harness.admin_db, customer.customer_id)
    assert stored.full_name == "Adaeze Obi"


# --------------------------------------------------------------------------- roles


async def test_a_viewer_reads_reports_but_cannot_create_edit_record_or_void(
    harness: Harness,
) -> None:
    viewer = harness.server.user(VIEWER_ID, "Vee")
    await make_admin(harness, VIEWER_ID, role="viewer")
    customer = await make_customer(harness.admin_db, meter_number="MTR-40001")
    bill = await make_bill(harness.admin_db, customer, units="100", rate="10")
    paid = await office_payment(harness.admin_db, bill, "100", method="cash", key="viewer-test-1")
    async with running_bot(harness):
        assert total_in(await say(viewer, "/revenue")) == Decimal("100.00")
        assert total_in(await say(viewer, "/outstanding")) == Decimal("900.00")
        assert "MTR-40001" in (await say(viewer, "/customers")).body
        assert "MTR-40001" in (await say(viewer, "/bills partial")).body
        assert "MTR-40001" in (await say(viewer, "/payments")).body

        for command in (
            "/addcustomer",
            "/editcustomer MTR-40001",
            "/newbill MTR-40001",
            f"/editbill {bill.bill_id}",
            "/recordpayment MTR-40001",
            f"/voidpayment {paid.payment.payment_id}",
            "/importbills",
        ):
            refusal = await say(viewer, command)
            assert "cannot change anything" in refusal.body, command

        # Write buttons (from a card, or forged) are refused on press as well.
        card = await say(viewer, "/customer MTR-40001")
        for label in ("New bill", "Record payment", "Edit", "Activation link"):
            await viewer.press(label, card)
            answer = await viewer.wait_for_answer()
            assert answer.text and "cannot change anything" in answer.text, label
        for data in (f"avok:{paid.payment.payment_id}", f"arpb:{bill.bill_id}", "arpok:abc"):
            await viewer.press_data(card.message_id, data)
            answer = await viewer.wait_for_answer()
            # Refused, or not a live button at all (a confirm outside its flow): no effect.
            assert answer.text == STALE_BUTTON or "cannot change" in (answer.text or ""), data
        await settle(0.2)
    assert await count(harness.admin_db, "customers") == 1
    assert await count(harness.admin_db, "bills") == 1
    assert await count(harness.admin_db, "payments") == 1
    assert (await payments.get(harness.admin_db, paid.payment.payment_id)).is_void is False
    assert await count(harness.admin_db, "activation_codes") == 0


async def test_customers_and_strangers_get_nothing_from_admin_commands_or_forged_buttons(
    harness: Harness,
) -> None:
    customer_user = harness.server.user(CUSTOMER_ID, "Ada")
    stranger = harness.server.user(8999, "Nobody")
    other = await make_customer(harness.admin_db, meter_number="MTR-50001")
    bill = await make_bill(harness.admin_db, other, units="100", rate="10")
    paid = await office_payment(harness.admin_db, bill, "100", method="cash", key="forged-test-1")
    async with running_bot(harness):
        await activated_customer(harness, customer_user)
        audited = await count(harness.admin_db, "audit_log")
        unknown = (await say(customer_user, "/nonsense")).body
        assert unknown == UNKNOWN_COMMAND
        for command in ("/customers", "/revenue", "/voidpayment 1", "/importbills", "/audit"):
            assert (await say(customer_user, command)).body == unknown, command
            assert (await say(stranger, command)).body == unknown, command

        screen = await say(customer_user, "/dashboard")
        for data in (
            f"avok:{paid.payment.payment_id}",
            f"arpb:{bill.bill_id}",
            f"aact:{other.customer_id}",
            f"acu:{other.customer_id}",
            f"anb:{other.customer_id}",
            "acsvr:0:0",
            "acsvt:6:202610",
            f"aaud:{other.customer_id}",
        ):
            await customer_user.press_data(screen.message_id, data)
            assert (await customer_user.wait_for_answer()).text == STALE_BUTTON, data
        await customer_user.expect_no_reply(0.3)
    assert customer_user.documents() == []
    assert (await payments.get(harness.admin_db, paid.payment.payment_id)).is_void is False
    assert await count(harness.admin_db, "activation_codes") == 1  # the customer's own
    assert await count(harness.admin_db, "audit_log") == audited  # no staff change at all


# --------------------------------------------------------------------------- bulk billing


# Each notice carries its bill's statement, drawn as it is sent (issue 15 §5): 1,000 PDFs on
# a small, busy test machine take longer than the 33 s the pacing alone needs.
@pytest.mark.timeout(300)
async def test_a_thousand_row_csv_is_all_or_nothing_and_customers_are_told_within_limits(
    harness: Harness,
) -> None:
    """Three bad lines → three errors by line and nothing written; fixed → 1,000 bills and
    1,000 customers notified, paced so the flood limit (30/s) is never exceeded."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    first_chat = 600_000
    async with harness.admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.executemany(
            "INSERT INTO customers (meter_number, full_name, address, telegram_user_id) "
            "VALUES (%s, %s, %s, %s)",
            [
                (f"BULK-{i:04d}", f"Bulk Customer {i}", "Somewhere", first_chat + i)
                for i in range(1000)
            ],
        )
        await uow.commit()
    users = [harness.server.user(first_chat + i, f"C{i}") for i in range(1000)]
    rows = [f"BULK-{i:04d},2026-10,{100 + i}" for i in range(1000)]
    bad = list(rows)
    bad[99] = "NOPE-0099,2026-10,100"  # line 101: unknown meter
    bad[500] = "BULK-0500,2026-13,100"  # line 502: no such month
    bad[999] = "BULK-0999,2026-10,-5"  # line 1001: negative units
    header = "meter_number,billing_month,units_used,rate_per_unit\n"

    harness.server.rate_limit = 30  # Telegram's flood limit for one bot
    async with running_bot(harness):
        await say(admin_user, "/importbills")
        await admin_user.upload("october.csv", (header + "\n".join(bad) + "\n").encode())
        errors = await admin_user.wait_for_reply(timeout=20)
        assert re.findall(r"Line (\d+):", errors.body) == ["101", "502", "1001"], errors.body
        assert await count(harness.admin_db, "bills") == 0

        await admin_user.upload("october.csv", (header + "\n".join(rows) + "\n").encode())
        done = await admin_user.wait_for_reply(timeout=20)
        assert "Imported 1000 bills" in done.body, done.body
        assert await count(harness.admin_db, "bills") == 1000
        summary = await admin_user.wait_for_reply(
            timeout=240, predicate=lambda m: "Bulk billing:" in m.body
        )
        assert "1000 customers notified" in summary.body
    assert all(len(u.messages()) == 1 and "New bill" in u.last_text() for u in users)
    # Each notice is the caption of the bill's statement (issue 15 §5).
    assert all(len(u.documents()) == 1 for u in users)
    assert harness.server.rate_limited_count == 0
    # Paced at the limit overall: after the first burst, no faster than 30 messages a second.
    sends = sorted(
        c.time
        for method in ("sendMessage", "sendDocument")
        for c in harness.server.calls_to(method)
        if c.status == 200
    )
    assert len(sends) > 1000
    assert (len(sends) - 33) / (sends[-1] - sends[0]) <= 30 * 1.05


async def test_import_errors_quote_the_bad_value_and_next_month_is_refused(
    harness: Harness,
) -> None:
    """/importbills: each error says which value is wrong and why; a bill for the month after
    the utility's current one (in its own time zone) is refused; nothing is written."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    await make_customer(harness.admin_db, meter_number="MTR-80001")
    this_month = datetime.now(harness.config.timezone).date().replace(day=1)
    next_month = month_add(this_month, 1)
    text = (
        "meter_number,billing_month,units_used,rate_per_unit\n"
        f"MTR-80001,{this_month:%Y-%m},100,\n"
        f"MTR-80001,{this_month:%Y-%m},abc,\n"
        f"MTR-80001,{next_month:%Y-%m},5,\n"
    )
    async with running_bot(harness):
        intro = await say(admin_user, "/importbills")
        await admin_user.upload("bills.csv", text.encode())
        errors = await admin_user.wait_for_reply(timeout=20)
    assert f"up to the current month ({this_month:%Y-%m})" in intro.body
    assert "Line 3: units 'abc' is not a number." in errors.body, errors.body
    assert (
        f"Line 4: month '{next_month:%Y-%m}' is after the current month ({this_month:%Y-%m})"
        in errors.body
    ), errors.body
    assert await count(harness.admin_db, "bills") == 0


# --------------------------------------------------------------------------- reports


async def test_the_trend_chart_is_a_real_png_and_each_csv_export_matches_its_table(
    harness: Harness,
) -> None:
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    this_month = datetime.now(harness.config.timezone).date().replace(day=1)
    for index in range(3):
        customer = await make_customer(harness.admin_db, meter_number=f"MTR-6000{index}")
        for back in range(4):
            bill = await make_bill(
                harness.admin_db,
                customer,
                month=month_add(this_month, -back),
                units=str(100 + 17 * index + back),
                rate="68.5",
                due_date=this_month - timedelta(days=40 * back),
            )
            if (index + back) % 2:
                await office_payment(
                    harness.admin_db, bill, "1234.56", method="pos", key=f"trend-{index}-{back}"
                )
    async with running_bot(harness):
        table = await say(admin_user, "/trend 6")
        photo = await admin_user.wait_for_reply(predicate=lambda m: m.photo is not None)
        assert photo.photo is not None
        assert png_size(photo.photo.data) == (chart.WIDTH_PX, chart.HEIGHT_PX)

        shown = table_rows(table)
        exported = await export_csv(admin_user, table)
        assert len(exported) == len(shown) == 6
        currency = harness.config.currency
        assert [r["month"] for r in exported] == [
            f"{month_add(this_month, back):%Y-%m}" for back in range(-5, 1)
        ]
        assert [r["Month"] for r in shown] == [
            f"{month_add(this_month, back):%b %Y}" for back in range(-5, 1)
        ]
        for row, line in zip(exported, shown, strict=True):
            if row["bills"] == "0":  # no bills that month: no figures, not zeros
                assert row["collection_rate"] == ""
                assert [line[k] for k in ("Units", "Billed", "Collected", "Collected %")] == [
                    "—"
                ] * 4
                continue
            assert units_text(Decimal(row["units"])) == line["Units"]
            assert currency.format(Decimal(row["billed"])) == line["Billed"]
            assert currency.format(Decimal(row["collected"])) == line["Collected"]
            assert f"{row['collection_rate']}%" == line["Collected %"]
        assert [r["bills"] for r in exported] == ["0", "0", "3", "3", "3", "3"]
        assert sum(Decimal(r["billed"]) for r in exported) == await scalar(
            harness.admin_db, "SELECT SUM(total_amount) FROM bills"
        )

        revenue = await say(admin_user, "/revenue")
        rows = await export_csv(admin_user, revenue)
        assert (
            Decimal(rows[0]["amount"])
            == total_in(revenue)
            == await revenue_from_rows(harness.admin_db)
        )
        assert [r["key"] for r in rows if r["section"] == "method"] == ["pos"]

        outstanding = await say(admin_user, "/outstanding")
        rows = await export_csv(admin_user, outstanding)
        assert Decimal(rows[0]["amount"]) == total_in(outstanding)
        assert total_in(outstanding) == await outstanding_from_rows(harness.admin_db)
        ageing = sum(Decimal(r["amount"]) for r in rows if r["section"] == "ageing")
        assert ageing == total_in(outstanding)
        for row in rows:
            if row["section"] == "ageing":
                assert harness.config.currency.format(Decimal(row["amount"])) in outstanding.body


# --------------------------------------------------------------------------- reminders


async def test_the_daily_job_reminds_a_linked_customer_once_per_bill(harness: Harness) -> None:
    customer_user = harness.server.user(CUSTOMER_ID, "Ada")
    async with running_bot(harness) as application:
        customer = await activated_customer(harness, customer_user)
        today = datetime.now(harness.config.timezone).date()
        soon = await make_bill(
            harness.admin_db, customer, month=date(2026, 1, 1), due_date=today + timedelta(2)
        )
        await make_bill(  # due later than the reminder window
            harness.admin_db, customer, month=date(2026, 2, 1), due_date=today + timedelta(30)
        )
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(REMINDER_JOB)
        await job.run(application)
        reminder = await customer_user.wait_for_reply()
        assert "Reminder" in reminder.body and "Jan 2026" in reminder.body
        assert "💳 Pay now" in reminder.button_labels
        await job.run(application)
        await customer_user.expect_no_reply(0.3)
    assert await scalar(harness.admin_db, "SELECT COUNT(*) FROM bill_reminders") == 1
    assert await scalar(harness.admin_db, "SELECT bill_id FROM bill_reminders") == soon.bill_id
    assert len([m for m in customer_user.messages() if "Reminder" in m.body]) == 1


async def test_the_daily_job_forgets_stale_login_failures(harness: Harness) -> None:
    """The bot schedules the login-throttle clean-up; run, it drops a long-over failure and
    keeps a lock."""
    async with harness.admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "INSERT INTO login_throttle (subject, failures, window_started_at, locked_until) "
            "VALUES ('tg:1', 1, NOW(6) - INTERVAL 2 DAY, NULL), "
            "('tg:2', 5, NOW(6) - INTERVAL 1 MINUTE, NOW(6) + INTERVAL 14 MINUTE)"
        )
        await uow.commit()
    async with running_bot(harness) as application:
        assert application.job_queue is not None
        (job,) = application.job_queue.get_jobs_by_name(THROTTLE_CLEANUP_JOB)
        await job.run(application)
    async with harness.admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute("SELECT subject FROM login_throttle")
        assert await cur.fetchall() == (("tg:2",),)


# --------------------------------------------------------------------------- restarts, 429s


async def test_an_office_payment_confirmed_after_a_restart_is_recorded_once(
    harness: Harness,
) -> None:
    """The flow survives a restart; a confirm pressed again later records nothing more and
    sends no second receipt, only a short notice."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    customer = await make_customer(harness.admin_db, meter_number="MTR-70001")
    bill = await make_bill(harness.admin_db, customer, units="100", rate="10")
    async with running_bot(harness):
        await say(admin_user, "/recordpayment MTR-70001")
        await tap(admin_user, f"#{bill.bill_id}")
        await tap(admin_user, "Full")
        confirm = await tap(admin_user, "POS terminal")
    confirm_data = next(
        b.callback_data for row in confirm.inline_keyboard for b in row if "Record" in b.text
    )
    assert confirm_data is not None
    async with running_bot(harness):  # the same persistence file: a restart
        recorded = await tap(admin_user, "Record payment")
        assert "₦1,000.00 recorded" in recorded.body
        await admin_user.wait_for_reply(predicate=lambda m: m.document is not None)
    async with running_bot(harness):
        await admin_user.press_data(confirm.message_id, confirm_data)
        again = await admin_user.wait_for_reply()
        await asyncio.sleep(0.3)  # a second receipt would have come by now
    assert "Already recorded" in again.body and "nothing more was recorded" in again.body
    assert sum(m.document is not None for m in admin_user.messages()) == 1
    assert await count(harness.admin_db, "payments") == 1
    stored = await bills.get(harness.admin_db, bill.bill_id)
    assert stored.payment_status is PaymentStatus.PAID


async def test_bulk_notices_wait_out_429_answers_and_all_arrive_once(harness: Harness) -> None:
    """With Telegram stricter than the limiter's pace, 429 + retry_after is waited out."""
    users = [harness.server.user(710_000 + i, f"U{i}") for i in range(40)]
    harness.server.rate_limit = 15  # half the pace the limiter keeps: 429s will come
    async with running_bot(harness) as application:
        notices = [Notice(u.id, f"Notice {u.id}") for u in users]
        sent = await send_many(application.bot, notices)
    assert sent == len(users)
    assert harness.server.rate_limited_count > 0
    assert all([m.body for m in u.messages()] == [f"Notice {u.id}"] for u in users)


async def test_an_office_payment_in_another_currency_is_refused_and_nothing_recorded(
    harness: Harness,
) -> None:
    """/recordpayment → Another amount → '$7' and 'USD 7': refused, naming NGN; no payment."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    customer = await make_customer(harness.admin_db, meter_number="MTR-70002")
    bill = await make_bill(harness.admin_db, customer, units="100", rate="10")
    async with running_bot(harness):
        await say(admin_user, "/recordpayment MTR-70002")
        await tap(admin_user, f"#{bill.bill_id}")
        await tap(admin_user, "Another amount")
        refusals = [(await say(admin_user, typed)).body for typed in ("$7", "USD 7")]
        accepted = await say(admin_user, "NGN 7")
    assert all("only take amounts in NGN (₦)" in body for body in refusals), refusals
    assert "How was it paid" in accepted.body
    assert await count(harness.admin_db, "payments") == 0
    assert (await bills.get(harness.admin_db, bill.bill_id)).amount_paid == 0


async def test_an_office_payment_from_a_typed_meter_raises_no_ptb_warning(
    harness: Harness,
) -> None:
    """Every state a staff flow returns is registered: PTB warns ("returned state … which is
    unknown to the ConversationHandler") for one that is not, and no warning is silenced
    wholesale any more, so the whole /recordpayment flow must pass without one."""
    admin_user = harness.server.user(ADMIN_ID, "Olu")
    await make_admin(harness, ADMIN_ID)
    customer = await make_customer(harness.admin_db, meter_number="MTR-70003")
    bill = await make_bill(harness.admin_db, customer, units="100", rate="10")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with running_bot(harness):
            await say(admin_user, "/recordpayment")
            await say(admin_user, "MTR-70003")
            await tap(admin_user, f"#{bill.bill_id}")
            await tap(admin_user, "Full")
            await tap(admin_user, "Cash")
            recorded = await tap(admin_user, "Record payment")
            # The flow ends with the receipt: stopping the bot earlier would cut it short.
            await admin_user.wait_for_reply(predicate=lambda m: m.document is not None)
            await settle(0.3)
    assert "₦1,000.00 recorded" in recorded.body
    ptb_warnings = [str(w.message) for w in caught if issubclass(w.category, PTBUserWarning)]
    assert ptb_warnings == []
