"""The report totals (migration 0003) always equal a full recount of the bills and payments.

Every write path is exercised through the domain — bills issued one by one and in bulk (and
paid at once from credit), corrected (units, rate, month), paid in part and in full by card
charges, at the office, by confirmed transfer claims and from credit, payments voided, credit
refunded, and many payments from credit and voids racing on the same bills and on different
ones — and after each the kept totals are compared with a recount from the rows themselves
(``report_totals.differences``).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from domain import bills, card_payments, claims, payments, report_totals, reports
from domain.db import Database
from domain.errors import DomainError
from domain.models import Bill, Customer, PaymentMethod
from domain.money import Currency
from tests.factories import give_credit, make_bill, make_customer, office_payment

TODAY = date(2026, 11, 15)
# Dollars: Telegram takes invoices from 1.00, so the small test bills can be paid by card.
DOLLARS = Currency("USD", "$")
_charges = itertools.count(1)


async def _card_invoice(db: Database, bill: Bill, amount: str) -> card_payments.Invoice:
    return await card_payments.create_invoice(
        db,
        customer_id=bill.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal(amount),
        currency=DOLLARS,
        lifetime=timedelta(minutes=30),
    )


async def _card_charge(db: Database, invoice: card_payments.Invoice) -> card_payments.ChargeResult:
    """The provider took the invoice's amount (one new Telegram charge id)."""
    n = next(_charges)
    return await card_payments.record_charge(
        db,
        reference=invoice.reference,
        charge=payments.ChargeIds(f"totals-charge-{n}", f"totals-provider-{n}"),
        currency_code="USD",
        total_minor=DOLLARS.to_minor(invoice.amount),
        currency=DOLLARS,
    )


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


async def test_every_kind_of_write_keeps_the_totals_equal_to_a_recount(
    admin_db: Database, customer_db: Database
) -> None:
    """Issue, import, pay in part and in full (a card charge, cash, a confirmed transfer
    claim, credit), a charge the bill cannot take (credit), a bill paid from credit when
    issued, a credit refund, void, and correct units, rate and month. Claims still pending or
    rejected move nothing."""
    admin_id = await _admin_id(admin_db)
    people = await _customers(admin_db, 3)
    first = await make_bill(admin_db, people[0], month=date(2026, 8, 1), units="310.50")
    second = await make_bill(admin_db, people[0], month=date(2026, 9, 1), units="99.99")
    third = await make_bill(admin_db, people[1], month=date(2026, 9, 1), due_date=TODAY)
    assert await report_totals.differences(admin_db) == []

    imported = (
        "meter_number,billing_month,units_used,rate_per_unit\n"
        "TOT-0001,2026-10,120.00,\nTOT-0002,2026-10,80.25,52.4\nTOT-0002,2026-11,1.00,0.5\n"
    )
    await bills.import_bill_file(
        admin_db, lambda: io.StringIO(imported), default_rate=Decimal("68.50")
    )
    assert await report_totals.differences(admin_db) == []

    late_invoice = await _card_invoice(customer_db, second, "50.00")
    part = await _card_charge(admin_db, await _card_invoice(customer_db, first, "100.00"))
    assert part.payment is not None and part.credited == 0
    await office_payment(admin_db, second, second.outstanding, key="t-2")
    claim = await claims.submit(
        customer_db, customer_id=people[1].customer_id, bill_id=third.bill_id,
        amount=third.outstanding, method=PaymentMethod.MOBILE_MONEY, reference="TOT-MM-0001",
    )  # fmt: skip
    refused = await claims.submit(
        customer_db, customer_id=people[1].customer_id, bill_id=third.bill_id,
        amount=Decimal("1.00"), method=PaymentMethod.BANK_TRANSFER, reference="TOT-BT-0002",
    )  # fmt: skip
    assert await report_totals.differences(admin_db) == []  # pending claims move nothing
    await claims.reject(admin_db, refused.claim_id, admin_id=admin_id, reason="no such transfer")
    _, full = await claims.confirm(
        admin_db, claim.claim_id, admin_id=admin_id, now=datetime(2026, 9, 30, 23, 30, tzinfo=UTC)
    )
    # The office took the second bill's money first: the card charge is all credit (50.00).
    late = await _card_charge(admin_db, late_invoice)
    assert late.payment is None and late.credit_balance == Decimal("50.00")
    assert await report_totals.differences(admin_db) == []

    await payments.void_payment(
        admin_db, full.payment.payment_id, admin_id=admin_id, reason="keyed twice"
    )
    assert part.payment is not None
    await payments.void_payment(
        admin_db, part.payment.payment_id, admin_id=admin_id, reason="keyed twice"
    )
    assert await report_totals.differences(admin_db) == []

    await office_payment(admin_db, first, "50.00", method="pos", key="t-4")
    # A new bill takes 24.69 of the 50.00 credit at once; staff refund 5.00; the customer
    # pays 10.00 of the first bill from the rest.
    issued = await make_bill(admin_db, people[0], month=date(2026, 12, 1), units="20")
    assert issued.amount_paid == Decimal("24.69")
    await card_payments.refund_credit(
        admin_db, people[0].customer_id, amount=Decimal("5.00"), admin_id=admin_id,
        reason="paid back in cash",
    )  # fmt: skip
    await payments.pay_bill(
        customer_db, bill_id=first.bill_id, amount=Decimal("10.00"), method=PaymentMethod.CREDIT,
        idempotency_key="t-5", customer_id=people[0].customer_id,
    )  # fmt: skip
    assert await card_payments.credit_balance(admin_db, people[0].customer_id) == Decimal("10.31")
    assert await report_totals.differences(admin_db) == []
    # A correction of units and rate, then of the month (which moves the due date too).
    await bills.update_bill(admin_db, first.bill_id, units_used=Decimal("400.00"))
    await bills.update_bill(admin_db, first.bill_id, rate_per_unit=Decimal("1.0001"))
    await bills.update_bill(admin_db, second.bill_id, billing_month=date(2026, 7, 1))
    await bills.update_bill(admin_db, third.bill_id, billing_month=date(2026, 6, 1))
    assert await report_totals.differences(admin_db) == []
    # Revenue by method: what reached bills, by how it reached them.
    income = await reports.revenue(admin_db)
    by_method = {line.key: line.total for line in income.by_method}
    assert by_method == {
        "cash": second.total_amount,
        "pos": Decimal("50.00"),
        "credit": Decimal("34.69"),
    }


