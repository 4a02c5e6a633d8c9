"""Bulk billing (domain.bills.import_bill_file, what /importbills runs) and due-date
reminders on a real MariaDB.

Proves: every line is checked before anything is written; errors come back by line number;
one bad line means no bill at all; a good file issues every bill (under its audit entry) in one
transaction; reminders are claimed once per bill per due date.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain import audit, bills, report_totals
from domain.db import Database
from domain.errors import ImportRejected
from domain.models import Customer, PaymentStatus
from tests.factories import make_bill, make_customer

RATE = Decimal("68.50")


async def count_bills(db: Database) -> int:
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM bills")
        row = await cur.fetchone()
        return int(row[0])


async def two_customers(db: Database, *, linked: bool = True) -> tuple[Customer, Customer]:
    """Ada (MTR-1) and Bayo (MTR-2), by default both with a Telegram account: an import
    hands back their bills, as stored, to be told of them."""
    customers = (
        await make_customer(db, meter_number="MTR-1", full_name="Ada"),
        await make_customer(db, meter_number="MTR-2", full_name="Bayo"),
    )
    if not linked:
        return customers
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute("UPDATE customers SET telegram_user_id = 700 + customer_id")
        await uow.commit()
    return customers


async def import_text(db: Database, text: str, **options: Any) -> bills.ImportResult:
    """The file through the production import, as /importbills runs it."""
    return await bills.import_bill_file(
        db, lambda: io.StringIO(text), **{"default_rate": RATE, **options}
    )


async def refusals(db: Database, text: str, **options: Any) -> list[tuple[int, str]]:
    """The import's errors by line for a file it refuses; it writes nothing."""
    before = await count_bills(db)
    with pytest.raises(ImportRejected) as caught:
        await import_text(db, text, **options)
    assert await count_bills(db) == before
    return caught.value.errors


async def test_a_good_file_issues_every_line_with_the_default_rate_where_none_is_given(
    admin_db: Database,
) -> None:
    await two_customers(admin_db)
    text = (
        "meter_number,billing_month,units_used,rate_per_unit\n"
        "mtr-1,2026-09,100,\n"
        "\n"
        "MTR-2,2026-09,12.5,70.1234\n"
    )
    result = await import_text(admin_db, text)
    assert [
        (x.meter_number, x.bill.rate_per_unit, x.bill.total_amount) for x in result.linked
    ] == [
        ("MTR-1", RATE, Decimal("6850.00")),
        ("MTR-2", Decimal("70.1234"), Decimal("876.54")),
    ]
    assert (result.count, result.total) == (2, Decimal("7726.54"))


async def test_bad_lines_are_reported_by_their_line_number(admin_db: Database) -> None:
    await two_customers(admin_db)
    text = (
        "meter_number,billing_month,units_used\n"
        "MTR-1,2026-09,100\n"
        "MTR-2,2026-13,100\n"
        "MTR-3,2026-09,-4\n"
        "MTR-1,2026-09,5\n"
        "MTR-4,2026-09\n"
        "M,2026-09,1\n"
        "\n"
        "MTR-3,2026-09,1\n"  # blank lines count, as in an editor
    )
    errors = await refusals(admin_db, text)
    assert [number for number, _ in errors] == [3, 4, 5, 6, 7, 9]
    assert "already on line 2" in errors[2][1]


