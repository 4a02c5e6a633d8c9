"""Receipts: everything a payment's receipt shows, as it was when the payment was made.

A receipt sent again later is the same document: the figures are the payment's own copy of
its bill's (migration 0005), and the customer's name, meter and address, the bill's month and
due date and the name of the staff member who recorded an office payment are the copy
migration 0012 keeps with each payment. A later /editcustomer, /profile or /editbill changes
none of it.
"""

from __future__ import annotations

from decimal import Decimal

from domain.billing import Line
from domain.db import Database, parsed_json
from domain.errors import PaymentNotFound
from domain.ledger import line_from_json
from domain.models import PaymentMethod, PaymentStatus, Receipt, now_utc, utc

# Who recorded an office payment whose details were not kept (bulk-loaded data), as far as
# the customer account may know: it cannot read the admins table.
UNNAMED_STAFF = "office staff"


async def receipt(db: Database, payment_id: int, *, customer_id: int | None = None) -> Receipt:
    """The receipt of a payment; with ``customer_id``, only if it is that customer's (else
    PaymentNotFound, as for a payment that does not exist)."""
    row = await db.fetch_one("receipt_as_paid", {"payment_id": payment_id})
    if row is None or (customer_id is not None and int(row["customer_id"]) != customer_id):
        raise PaymentNotFound()
    bill_total = Decimal(row["bill_total"])
    paid_to_date = Decimal(row["paid_to_date"])
    recorded_by = row["recorded_by"]
    if recorded_by is None and row["recorded_by_admin_id"] is not None:
        recorded_by = UNNAMED_STAFF
    return Receipt(
        receipt_number=row["receipt_number"],
        payment_id=int(row["payment_id"]),
        date_of_payment=utc(row["date_of_payment"]) or now_utc(),
        customer_name=row["full_name"],
        meter_number=row["meter_number"],
        address=row["address"],
        billing_month=row["billing_month"],
        units_used=Decimal(row["units_used"]),
        rate_per_unit=Decimal(row["rate_per_unit"]),
        bill_total=bill_total,
        amount_paid=Decimal(row["amount_paid"]),
        paid_to_date=paid_to_date,
        balance=bill_total - paid_to_date,
        payment_method=PaymentMethod(row["payment_method"]),
        payment_status=PaymentStatus(row["payment_status"]),
        voided=row["voided_at"] is not None,
        due_date=row["due_date"],
        recorded_by=recorded_by,
        credit_after=None if row["credit_after"] is None else Decimal(row["credit_after"]),
        bill_lines=_lines_as_paid(row["bill_lines"]),
    )


def _lines_as_paid(value: str | None) -> tuple[Line, ...]:
    """The bill's lines as they were when it was paid (kept with the receipt, migration
    0028); none for a payment made before they were kept."""
    return tuple(line_from_json(item) for item in parsed_json(value)) if value else ()
