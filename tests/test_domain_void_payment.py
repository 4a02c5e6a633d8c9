"""Voiding a payment on the real MariaDB: reversed, recomputed, recorded, never deleted."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain import admins, card_payments, payments, receipts
from domain.db import Database
from domain.errors import ControlCharacters, InvalidInput, PaymentAlreadyVoided, PaymentNotFound
from domain.models import PaymentMethod, PaymentStatus, now_utc
from tests.factories import give_credit, make_bill, make_customer

VOIDED_AT = datetime(2026, 10, 5, 12, 30, tzinfo=UTC)


async def _rows(db: Database, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def _admin_id(db: Database) -> int:
    admin = await admins.create_admin(
        db, admin_name="Void Clerk", email="void@utility.example", password="void-clerk-1"
    )
    return admin.admin_id


async def test_voiding_a_payment_reverses_it_and_keeps_it_on_record(admin_db: Database) -> None:
    """A paid bill (100.00 + 23.45) becomes partial at 23.45; the payment row stays, void."""
    admin_id = await _admin_id(admin_db)
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, units="100", rate="1.2345")
    first = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=Decimal("100.00"),
        method="cash",
        idempotency_key="v-1",
        admin_id=admin_id,
    )
    second = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=Decimal("23.45"),
        method="pos",
        idempotency_key="v-2",
        admin_id=admin_id,
    )
    assert second.bill.payment_status is PaymentStatus.PAID

    voided = await payments.void_payment(
        admin_db,
        first.payment.payment_id,
        admin_id=admin_id,
        reason="  cheque   bounced ",
        now=VOIDED_AT,
    )
    assert voided.bill.amount_paid == Decimal("23.45")
    assert voided.bill.payment_status is PaymentStatus.PARTIAL
    assert voided.payment.is_void and voided.payment.voided_at == VOIDED_AT

    rows = await _rows(
        admin_db,
        "SELECT payment_id, amount_paid, voided_at, voided_by_admin_id, void_reason "
        "FROM payments ORDER BY payment_id",
    )
    assert rows == [
        {
            "payment_id": first.payment.payment_id,
            "amount_paid": Decimal("100.00"),
            "voided_at": VOIDED_AT.replace(tzinfo=None),
            "voided_by_admin_id": admin_id,
            "void_reason": "cheque bounced",
        },
        {
            "payment_id": second.payment.payment_id,
            "amount_paid": Decimal("23.45"),
            "voided_at": None,
            "voided_by_admin_id": None,
            "void_reason": None,
        },
    ]
    [bill_row] = await _rows(admin_db, "SELECT amount_paid, payment_status FROM bills")
    assert bill_row == {"amount_paid": Decimal("23.45"), "payment_status": "partial"}
    receipt = await receipts.receipt(admin_db, first.payment.payment_id)
    assert receipt.voided


async def test_voiding_writes_an_audit_entry_with_the_admin_the_bill_and_the_reason(
    admin_db: Database,
) -> None:
    """The audit log says who voided which payment on which bill, before and after."""
    admin_id = await _admin_id(admin_db)
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    paid = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=Decimal("20.00"),
        method="pos",
        idempotency_key="v-3",
        admin_id=admin_id,
    )
    await payments.void_payment(
        admin_db, paid.payment.payment_id, admin_id=admin_id, reason="wrong customer"
    )
    [entry] = await _rows(
        admin_db,
        "SELECT admin_id, entity_type, entity_id, customer_id, bill_id, before_data, after_data "
        "FROM audit_log WHERE action = 'payment.void'",
    )
    assert (entry["admin_id"], entry["entity_type"], entry["entity_id"]) == (
        admin_id,
        "payment",
        str(paid.payment.payment_id),
    )
    assert (entry["customer_id"], entry["bill_id"]) == (customer.customer_id, bill.bill_id)
    before, after = json.loads(entry["before_data"]), json.loads(entry["after_data"])
    assert before["payment_amount"] == "20.00" and before["bill"]["amount_paid"] == "20.00"
    assert after["reason"] == "wrong customer" and after["bill"]["amount_paid"] == "0.00"


async def test_voiding_the_same_payment_twice_is_refused_and_changes_nothing(
    admin_db: Database,
) -> None:
    """The second void raises PaymentAlreadyVoided; the bill and the audit log stay as they are."""
    admin_id = await _admin_id(admin_db)
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    paid = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=bill.total_amount,
        method="pos",
        idempotency_key="v-4",
        admin_id=admin_id,
    )
    once = await payments.void_payment(
        admin_db, paid.payment.payment_id, admin_id=admin_id, reason="duplicate entry"
    )
    assert once.bill.payment_status is PaymentStatus.UNPAID and once.bill.amount_paid == 0
    with pytest.raises(PaymentAlreadyVoided):
        await payments.void_payment(
            admin_db, paid.payment.payment_id, admin_id=admin_id, reason="again please"
        )
    assert len(await _rows(admin_db, "SELECT 1 FROM audit_log WHERE action = 'payment.void'")) == 1
    [bill_row] = await _rows(admin_db, "SELECT amount_paid, payment_status FROM bills")
    assert bill_row == {"amount_paid": Decimal("0.00"), "payment_status": "unpaid"}


async def test_a_bill_whose_payment_was_voided_can_be_paid_again(admin_db: Database) -> None:
    """Once the full payment is voided, the bill takes a new payment for the full amount."""
    admin_id = await _admin_id(admin_db)
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    paid = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=bill.total_amount,
        method="pos",
        idempotency_key="v-5",
        admin_id=admin_id,
    )
    await payments.void_payment(
        admin_db, paid.payment.payment_id, admin_id=admin_id, reason="charge reversed"
    )
    again = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=bill.total_amount,
        method="bank_transfer",
        idempotency_key="v-6",
        admin_id=admin_id,
    )
    assert again.created and again.bill.payment_status is PaymentStatus.PAID
    assert again.payment.payment_id != paid.payment.payment_id


async def test_voiding_needs_a_known_payment_and_a_reason(admin_db: Database) -> None:
    """An unknown payment is not found; a reason under three characters, or holding a
    control character, is refused."""
    admin_id = await _admin_id(admin_db)
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    paid = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=Decimal("5.00"),
        method="cash",
        idempotency_key="v-7",
        admin_id=admin_id,
    )
    with pytest.raises(PaymentNotFound):
        await payments.void_payment(
            admin_db, paid.payment.payment_id + 999, admin_id=admin_id, reason="no such"
        )
    with pytest.raises(InvalidInput):
        await payments.void_payment(
            admin_db, paid.payment.payment_id, admin_id=admin_id, reason="  x "
        )
    with pytest.raises(ControlCharacters):
        await payments.void_payment(
            admin_db, paid.payment.payment_id, admin_id=admin_id, reason="typed\x1b[31m twice"
        )
    [row] = await _rows(admin_db, "SELECT voided_at FROM payments")
    assert row["voided_at"] is None


async def test_a_void_of_a_credit_payment_waits_for_another_payment_from_that_credit(
    admin_db: Database, customer_db: Database
) -> None:
    """While a payment from the customer's credit holds that credit, a void of an earlier
    payment from it waits, then gives its amount back: 100 − 10 − 20 + 10 = 80.00 of credit,
    and the void is not refused for a credit that moved meanwhile."""
    admin_id = await _admin_id(admin_db)
    customer = await make_customer(admin_db)
    first = await make_bill(admin_db, customer, units="100", rate="1")
    second = await make_bill(admin_db, customer, month=date(2026, 10, 1), units="100", rate="1")
    await give_credit(admin_db, first, "100.00")
    paid = await payments.pay_bill(
        customer_db,
        bill_id=first.bill_id,
        amount=Decimal("10.00"),
        method=PaymentMethod.CREDIT,
        idempotency_key="v-8",
        customer_id=customer.customer_id,
    )
    async with customer_db.unit_of_work() as uow:
        # The steps of pay_bill, with the void started while this payment holds the credit.
        locked = await payments.lock_bill(uow, second.bill_id)
        assert locked is not None
        await uow.fetch_value("lock_customer_credit", {"customer_id": customer.customer_id})
        void = asyncio.create_task(
            payments.void_payment(
                admin_db, paid.payment.payment_id, admin_id=admin_id, reason="wrong bill"
            )
        )
        await asyncio.sleep(0.5)  # the void is now waiting for the customer's credit
        await payments.insert_payment(
            uow,
            locked,
            amount=Decimal("20.00"),
            method=PaymentMethod.CREDIT,
            idempotency_key="v-9",
            moment=now_utc(),
        )
        await uow.commit()
    voided = await void
    assert voided.bill.amount_paid == 0 and voided.payment.is_void
    assert await card_payments.credit_balance(admin_db, customer.customer_id) == Decimal("80.00")
