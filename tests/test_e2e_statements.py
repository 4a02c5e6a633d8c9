"""Bill statements end to end (issue 15 §5): the real Application, over HTTP, to the fake Bot
API server, on the real MariaDB.

Proves: /statement sends the customer's newest bill's statement as
``statement-<YYYY-MM>-<meter>.pdf`` whose text holds every line of a three-band bill with a
fixed charge and tax, the amount due and the customer's name; /statement YYYY-MM sends that
month's; a month without a bill, a bad month and another customer's bill get a friendly
reply and no document; a bill issued by /newbill reaches the linked customer as the
statement PDF with the new-bill notice as its caption.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader

from domain import bills
from domain.billing import Band, Tariff
from tests.billrun_support import make_tariff, put_on_tariff
from tests.e2e_support import Harness, activated_customer, harness, make_staff, running_bot
from tests.factories import fetch_dicts, make_bill, make_customer

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

TIERED = Tariff(
    code="RES3",
    name="Residential three bands",
    customer_class="residential",
    effective_from=date(2026, 1, 1),
    bands=(
        Band(Decimal("0"), Decimal("50"), Decimal("10.00")),
        Band(Decimal("50"), Decimal("150"), Decimal("20.00")),
        Band(Decimal("150"), None, Decimal("30.00")),
    ),
    fixed_charge=Decimal("500.00"),
    tax_percent=Decimal("7.5"),
)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[ \t]+", " ", unicodedata.normalize("NFC", text))


async def test_statement_sends_the_pdf_of_the_latest_or_the_named_month(
    harness: Harness,
) -> None:
    name = "Ọlá Adébáyọ̀"
    user = harness.server.user(9301, "Ola")
    async with running_bot(harness):
        customer = await activated_customer(
            harness, user, full_name=name, meter_number="MTR-93001"
        )
        await make_bill(harness.admin_db, customer, month=date(2026, 8, 1), units="80", rate="10")
        await bills.create_bill(
            harness.admin_db,
            customer_id=customer.customer_id,
            billing_month=date(2026, 9, 1),
            units_used=Decimal("200"),
            rate_per_unit=Decimal("1"),
            tariff=TIERED,
        )

        await user.send("/statement")
        latest = await user.wait_for_reply(predicate=lambda m: m.document is not None)
        await user.send("/statement 2026-08")
        august = await user.wait_for_reply(predicate=lambda m: m.document is not None)

    assert latest.document is not None and august.document is not None
    assert latest.document.filename == "statement-2026-09-MTR-93001.pdf"
    assert august.document.filename == "statement-2026-08-MTR-93001.pdf"
    assert "Statement for Sep 2026" in latest.body
    text = pdf_text(latest.document.data)
    assert len(PdfReader(io.BytesIO(latest.document.data)).pages) == 1
    for expected in (
        unicodedata.normalize("NFC", name),
        "Energy 0–50 kWh: 50 kWh × ₦10.00 ₦500.00",
        "Energy 50–150 kWh: 100 kWh × ₦20.00 ₦2,000.00",
        "Energy above 150 kWh: 50 kWh × ₦30.00 ₦1,500.00",
        "Fixed charge ₦500.00",
        "Tax 7.5% ₦337.50",
        "Total of this bill NGN ₦4,837.50",
        "Previous balance ₦800.00",  # August's bill, unpaid
        "Amount due NGN ₦5,637.50",
    ):
        assert expected in text, f"{expected!r} missing from the statement:\n{text}"
    assert "Energy: 80 kWh × ₦10.00 ₦800.00" in pdf_text(august.document.data)


async def test_statement_answers_kindly_when_there_is_nothing_to_send(harness: Harness) -> None:
    user = harness.server.user(9302, "Bisi")
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-93002")
        await user.send("/statement")
        none_yet = await user.wait_for_reply()
        await make_bill(harness.admin_db, customer, month=date(2026, 9, 1))
        other = await make_customer(harness.admin_db, meter_number="MTR-93003")
        await make_bill(harness.admin_db, other, month=date(2026, 7, 1))
        await user.send("/statement 2026-07")  # another customer has a July bill; not this one
        no_month = await user.wait_for_reply()
        await user.send("/statement next-month")
        bad = await user.wait_for_reply()
    assert "no bills yet" in none_yet.body
    assert "no bill for Jul 2026" in no_month.body
    assert "not a month" in bad.body and "/statement YYYY-MM" in bad.body
    assert user.documents() == []


async def test_a_bill_from_newbill_reaches_the_customer_as_its_statement(
    harness: Harness,
) -> None:
    staff = harness.server.user(9310, "Clerk")
    user = harness.server.user(9311, "Ada")
    await make_staff(harness, staff.id)
    async with running_bot(harness):
        await activated_customer(harness, user, full_name="Ада Лавлейс", meter_number="MTR-93011")
        for step in ("/newbill MTR-93011", "2026-10", "250"):
            await staff.send(step)
            await staff.wait_for_reply()
        await staff.press("Default tariff")
        await staff.wait_for_event(kinds=("message", "edit"))
        await staff.press("Issue bill")
        event = await staff.wait_for_event(kinds=("message", "edit"))
        assert event.message is not None
        issued = event.message
        notice = await user.wait_for_reply(predicate=lambda m: m.document is not None)

    assert "customer was notified" in issued.body
    assert notice.document is not None
    assert notice.document.filename == "statement-2026-10-MTR-93011.pdf"
    assert "New bill for Oct 2026" in notice.body and "₦17,125.00" in notice.body
    assert any(b.text == "💳 Pay now" for row in notice.inline_keyboard for b in row)
    text = pdf_text(notice.document.data)
    assert "Ада Лавлейс" in text
    assert "Energy: 250 kWh × ₦68.50 ₦17,125.00" in text
    assert "Amount due NGN ₦17,125.00" in text


async def test_bills_card_and_editbill_show_a_bill_s_lines(harness: Harness) -> None:
    """A three-band bill with a fixed charge and tax shows its lines in the customer's /bills,
    the staff card and /editbill; a one-line bill keeps ``units × rate``."""
    staff = harness.server.user(9320, "Clerk")
    user = harness.server.user(9321, "Emeka")
    await make_staff(harness, staff.id)
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-93021")
        await make_bill(harness.admin_db, customer, month=date(2026, 8, 1), units="80", rate="10")
        tiered = await bills.create_bill(
            harness.admin_db,
            customer_id=customer.customer_id,
            billing_month=date(2026, 9, 1),
            units_used=Decimal("200"),
            rate_per_unit=Decimal("1"),
            tariff=TIERED,
        )
        await user.send("/bills")
        listing = await user.wait_for_reply()
        await staff.send("/customer MTR-93021")
        card = await staff.wait_for_reply()
        await staff.send(f"/editbill {tiered.bill_id}")
        editing = await staff.wait_for_reply()
        await staff.send("/cancel")
        await staff.wait_for_reply()
        await staff.send("/bills all 2026-09")
        await staff.wait_for_reply()
        await staff.press("⬇️ Bill lines CSV")
        export = await staff.wait_for_reply(predicate=lambda m: m.document is not None)

    for shown in (listing.body, card.body, editing.body):
        for expected in (
            "• Energy 0–50 kWh: 50 kWh × ₦10.00: ₦500.00",
            "• Energy 50–150 kWh: 100 kWh × ₦20.00: ₦2,000.00",
            "• Energy above 150 kWh: 50 kWh × ₦30.00: ₦1,500.00",
            "• Fixed charge: ₦500.00",
            "• Tax 7.5%: ₦337.50",
        ):
            assert expected in shown, f"{expected!r} missing from:\n{shown}"
    assert "Total ₦4,837.50" in listing.body and "Total ₦4,837.50" in editing.body
    # August's bill is one line: it reads as units × rate, as before.
    assert "80 units × ₦10.00 = ₦800.00" in listing.body
    assert export.document is not None
    assert export.document.filename == "bill-lines-all-2026-09.csv"
    rows = list(csv.DictReader(io.StringIO(export.document.data.decode("utf-8"))))
    assert [row["kind"] for row in rows] == ["energy", "energy", "energy", "fixed", "tax"]
    assert {row["meter_number"] for row in rows} == {"MTR-93021"}
    assert rows[4]["description"] == "Tax 7.5%" and rows[4]["amount"] == "337.50"
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal(rows[0]["bill_total"])


async def test_newbill_for_a_customer_on_a_tariff_bills_its_bands_without_asking_a_rate(
    harness: Harness,
) -> None:
    """A customer on a three-band tariff with a fixed charge and tax: /newbill asks for the
    units only, shows the lines the tariff makes, and issues exactly that bill."""
    staff = harness.server.user(9320, "Clerk")
    user = harness.server.user(9321, "Tolu")
    await make_staff(harness, staff.id)
    tiered = await make_tariff(
        harness.admin_db,
        Tariff(
            code="RES-T",
            name="Residential tiered",
            customer_class="residential",
            effective_from=date(2026, 1, 1),
            bands=(
                Band(Decimal(0), Decimal(50), Decimal("0.50")),
                Band(Decimal(50), Decimal(150), Decimal("0.75")),
                Band(Decimal(150), None, Decimal("1.20")),
            ),
            fixed_charge=Decimal("5.00"),
            tax_percent=Decimal("7.5"),
        ),
    )
    async with running_bot(harness):
        customer = await activated_customer(harness, user, meter_number="MTR-93021")
        await put_on_tariff(harness.admin_db, customer.customer_id, "RES-T")
        for step in ("/newbill MTR-93021", "2026-10"):
            await staff.send(step)
            await staff.wait_for_reply()
        await staff.send("235.5")
        confirm = (await staff.wait_for_reply()).body  # before the press edits it
        await staff.press("Issue bill")
        event = await staff.wait_for_event(kinds=("message", "edit"))
        notice = await user.wait_for_reply(predicate=lambda m: m.document is not None)
    assert "Which rate" not in confirm
    assert "Tariff RES-T" in confirm and "₦223.17" in confirm
    assert "Energy above 150 kWh: 85.5 kWh × ₦1.20: ₦102.60" in confirm
    assert event.message is not None and "₦223.17" in event.message.body
    [row] = await fetch_dicts(
        harness.admin_db,
        "SELECT total_amount, units_used, rate_per_unit, tariff_version_id FROM bills",
    )
    assert row == {
        "total_amount": Decimal("223.17"),
        "units_used": Decimal("235.50"),
        "rate_per_unit": Decimal("0.8603"),
        "tariff_version_id": tiered.version_id,
    }
    lines = await fetch_dicts(
        harness.admin_db, "SELECT kind, amount FROM bill_lines ORDER BY line_id"
    )
    assert [(r["kind"], r["amount"]) for r in lines] == [
        ("energy", Decimal("25.00")),
        ("energy", Decimal("75.00")),
        ("energy", Decimal("102.60")),
        ("fixed", Decimal("5.00")),
        ("tax", Decimal("15.57")),
    ]
    assert notice.document is not None and "Tax 7.5%" in pdf_text(notice.document.data)