async def test_each_error_quotes_the_value_at_fault_and_says_what_is_wrong(
    admin_db: Database,
) -> None:
    """Issue 14: an error names the column and quotes what the file holds, so the clerk can
    find it: "Line 3: units 'abc' is not a number"."""
    await two_customers(admin_db)
    text = (
        "meter_number,billing_month,units_used,rate_per_unit\n"
        "MTR-1,2026-09,100,\n"
        "MTR-1,2026-08,abc,\n"
        "MTR-1,2026-07,-4,\n"
        "MTR-1,2026-06,1.234,\n"
        "MTR-1,2026-05,99999999,\n"
        "MTR-1,2026-04,,\n"
        "M!,2026-09,1,\n"
        "MTR-2,2026-13,1,\n"
        "MTR-2,Oct 2026,1,\n"
        "MTR-2,2026-09,1,1.23456\n"
        "MTR-2,2026-08,1,x\x00y\n"
        "MTR-2,2026-07,1,12 naira a unit and then some more words\n"
    )
    errors = await refusals(admin_db, text, latest_month=date(2026, 12, 1))
    assert errors == [
        (3, "units 'abc' is not a number."),
        (4, "units '-4' must be greater than zero."),
        (5, "units '1.234' has more than 2 decimals."),
        (6, "units '99999999' is too large (at most 9,999,999.99)."),
        (7, "units is empty."),
        (
            8,
            "meter number 'M!' is not a meter number: 3 to 32 letters, digits or dashes, "
            "e.g. MTR-10001.",
        ),
        (9, "month '2026-13' is not a month: YYYY-MM between 2000-01 and 2100-12."),
        (10, "month 'Oct 2026' is not a month: YYYY-MM between 2000-01 and 2100-12."),
        (11, "rate '1.23456' has more than 4 decimals."),
        (12, "rate 'x?y' is not a number."),
        (13, "rate '12 naira a unit and then some…' is not a number."),
    ]


async def test_a_bill_for_a_month_after_the_current_one_is_refused(admin_db: Database) -> None:
    """Issue 14: a file may bill the current month and earlier ones, not the next."""
    await two_customers(admin_db)
    text = (
        "meter_number,billing_month,units_used\n"
        "MTR-1,2026-12,1\n"
        "MTR-1,2026-11,1\n"
        "MTR-1,2027-01,1\n"
        "MTR-1,2099-05,1\n"
    )
    errors = await refusals(admin_db, text, latest_month=date(2026, 12, 17))
    assert errors == [
        (
            4,
            "month '2027-01' is after the current month (2026-12): a bill is issued for a "
            "month that has begun.",
        ),
        (
            5,
            "month '2099-05' is after the current month (2026-12): a bill is issued for a "
            "month that has begun.",
        ),
    ]


async def test_an_import_with_a_future_month_writes_nothing(admin_db: Database) -> None:
    """The import itself refuses it (by default against today's month): nothing written."""
    await two_customers(admin_db)
    text = "meter_number,billing_month,units_used\nMTR-1,2026-09,100\nMTR-2,2100-12,5\n"
    [(number, problem)] = await refusals(admin_db, text)
    assert number == 3 and "month '2100-12' is after the current month" in problem
    await refusals(admin_db, text, latest_month=date(2100, 11, 1))
    assert await count_bills(admin_db) == 0
    imported = await import_text(admin_db, text, latest_month=date(2100, 12, 1))
    assert imported.count == 2 and len(imported.linked) == 2


async def test_a_file_without_the_right_header_is_refused_on_line_one(
    admin_db: Database,
) -> None:
    await two_customers(admin_db)
    errors = await refusals(admin_db, "meter,month,units\nMTR-1,2026-09,1\n")
    assert errors and errors[0][0] == 1


async def test_one_bad_line_means_nothing_is_written(admin_db: Database) -> None:
    ada, _ = await two_customers(admin_db)
    await make_bill(admin_db, ada, month=date(2026, 8, 1))
    text = (
        "meter_number,billing_month,units_used\n"
        "MTR-1,2026-09,100\n"
        "MTR-2,2026-09,100\n"
        "MTR-9,2026-09,100\n"  # no such customer
        "MTR-1,2026-08,100\n"  # already billed
    )
    errors = await refusals(admin_db, text)
    assert errors == [
        (4, "No customer has meter number MTR-9."),
        (5, "MTR-1 already has a bill for 2026-08."),
    ]
    assert await count_bills(admin_db) == 1
    assert await report_totals.differences(admin_db) == []


