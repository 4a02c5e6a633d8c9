"""Late fees and waivers on the real MariaDB: the set-based daily run charges exactly what
Charges.late_fee says, once per bill, with its line, audit entry and totals; a waiver takes
a fee back through the ledger."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain import bills, late_fees, ledger, report_totals
from domain.billing import LineKind, Tariff
from domain.db import Database, UnitOfWork
from domain.errors import TotalBelowPaid
from domain.models import Bill, Customer, PaymentStatus, db_time, now_utc
from tests.factories import fetch_dicts, make_bill, make_clerk, make_customer, office_payment
from tests.late_fee_support import assign_tariff, make_tariff

MONTH = date(2026, 9, 1)
DUE = date(2026, 10, 14)


async def _on_tariff(db: Database, tariff_id: int) -> Customer:
    customer = await make_customer(db)
    await assign_tariff(db, customer, tariff_id)
    return customer


async def _bill(
    db: Database,
    customer: Customer,
    tariff: Tariff,
    *,
    units: str = "100",
    month: date = MONTH,
    due: date = DUE,
) -> Bill:
    return await bills.create_bill(
        db,
        customer_id=customer.customer_id,
        billing_month=month,
        units_used=Decimal(units),
        rate_per_unit=Decimal("1"),
        due_date=due,
        tariff=tariff,
    )


async def _expected_fee(db: Database, bill: Bill, tariff: Tariff, today: date) -> Decimal | None:
    """What the pure rule says this bill owes today (None: no fee)."""
    async with db.unit_of_work() as uow:
        fresh = Bill.from_row(await uow.fetch_one("get_bill", {"bill_id": bill.bill_id}) or {})
        charges = await ledger.charges(uow, fresh)
    line = charges.late_fee(tariff.late_fee, due_date=fresh.due_date, today=today)
    return None if line is None else line.amount


async def _fees(db: Database) -> dict[int, Decimal]:
    rows = await fetch_dicts(
        db, "SELECT bill_id, amount FROM bill_lines WHERE kind = 'late_fee' ORDER BY bill_id"
    )
    return {int(r["bill_id"]): Decimal(r["amount"]) for r in rows}


async def _books_agree(db: Database) -> None:
    assert await report_totals.differences(db) == []
    assert await db.fetch_all("lines_drift") == []


async def test_the_run_charges_only_bills_owing_past_their_due_date_and_grace_days(
    admin_db: Database,
) -> None:
    """Of six bills only the two still owing past due date + grace take a fee: 5 % of what
    is owed (a partly paid bill's fee is on its outstanding), with its line, its bill's new
    total and status, an audit entry, and the report totals still equal to a recount."""
    tariff_id, tariff = await make_tariff(admin_db, late_fee_percent="5", grace_days=3)
    today = DUE + timedelta(days=4)  # the first day past the grace days
    owing = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    partial = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    await office_payment(admin_db, partial, "50.00")
    paid = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    await office_payment(admin_db, paid, paid.total_amount)
    in_grace = await _bill(
        admin_db, await _on_tariff(admin_db, tariff_id), tariff, due=DUE + timedelta(days=1)
    )
    not_due = await _bill(
        admin_db, await _on_tariff(admin_db, tariff_id), tariff, due=today + timedelta(days=2)
    )
    flat = await make_bill(admin_db, await make_customer(admin_db), due_date=DUE)  # no tariff
    expected = {
        b.bill_id: await _expected_fee(admin_db, b, tariff, today)
        for b in (owing, partial, paid, in_grace, not_due)
    }
    assert expected[owing.bill_id] == Decimal("10.00")  # 5 % of 200.00
    assert expected[partial.bill_id] == Decimal("7.50")  # 5 % of 150.00 still owed

    result = await late_fees.run(admin_db, today)

    assert (result.charged, result.already_finished) == (2, False)
    assert result.record.finished_at is not None
    assert (result.record.fees, result.record.amount) == (2, Decimal("17.50"))
    assert await _fees(admin_db) == {k: v for k, v in expected.items() if v is not None}
    after = await bills.get(admin_db, owing.bill_id)
    assert (after.total_amount, after.payment_status) == (Decimal("210.00"), PaymentStatus.UNPAID)
    after = await bills.get(admin_db, partial.bill_id)
    assert (after.total_amount, after.amount_paid) == (Decimal("207.50"), Decimal("50.00"))
    assert after.payment_status is PaymentStatus.PARTIAL
    assert (await bills.get(admin_db, flat.bill_id)).total_amount == flat.total_amount
    lines = await fetch_dicts(
        admin_db,
        "SELECT fee_period, percent FROM bill_lines WHERE bill_id = %s AND kind = 'late_fee'",
        owing.bill_id,
    )
    assert lines == [{"fee_period": date(2026, 10, 1), "percent": Decimal("5.00")}]
    audit = await fetch_dicts(
        admin_db, "SELECT bill_id FROM audit_log WHERE action = 'bill.late_fee' ORDER BY bill_id"
    )
    assert [a["bill_id"] for a in audit] == sorted([owing.bill_id, partial.bill_id])
    await _books_agree(admin_db)


async def test_the_grace_days_end_on_the_last_day_without_a_fee(admin_db: Database) -> None:
    """Due on the 14th with 3 grace days: no fee on the 17th, the fee on the 18th."""
    tariff_id, tariff = await make_tariff(admin_db, late_fee_fixed="25.00", grace_days=3)
    bill = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    last_grace_day = DUE + timedelta(days=3)
    assert (await late_fees.run(admin_db, last_grace_day)).charged == 0
    assert await _fees(admin_db) == {}
    assert (await late_fees.run(admin_db, last_grace_day + timedelta(days=1))).charged == 1
    assert await _fees(admin_db) == {bill.bill_id: Decimal("25.00")}
    await _books_agree(admin_db)


async def test_the_fee_is_capped_and_a_fixed_part_adds_to_the_percentage(
    admin_db: Database,
) -> None:
    """10 % + 5.00 of 2,000.00 is 205.00, capped at 150.00; of 200.00 it is 25.00."""
    tariff_id, tariff = await make_tariff(
        admin_db, late_fee_percent="10", late_fee_fixed="5.00", late_fee_cap="150.00"
    )
    big = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff, units="1000")
    small = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff, units="100")
    await late_fees.run(admin_db, DUE + timedelta(days=1))
    assert await _fees(admin_db) == {
        big.bill_id: Decimal("150.00"),
        small.bill_id: Decimal("25.00"),
    }
    await _books_agree(admin_db)


async def test_a_second_run_and_a_later_day_add_no_second_fee(admin_db: Database) -> None:
    """The day's run record makes a second run a no-op; the bill's one fee (per due date's
    month, the lines' unique key) stops the chunk itself and every later day's run."""
    tariff_id, tariff = await make_tariff(admin_db, late_fee_percent="2")
    bill = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    today = DUE + timedelta(days=1)
    assert (await late_fees.run(admin_db, today)).charged == 1
    again = await late_fees.run(admin_db, today)
    assert (again.charged, again.already_finished) == (0, True)
    assert again.record.fees == 1

    async def chunk_again(uow: UnitOfWork) -> int:
        count = await ledger.charge_late_fees(
            uow, run_date=today, first_id=0, last_id=bill.bill_id, now=db_time(now_utc())
        )
        await uow.commit()
        return count

    assert await admin_db.transaction(chunk_again) == 0
    for days in (2, 40):
        assert (await late_fees.run(admin_db, DUE + timedelta(days=days))).charged == 0
    assert await _fees(admin_db) == {bill.bill_id: Decimal("4.00")}
    assert (await bills.get(admin_db, bill.bill_id)).total_amount == Decimal("204.00")
    await _books_agree(admin_db)


async def test_a_run_cut_short_is_finished_by_the_next_call(admin_db: Database) -> None:
    """A restart after the first chunk committed: the run record is unfinished, the next call
    charges only the bills left and counts every fee of the day."""
    tariff_id, tariff = await make_tariff(admin_db, late_fee_fixed="3.00")
    first = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    second = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    today = DUE + timedelta(days=1)

    async def first_chunk_only(uow: UnitOfWork) -> int:
        await ledger.start_late_fee_run(uow, today, db_time(now_utc()))
        count = await ledger.charge_late_fees(
            uow, run_date=today, first_id=0, last_id=first.bill_id, now=db_time(now_utc())
        )
        await uow.commit()
        return count

    assert await admin_db.transaction(first_chunk_only) == 1
    result = await late_fees.run(admin_db, today, chunk=1)
    assert (result.charged, result.record.fees, result.record.amount) == (1, 2, Decimal("6.00"))
    assert set(await _fees(admin_db)) == {first.bill_id, second.bill_id}
    await _books_agree(admin_db)


async def test_the_set_based_run_charges_what_the_pure_rule_says_for_every_bill(
    admin_db: Database,
) -> None:
    """Forty bills on four tariffs (banded, fixed charge, tax, percentages with half cents,
    fixed parts, caps, grace days), some partly or fully paid, due on different days: the
    run's fee of each equals Charges.late_fee of the same bill."""
    rng = random.Random(15)
    made = [
        await make_tariff(
            admin_db,
            bands=(("0", "50", "1.2350"), ("50", "150", "2.5050"), ("150", None, "3.3333")),
            fixed_charge="150.00",
            tax_percent="7.5",
            late_fee_percent="2.5",
            grace_days=5,
        ),
        await make_tariff(admin_db, late_fee_percent="1.75", late_fee_fixed="0.50"),
        await make_tariff(admin_db, late_fee_percent="12.5", late_fee_cap="40.00", grace_days=1),
        await make_tariff(admin_db, late_fee_fixed="10.00", tax_percent="5", grace_days=10),
    ]
    today = date(2026, 11, 1)
    issued: list[tuple[Bill, Tariff]] = []
    for n in range(40):
        tariff_id, tariff = made[n % len(made)]
        customer = await _on_tariff(admin_db, tariff_id)
        bill = await _bill(
            admin_db,
            customer,
            tariff,
            units=f"{rng.randint(1, 40_000) / 100:.2f}",
            due=today - timedelta(days=rng.randint(-3, 15)),
        )
        share = rng.choice([0, 0, 0, 33, 100])
        if share:
            amount = (bill.total_amount * share / 100).quantize(Decimal("0.01"))
            await office_payment(admin_db, bill, max(amount, Decimal("0.01")))
        issued.append((bill, tariff))
    expected = {}
    for bill, tariff in issued:
        fee = await _expected_fee(admin_db, bill, tariff, today)
        if fee is not None:
            expected[bill.bill_id] = fee
    assert 5 < len(expected) < 40  # some bills take a fee, some do not

    await late_fees.run(admin_db, today, chunk=7)

    assert await _fees(admin_db) == expected
    await _books_agree(admin_db)


async def test_linked_customers_are_told_of_their_fee_once(admin_db: Database) -> None:
    """The notices of a run are claimed once: a linked customer's fee is listed with the
    bill after it; a customer with no Telegram account is not; a second claim lists none."""
    tariff_id, tariff = await make_tariff(admin_db, late_fee_percent="10")
    linked = await _on_tariff(admin_db, tariff_id)
    async with admin_db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "UPDATE customers SET telegram_user_id = 4242 WHERE customer_id = %s",
                (linked.customer_id,),
            )
        await uow.commit()
    bill = await _bill(admin_db, linked, tariff)
    await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    today = DUE + timedelta(days=1)
    await late_fees.run(admin_db, today)

    notices = await late_fees.claim_notices(admin_db, today)

    assert [(n.telegram_user_id, n.bill.bill_id, n.fee, n.overdue) for n in notices] == [
        (4242, bill.bill_id, Decimal("20.00"), Decimal("200.00"))
    ]
    assert notices[0].bill.total_amount == Decimal("220.00")
    assert await late_fees.claim_notices(admin_db, today) == []


async def test_a_waiver_takes_the_fee_back_through_the_ledger(admin_db: Database) -> None:
    """The waiver line is the fee negated, with the reason; the bill's total goes back; the
    audit log has it; a second waiver of the same fee is refused."""
    tariff_id, tariff = await make_tariff(admin_db, late_fee_fixed="30.00")
    clerk_bill = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    await late_fees.run(admin_db, DUE + timedelta(days=1))
    admin_id = (await make_clerk(admin_db)).admin_id
    fees = await late_fees.fees_of(admin_db, clerk_bill.bill_id)
    assert [f.amount for f in fees.to_waive] == [Decimal("30.00")]
    fee = fees.to_waive[0]
    assert fee.line_id is not None

    after, waiver = await late_fees.waive(
        admin_db, clerk_bill.bill_id, fee.line_id, reason="first time late", admin_id=admin_id
    )

    assert after.total_amount == clerk_bill.total_amount
    assert (waiver.kind, waiver.amount, waiver.waives_line_id, waiver.note) == (
        LineKind.WAIVER,
        Decimal("-30.00"),
        fee.line_id,
        "first time late",
    )
    assert (await late_fees.fees_of(admin_db, clerk_bill.bill_id)).to_waive == ()
    audit = await fetch_dicts(
        admin_db, "SELECT admin_id FROM audit_log WHERE action = 'bill.waive'"
    )
    assert audit == [{"admin_id": admin_id}]
    with pytest.raises(late_fees.LateFeeAlreadyWaived):
        await late_fees.waive(
            admin_db, clerk_bill.bill_id, fee.line_id, reason="again", admin_id=admin_id
        )
    await _books_agree(admin_db)


async def test_a_waiver_is_refused_without_a_fee_or_below_what_is_paid(
    admin_db: Database,
) -> None:
    """No fee on the bill: NoLateFee. The bill paid in full, fee included: waiving would
    leave it below what was paid, so TotalBelowPaid; nothing changes either way."""
    clerk = await make_clerk(admin_db)
    tariff_id, tariff = await make_tariff(admin_db, late_fee_fixed="30.00")
    no_fee = await _bill(
        admin_db, await _on_tariff(admin_db, tariff_id), tariff, due=date(2027, 1, 1)
    )
    fined = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    await late_fees.run(admin_db, DUE + timedelta(days=1))
    assert (await late_fees.fees_of(admin_db, no_fee.bill_id)).fees == ()
    with pytest.raises(late_fees.NoLateFee):
        await late_fees.waive(
            admin_db, no_fee.bill_id, 1, reason="none here", admin_id=clerk.admin_id
        )
    fined = await bills.get(admin_db, fined.bill_id)
    await office_payment(admin_db, fined, fined.total_amount)
    fee = (await late_fees.fees_of(admin_db, fined.bill_id)).to_waive[0]
    assert fee.line_id is not None
    with pytest.raises(TotalBelowPaid):
        await late_fees.waive(
            admin_db, fined.bill_id, fee.line_id, reason="too late", admin_id=clerk.admin_id
        )
    assert (await bills.get(admin_db, fined.bill_id)).payment_status is PaymentStatus.PAID
    assert len((await late_fees.fees_of(admin_db, fined.bill_id)).to_waive) == 1
    await _books_agree(admin_db)


async def test_the_bills_trigger_leaves_to_the_run_only_its_own_batchs_exact_fees(
    admin_db: Database,
) -> None:
    """With a committed fee's batch named on a session (as a connection the run used might
    be left), any other change of that bill — a payment's, a correction's, a total moved by
    another amount — still moves the report totals by trigger; only the run's exact change
    (the total up by that fee, nothing else) is left to the run's own statements."""
    tariff_id, tariff = await make_tariff(admin_db, late_fee_fixed="7.00")
    bill = await _bill(admin_db, await _on_tariff(admin_db, tariff_id), tariff)
    await late_fees.run(admin_db, DUE + timedelta(days=1))
    (charge,) = await fetch_dicts(admin_db, "SELECT batch FROM late_fee_charges")

    async def billed_after(sql: str) -> Decimal:
        """bill_totals' billed after ``sql`` on a session naming the batch (rolled back)."""
        async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
            await cur.execute("SET @ebb_late_fee_batch = %s", (charge["batch"],))
            await cur.execute(sql, (bill.bill_id,))
            await cur.execute("SELECT SUM(billed) FROM bill_totals")
            (billed,) = await cur.fetchone()
            await cur.execute("SET @ebb_late_fee_batch = NULL")
            return Decimal(billed)

    billed = Decimal(
        (await fetch_dicts(admin_db, "SELECT SUM(billed) AS b FROM bill_totals"))[0]["b"]
    )
    moved = "UPDATE bills SET total_amount = total_amount + {} WHERE bill_id = %s"
    assert await billed_after(moved.format("0.01")) == billed + Decimal("0.01")
    assert await billed_after(moved.format("7.00")) == billed  # the run's own change
    assert await billed_after(
        "UPDATE bills SET total_amount = total_amount + 7, units_used = units_used + 1"
        " WHERE bill_id = %s"
    ) == billed + Decimal("7.00")
    await _books_agree(admin_db)
