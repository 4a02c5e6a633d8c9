"""Receipts on the real MariaDB (issue 14, item F): a receipt sent again later shows the
details as they were when the payment was made.

Proves: the customer's name, meter and address, the bill's month, due date and total, and the
name of the clerk who recorded an office payment are those of the moment of payment, whatever
/editcustomer, /profile and /editbill change afterwards; the re-drawn PDF is the same bytes;
the customer account reads its own receipt (and no one else's); a payment whose details were
not kept (bulk-loaded) shows the current ones.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from domain import bills, card_payments, customers, ledger, payments, receipts
from domain.db import Database
from domain.errors import PaymentNotFound
from domain.models import PaymentMethod, Receipt
from domain.money import Currency
from handlers.render.receipt import render_receipt_pdf
from tests.billrun_support import make_tariff
from tests.factories import give_credit, make_bill, make_clerk, make_customer, office_payment
from tests.test_domain_billrun import THREE_BANDS

NAIRA = Currency("NGN", "₦")


def draw(receipt: Receipt) -> bytes:
    return render_receipt_pdf(
        receipt,
        utility_name="City Power & Light",
        currency=NAIRA,
        timezone=ZoneInfo("Africa/Lagos"),
        contact="Customer care: 0700 000 0000",
    )


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))


async def test_a_receipt_sent_again_shows_what_was_true_at_payment_time(
    admin_db: Database, customer_db: Database
) -> None:
    clerk = await make_clerk(admin_db)
    customer = await make_customer(
        admin_db, full_name="Ngozi Okafor", meter_number="MTR-71001", address="1 Old Road"
    )
    bill = await make_bill(admin_db, customer, month=date(2026, 9, 1), units="100", rate="10")
    paid = await office_payment(admin_db, bill, "400.00")
    first = await receipts.receipt(admin_db, paid.payment.payment_id)
    assert (first.customer_name, first.meter_number, first.address) == (
        "Ngozi Okafor",
        "MTR-71001",
        "1 Old Road",
    )
    assert (first.billing_month, first.due_date) == (date(2026, 9, 1), bill.due_date)
    assert first.recorded_by == clerk.admin_name
    assert (first.bill_total, first.paid_to_date, first.balance) == (
        Decimal("1000.00"),
        Decimal("400.00"),
        Decimal("600.00"),
    )
    pdf = draw(first)
    text = pdf_text(pdf)
    for expected in (
        "Ngozi Okafor",
        "1 Old Road",
        "Billing month Sep 2026",
        f"Due date {bill.due_date:%d %b %Y}",
        f"Recorded by {clerk.admin_name}",
        "This payment NGN ₦400.00",
        "Bill total NGN ₦1,000.00",
        "Customer care: 0700 000 0000",
    ):
        assert expected in text, f"{expected!r} missing:\n{text}"

    # Everything a receipt shows that can change later, changed.
    admin = clerk.admin_id
    await customers.edit_by_admin(
        admin_db, customer.customer_id, "full_name", "Ngozi Eze", admin_id=admin
    )
    await customers.edit_by_admin(
        admin_db, customer.customer_id, "meter_number", "MTR-71999", admin_id=admin
    )
    await customers.update_contact(customer_db, customer.customer_id, address="9 New Road")
    moved = await bills.update_bill(
        admin_db,
        bill.bill_id,
        billing_month=date(2026, 8, 1),
        rate_per_unit=Decimal("12"),
        issued_on=date(2026, 8, 31),  # a correction dated then moves the due date
        admin_id=admin,
    )
    assert moved.due_date != bill.due_date and moved.total_amount == Decimal("1200.00")

    again = await receipts.receipt(admin_db, paid.payment.payment_id)
    assert again == first
    assert draw(again) == pdf  # the same document, byte for byte
    mine = await receipts.receipt(
        customer_db, paid.payment.payment_id, customer_id=customer.customer_id
    )
    assert mine == first  # the customer account reads it too (no privilege on admins needed)


async def test_a_customer_s_own_payment_names_no_recorder_and_others_cannot_read_it(
    admin_db: Database, customer_db: Database
) -> None:
    customer = await make_customer(admin_db)
    stranger = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    await give_credit(admin_db, bill, "50.00")
    paid = await payments.pay_bill(
        customer_db,
        bill_id=bill.bill_id,
        amount=Decimal("20.00"),
        method=PaymentMethod.CREDIT,
        idempotency_key="own-credit-1",
        customer_id=customer.customer_id,
    )
    receipt = await receipts.receipt(
        customer_db, paid.payment.payment_id, customer_id=customer.customer_id
    )
    assert receipt.recorded_by is None and receipt.due_date == bill.due_date
    assert "Recorded by" not in pdf_text(draw(receipt))
    with pytest.raises(PaymentNotFound):
        await receipts.receipt(
            customer_db, paid.payment.payment_id, customer_id=stranger.customer_id
        )
    with pytest.raises(PaymentNotFound):
        await receipts.receipt(admin_db, paid.payment.payment_id + 999)


async def test_a_payment_whose_details_were_not_kept_shows_the_current_ones(
    admin_db: Database, customer_db: Database
) -> None:
    """A payment loaded with the triggers set aside (the benchmarks' bulk load) has no kept
    details: its receipt shows the customer's and bill's current ones, and says an office
    payment was recorded by staff (the customer account may not read who)."""
    customer = await make_customer(admin_db, full_name="Bulk Loaded", address="3 Load Lane")
    bill = await make_bill(admin_db, customer)
    paid = await office_payment(admin_db, bill, "5.00")
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "DELETE FROM payment_receipts WHERE payment_id = %s", (paid.payment.payment_id,)
        )
        await uow.commit()
    await customers.update_contact(customer_db, customer.customer_id, address="4 Now Street")
    receipt = await receipts.receipt(
        customer_db, paid.payment.payment_id, customer_id=customer.customer_id
    )
    assert (receipt.customer_name, receipt.address) == ("Bulk Loaded", "4 Now Street")
    assert receipt.due_date == bill.due_date and receipt.recorded_by == receipts.UNNAMED_STAFF


async def test_a_receipt_keeps_the_account_credit_right_after_its_payment(
    admin_db: Database, customer_db: Database
) -> None:
    """Issue 13: credit is shown on receipts. A card charge of 1,000.00 on a bill owing 600.00
    (400.00 paid at the office first): its receipt says 400.00 of credit; the next payment,
    100.00 from that credit on another bill, says 300.00; both stay so when sent again after
    the credit has changed."""
    customer = await make_customer(admin_db)
    first = await make_bill(admin_db, customer, units="100", rate="10")  # 1,000.00
    second = await make_bill(admin_db, customer, month=date(2026, 10, 1), units="50", rate="10")
    invoice = await card_payments.create_invoice(
        customer_db,
        customer_id=customer.customer_id,
        bill_id=first.bill_id,
        amount=Decimal("1000.00"),
        currency=NAIRA,
        lifetime=timedelta(minutes=30),
    )
    office = await office_payment(admin_db, first, "400.00")
    charge = await card_payments.record_charge(
        admin_db,
        reference=invoice.reference,
        charge=payments.ChargeIds("tg-receipt-credit", "prov-receipt-credit"),
        currency_code="NGN",
        total_minor=NAIRA.to_minor(Decimal("1000.00")),
        currency=NAIRA,
    )
    assert charge.payment is not None and charge.credited == Decimal("400.00")
    from_credit = await payments.pay_bill(
        customer_db,
        bill_id=second.bill_id,
        amount=Decimal("100.00"),
        method="credit",
        idempotency_key="receipt-credit-1",
        customer_id=customer.customer_id,
    )
    card_receipt = await receipts.receipt(admin_db, charge.payment.payment_id)
    credit_receipt = await receipts.receipt(
        customer_db, from_credit.payment.payment_id, customer_id=customer.customer_id
    )
    assert card_receipt.credit_after == Decimal("400.00")
    assert credit_receipt.credit_after == Decimal("300.00")
    # The office payment came before any credit: its receipt says none.
    office_receipt = await receipts.receipt(admin_db, office.payment.payment_id)
    assert office_receipt.credit_after == Decimal("0.00")


async def test_a_banded_bill_s_receipt_keeps_its_lines_as_paid(
    admin_db: Database, customer_db: Database
) -> None:
    """Issue 15: a receipt lists the bill's lines (bands, fixed charge, tax) as they were
    when it was paid; a correction of the bill afterwards rewrites the bill's lines but not
    the receipt's."""
    await make_clerk(admin_db)
    tariff = await make_tariff(admin_db, THREE_BANDS)
    customer = await make_customer(admin_db, meter_number="MTR-71003")
    bill = await bills.create_bill(
        admin_db,
        customer_id=customer.customer_id,
        billing_month=date(2026, 9, 1),
        units_used=Decimal("150.01"),
        rate_per_unit=Decimal(1),
        tariff=tariff,
    )
    paid = await office_payment(admin_db, bill, "1000.00")
    first = await receipts.receipt(admin_db, paid.payment.payment_id)
    as_issued = await ledger.lines(admin_db, bill.bill_id)
    assert first.bill_lines == as_issued and len(as_issued) == 5
    text = pdf_text(draw(first))
    for expected in ("Energy 50–150 kWh: 100 kWh × ₦18.7501", "Fixed charge", "Tax 7.5%"):
        assert expected in text, f"{expected!r} missing:\n{text}"

    await bills.update_bill(admin_db, bill.bill_id, units_used=Decimal("120"), admin_id=None)
    assert await ledger.lines(admin_db, bill.bill_id) != as_issued
    again = await receipts.receipt(customer_db, paid.payment.payment_id)
    assert again.bill_lines == as_issued
    assert draw(again) == draw(first)
