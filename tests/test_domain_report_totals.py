"""The report totals (migration 0003) always equal a full recount of the bills and payments.

Every write path is exercised through the domain — bills issued one by one and in bulk,
corrected (units, rate, month), paid in part and in full, payments voided, and many payments
and voids racing on the same bills and on different ones — and after each the kept totals
are compared with a recount from the rows themselves (``report_totals.differences``).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime
from decimal import Decimal

from domain import bills, payments, report_totals, reports
from domain.db import Database
from domain.errors import DomainError
from domain.models import Bill, Customer
from tests.factories import make_bill, make_customer

TODAY = date(2026, 11, 15)


async def _admin_id(db: Database) -> int:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "INSERT INTO admins (admin_name, email, password_hash) "
                "VALUES ('Totals Clerk', 'totals@example.com', 'x')"
            )
            admin_id = int(cur.lastrowid)
        await uow.commit()
    return admin_id


async def _customers(db: Database, count: int) -> list[Customer]:
    return [
        await make_customer(db, meter_number=f"TOT-{i:04d}", full_name=f"Totals {i}")
        for i in range(count)
    ]


async def test_every_kind_of_write_keeps_the_totals_equal_to_a_recount(admin_db: Database) -> None:
    """Issue, import, pay in part and in full, void, and correct units, rate and month."""
    admin_id = await _admin_id(admin_db)
    people = await _customers(admin_db, 3)
    first = await make_bill(admin_db, people[0], month=date(2026, 8, 1), units="310.50")
    second = await make_bill(admin_db, people[0], month=date(2026, 9, 1), units="99.99")
    third = await make_bill(admin_db, people[1], month=date(2026, 9, 1), due_date=TODAY)
    assert await report_totals.differences(admin_db) == []

    await bills.import_bills(
        admin_db,
        "meter_number,billing_month,units_used,rate_per_unit\n"
        "TOT-0001,2026-10,120.00,\nTOT-0002,2026-10,80.25,52.4\nTOT-0002,2026-11,1.00,0.5\n",
        default_rate=Decimal("68.50"),
    )
    assert await report_totals.differences(admin_db) == []

    part = await payments.pay_bill(
        admin_db, bill_id=first.bill_id, amount=Decimal("100.00"), method="card",
        idempotency_key="t-1",
    )  # fmt: skip
    await payments.pay_bill(
        admin_db, bill_id=second.bill_id, amount=second.outstanding, method="cash",
        idempotency_key="t-2", admin_id=admin_id,
    )  # fmt: skip
    full = await payments.pay_bill(
        admin_db, bill_id=third.bill_id, amount=third.outstanding, method="mobile_money",
        idempotency_key="t-3", now=datetime(2026, 9, 30, 23, 30, tzinfo=UTC),
    )  # fmt: skip
    assert await report_totals.differences(admin_db) == []

    await payments.void_payment(
        admin_db, full.payment.payment_id, admin_id=admin_id, reason="keyed twice"
    )
    await payments.void_payment(
        admin_db, part.payment.payment_id, admin_id=admin_id, reason="keyed twice"
    )
    assert await report_totals.differences(admin_db) == []

    await payments.pay_bill(
        admin_db, bill_id=first.bill_id, amount=Decimal("50.00"), method="pos",
        idempotency_key="t-4", admin_id=admin_id,
    )  # fmt: skip
    # A correction of units and rate, then of the month (which moves the due date too).
    await bills.update_bill(admin_db, first.bill_id, units_used=Decimal("400.00"))
    await bills.update_bill(admin_db, first.bill_id, rate_per_unit=Decimal("1.0001"))
    await bills.update_bill(admin_db, second.bill_id, billing_month=date(2026, 7, 1))
    await bills.update_bill(admin_db, third.bill_id, billing_month=date(2026, 6, 1))
    assert await report_totals.differences(admin_db) == []


async def test_racing_payments_and_voids_keep_the_totals_equal_to_a_recount(
    admin_db: Database, customer_db: Database
) -> None:
    """Forty payers on ten bills (four on each, some paying too much) while the office voids
    payments as they land: whatever wins, the totals still equal a recount."""
    admin_id = await _admin_id(admin_db)
    people = await _customers(admin_db, 5)
    open_bills: list[Bill] = []
    for index, person in enumerate(people):
        for month in (date(2026, 9, 1), date(2026, 10, 1)):
            open_bills.append(
                await make_bill(admin_db, person, month=month, units=str(50 + index))
            )
    rng = random.Random(6)
    landed: asyncio.Queue[int] = asyncio.Queue()

    async def payer(n: int) -> None:
        bill = open_bills[n % len(open_bills)]
        for attempt in range(4):
            try:
                result = await payments.pay_bill(
                    customer_db,
                    bill_id=bill.bill_id,
                    amount=Decimal(rng.choice(["1.00", "10.00", "25.50", "40.00"])),
                    method=rng.choice(["card", "bank_transfer", "mobile_money"]),
                    idempotency_key=f"race-{n}-{attempt}",
                    customer_id=bill.customer_id,
                )
                await landed.put(result.payment.payment_id)
            except DomainError:
                pass  # too much, or already paid: refused, nothing written

    voided: list[int] = []

    async def voider() -> None:
        # Voids every other payment as it lands, until the payers are done (0).
        while (payment_id := await landed.get()) != 0:
            if payment_id % 2:
                await payments.void_payment(
                    admin_db, payment_id, admin_id=admin_id, reason="race test"
                )
                voided.append(payment_id)

    async def payers() -> None:
        await asyncio.gather(*(payer(n) for n in range(40)))
        await landed.put(0)

    await asyncio.gather(payers(), voider())
    assert voided  # the race did void payments while others were being made
    assert await report_totals.differences(admin_db) == []
    # ... and the reports built on them equal the rows themselves.
    report = await reports.outstanding(admin_db, today=TODAY)
    async with admin_db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "SELECT SUM(total_amount - amount_paid), COUNT(*), COUNT(DISTINCT customer_id) "
                "FROM bills WHERE payment_status <> 'paid'"
            )
            owed, open_count, owing = await cur.fetchone()
            await cur.execute(
                "SELECT SUM(amount_paid), COUNT(*) FROM payments WHERE voided_at IS NULL"
            )
            revenue, paid_count = await cur.fetchone()
    assert (report.total, report.bills, report.customers) == (owed, open_count, owing)
    income = await reports.revenue(admin_db)
    assert (income.total, income.payments) == (revenue, paid_count)


async def test_a_rebuild_recounts_the_same_totals_the_writes_kept(admin_db: Database) -> None:
    """After a bulk load the totals are rebuilt from scratch; on kept totals that is a no-op."""
    people = await _customers(admin_db, 2)
    bill = await make_bill(admin_db, people[0])
    await make_bill(admin_db, people[1], month=date(2026, 10, 1))
    await payments.pay_bill(
        admin_db, bill_id=bill.bill_id, amount=Decimal("3.00"), method="card",
        idempotency_key="rb-1",
    )  # fmt: skip
    before = (await reports.revenue(admin_db), await reports.outstanding(admin_db, today=TODAY))
    await report_totals.rebuild(admin_db)
    assert await report_totals.differences(admin_db) == []
    after = (await reports.revenue(admin_db), await reports.outstanding(admin_db, today=TODAY))
    assert after == before


def test_the_migration_backfill_shards_rows_as_the_writes_do() -> None:
    """Migration 0003 backfills with the same shard counts the domain writes with."""
    text = (report_totals.MIGRATION).read_text(encoding="utf-8")
    assert f"bill_id MOD {report_totals.BILL_SHARDS}," in text.split("INSERT INTO bill_totals")[1]
    assert (
        f"bill_id MOD {report_totals.PAYMENT_SHARDS},"
        in text.split("INSERT INTO payment_totals")[1]
    )
