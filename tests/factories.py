"""Small helpers that put customers, bills and admins into the test database."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pymysql

from benchmarks.harness import triggers_set_aside
from domain import admins, bills, customers, payments
from domain.db import Database
from domain.models import Admin, Bill, Customer, PaymentMethod

_meters = itertools.count(1)


async def make_customer(
    db: Database,
    *,
    full_name: str = "Test Customer",
    meter_number: str | None = None,
    address: str = "1 Test Street",
) -> Customer:
    meter = meter_number or f"TST-{next(_meters):06d}"
    return await customers.add_customer(
        db, meter_number=meter, full_name=full_name, address=address
    )


async def make_bill(
    db: Database,
    customer: Customer,
    *,
    month: date = date(2026, 9, 1),
    units: str = "100",
    rate: str = "1.2345",
    due_date: date | None = None,
) -> Bill:
    return await bills.create_bill(
        db,
        customer_id=customer.customer_id,
        billing_month=month,
        units_used=Decimal(units),
        rate_per_unit=Decimal(rate),
        due_date=due_date,
    )


_charges = itertools.count(1)


async def make_clerk(db: Database, *, email: str = "clerk@factory.example") -> Admin:
    """A staff member who records office payments (made once per test database state)."""
    found = await admins.find_by_email(db, email)
    if found is not None:
        return found
    return await admins.create_admin(
        db, admin_name=f"Clerk {email}", email=email, password="factory-clerk-1"
    )


async def office_payment(
    db: Database,
    bill: Bill,
    amount: Decimal | str,
    *,
    method: PaymentMethod | str = PaymentMethod.CASH,
    key: str | None = None,
    now: datetime | None = None,
) -> payments.PaymentResult:
    """A payment staff took at the office (the admin account; its recorder named)."""
    clerk = await make_clerk(db)
    return await payments.pay_bill(
        db,
        bill_id=bill.bill_id,
        amount=Decimal(amount),
        method=method,
        idempotency_key=key or f"office-{next(_charges)}",
        admin_id=clerk.admin_id,
        now=now,
    )


async def give_credit(db: Database, bill: Bill, amount: Decimal | str) -> None:
    """Money a provider took for ``bill``'s customer that became account credit (admin
    account): an invoice and a charge whose whole amount was credited."""
    async with db.unit_of_work() as uow:
        n = next(_charges)
        invoice_id = await uow.insert(
            "insert_invoice",
            {
                "reference": f"factory{n:025d}",
                "customer_id": bill.customer_id,
                "bill_id": bill.bill_id,
                "amount": Decimal(amount),
                "currency": "NGN",
                "expires_at": datetime(2100, 1, 1),
            },
        )
        await uow.insert(
            "insert_provider_charge",
            {
                "telegram_payment_charge_id": f"factory-charge-{n}",
                "provider_payment_charge_id": f"factory-provider-{n}",
                "invoice_id": invoice_id,
                "customer_id": bill.customer_id,
                "amount": Decimal(amount),
                "currency": "NGN",
                "credited": Decimal(amount),
                "received_at": datetime(2026, 9, 1),
            },
        )
        await uow.commit()


async def fetch_dicts(db: Database, sql: str, *args: Any) -> list[dict[str, Any]]:
    """The rows of a raw SELECT, as dictionaries by column name."""
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


def insert_bill(
    conn: pymysql.connections.Connection, customer: Customer, month: str, total: str
) -> int:
    """A bill written with plain SQL as the admin account (rate 1: units = total; due 14 days
    after the month, as the domain's)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit,"
            " total_amount, due_date) VALUES (%s, %s, %s, 1, %s, LAST_DAY(%s) + INTERVAL 14 DAY)",
            (customer.customer_id, month, total, total, month),
        )
        return int(cur.lastrowid)


def load_bill_past_the_triggers(
    conn: pymysql.connections.Connection, customer: Customer, month: str, total: str
) -> int:
    """A bill loaded the way a bulk load from an old system is done: triggers set aside."""
    with triggers_set_aside(conn):
        return insert_bill(conn, customer, month, total)
