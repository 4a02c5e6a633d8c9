"""Bill statements: everything one bill's statement shows (issue 15 §5), read in one round
trip, and the lines of many bills for the lists that show them.

A statement is drawn from the bill as it stands (its lines, what is paid on it, the account
credit) and from the customer's earlier bills (those of earlier months) as they stood when
the bill was issued. Its figures add up the way a utility's statement does::

    previous balance − payments since the last bill + this bill's charges
        − paid on this bill − paid since on earlier bills = amount due

where the previous balance is what the earlier bills owed before the payments since the
last bill, and the amount due is what the customer owes now on this bill and the earlier
ones (so a statement drawn on the day of issue and one drawn after a payment both add up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain import validation
from domain.billing import ZERO, Line
from domain.db import Database, UnitOfWork
from domain.errors import BillNotFound
from domain.ledger import line_from_row
from domain.models import Bill, BillFilter, json_date, now_utc, utc
from domain.reports import month_add

USAGE_MONTHS = 12


@dataclass(frozen=True)
class UsageMonth:
    """One month of the usage chart: the units billed, or None when the month had no bill."""

    billing_month: date
    units: Decimal | None


@dataclass(frozen=True)
class Statement:
    """Everything one bill's statement shows (the utility's own details come from config)."""

    bill: Bill
    lines: tuple[Line, ...]
    customer_name: str
    meter_number: str
    address: str
    # The meter's readings the units came from (None: billed from units typed or imported).
    previous_reading: Decimal | None
    current_reading: Decimal | None
    estimated: bool
    issued_at: datetime
    # What the earlier bills owed before the payments since the last bill, and those payments.
    previous_balance: Decimal
    payments_since: Decimal
    # What the earlier bills owe now.
    earlier_owed: Decimal
    # The customer's account credit now (pays their next bills).
    credit: Decimal
    # The last USAGE_MONTHS billing months, oldest first, ending with this bill's.
    usage: tuple[UsageMonth, ...]

    @property
    def brought_forward(self) -> Decimal:
        """What the earlier bills owed when this bill was issued."""
        return self.previous_balance - self.payments_since

    @property
    def paid_since_on_earlier(self) -> Decimal:
        """Paid on the earlier bills since this bill was issued (less any fee added since)."""
        return self.brought_forward - self.earlier_owed

    @property
    def amount_due(self) -> Decimal:
        """What the customer owes now on this bill and the earlier ones."""
        return self.earlier_owed + self.bill.outstanding


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


async def statement(db: Database, bill_id: int, *, customer_id: int | None = None) -> Statement:
    """The statement of bill ``bill_id``, read in one round trip; with ``customer_id`` only
    if the bill is that customer's (else BillNotFound, as for a bill that does not exist)."""
    which = {"bill_id": bill_id}
    head, line_rows, earlier, usage_rows = await db.read_batch(
        [
            ("statement_bill", which),
            ("ledger_bill_lines", which),
            ("statement_earlier_bills", which),
            ("statement_usage", which),
        ]
    )
    if not head or (customer_id is not None and int(head[0]["customer_id"]) != customer_id):
        raise BillNotFound()
    row = head[0]
    bill = Bill.from_row(row)
    at_issue = sum(
        (Decimal(e["total_at_issue"]) - Decimal(e["paid_at_issue"]) for e in earlier), ZERO
    )
    since = sum((Decimal(e["paid_since_previous"]) for e in earlier), ZERO)
    owed = sum((Decimal(e["total_amount"]) - Decimal(e["amount_paid"]) for e in earlier), ZERO)
    units = {r["billing_month"]: Decimal(r["units_used"]) for r in usage_rows}
    months = [month_add(bill.billing_month, -back) for back in range(USAGE_MONTHS - 1, -1, -1)]
    return Statement(
        bill=bill,
        lines=tuple(line_from_row(r) for r in line_rows),
        customer_name=row["full_name"],
        meter_number=row["meter_number"],
        address=row["address"],
        previous_reading=_number(row["previous_reading"]),
        current_reading=_number(row["current_reading"]),
        estimated=bool(row["estimated"]),
        issued_at=utc(row["issued_at"]) or now_utc(),
        previous_balance=at_issue + since,
        payments_since=since,
        earlier_owed=owed,
        credit=Decimal(row["credit"]),
        usage=tuple(UsageMonth(m, units.get(m)) for m in months),
    )


async def bill_of_month(db: Database, customer_id: int, billing_month: date | None) -> int:
    """The id of the customer's bill for ``billing_month`` (None: their newest bill); raises
    BillNotFound when there is none."""
    month = validation.billing_month(billing_month) if billing_month is not None else None
    row = await db.fetch_one(
        "statement_bill_of_month", {"customer_id": customer_id, "billing_month": month}
    )
    if row is None:
        raise BillNotFound()
    return int(row["bill_id"])


async def lines_of_bills(db: Database, bill_ids: Sequence[int]) -> dict[int, tuple[Line, ...]]:
    """The lines of each of ``bill_ids`` (a page of a list), in one round trip."""
    if not bill_ids:
        return {}

    async def work(uow: UnitOfWork) -> Any:
        return await uow.fetch_json_in("statement_lines_of_bills", "bill_ids", list(bill_ids))

    found: dict[int, list[Line]] = {bill_id: [] for bill_id in bill_ids}
    for item in await db.read(work):
        item["fee_period"] = json_date(item["fee_period"])
        found.setdefault(int(item["bill_id"]), []).append(line_from_row(item))
    return {bill_id: tuple(lines) for bill_id, lines in found.items()}


# ---------------------------------------------------------------------------------------------
# The lines export (staff): every line of a list of bills

MAX_EXPORT_LINES = 200_000


@dataclass(frozen=True)
class ExportLine:
    """One line of a bill, with the bill's meter, customer, month and total."""

    bill_id: int
    meter_number: str
    full_name: str
    billing_month: date
    bill_total: Decimal
    line: Line


async def lines_export(
    db: Database,
    *,
    bill_filter: BillFilter,
    billing_month: date | None,
    limit: int = MAX_EXPORT_LINES,
) -> list[ExportLine]:
    """The lines of the bills ``/bills`` lists for ``bill_filter`` and ``billing_month``
    (None: every month), newest month first; at most ``limit`` lines."""
    statuses = bill_filter.statuses
    every = bill_filter is BillFilter.ALL
    rows = await db.fetch_all(
        "statement_lines_export",
        {
            "status_a": None if every else statuses[0].value,
            "status_b": None if every else statuses[-1].value,
            "billing_month": billing_month,
            "limit": limit,
        },
    )
    return [
        ExportLine(
            bill_id=int(row["bill_id"]),
            meter_number=row["meter_number"],
            full_name=row["full_name"],
            billing_month=row["billing_month"],
            bill_total=Decimal(row["total_amount"]),
            line=line_from_row(row),
        )
        for row in rows
    ]
