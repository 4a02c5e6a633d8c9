"""Small helpers that put customers, bills and admins into the test database."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from domain import bills, customers
from domain.db import Database
from domain.models import Bill, Customer

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
