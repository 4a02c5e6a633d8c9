"""Bills: issue, correct (with recalculation), list and look up."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from domain import audit, validation
from domain.db import Database, UnitOfWork, error_code
from domain.errors import (
    BillNotFound,
    CustomerNotFound,
    DuplicateBill,
    InvalidAmount,
    InvalidInput,
    TotalBelowPaid,
)
from domain.models import Bill, Page, PaymentStatus
from domain.money import MAX_AMOUNT, bill_total

MAX_UNITS = Decimal("9999999.99")
MAX_RATE = Decimal("99999.9999")


def default_due_date(billing_month: date, due_days: int) -> date:
    """Bills for a month are issued on the 1st of the next month and fall due ``due_days``
    later."""
    days_in_month = calendar.monthrange(billing_month.year, billing_month.month)[1]
    return billing_month.replace(day=1) + timedelta(days=days_in_month + due_days)


def _check_figures(units_used: Decimal, rate_per_unit: Decimal) -> Decimal:
    if (
        units_used <= 0
        or units_used > MAX_UNITS
        or units_used != units_used.quantize(Decimal("0.01"))
    ):
        raise InvalidAmount("Units must be greater than zero, with at most two decimals.")
    if (
        rate_per_unit <= 0
        or rate_per_unit > MAX_RATE
        or rate_per_unit != rate_per_unit.quantize(Decimal("0.0001"))
    ):
        raise InvalidAmount("The rate must be greater than zero, with at most four decimals.")
    total = bill_total(units_used, rate_per_unit)
    # Both limits hold for each figure alone; their product can still round to 0.00 or
    # overflow DECIMAL(12,2), which the database would refuse with a raw error.
    if total <= 0:
        raise InvalidAmount("These units and rate make a bill of 0.00; please check them.")
    if total > MAX_AMOUNT:
        raise InvalidAmount("These units and rate make a bill larger than the system can hold.")
    return total


@dataclass(frozen=True)
class BillWithCustomer:
    bill: Bill
    meter_number: str
    full_name: str


async def create_bill(
    db: Database,
    *,
    customer_id: int,
    billing_month: date,
    units_used: Decimal,
    rate_per_unit: Decimal,
    due_days: int = 14,
    due_date: date | None = None,
    admin_id: int | None = None,
) -> Bill:
    """Issue a bill; ``total_amount = units × rate`` rounded half up to the cent."""
    month = validation.billing_month(billing_month)
    total = _check_figures(units_used, rate_per_unit)
    values = {
        "customer_id": customer_id,
        "billing_month": month,
        "units_used": units_used,
        "rate_per_unit": rate_per_unit,
        "total_amount": total,
        "due_date": due_date or default_due_date(month, due_days),
    }

    async def work(uow: UnitOfWork) -> Bill:
        if await uow.fetch_one("get_customer", {"customer_id": customer_id}) is None:
            raise CustomerNotFound()
        try:
            bill_id = await uow.insert("insert_bill", values)
        except Exception as exc:
            if error_code(exc) == 1062:
                raise DuplicateBill(f"{month:%Y-%m}") from exc
            raise
        row = await uow.fetch_one("get_bill", {"bill_id": bill_id})
        assert row is not None
        bill = Bill.from_row(row)
        await audit.record(
            uow,
            admin_id=admin_id,
            action="bill.create",
            entity_type="bill",
            entity_id=bill_id,
            customer_id=customer_id,
            bill_id=bill_id,
            after=bill,
        )
        await uow.commit()
        return bill

    return await db.transaction(work)


async def update_bill(
    db: Database,
    bill_id: int,
    *,
    billing_month: date | None = None,
    units_used: Decimal | None = None,
    rate_per_unit: Decimal | None = None,
    due_days: int = 14,
    admin_id: int | None = None,
) -> Bill:
    """Correct a bill's month, units or rate; the total and status are recomputed.

    Refused when the new total would be below what is already paid, or when the new month
    already has a bill for this customer.
    """

    async def work(uow: UnitOfWork) -> Bill:
        row = await uow.fetch_one("lock_bill", {"bill_id": bill_id})
        if row is None:
            raise BillNotFound()
        before = Bill.from_row(row)
        month = validation.billing_month(billing_month) if billing_month else before.billing_month
        units = units_used if units_used is not None else before.units_used
        rate = rate_per_unit if rate_per_unit is not None else before.rate_per_unit
        total = _check_figures(units, rate)
        if total < before.amount_paid:
            raise TotalBelowPaid(str(before.amount_paid))
        due = before.due_date
        if month != before.billing_month:
            due = default_due_date(month, due_days)
        try:
            await uow.execute(
                "update_bill_figures",
                {
                    "bill_id": bill_id,
                    "billing_month": month,
                    "units_used": units,
                    "rate_per_unit": rate,
                    "total_amount": total,
                    "payment_status": PaymentStatus.for_amounts(total, before.amount_paid).value,
                    "due_date": due,
                },
            )
        except Exception as exc:
            if error_code(exc) == 1062:
                raise DuplicateBill(f"{month:%Y-%m}") from exc
            raise
        if month != before.billing_month:
            await uow.execute(
                "move_bill_payments_month", {"bill_id": bill_id, "billing_month": month}
            )
        fresh = await uow.fetch_one("get_bill", {"bill_id": bill_id})
        assert fresh is not None
        after = Bill.from_row(fresh)
        await audit.record(
            uow,
            admin_id=admin_id,
            action="bill.edit",
            entity_type="bill",
            entity_id=bill_id,
            customer_id=before.customer_id,
            bill_id=bill_id,
            before=before,
            after=after,
        )
        await uow.commit()
        return after

    return await db.transaction(work)


async def get(db: Database, bill_id: int, *, customer_id: int | None = None) -> Bill:
    """A bill by id; with ``customer_id``, only if it is that customer's."""
    row = await db.fetch_one("get_bill", {"bill_id": bill_id})
    if row is None or (customer_id is not None and int(row["customer_id"]) != customer_id):
        raise BillNotFound()
    return Bill.from_row(row)


