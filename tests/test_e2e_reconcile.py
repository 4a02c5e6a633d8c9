"""/reconcile end to end: the real Application, over HTTP, to the fake Bot API server, on the
real MariaDB. Staff (admin and viewer) read a month's money by day and channel and export the
rows behind it; a customer is told the command does not exist.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from domain import card_payments, claims, payments
from domain.models import PaymentMethod
from domain.money import Currency
from fake_telegram import ChatMessage, FakeUser
from handlers.admin_gate import STALE_BUTTON, UNKNOWN_COMMAND
from handlers.admin_reconcile import CSV_HEADER
from handlers.render.tables import PHONE_WIDTH, text_width
from tests.e2e_support import Harness, activated_customer, harness, make_staff, running_bot
from tests.factories import make_bill, make_clerk, make_customer, office_payment

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

ADMIN_ID = 8301
VIEWER_ID = 8302
CUSTOMER_ID = 8401
LAGOS = ZoneInfo("Africa/Lagos")  # the harness's TIMEZONE
NAIRA = Currency("NGN", "₦")
ROW = re.compile(r"^(?:(\d\d) +)?(.+?) +(\d+) +(₦[\d,]+\.\d\d)$")


def november(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=LAGOS)


async def build_november(harness: Harness) -> str:
    """A card charge on 3 Nov of which 600.00 paid the bill and 400.00 became credit (400.00
    cash was paid at the office first), a transfer claim confirmed on 6 Nov, and a claim still
    pending. Returns the cash payment's recorder's name."""
    admin_db, customer_db = harness.admin_db, harness.customer_db
    clerk = await make_clerk(admin_db)
    ada = await make_customer(admin_db, full_name="Ada Card", meter_number="MTR-REC01")
    bill = await make_bill(admin_db, ada, month=date(2026, 10, 1), units="1000", rate="1")
    invoice = await card_payments.create_invoice(
        customer_db,
        customer_id=ada.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal("1000.00"),
        currency=NAIRA,
        lifetime=timedelta(hours=2),
        now=november(3, 10),
    )
    await office_payment(admin_db, bill, "400.00", now=november(3, 11))
    await card_payments.record_charge(
        admin_db,
        reference=invoice.reference,
        charge=payments.ChargeIds("tg-e2e-charge-1", "prov-e2e-charge-1"),
        currency_code="NGN",
        total_minor=100_000,
        currency=NAIRA,
        now=november(3, 12),
    )
    ben = await make_customer(admin_db, full_name="Ben Transfer", meter_number="MTR-REC02")
    ben_bill = await make_bill(admin_db, ben, month=date(2026, 10, 1), units="2000", rate="1")
    claim = await claims.submit(
        customer_db,
        customer_id=ben.customer_id,
        bill_id=ben_bill.bill_id,
        amount=Decimal("1500.00"),
        method=PaymentMethod.BANK_TRANSFER,
        reference="E2E-TRF-0001",
    )
    await claims.confirm(admin_db, claim.claim_id, admin_id=clerk.admin_id, now=november(6, 9))
    await claims.submit(
        customer_db,
        customer_id=ben.customer_id,
        bill_id=ben_bill.bill_id,
        amount=Decimal("300.00"),
        method=PaymentMethod.MOBILE_MONEY,
        reference="E2E-MOMO-0002",
    )
    return clerk.admin_name


def table(block: str) -> dict[tuple[str, str], tuple[int, str]]:
    """A reconcile table's rows, (day or "", channel) → (count, amount), header left out."""
    rows = {}
    for line in block.splitlines()[2:]:
        found = ROW.match(line)
        assert found, line
        day, channel, count, amount = found.groups()
        rows[(day or "", channel)] = (int(count), amount)
    return rows


async def ask(user: FakeUser, text: str) -> ChatMessage:
    await user.send(text)
    return await user.wait_for_reply()


async def export(user: FakeUser, message: ChatMessage) -> tuple[str, list[dict[str, str]]]:
    """Press Export CSV under ``message``; the document's name and rows."""
    await user.press("Export CSV", message)
    sent = await user.wait_for_reply(predicate=lambda m: m.document is not None)
    assert sent.document is not None and sent.document.filename
    data = sent.document.data.decode("utf-8")
    assert tuple(next(csv.reader(io.StringIO(data)))) == CSV_HEADER
    return sent.document.filename, list(csv.DictReader(io.StringIO(data)))


def check_november(message: ChatMessage) -> None:
    """The figures of ``build_november`` as the staff read them on a phone."""
    body = message.body
    assert "Reconciliation, Nov 2026" in body and "Africa/Lagos" in body
    # Card 1,000 + claim 1,500 + cash 400: money that arrived.
    assert "Money in: ₦2,900.00" in body
    assert "Pending claims: 1 · ₦300.00" in body
    assert "Credit held: ₦400.00 by 1 customer" in body
    totals_block, days_block = message.pre_blocks()
    for block in (totals_block, days_block):
        assert max(text_width(line) for line in block.splitlines()) <= PHONE_WIDTH
    assert table(totals_block) == {
        ("", "Card charges"): (1, "₦1,000.00"),
        ("", "Card to bills"): (1, "₦600.00"),
        ("", "Card to credit"): (1, "₦400.00"),
        ("", "Claims"): (1, "₦1,500.00"),
        ("", "Transfers"): (0, "₦0.00"),
        ("", "Cash"): (1, "₦400.00"),
        ("", "POS"): (0, "₦0.00"),
        ("", "From credit"): (0, "₦0.00"),
        ("", "Refunds"): (0, "₦0.00"),
    }
    assert table(days_block) == {
        ("03", "Card charges"): (1, "₦1,000.00"),
        ("03", "Card to bills"): (1, "₦600.00"),
        ("03", "Card to credit"): (1, "₦400.00"),
        ("03", "Cash"): (1, "₦400.00"),
        ("06", "Claims"): (1, "₦1,500.00"),
    }


