"""Bills on the real MariaDB: issuing, correcting with recalculation, and what is refused."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain import bills, payments
from domain.db import Database
from domain.errors import BillNotFound, DuplicateBill, InvalidAmount, TotalBelowPaid
from domain.models import Bill, BillFilter, PaymentStatus
from tests.factories import make_bill, make_customer, office_payment


async def _rows(db: Database, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def _pay(db: Database, bill: Bill, amount: str, key: str) -> payments.PaymentResult:
    """Cash taken at the office (the only way money reaches a bill without a provider)."""
    return await office_payment(db, bill, amount, key=key)


async def test_a_new_bill_is_units_times_rate_rounded_half_up_and_unpaid(
    admin_db: Database,
) -> None:
    """3 × 1.2350 = 3.7050 is stored as 3.71 (half up), due 14 days after the month ends."""
    customer = await make_customer(admin_db)
    bill = await bills.create_bill(
        admin_db,
        customer_id=customer.customer_id,
        billing_month=date(2026, 2, 17),
        units_used=Decimal("3.00"),
        rate_per_unit=Decimal("1.2350"),
        issued_on=date(2026, 2, 20),
    )
    assert bill.billing_month == date(2026, 2, 1)
    assert bill.total_amount == Decimal("3.71")
    assert (bill.amount_paid, bill.payment_status) == (Decimal("0.00"), PaymentStatus.UNPAID)
    assert bill.due_date == date(2026, 3, 14)
    assert await bills.get(admin_db, bill.bill_id) == bill


async def test_a_second_bill_for_the_same_customer_and_month_is_refused(
    admin_db: Database,
) -> None:
    """One bill per customer per month; another customer's same month is fine."""
    customer = await make_customer(admin_db)
    neighbour = await make_customer(admin_db)
    await make_bill(admin_db, customer, month=date(2026, 9, 1))
    with pytest.raises(DuplicateBill, match="2026-09"):
        await make_bill(admin_db, customer, month=date(2026, 9, 1), units="5")
    await make_bill(admin_db, neighbour, month=date(2026, 9, 1))
    assert len(await _rows(admin_db, "SELECT bill_id FROM bills")) == 2


@pytest.mark.parametrize(
    ("units", "rate"),
    [
        ("0", "1.0000"),
        ("-1", "1.0000"),
        ("1.001", "1.0000"),  # three decimals of units
        ("1", "0"),
        ("1", "1.00001"),  # five decimals of rate
        ("0.01", "0.0001"),  # each figure allowed, but the total rounds to 0.00
        ("0.10", "0.0049"),  # 0.00049 rounds to 0.00 as well
        ("9999999.99", "99999.9999"),  # the total overflows DECIMAL(12,2)
        ("10000000", "1"),  # more units than the column holds
    ],
)
async def test_figures_that_cannot_make_a_valid_bill_are_refused_with_a_clear_error(
    admin_db: Database, units: str, rate: str
) -> None:
    """Bad units or rates, and totals of 0.00 or beyond DECIMAL(12,2), raise InvalidAmount."""
    customer = await make_customer(admin_db)
    with pytest.raises(InvalidAmount):
        await make_bill(admin_db, customer, units=units, rate=rate)
    assert await _rows(admin_db, "SELECT bill_id FROM bills") == []


async def test_update_bill_recalculates_the_total_and_the_status(admin_db: Database) -> None:
    """After 50.00 paid on 123.45: more units make it partial; a total of exactly 50.00 paid."""
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, units="100", rate="1.2345")
    await _pay(admin_db, bill, "50.00", "u-1")

    bigger = await bills.update_bill(admin_db, bill.bill_id, units_used=Decimal("200"))
    assert (bigger.total_amount, bigger.amount_paid) == (Decimal("246.90"), Decimal("50.00"))
    assert bigger.payment_status is PaymentStatus.PARTIAL

    exact = await bills.update_bill(
        admin_db, bill.bill_id, units_used=Decimal("40"), rate_per_unit=Decimal("1.25")
    )
    assert exact.total_amount == Decimal("50.00")
    assert exact.payment_status is PaymentStatus.PAID

    [row] = await _rows(admin_db, "SELECT total_amount, payment_status FROM bills")
    assert row == {"total_amount": Decimal("50.00"), "payment_status": "paid"}
    audit = await _rows(
        admin_db,
        "SELECT action, before_data, after_data FROM audit_log WHERE action = 'bill.edit'",
    )
    assert len(audit) == 2
    assert json.loads(audit[0]["before_data"])["total_amount"] == "123.45"
    assert json.loads(audit[0]["after_data"])["total_amount"] == "246.90"