async def test_a_good_file_issues_every_bill_under_an_audit_entry(admin_db: Database) -> None:
    ada, bayo = await two_customers(admin_db)
    text = (
        "meter_number,billing_month,units_used,rate_per_unit\n"
        "MTR-1,2026-09,100,\n"
        "MTR-2,2026-09,3.33,0.1501\n"
        "MTR-1,2026-10,50,\n"
    )
    result = await import_text(admin_db, text, due_days=10, issued_on=date(2026, 9, 28))
    imported = result.linked
    assert [(b.meter_number, b.bill.billing_month, b.bill.total_amount) for b in imported] == [
        ("MTR-1", date(2026, 9, 1), Decimal("6850.00")),
        ("MTR-2", date(2026, 9, 1), Decimal("0.50")),  # 0.499833 rounds half up
        ("MTR-1", date(2026, 10, 1), Decimal("3425.00")),
    ]
    assert imported[0].bill.due_date == date(2026, 10, 10)
    assert imported[2].bill.due_date == date(2026, 11, 10)
    assert all(b.bill.payment_status is PaymentStatus.UNPAID for b in imported)
    assert await count_bills(admin_db) == 3
    stored = await bills.get(admin_db, imported[1].bill.bill_id)
    assert stored.customer_id == bayo.customer_id
    entries = await audit.entries(admin_db, bill_id=imported[0].bill.bill_id)
    assert [e.action for e in entries] == ["bill.import"]
    # Two months (two due dates) and a customer billed twice: totals equal a recount.
    assert await report_totals.differences(admin_db) == []
    assert ada.customer_id == imported[0].bill.customer_id


async def test_a_thousand_bills_are_imported_in_one_go(admin_db: Database) -> None:
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.executemany(
            "INSERT INTO customers (meter_number, full_name, address) VALUES (%s, %s, %s)",
            [(f"BULK-{i:04d}", f"Customer {i}", "Somewhere") for i in range(1000)],
        )
        await uow.commit()
    text = "meter_number,billing_month,units_used\n" + "".join(
        f"BULK-{i:04d},2026-09,{i + 1}\n" for i in range(1000)
    )
    result = await import_text(admin_db, text)
    assert result.count == 1000
    assert result.linked == []  # none of them has a Telegram account
    assert await count_bills(admin_db) == 1000
    assert await report_totals.differences(admin_db) == []


async def test_a_bill_is_reminded_once_per_due_date(admin_db: Database) -> None:
    ada, bayo = await two_customers(admin_db, linked=False)
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute("UPDATE customers SET telegram_user_id = 501 WHERE meter_number='MTR-1'")
        await uow.commit()
    due = await make_bill(admin_db, ada, month=date(2026, 9, 1), due_date=date(2026, 10, 3))
    await make_bill(admin_db, ada, month=date(2026, 8, 1), due_date=date(2026, 10, 30))
    await make_bill(admin_db, bayo, month=date(2026, 9, 1), due_date=date(2026, 10, 3))
    found = await bills.due_for_reminder(admin_db, today=date(2026, 10, 1), within_days=3)
    assert [(r.bill.bill_id, r.telegram_user_id) for r in found] == [(due.bill_id, 501)]
    assert await bills.claim_reminder(admin_db, found[0].bill) is True
    assert await bills.claim_reminder(admin_db, found[0].bill) is False
    assert await bills.due_for_reminder(admin_db, today=date(2026, 10, 1), within_days=3) == []
    # A corrected due date opens a new reminder window.
    moved = await bills.update_bill(admin_db, due.bill_id, billing_month=date(2026, 7, 1))
    later = await bills.due_for_reminder(admin_db, today=moved.due_date, within_days=0)
    assert [r.bill.bill_id for r in later] == [due.bill_id]


async def test_imported_bills_for_months_long_past_fall_due_counted_from_the_import_day(
    admin_db: Database,
) -> None:
    """The import takes its due dates from bills.default_due_date, as /newbill does: October
    imported on 3 December falls due on 17 December, not on 14 November."""
    await two_customers(admin_db)
    text = "meter_number,billing_month,units_used\nMTR-1,2026-10,100\nMTR-2,2026-12,5\n"
    result = await import_text(admin_db, text, due_days=14, issued_on=date(2026, 12, 3))
    imported = result.linked
    assert [b.bill.due_date for b in imported] == [date(2026, 12, 17), date(2027, 1, 14)]
    stored = [await bills.get(admin_db, b.bill.bill_id) for b in imported]
    assert [b.due_date for b in stored] == [date(2026, 12, 17), date(2027, 1, 14)]