async def customer_bills(
    db: Database,
    customer_id: int,
    *,
    include_paid: bool = False,
    page: int = 0,
    page_size: int = 5,
) -> Page[Bill]:
    """One customer's bills: open ones first (oldest due first); paid ones only if asked."""
    page = max(0, page)

    async def work(uow: UnitOfWork) -> Page[Bill]:
        params = {"customer_id": customer_id, "include_paid": include_paid}
        total = int(await uow.fetch_value("count_customer_bills", params))
        rows = await uow.fetch_all(
            "customer_bills", {**params, "limit": page_size, "offset": page * page_size}
        )
        return Page([Bill.from_row(r) for r in rows], page, page_size, total)

    return await db.read(work)


async def pending_bills(db: Database, customer_id: int, *, limit: int = 50) -> list[Bill]:
    """A customer's unpaid and partly paid bills, oldest due first."""
    return (await customer_bills(db, customer_id, page_size=limit)).items


async def list_bills(
    db: Database,
    *,
    status: str | None = None,
    billing_month: date | None = None,
    page: int = 0,
    page_size: int = 8,
) -> Page[BillWithCustomer]:
    """All bills, newest month first, optionally of one status and month."""
    if status is not None and status not in {s.value for s in PaymentStatus}:
        raise InvalidInput("Status must be unpaid, partial or paid.")
    page = max(0, page)

    async def work(uow: UnitOfWork) -> Page[BillWithCustomer]:
        params = {"status": status, "billing_month": billing_month}
        total = int(await uow.fetch_value("count_bills", params))
        rows = await uow.fetch_all(
            "list_bills", {**params, "limit": page_size, "offset": page * page_size}
        )
        items = [
            BillWithCustomer(Bill.from_row(r), r["meter_number"], r["full_name"]) for r in rows
        ]
        return Page(items, page, page_size, total)

    return await db.read(work)