async def test_update_bill_refuses_a_total_below_what_is_already_paid(admin_db: Database) -> None:
    """Paid 50.00: a correction to 49.99 is refused and the bill stays as it was."""
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, units="100", rate="1.2345")
    paid = (await _pay(admin_db, bill, "50.00", "u-2")).bill
    with pytest.raises(TotalBelowPaid, match=r"50\.00"):
        await bills.update_bill(
            admin_db, bill.bill_id, units_used=Decimal("49.99"), rate_per_unit=Decimal("1")
        )
    assert await bills.get(admin_db, bill.bill_id) == paid


async def test_update_bill_refuses_a_month_the_customer_already_has_a_bill_for(
    admin_db: Database,
) -> None:
    """Moving September's bill to October, which is billed already, is refused."""
    customer = await make_customer(admin_db)
    september = await make_bill(admin_db, customer, month=date(2026, 9, 1))
    await make_bill(admin_db, customer, month=date(2026, 10, 1))
    with pytest.raises(DuplicateBill, match="2026-10"):
        await bills.update_bill(admin_db, september.bill_id, billing_month=date(2026, 10, 1))
    assert await bills.get(admin_db, september.bill_id) == september


async def test_moving_a_bill_to_a_free_month_moves_its_payments_and_due_date(
    admin_db: Database,
) -> None:
    """The bill's payments keep the bill's month; the due date follows the new month."""
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, month=date(2026, 9, 1))
    await _pay(admin_db, bill, "10.00", "u-3")
    moved = await bills.update_bill(
        admin_db, bill.bill_id, billing_month=date(2026, 8, 1), issued_on=date(2026, 9, 20)
    )
    assert moved.billing_month == date(2026, 8, 1)
    # August ended before the correction: due 14 days after it, not on 14 September.
    assert moved.due_date == date(2026, 10, 4)
    months = await _rows(admin_db, "SELECT billing_month FROM payments")
    assert months == [{"billing_month": date(2026, 8, 1)}]


async def test_updating_a_bill_that_does_not_exist_is_not_found(admin_db: Database) -> None:
    """A wrong bill id is reported as not found."""
    with pytest.raises(BillNotFound):
        await bills.update_bill(admin_db, 999_999, units_used=Decimal("1"))


async def test_a_customer_sees_open_bills_first_oldest_due_first_and_paid_only_when_asked(
    admin_db: Database,
) -> None:
    """customer_bills lists unpaid/partial by due date; paid bills only when asked for."""
    customer = await make_customer(admin_db)
    paid = await make_bill(admin_db, customer, month=date(2026, 6, 1))
    late = await make_bill(admin_db, customer, month=date(2026, 7, 1))
    early = await make_bill(admin_db, customer, month=date(2026, 8, 1), due_date=date(2026, 7, 20))
    await _pay(admin_db, paid, str(paid.total_amount), "u-4")
    await _pay(admin_db, late, "1.00", "u-5")

    open_bills = await bills.customer_bills(admin_db, customer.customer_id)
    assert [b.bill_id for b in open_bills.items] == [early.bill_id, late.bill_id]
    everything = await bills.customer_bills(
        admin_db, customer.customer_id, bill_filter=BillFilter.ALL
    )
    assert [b.bill_id for b in everything.items] == [early.bill_id, late.bill_id, paid.bill_id]
    with pytest.raises(BillNotFound):
        await bills.get(admin_db, paid.bill_id, customer_id=customer.customer_id + 1)


async def test_a_bill_for_a_month_long_past_falls_due_counted_from_the_day_it_is_issued(
    admin_db: Database,
) -> None:
    """October billed on 3 December is not overdue on arrival (due 14 November): it falls
    due 14 days after it is issued; a bill issued before its month ends keeps the old rule."""
    customer = await make_customer(admin_db)
    late = await bills.create_bill(
        admin_db,
        customer_id=customer.customer_id,
        billing_month=date(2026, 10, 1),
        units_used=Decimal("10"),
        rate_per_unit=Decimal("2"),
        issued_on=date(2026, 12, 3),
    )
    assert late.due_date == date(2026, 12, 17)
    assert not late.is_overdue(date(2026, 12, 3))
    on_time = await bills.create_bill(
        admin_db,
        customer_id=customer.customer_id,
        billing_month=date(2026, 11, 1),
        units_used=Decimal("10"),
        rate_per_unit=Decimal("2"),
        issued_on=date(2026, 11, 28),
    )
    assert on_time.due_date == date(2026, 12, 14)