def check_november_csv(name: str, rows: list[dict[str, str]], recorder: str) -> None:
    assert name == "reconcile-2026-11.csv"
    assert [(r["record"], r["channel"]) for r in rows] == [
        ("charge", "card"),
        ("payment", "cash"),
        ("payment", "claim"),
    ]
    charge, cash, claim = rows
    assert {k: charge[k] for k in CSV_HEADER if k not in ("payment_id", "receipt_number")} == {
        "record": "charge",
        "local_time": "2026-11-03 12:00:00+01:00",
        "channel": "card",
        "method": "card",
        "amount": "1000.00",
        "currency": "NGN",
        "to_bill": "600.00",
        "to_credit": "400.00",
        "telegram_payment_charge_id": "tg-e2e-charge-1",
        "provider_payment_charge_id": "prov-e2e-charge-1",
        "meter_number": "MTR-REC01",
        "billing_month": "2026-10",
        "recorded_by": "",
        "reference": "",
        "note": "",
    }
    assert charge["payment_id"].isdigit() and charge["receipt_number"]
    assert (cash["local_time"], cash["amount"], cash["recorded_by"]) == (
        "2026-11-03 11:00:00+01:00",
        "400.00",
        recorder,
    )
    assert cash["receipt_number"] and cash["receipt_number"] != charge["receipt_number"]
    assert (claim["method"], claim["amount"], claim["reference"], claim["meter_number"]) == (
        "bank_transfer",
        "1500.00",
        "E2E-TRF-0001",
        "MTR-REC02",
    )


async def test_an_admin_and_a_viewer_reconcile_a_month_and_export_its_rows(
    harness: Harness,
) -> None:
    """Admin and viewer each get /reconcile 2026-11 — totals per channel, pending claims and
    credit held now, the days, all phone-wide — and its CSV with the charge's two ids; the
    command is in both staff menus; /reconcile alone is this month; /revenue for November
    counts the bills' 2,500.00, neither the pending claim nor the credit held."""
    recorder = await build_november(harness)
    await make_staff(harness, ADMIN_ID, "admin")
    await make_staff(harness, VIEWER_ID, "viewer")
    admin = harness.server.user(ADMIN_ID, "Olu")
    viewer = harness.server.user(VIEWER_ID, "Vic")
    async with running_bot(harness):
        for staff in (admin, viewer):
            assert "reconcile" in dict(staff.menu())
            assert "/reconcile" in (await ask(staff, "/help")).body
            report = await ask(staff, "/reconcile 2026-11")
            check_november(report)
            name, rows = await export(staff, report)
            check_november_csv(name, rows, recorder)

        this_month = f"{datetime.now(LAGOS):%b %Y}"
        assert f"Reconciliation, {this_month}" in (await ask(viewer, "/reconcile")).body
        assert "YYYY-MM" in (await ask(admin, "/reconcile November")).body

        revenue = await ask(admin, "/revenue 2026-11")
        # Card 600 (not 1,000) + cash 400 + the confirmed claim 1,500.
        assert "Total: ₦2,500.00 from 3 payments" in revenue.body


async def test_a_customer_is_told_reconcile_is_an_unknown_command_and_its_buttons_are_stale(
    harness: Harness,
) -> None:
    """A linked customer's /reconcile gets exactly what any unknown command gets; a forged
    press of the export or page button gets the stale-button toast and no document."""
    await build_november(harness)
    customer = harness.server.user(CUSTOMER_ID, "Cora")
    async with running_bot(harness):
        await activated_customer(harness, customer, meter_number="MTR-REC09")
        answer = await ask(customer, "/reconcile 2026-11")
        assert answer.body == UNKNOWN_COMMAND
        for data in ("acsvrc:202611", "arcp:1:202611"):
            await customer.press_data(answer.message_id, data)
            assert (await customer.wait_for_answer()).text == STALE_BUTTON
        assert [m for m in customer.messages() if m.document is not None] == []


async def test_the_days_page_with_arrows_that_edit_the_same_message(harness: Harness) -> None:
    """Twenty-two days with cash in October are more than a page: ▶ shows the last two days in
    the same message, ◀ brings the first twenty back."""
    customer = await make_customer(harness.admin_db, meter_number="MTR-REC20")
    bill = await make_bill(harness.admin_db, customer, month=date(2026, 9, 1), units="500")
    for day in range(1, 23):
        await office_payment(
            harness.admin_db, bill, "10.00", now=datetime(2026, 10, day, 9, tzinfo=LAGOS)
        )
    await make_staff(harness, ADMIN_ID, "admin")
    admin = harness.server.user(ADMIN_ID, "Olu")
    async with running_bot(harness):
        first = await ask(admin, "/reconcile 2026-10")
        assert "Page 1 of 2 · 22 lines" in first.body
        assert len(table(first.pre_blocks()[1])) == 20
        assert table(first.pre_blocks()[0])[("", "Cash")] == (22, "₦220.00")

        await admin.press("▶", first)
        second = await admin.wait_for_edit(first.message_id)
        assert "Page 2 of 2" in second.body
        assert table(second.pre_blocks()[1]) == {
            ("21", "Cash"): (1, "₦10.00"),
            ("22", "Cash"): (1, "₦10.00"),
        }
        await admin.press("◀", second)
        back = await admin.wait_for_edit(first.message_id)
        assert "Page 1 of 2" in back.body and ("01", "Cash") in table(back.pre_blocks()[1])
