"""Card payments and account credit on the real MariaDB (issue 13): invoices, the
pre-checkout answer, each provider charge recorded once, what a bill cannot take kept as
credit, credit paying the next bill, refunds. After every test the report totals equal a
recount and every customer's credit equals received − applied − refunded."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from domain import admins, card_payments, payments, report_totals
from domain.db import Database
from domain.errors import (
    CardAmountOutOfBounds,
    InsufficientCredit,
    InvalidAmount,
    InvoiceRefused,
    PaymentNotTaken,
)
from domain.models import Bill, Customer, PaymentMethod, PaymentStatus
from domain.money import Currency
from tests.conftest import Pools
from tests.factories import fetch_dicts, make_bill, make_customer

NAIRA = Currency("NGN", "₦")
LIFETIME = timedelta(minutes=30)
_charges = itertools.count(1)


async def _credit_recount_differences(db: Database) -> list[dict[str, Any]]:
    """Customers whose credit is not received + restored − applied − refunded."""
    return await fetch_dicts(
        db,
        "SELECT c.customer_id, c.credit, COALESCE(SUM(IF(e.kind IN ('received', 'restored'),"
        " e.amount, -e.amount)), 0) AS counted FROM customers c LEFT JOIN credit_entries e"
        " ON e.customer_id = c.customer_id GROUP BY c.customer_id, c.credit"
        " HAVING c.credit <> counted",
    )


@pytest.fixture
async def books(pools: Pools, admin_db: Database) -> AsyncIterator[Pools]:
    """Both pools over empty tables; afterwards, every total equals a recount."""
    yield pools
    assert await report_totals.differences(admin_db) == []
    assert await _credit_recount_differences(admin_db) == []


async def _linked_customer(db: Database, telegram_user_id: int) -> Customer:
    customer = await make_customer(db)
    async with db.unit_of_work() as uow:
        await uow.connection.cursor()
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "UPDATE customers SET telegram_user_id = %s WHERE customer_id = %s",
                (telegram_user_id, customer.customer_id),
            )
        await uow.commit()
    return customer


async def _invoice(
    pools: Pools,
    customer: Customer,
    bill: Bill,
    amount: Decimal | None = None,
    lifetime: timedelta = LIFETIME,
) -> card_payments.Invoice:
    """The customer asks to pay ``amount`` (default: all that is owed) of ``bill`` by card."""
    return await card_payments.create_invoice(
        pools.customer,
        customer_id=customer.customer_id,
        bill_id=bill.bill_id,
        amount=bill.outstanding if amount is None else amount,
        currency=NAIRA,
        lifetime=lifetime,
    )


def _charge() -> payments.ChargeIds:
    n = next(_charges)
    return payments.ChargeIds(f"tg-charge-{n}", f"provider-{n}")


async def _pay_invoice(
    pools: Pools, invoice: card_payments.Invoice, charge: payments.ChargeIds | None = None
) -> card_payments.ChargeResult:
    return await card_payments.record_charge(
        pools.admin,
        reference=invoice.reference,
        charge=charge or _charge(),
        currency_code="NGN",
        total_minor=NAIRA.to_minor(invoice.amount),
        currency=NAIRA,
    )


async def test_an_invoice_paid_records_one_card_payment_with_both_charge_ids(
    books: Pools,
) -> None:
    """Invoice → pre-checkout accepted → charge: the bill is paid by one card payment that
    carries both charge ids, the invoice is paid, nothing becomes credit."""
    customer = await _linked_customer(books.admin, 9001)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    invoice = await _invoice(books, customer, bill)
    twin = await _invoice(books, customer, bill)
    # The payload is random: the same bill and amount give another one, naming neither.
    assert len(invoice.reference) == 32 and twin.reference != invoice.reference
    await card_payments.check_pre_checkout(
        books.customer,
        reference=invoice.reference,
        telegram_user_id=9001,
        currency_code="NGN",
        total_minor=100_000,
        currency=NAIRA,
    )
    result = await _pay_invoice(books, invoice, payments.ChargeIds("tg-1", "prov-1"))
    assert result.created and result.credited == 0 and result.payment is not None
    assert result.bill.payment_status is PaymentStatus.PAID
    [row] = await fetch_dicts(
        books.admin,
        "SELECT payment_method, amount_paid, telegram_payment_charge_id,"
        " provider_payment_charge_id FROM payments",
    )
    assert row == {
        "payment_method": "card",
        "amount_paid": Decimal("1000.00"),
        "telegram_payment_charge_id": "tg-1",
        "provider_payment_charge_id": "prov-1",
    }
    statuses = await fetch_dicts(books.admin, "SELECT status FROM invoices ORDER BY invoice_id")
    assert statuses == [{"status": "paid"}, {"status": "pending"}]


async def test_the_pre_checkout_is_refused_when_an_office_payment_cleared_the_bill(
    books: Pools,
) -> None:
    """Staff took the money at the office after the invoice was sent: Telegram is told not
    to charge (reason bill_paid), and nothing is recorded."""
    customer = await _linked_customer(books.admin, 9002)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    invoice = await _invoice(books, customer, bill)
    clerk = await admins.create_admin(
        books.admin, admin_name="Clerk", email="clerk@utility.example", password="clerk-pass-1"
    )
    await payments.pay_bill(
        books.admin,
        bill_id=bill.bill_id,
        amount=bill.outstanding,
        method="cash",
        idempotency_key="office-1",
        admin_id=clerk.admin_id,
    )
    with pytest.raises(InvoiceRefused) as refused:
        await card_payments.check_pre_checkout(
            books.customer,
            reference=invoice.reference,
            telegram_user_id=9002,
            currency_code="NGN",
            total_minor=100_000,
            currency=NAIRA,
        )
    assert refused.value.reason == "bill_paid"
    assert await fetch_dicts(books.admin, "SELECT * FROM provider_charges") == []


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("someone else pays", "not_yours"),
        ("expired", "expired"),
        ("unknown reference", "unknown"),
        ("another amount", "amount_mismatch"),
        ("another currency", "amount_mismatch"),
        ("balance went down", "balance_changed"),
    ],
)
async def test_the_pre_checkout_refuses_whatever_does_not_match_the_invoice(
    books: Pools, case: str, reason: str
) -> None:
    """Each check of the pre-checkout names what failed; nothing is recorded."""
    customer = await _linked_customer(books.admin, 9003)
    await _linked_customer(books.admin, 9004)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    invoice = await _invoice(
        books,
        customer,
        bill,
        Decimal("600.00"),
        lifetime=timedelta(seconds=-1) if case == "expired" else LIFETIME,
    )
    if case == "balance went down":
        clerk = await admins.create_admin(
            books.admin, admin_name="Clerk", email="c@utility.example", password="clerk-pass-1"
        )
        await payments.pay_bill(
            books.admin,
            bill_id=bill.bill_id,
            amount=Decimal("500.00"),
            method="pos",
            idempotency_key="office-2",
            admin_id=clerk.admin_id,
        )
    with pytest.raises(InvoiceRefused) as refused:
        await card_payments.check_pre_checkout(
            books.customer,
            reference="f" * 32 if case == "unknown reference" else invoice.reference,
            telegram_user_id=9004 if case == "someone else pays" else 9003,
            currency_code="USD" if case == "another currency" else "NGN",
            total_minor=60_001 if case == "another amount" else 60_000,
            currency=NAIRA,
        )
    assert refused.value.reason == reason
    if reason == "balance_changed":
        assert refused.value.outstanding == Decimal("500.00")


async def test_a_charge_after_the_bill_was_cleared_becomes_credit_that_pays_the_next_bill(
    books: Pools,
) -> None:
    """The office took the money between pre-checkout and charge: the charge is recorded all
    the same, all of it as credit; the next bill issued is paid from that credit at once."""
    customer = await _linked_customer(books.admin, 9005)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    invoice = await _invoice(books, customer, bill)
    clerk = await admins.create_admin(
        books.admin, admin_name="Clerk", email="k@utility.example", password="clerk-pass-1"
    )
    await payments.pay_bill(
        books.admin,
        bill_id=bill.bill_id,
        amount=bill.outstanding,
        method="cash",
        idempotency_key="office-3",
        admin_id=clerk.admin_id,
    )
    result = await _pay_invoice(books, invoice)
    assert result.created and result.payment is None
    assert (result.credited, result.credit_balance) == (Decimal("1000.00"), Decimal("1000.00"))

    from datetime import date

    nxt = await make_bill(books.admin, customer, month=date(2026, 10, 1), units="600", rate="1")
    assert (nxt.amount_paid, nxt.payment_status) == (Decimal("600.00"), PaymentStatus.PAID)
    assert await card_payments.credit_balance(books.customer, customer.customer_id) == Decimal(
        "400.00"
    )
    [applied] = await fetch_dicts(
        books.admin,
        "SELECT payment_method, amount_paid FROM payments WHERE bill_id = %s",
        nxt.bill_id,
    )
    assert applied == {"payment_method": "credit", "amount_paid": Decimal("600.00")}


async def test_the_same_charge_delivered_twice_is_recorded_once(books: Pools) -> None:
    """A re-delivered successful_payment (and ten concurrent deliveries) changes nothing."""
    customer = await _linked_customer(books.admin, 9006)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    invoice = await _invoice(books, customer, bill, Decimal("700.00"))
    charge = _charge()
    results = await asyncio.gather(*(_pay_invoice(books, invoice, charge) for _ in range(10)))
    assert sum(r.created for r in results) == 1
    assert {r.payment.payment_id for r in results if r.payment} == {
        next(r.payment.payment_id for r in results if r.created and r.payment)
    }
    again = await _pay_invoice(books, invoice, charge)
    assert not again.created
    [count] = await fetch_dicts(books.admin, "SELECT COUNT(*) AS n FROM payments")
    assert count == {"n": 1}
    assert (await fetch_dicts(books.admin, "SELECT amount_paid FROM bills"))[0]["amount_paid"] == (
        Decimal("700.00")
    )


async def test_the_same_invoice_paid_twice_puts_the_second_charge_into_credit(
    books: Pools,
) -> None:
    """Telegram lets an invoice be paid again: the second charge is never refused; the bill
    has nothing left for it, so all of it is credit."""
    customer = await _linked_customer(books.admin, 9007)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    invoice = await _invoice(books, customer, bill)
    first = await _pay_invoice(books, invoice)
    second = await _pay_invoice(books, invoice)
    assert first.payment is not None and first.credited == 0
    assert second.payment is None and second.credited == Decimal("1000.00")
    assert second.credit_balance == Decimal("1000.00")


async def test_a_customer_pays_from_credit_but_never_more_than_they_have(books: Pools) -> None:
    """/pay with credit: the credit pays the bill; more than the credit is refused."""
    customer = await _linked_customer(books.admin, 9008)
    first = await make_bill(books.admin, customer, units="500", rate="1.00")
    invoice = await _invoice(books, customer, first)
    await _pay_invoice(books, invoice)
    await _pay_invoice(books, invoice)  # paid twice: 500.00 of credit
    from datetime import date

    # Issued before the credit existed would have taken it; this one is paid from it at once.
    second = await make_bill(books.admin, customer, month=date(2026, 10, 1), units="800", rate="1")
    assert second.amount_paid == Decimal("500.00")
    assert await card_payments.credit_balance(books.admin, customer.customer_id) == 0
    with pytest.raises(InsufficientCredit):
        await payments.pay_bill(
            books.customer,
            bill_id=second.bill_id,
            amount=Decimal("1.00"),
            method=PaymentMethod.CREDIT,
            idempotency_key="credit-1",
            customer_id=customer.customer_id,
        )


async def test_a_customer_cannot_record_a_card_or_transfer_payment_by_saying_so(
    books: Pools,
) -> None:
    """The domain refuses a declared payment; the database refuses it from the customer
    account too (no charge, no recorder), and refuses a payment from credit not held."""
    customer = await _linked_customer(books.admin, 9009)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    for method in ("card", "bank_transfer", "mobile_money", "cash", "pos"):
        with pytest.raises(PaymentNotTaken):
            await payments.pay_bill(
                books.customer,
                bill_id=bill.bill_id,
                amount=Decimal("10.00"),
                method=method,
                idempotency_key=f"declared-{method}",
                customer_id=customer.customer_id,
            )
    for method, code in (("card", 1644), ("mobile_money", 1644), ("credit", 4025)):
        async with books.customer.unit_of_work() as uow:
            with pytest.raises(pymysql.err.MySQLError) as refused:
                async with uow.connection.cursor() as cur:
                    await cur.execute(
                        "INSERT INTO payments (bill_id, date_of_payment, amount_paid,"
                        " payment_method, billing_month, payment_status, receipt_number,"
                        " idempotency_key, bill_total, paid_to_date, units_used, rate_per_unit)"
                        " VALUES (%s, UTC_TIMESTAMP(), 10, %s, '2026-09-01', 'partial', %s, %s,"
                        " 0, 0, 0, 0)",
                        (bill.bill_id, method, f"R-{method}", f"raw-{method}"),
                    )
            assert refused.value.args[0] == code, refused.value
    assert (await fetch_dicts(books.admin, "SELECT amount_paid FROM bills"))[0]["amount_paid"] == 0


async def test_an_invoice_outside_telegrams_bounds_is_not_made(books: Pools) -> None:
    """Below ₦412 or above ₦4,120,000 Telegram refuses the invoice: the domain says so
    first, naming the bounds."""
    customer = await _linked_customer(books.admin, 9010)
    bill = await make_bill(books.admin, customer, units="1000", rate="1.00")
    with pytest.raises(CardAmountOutOfBounds) as refused:
        await _invoice(books, customer, bill, Decimal("411.99"))
    assert (refused.value.minimum, refused.value.maximum) == (
        Decimal("412.00"),
        Decimal("4120000.00"),
    )
    assert await fetch_dicts(books.admin, "SELECT * FROM invoices") == []


async def test_staff_refund_credit_with_a_reason_and_never_more_than_there_is(
    books: Pools,
) -> None:
    """A refund takes credit away, is recorded with its reason and audited; more than the
    credit is refused; a void of a payment from credit gives the credit back."""
    customer = await _linked_customer(books.admin, 9011)
    bill = await make_bill(books.admin, customer, units="500", rate="1.00")
    invoice = await _invoice(books, customer, bill)
    await _pay_invoice(books, invoice)
    await _pay_invoice(books, invoice)  # 500.00 of credit
    clerk = await admins.create_admin(
        books.admin, admin_name="Clerk", email="r@utility.example", password="clerk-pass-1"
    )
    with pytest.raises(InvalidAmount):
        await card_payments.refund_credit(
            books.admin,
            customer.customer_id,
            amount=Decimal("500.01"),
            admin_id=clerk.admin_id,
            reason="paid back by transfer",
        )
    left = await card_payments.refund_credit(
        books.admin,
        customer.customer_id,
        amount=Decimal("200.00"),
        admin_id=clerk.admin_id,
        reason="paid back by transfer",
    )
    assert left == Decimal("300.00")
    entries = await fetch_dicts(books.admin, "SELECT kind, amount, reason FROM credit_entries")
    assert {
        "kind": "refunded",
        "amount": Decimal("200.00"),
        "reason": "paid back by transfer",
    } in (entries)
    [audit_row] = await fetch_dicts(
        books.admin, "SELECT admin_id, after_data FROM audit_log WHERE action = 'credit.refund'"
    )
    assert audit_row["admin_id"] == clerk.admin_id and "paid back" in audit_row["after_data"]

    from datetime import date

    nxt = await make_bill(books.admin, customer, month=date(2026, 10, 1), units="100", rate="1")
    [credit_payment] = await fetch_dicts(
        books.admin, "SELECT payment_id FROM payments WHERE bill_id = %s", nxt.bill_id
    )
    await payments.void_payment(
        books.admin, credit_payment["payment_id"], admin_id=clerk.admin_id, reason="wrong bill"
    )
    assert await card_payments.credit_balance(books.admin, customer.customer_id) == Decimal(
        "300.00"
    )


async def test_voiding_a_card_payment_records_the_refund_owed_at_the_provider(
    books: Pools,
) -> None:
    """A card charge paid 600.00 of a bill and put 400.00 into credit; staff void the card
    payment: the bill owes 600.00 again, the 400.00 of credit goes back too, and a refund of
    1,000.00 is owed at the provider with both charge ids; marking it made once works, a
    second time does nothing; a refund cannot be rewritten by hand."""
    customer = await _linked_customer(books.admin, 9012)
    bill = await make_bill(books.admin, customer, units="600", rate="1.00")
    invoice = await _invoice(books, customer, bill)
    charge = payments.ChargeIds("tg-void-1", "prov-void-1")
    result = await card_payments.record_charge(
        books.admin,
        reference=invoice.reference,
        charge=charge,
        currency_code="NGN",
        total_minor=100_000,  # 1,000.00 against 600.00 owed
        currency=NAIRA,
    )
    assert result.payment is not None and result.credited == Decimal("400.00")
    clerk = await admins.create_admin(
        books.admin, admin_name="Clerk", email="v@utility.example", password="clerk-pass-1"
    )
    voided = await payments.void_payment(
        books.admin, result.payment.payment_id, admin_id=clerk.admin_id, reason="card disputed"
    )
    assert voided.bill.outstanding == Decimal("600.00")
    assert voided.refund_owed == Decimal("1000.00")
    assert await card_payments.credit_balance(books.admin, customer.customer_id) == 0
    [owed] = await card_payments.refunds(books.admin, status="owed")
    assert (owed.amount, owed.telegram_payment_charge_id, owed.provider_payment_charge_id) == (
        Decimal("1000.00"),
        "tg-void-1",
        "prov-void-1",
    )
    assert await card_payments.mark_refund_made(
        books.admin, owed.refund_id, admin_id=clerk.admin_id, provider_reference="RF-77"
    )
    assert not await card_payments.mark_refund_made(
        books.admin, owed.refund_id, admin_id=clerk.admin_id, provider_reference="RF-78"
    )
    [made] = await card_payments.refunds(books.admin, status="made")
    assert made.provider_reference == "RF-77"
    async with books.admin.unit_of_work() as uow:
        with pytest.raises(pymysql.err.MySQLError) as refused:
            async with uow.connection.cursor() as cur:
                await cur.execute("UPDATE provider_refunds SET amount = 1.00")
    assert refused.value.args[0] == 1644


async def test_a_voided_card_payment_whose_credit_was_spent_owes_only_the_rest_back(
    books: Pools,
) -> None:
    """The charge's credit already paid the next bill: only the voided payment (and no
    credit the customer no longer has) is owed back."""
    customer = await _linked_customer(books.admin, 9013)
    bill = await make_bill(books.admin, customer, units="600", rate="1.00")
    invoice = await _invoice(books, customer, bill)
    result = await card_payments.record_charge(
        books.admin,
        reference=invoice.reference,
        charge=payments.ChargeIds("tg-void-2", "prov-void-2"),
        currency_code="NGN",
        total_minor=100_000,
        currency=NAIRA,
    )
    from datetime import date

    nxt = await make_bill(books.admin, customer, month=date(2026, 10, 1), units="500", rate="1")
    assert nxt.amount_paid == Decimal("400.00")  # the credit went into the next bill
    clerk = await admins.create_admin(
        books.admin, admin_name="Clerk", email="w@utility.example", password="clerk-pass-1"
    )
    assert result.payment is not None
    voided = await payments.void_payment(
        books.admin, result.payment.payment_id, admin_id=clerk.admin_id, reason="card disputed"
    )
    assert voided.refund_owed == Decimal("600.00")