async def test_racing_payments_and_voids_keep_the_totals_equal_to_a_recount(
    admin_db: Database, customer_db: Database
) -> None:
    """Forty payers on ten bills (four on each, some paying too much), each from their
    account credit, while the office voids payments as they land: whatever wins, the totals
    still equal a recount, and each customer's credit went down by exactly what stays paid
    from it (a void gives it back)."""
    admin_id = await _admin_id(admin_db)
    people = await _customers(admin_db, 5)
    open_bills: list[Bill] = []
    for index, person in enumerate(people):
        for month in (date(2026, 9, 1), date(2026, 10, 1)):
            open_bills.append(
                await make_bill(admin_db, person, month=month, units=str(50 + index))
            )
    # Enough credit for every payment eight payers could try (after the bills, or issuing
    # them would have taken it).
    given = Decimal("2000.00")
    for bill in open_bills[::2]:
        await give_credit(admin_db, bill, given)
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
                    method=PaymentMethod.CREDIT,
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

    # A task group: if one side fails, the other is cancelled rather than left writing into
    # the next test's tables.
    async with asyncio.TaskGroup() as race:
        race.create_task(payers())
        race.create_task(voider())
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
    assert [line.key for line in income.by_method] == ["credit"]
    for person in people:
        async with admin_db.unit_of_work() as uow:
            async with uow.connection.cursor() as cur:
                await cur.execute(
                    "SELECT COALESCE(SUM(p.amount_paid), 0) FROM payments p JOIN bills b"
                    " USING (bill_id) WHERE b.customer_id = %s AND p.voided_at IS NULL",
                    (person.customer_id,),
                )
                (spent,) = await cur.fetchone()
        credit = await card_payments.credit_balance(admin_db, person.customer_id)
        assert credit == given - spent


async def test_a_recount_of_the_totals_the_writes_kept_repairs_nothing(
    admin_db: Database,
) -> None:
    """Totals kept by the writes equal a recount: a rebuild finds nothing and changes no
    report."""
    people = await _customers(admin_db, 2)
    bill = await make_bill(admin_db, people[0])
    await make_bill(admin_db, people[1], month=date(2026, 10, 1))
    await office_payment(admin_db, bill, "3.00", key="rb-1")
    await give_credit(admin_db, bill, "2.00")
    await payments.pay_bill(
        admin_db, bill_id=bill.bill_id, amount=Decimal("2.00"), method=PaymentMethod.CREDIT,
        idempotency_key="rb-2",
    )  # fmt: skip
    before = (await reports.revenue(admin_db), await reports.outstanding(admin_db, today=TODAY))
    assert await report_totals.rebuild(admin_db, source="test") == []
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
