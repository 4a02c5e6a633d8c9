"""Bill statements on the real MariaDB (issue 15 §5): what one bill's statement holds.

Proves: a statement holds the bill's lines (three bands, fixed charge, tax), its readings,
the customer's details and twelve months of usage; its figures add up (previous balance −
payments since the last bill + charges − paid on this bill − paid since on earlier bills =
amount due) on the day of issue and after later payments; the customer account reads its own
statement and bill lines, and no one else's.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain import bills, statements
from domain.billing import Band, LineKind, Tariff
from domain.db import Database
from domain.errors import BillNotFound
from tests.factories import make_bill, make_customer, office_payment

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


def figures_add_up(found: statements.Statement) -> bool:
    return (
        found.previous_balance
        - found.payments_since
        + found.bill.total_amount
        - found.bill.amount_paid
        - found.paid_since_on_earlier
        == found.amount_due
    )


async def test_a_statement_holds_the_lines_readings_customer_and_usage(
    admin_db: Database,
) -> None:
    customer = await make_customer(admin_db, full_name="Ọlá Adébáyọ̀", meter_number="MTR-S1")
    await make_bill(admin_db, customer, month=date(2026, 6, 1), units="80", rate="10")
    bill = await bills.create_bill(
        admin_db,
        customer_id=customer.customer_id,
        billing_month=date(2026, 9, 1),
        units_used=Decimal("200"),
        rate_per_unit=Decimal("1"),
        tariff=TIERED,
    )

    found = await statements.statement(admin_db, bill.bill_id)

    kinds = [line.kind for line in found.lines]
    assert kinds == [LineKind.ENERGY] * 3 + [LineKind.FIXED, LineKind.TAX]
    # 50 × 10 + 100 × 20 + 50 × 30 = 4,000; + 500 fixed = 4,500; tax 7.5% = 337.50
    assert [line.amount for line in found.lines] == [
        Decimal("500.00"),
        Decimal("2000.00"),
        Decimal("1500.00"),
        Decimal("500.00"),
        Decimal("337.50"),
    ]
    assert found.bill.total_amount == Decimal("4837.50")
    assert (found.customer_name, found.meter_number) == ("Ọlá Adébáyọ̀", "MTR-S1")
    assert len(found.usage) == 12
    assert found.usage[0].billing_month == date(2025, 10, 1)
    assert found.usage[-1] == statements.UsageMonth(date(2026, 9, 1), Decimal("200.00"))
    assert statements.UsageMonth(date(2026, 6, 1), Decimal("80.00")) in found.usage
    assert found.usage[-2].units is None  # August: no bill
    # The June bill (800.00) is owed in full: it is the previous balance and part of what is due.
    assert found.previous_balance == Decimal("800.00")
    assert found.payments_since == 0
    assert found.amount_due == Decimal("5637.50")
    assert figures_add_up(found)


async def test_statement_figures_add_up_before_and_after_payments(admin_db: Database) -> None:
    customer = await make_customer(admin_db)
    june = await make_bill(admin_db, customer, month=date(2026, 6, 1), units="100", rate="10")
    july = await make_bill(admin_db, customer, month=date(2026, 7, 1), units="100", rate="10")
    await office_payment(admin_db, june, "300.00")  # after July was issued
    august = await make_bill(admin_db, customer, month=date(2026, 8, 1), units="50", rate="10")

    first = await statements.statement(admin_db, august.bill_id)
    # Since July's bill: 300.00 paid on June. Owed before that: 1,000 + 1,000.
    assert first.payments_since == Decimal("300.00")
    assert first.previous_balance == Decimal("2000.00")
    assert first.brought_forward == Decimal("1700.00")
    assert first.amount_due == Decimal("2200.00")
    assert figures_add_up(first)

    await office_payment(admin_db, july, "1000.00")
    await office_payment(admin_db, august, "100.00")
    later = await statements.statement(admin_db, august.bill_id)
    # The figures at issue stay; what was paid since shows, and the amount due follows.
    assert later.previous_balance == Decimal("2000.00")
    assert later.paid_since_on_earlier == Decimal("1000.00")
    assert later.bill.amount_paid == Decimal("100.00")
    assert later.amount_due == Decimal("1100.00")
    assert figures_add_up(later)


async def test_the_customer_account_reads_its_own_statement_only(
    admin_db: Database, customer_db: Database
) -> None:
    mine = await make_customer(admin_db)
    other = await make_customer(admin_db)
    bill = await bills.create_bill(
        admin_db,
        customer_id=mine.customer_id,
        billing_month=date(2026, 9, 1),
        units_used=Decimal("200"),
        rate_per_unit=Decimal("1"),
        tariff=TIERED,
    )

    found = await statements.statement(customer_db, bill.bill_id, customer_id=mine.customer_id)
    assert len(found.lines) == 5
    with pytest.raises(BillNotFound):
        await statements.statement(customer_db, bill.bill_id, customer_id=other.customer_id)
    assert await statements.bill_of_month(customer_db, mine.customer_id, None) == bill.bill_id
    with pytest.raises(BillNotFound):
        await statements.bill_of_month(customer_db, mine.customer_id, date(2026, 8, 1))
    lines = await statements.lines_of_bills(customer_db, [bill.bill_id])
    assert [line.kind for line in lines[bill.bill_id]][-1] is LineKind.TAX