async def test_bill_for_month_finds_the_customers_bill_of_that_month_only(
    admin_db: Database,
) -> None:
    """What /newbill asks as soon as the month is typed."""
    customer = await make_customer(admin_db)
    neighbour = await make_customer(admin_db)
    september = await make_bill(admin_db, customer, month=date(2026, 9, 1))
    assert await bills.bill_for_month(admin_db, customer.customer_id, date(2026, 9, 1)) == (
        september
    )
    assert await bills.bill_for_month(admin_db, customer.customer_id, date(2026, 10, 1)) is None
    assert await bills.bill_for_month(admin_db, neighbour.customer_id, date(2026, 9, 1)) is None


async def test_each_bill_filter_lists_exactly_its_statuses_and_owed_includes_part_paid(
    admin_db: Database,
) -> None:
    """``owed`` (the default) is unpaid and part-paid: a part-paid bill is money owed too."""
    customer = await make_customer(admin_db, meter_number="FLT-0001")
    unpaid = await make_bill(admin_db, customer, month=date(2026, 7, 1))
    partial = await make_bill(admin_db, customer, month=date(2026, 8, 1))
    paid = await make_bill(admin_db, customer, month=date(2026, 9, 1))
    await _pay(admin_db, partial, "1.00", "f-1")
    await _pay(admin_db, paid, str(paid.total_amount), "f-2")
    expected = {
        BillFilter.OWED: {unpaid.bill_id, partial.bill_id},
        BillFilter.UNPAID: {unpaid.bill_id},
        BillFilter.PARTIAL: {partial.bill_id},
        BillFilter.PAID: {paid.bill_id},
        BillFilter.ALL: {unpaid.bill_id, partial.bill_id, paid.bill_id},
    }
    for bill_filter, ids in expected.items():
        listed = await bills.list_bills(admin_db, bill_filter=bill_filter)
        assert {i.bill.bill_id for i in listed.items} == ids, bill_filter
        assert listed.total == len(ids)
        own = await bills.customer_bills(admin_db, customer.customer_id, bill_filter=bill_filter)
        assert {b.bill_id for b in own.items} == ids, bill_filter
        assert own.total == len(ids)
    default = await bills.list_bills(admin_db)
    assert default.total == 3  # a list without a filter is every bill, as before
    assert (await bills.customer_bills(admin_db, customer.customer_id)).total == 2


def test_filter_words_name_one_filter_each_and_the_old_words_still_work() -> None:
    """Typed words: the filter names, the old list names, the status label."""
    assert [BillFilter.parse(w) for w in ("owed", "OPEN", "unpaid", "partial", "part-paid")] == [
        BillFilter.OWED,
        BillFilter.OWED,
        BillFilter.UNPAID,
        BillFilter.PARTIAL,
        BillFilter.PARTIAL,
    ]
    assert BillFilter.parse("paid") is BillFilter.PAID
    assert BillFilter.parse("all") is BillFilter.ALL
    assert BillFilter.parse("2026-10") is None


def test_a_bill_is_overdue_only_while_money_is_owed_after_its_due_date() -> None:
    def bill(paid: str) -> Bill:
        return Bill(
            1, 1, date(2026, 10, 1), Decimal("1"), Decimal("10"), Decimal("10.00"),
            Decimal(paid), PaymentStatus.for_amounts(Decimal("10.00"), Decimal(paid)),
            date(2026, 11, 14),
        )  # fmt: skip

    assert not bill("0").is_overdue(date(2026, 11, 14))  # the due date itself is in time
    assert bill("0").is_overdue(date(2026, 11, 15))
    assert bill("4").is_overdue(date(2026, 12, 3))
    assert not bill("10").is_overdue(date(2026, 12, 3))


def test_every_status_has_one_label() -> None:
    """The one name each status has in the chat and on receipts."""
    assert [s.label for s in PaymentStatus] == ["Unpaid", "Part-paid", "Paid"]
