"""Payments under concurrency, on the real MariaDB: no lost, no duplicated money.

Customers pay from their account credit (the only payment a customer records by themselves,
issue 13): each customer is given credit first, as a provider charge the bill could not take,
and every payment must take exactly its amount off that credit."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest

from domain import card_payments, payments
from domain.db import Database
from domain.errors import (
    AmountExceedsBalance,
    BillAlreadyPaid,
    BillNotFound,
    DomainError,
    InsufficientCredit,
    InvalidAmount,
)
from domain.models import PaymentMethod, PaymentStatus
from tests.factories import give_credit, make_bill, make_customer


async def _payment_rows(db: Database, bill_id: int) -> list[dict[str, object]]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "SELECT payment_id, amount_paid, receipt_number FROM payments WHERE bill_id = %s",
                (bill_id,),
            )
            return [
                {"payment_id": r[0], "amount_paid": r[1], "receipt_number": r[2]}
                for r in await cur.fetchall()
            ]


async def test_fifty_concurrent_payments_of_ten_on_a_bill_of_123_45_let_exactly_twelve_through(
    customer_db: Database, admin_db: Database
) -> None:
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, units="100", rate="1.2345")
    assert bill.total_amount == Decimal("123.45")
    await give_credit(admin_db, bill, "500.00")  # the bill is the limit, never the credit

    async def pay(i: int) -> object:
        try:
            return await payments.pay_bill(
                customer_db,
                bill_id=bill.bill_id,
                amount=Decimal("10.00"),
                method=PaymentMethod.CREDIT,
                idempotency_key=f"k-{i}",
                customer_id=customer.customer_id,
            )
        except DomainError as exc:
            return exc

    results = await asyncio.gather(*(pay(i) for i in range(50)))
    succeeded = [r for r in results if isinstance(r, payments.PaymentResult)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(succeeded) == 12
    assert len(refused) == 38 and all(isinstance(r, AmountExceedsBalance) for r in refused)

    last = await payments.pay_bill(
        customer_db,
        bill_id=bill.bill_id,
        amount=Decimal("3.45"),
        method=PaymentMethod.CREDIT,
        idempotency_key="last",
        customer_id=customer.customer_id,
    )
    assert last.bill.payment_status is PaymentStatus.PAID
    assert last.bill.amount_paid == Decimal("123.45")
    with pytest.raises(BillAlreadyPaid):
        await payments.pay_bill(
            customer_db,
            bill_id=bill.bill_id,
            amount=Decimal("0.01"),
            method=PaymentMethod.CREDIT,
            idempotency_key="one-more",
        )
    rows = await _payment_rows(admin_db, bill.bill_id)
    assert len(rows) == 13
    assert sum(Decimal(str(r["amount_paid"])) for r in rows) == last.bill.amount_paid
    assert len({r["receipt_number"] for r in rows}) == 13
    assert await card_payments.credit_balance(admin_db, customer.customer_id) == Decimal("376.55")


async def test_twenty_concurrent_confirms_with_one_key_record_one_payment_and_one_receipt(
    customer_db: Database, admin_db: Database
) -> None:
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    await give_credit(admin_db, bill, "100.00")

    results = await asyncio.gather(
        *(
            payments.pay_bill(
                customer_db,
                bill_id=bill.bill_id,
                amount=Decimal("50.00"),
                method=PaymentMethod.CREDIT,
                idempotency_key="same-key",
                customer_id=customer.customer_id,
            )
            for _ in range(20)
        )
    )
    rows = await _payment_rows(admin_db, bill.bill_id)
    assert len(rows) == 1
    assert {r.payment.payment_id for r in results} == {rows[0]["payment_id"]}
    assert {r.payment.receipt_number for r in results} == {rows[0]["receipt_number"]}
    assert sum(r.created for r in results) == 1
    assert results[0].bill.amount_paid == Decimal("50.00")
    assert await card_payments.credit_balance(admin_db, customer.customer_id) == Decimal("50.00")


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (Decimal("0"), InvalidAmount),
        (Decimal("0.00"), InvalidAmount),
        (Decimal("-5.00"), InvalidAmount),
        (Decimal("0.001"), InvalidAmount),
        (Decimal("123.46"), AmountExceedsBalance),
    ],
)
async def test_a_bad_amount_is_refused_with_its_own_error_and_writes_nothing(
    customer_db: Database, admin_db: Database, amount: Decimal, error: type[Exception]
) -> None:
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    await give_credit(admin_db, bill, "1000.00")  # the amount is refused, not the credit
    with pytest.raises(error):
        await payments.pay_bill(
            customer_db,
            bill_id=bill.bill_id,
            amount=amount,
            method=PaymentMethod.CREDIT,
            idempotency_key="bad",
            customer_id=customer.customer_id,
        )
    assert await _payment_rows(admin_db, bill.bill_id) == []
    assert await card_payments.credit_balance(admin_db, customer.customer_id) == Decimal("1000.00")


async def test_a_payment_on_a_paid_bill_is_refused_and_writes_nothing(
    customer_db: Database, admin_db: Database
) -> None:
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    await give_credit(admin_db, bill, bill.total_amount + Decimal("1.00"))
    await payments.pay_bill(
        customer_db,
        bill_id=bill.bill_id,
        amount=bill.total_amount,
        method=PaymentMethod.CREDIT,
        idempotency_key="full",
    )
    with pytest.raises(BillAlreadyPaid) as refused:
        await payments.pay_bill(
            customer_db,
            bill_id=bill.bill_id,
            amount=Decimal("1.00"),
            method=PaymentMethod.CREDIT,
            idempotency_key="again",
        )
    assert "already fully paid" in str(refused.value)
    assert len(await _payment_rows(admin_db, bill.bill_id)) == 1
    assert await card_payments.credit_balance(admin_db, customer.customer_id) == Decimal("1.00")


async def test_an_unknown_bill_or_another_customers_bill_is_refused_as_not_found(
    customer_db: Database, admin_db: Database
) -> None:
    owner = await make_customer(admin_db)
    other = await make_customer(admin_db)
    bill = await make_bill(admin_db, owner)
    await give_credit(admin_db, bill, "10.00")
    with pytest.raises(BillNotFound):
        await payments.pay_bill(
            customer_db,
            bill_id=bill.bill_id + 999,
            amount=Decimal("1.00"),
            method=PaymentMethod.CREDIT,
            idempotency_key="unknown",
        )
    with pytest.raises(BillNotFound):
        await payments.pay_bill(
            customer_db,
            bill_id=bill.bill_id,
            amount=Decimal("1.00"),
            method=PaymentMethod.CREDIT,
            idempotency_key="not-mine",
            customer_id=other.customer_id,
        )
    assert await _payment_rows(admin_db, bill.bill_id) == []
    assert await card_payments.credit_balance(admin_db, owner.customer_id) == Decimal("10.00")


async def test_concurrent_payments_from_credit_on_three_bills_never_spend_more_than_it(
    customer_db: Database, admin_db: Database
) -> None:
    """100.00 of credit, three open bills, thirty concurrent payments of 10.00 spread over
    them: exactly ten go through, the rest are refused for want of credit, and the credit
    ends at zero, never below (the customer's credit row is locked after the bill's)."""
    customer = await make_customer(admin_db)
    bills = [
        await make_bill(admin_db, customer, month=date(2026, month, 1), units="100", rate="1")
        for month in (7, 8, 9)
    ]
    await give_credit(admin_db, bills[0], "100.00")

    async def pay(i: int) -> object:
        try:
            return await payments.pay_bill(
                customer_db,
                bill_id=bills[i % 3].bill_id,
                amount=Decimal("10.00"),
                method=PaymentMethod.CREDIT,
                idempotency_key=f"spread-{i}",
                customer_id=customer.customer_id,
            )
        except DomainError as exc:
            return exc

    results = await asyncio.gather(*(pay(i) for i in range(30)))
    succeeded = [r for r in results if isinstance(r, payments.PaymentResult)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(succeeded) == 10
    assert len(refused) == 20 and all(isinstance(r, InsufficientCredit) for r in refused)
    assert await card_payments.credit_balance(admin_db, customer.customer_id) == 0
    rows = [row for b in bills for row in await _payment_rows(admin_db, b.bill_id)]
    assert len(rows) == 10
    assert sum(Decimal(str(r["amount_paid"])) for r in rows) == Decimal("100.00")
