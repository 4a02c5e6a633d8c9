"""The monthly bill run on the real MariaDB (issue 15 §3): bills from readings on a banded
tariff, worked out in SQL and held to domain/billing's figures at the bands' edges;
estimates; what is skipped and why; credit; a second run; two runs at once; the report
totals and the lines still add up afterwards."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain import audit, billrun, ledger, report_totals
from domain.billing import Band, Line, Tariff, flat_tariff
from domain.bills import default_due_date
from domain.db import Database
from domain.errors import BillRunInProgress, BillRunTurnLost
from domain.models import Bill, Customer, PaymentStatus
from tests.billrun_support import enter_reading, make_tariff, put_on_tariff
from tests.factories import fetch_dicts, give_credit, make_bill, make_customer, office_payment
from tests.reliability_support import link_telegram

AUG, SEP, OCT = date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)
ISSUED_ON = date(2026, 10, 3)
DEFAULT_RATE = Decimal("68.50")

THREE_BANDS = Tariff(
    code="RES3",
    name="Residential, three bands",
    customer_class="residential",
    effective_from=date(2026, 1, 1),
    bands=(
        Band(Decimal("0"), Decimal("50"), Decimal("12.3456")),
        Band(Decimal("50"), Decimal("150"), Decimal("18.7501")),
        Band(Decimal("150"), None, Decimal("25.1250")),
    ),
    fixed_charge=Decimal("500.00"),
    tax_percent=Decimal("7.50"),
)

# Either side of each band's edge, the edges themselves, nothing at all, and a lot.
EDGES = ["0", "0.01", "49.99", "50", "50.01", "149.99", "150", "150.01", "1234.56"]


async def run(db: Database, month: date = SEP, **options: object) -> billrun.BillRunResult:
    return await billrun.run(
        db,
        billing_month=month,
        default_rate=DEFAULT_RATE,
        issued_on=ISSUED_ON,
        **options,  # type: ignore[arg-type]
    )


async def metered(
    db: Database, previous: str, current: str | None, *, tariff: str | None = "RES3"
) -> Customer:
    """A customer on ``tariff`` with an August reading and (if given) a September one."""
    customer = await make_customer(db)
    await put_on_tariff(db, customer.customer_id, tariff)
    await enter_reading(db, customer.customer_id, AUG, previous)
    if current is not None:
        await enter_reading(db, customer.customer_id, SEP, current)
    return customer


async def bill_of(db: Database, customer: Customer, month: date = SEP) -> dict[str, Any]:
    rows = await fetch_dicts(
        db,
        "SELECT * FROM bills WHERE customer_id = %s AND billing_month = %s",
        customer.customer_id,
        month,
    )
    assert len(rows) == 1, rows
    return rows[0]


def unwritten(lines: tuple[Line, ...]) -> tuple[Line, ...]:
    return tuple(replace(line, line_id=None) for line in lines)


async def assert_books_balance(db: Database) -> None:
    assert await report_totals.differences(db) == []
    assert await db.fetch_all("lines_drift") == []


async def test_a_three_band_bill_has_the_lines_and_total_domain_billing_computes(
    admin_db: Database,
) -> None:
    """At every band edge (and 0 units, which still owes the fixed charge) the SQL's bill —
    units, rate_per_unit, total, each line — is exactly Tariff.charges / average_rate."""
    tariff = await make_tariff(admin_db, THREE_BANDS)
    customers = {
        units: await metered(admin_db, "1000", str(1000 + Decimal(units))) for units in EDGES
    }
    result = await run(admin_db)
    assert result.issued == len(EDGES) and result.skipped == {}
    due = default_due_date(SEP, 14, issued_on=ISSUED_ON)
    for text, customer in customers.items():
        units = Decimal(text)
        row = await bill_of(admin_db, customer)
        expected = tariff.charges(units)
        assert row["units_used"] == units
        assert row["total_amount"] == sum(line.amount for line in expected), text
        assert row["rate_per_unit"] == tariff.average_rate(units), text
        assert row["tariff_version_id"] == tariff.version_id
        assert (row["previous_reading"], row["current_reading"]) == (
            Decimal("1000.00"),
            1000 + units,
        )
        assert row["estimated"] == 0 and row["due_date"] == due
        assert row["import_audit_id"] == result.run_id
        written = await ledger.lines(admin_db, int(row["bill_id"]))
        assert unwritten(written) == expected, text
    # 150.01 units: 50 × 12.3456 = 617.28, 100 × 18.7501 = 1875.01, 0.01 × 25.125 = 0.25
    # (0.25125 half up), fixed 500.00, tax 7.5 % of 2992.54 = 224.44; total 3216.98.
    assert (await bill_of(admin_db, customers["150.01"]))["total_amount"] == Decimal("3216.98")
    await assert_books_balance(admin_db)


async def test_sql_and_domain_agree_on_random_units_rates_and_flat_customers(
    admin_db: Database,
) -> None:
    """Two hundred random readings over two random tariffs and the flat default: every bill
    and line as domain/billing says (rates with four decimals make half cents often)."""
    rng = random.Random(15)

    def rate() -> Decimal:
        return Decimal(rng.randint(1, 999_999)) / 10_000

    banded = await make_tariff(
        admin_db,
        Tariff(
            code="RND",
            name="Random",
            customer_class="commercial",
            effective_from=date(2026, 1, 1),
            bands=(
                Band(Decimal(0), Decimal("33.33"), rate()),
                Band(Decimal("33.33"), Decimal("99.99"), rate()),
                Band(Decimal("99.99"), None, rate()),
            ),
            fixed_charge=Decimal("12.34"),
            tax_percent=Decimal("13.33"),
        ),
    )
    one_band = await make_tariff(
        admin_db,
        Tariff(
            code="ONE",
            name="One band",
            customer_class="any",
            effective_from=date(2026, 1, 1),
            bands=(Band(Decimal(0), None, rate()),),
            tax_percent=Decimal("5"),
        ),
    )
    tariffs = {"RND": banded, "ONE": one_band, None: flat_tariff(DEFAULT_RATE)}
    made = []
    for _ in range(200):
        code = rng.choice(list(tariffs))
        units = Decimal(rng.randint(1, 500_000)) / 100
        previous = Decimal(rng.randint(0, 90_000_000)) / 100
        made.append(
            (
                await metered(admin_db, str(previous), str(previous + units), tariff=code),
                code,
                units,
            )
        )
    result = await run(admin_db, chunk_customers=37)
    assert result.issued == 200
    for customer, code, units in made:
        tariff = tariffs[code]
        row = await bill_of(admin_db, customer)
        assert row["units_used"] == units
        assert row["rate_per_unit"] == tariff.average_rate(units), (code, units)
        written = await ledger.lines(admin_db, int(row["bill_id"]))
        assert unwritten(written) == tariff.charges(units), (code, units)
        assert row["total_amount"] == sum(line.amount for line in written)
    await assert_books_balance(admin_db)


async def test_a_rolled_over_register_is_billed_for_the_units_past_its_end(
    admin_db: Database,
) -> None:
    """A five-digit register from 99,990 to 40 used 50 units (domain.readings.consumption)."""
    customer = await metered(admin_db, "99990", "40", tariff=None)
    await put_on_tariff(admin_db, customer.customer_id, None, meter_digits=5)
    await run(admin_db)
    row = await bill_of(admin_db, customer)
    assert row["units_used"] == Decimal("50.00")
    assert row["total_amount"] == Decimal("3425.00")  # 50 × 68.50, the flat default
    assert row["tariff_version_id"] is None


async def test_a_missing_reading_is_estimated_from_the_last_three_bills_and_corrected_next(
    admin_db: Database,
) -> None:
    """No September reading: the estimate is the August reading plus the average of the last
    three bills (stored as an 'estimate' reading, the bill marked estimated); October's actual
    reading is counted from the estimate, which corrects it."""
    customer = await make_customer(admin_db)
    for month, units in ((date(2026, 5, 1), "90"), (date(2026, 6, 1), "100"), (AUG, "110")):
        await make_bill(admin_db, customer, month=month, units=units, rate="1")
    await make_bill(admin_db, customer, month=date(2026, 7, 1), units="121", rate="1")
    await enter_reading(admin_db, customer.customer_id, AUG, "5000")
    first = await run(admin_db)
    assert (first.issued, first.estimated) == (1, 1)
    row = await bill_of(admin_db, customer)
    assert row["units_used"] == Decimal("110.33")  # (100 + 121 + 110) / 3, the last three
    assert row["estimated"] == 1 and row["current_reading"] == Decimal("5110.33")
    readings = await fetch_dicts(
        admin_db,
        "SELECT reading, source, status FROM meter_readings WHERE customer_id = %s"
        " AND billing_month = %s",
        customer.customer_id,
        SEP,
    )
    assert readings == [
        {"reading": Decimal("5110.33"), "source": "estimate", "status": "accepted"}
    ]
    await enter_reading(admin_db, customer.customer_id, OCT, "5300")
    october = await run(admin_db, OCT)
    assert (october.issued, october.estimated) == (1, 0)
    row = await bill_of(admin_db, customer, OCT)
    assert row["units_used"] == Decimal("189.67") and row["estimated"] == 0
    await assert_books_balance(admin_db)


async def test_an_actual_reading_below_the_estimate_corrects_the_estimated_bill_down(
    admin_db: Database,
) -> None:
    """Too much estimated: September's estimate is 5110.33, October's actual reading 5050.
    The October run corrects September's bill to end at 5050 (50 units from August's 5000,
    on its tariff, lines rewritten, no longer estimated), brings the estimate down to 5050,
    and bills October from there: no energy, only the fixed charge and its tax. A customer who
    already paid the estimated bill beyond its corrected total is left for staff."""
    tariff = await make_tariff(admin_db, THREE_BANDS)
    owing, paid_up = await make_customer(admin_db), await make_customer(admin_db)
    for customer in (owing, paid_up):
        await put_on_tariff(admin_db, customer.customer_id, "RES3")
        for month, units in ((date(2026, 5, 1), "90"), (date(2026, 6, 1), "100")):
            await make_bill(admin_db, customer, month=month, units=units, rate="1")
        await make_bill(admin_db, customer, month=date(2026, 7, 1), units="121", rate="1")
        await make_bill(admin_db, customer, month=AUG, units="110", rate="1")
        await enter_reading(admin_db, customer.customer_id, AUG, "5000")
    september = await run(admin_db)
    assert (september.issued, september.estimated) == (2, 2)
    estimated = await bill_of(admin_db, paid_up)
    await office_payment(admin_db, Bill.from_row(estimated), str(estimated["total_amount"]))
    paid_before = await bill_of(admin_db, paid_up)
    for customer in (owing, paid_up):
        await enter_reading(admin_db, customer.customer_id, OCT, "5050")
    for customer, telegram_user_id in ((owing, 771001), (paid_up, 771002)):
        await link_telegram(admin_db, customer.customer_id, telegram_user_id)

    october = await run(admin_db, OCT)
    assert (october.issued, october.corrected) == (1, 1)
    # The customer is told of the corrected bill (the handler sends it before the new one);
    # the one left for staff is not.
    [told] = october.corrected_linked
    assert (told.telegram_user_id, told.meter_number) == (771001, owing.meter_number)
    assert october.skipped_count == 1
    assert october.skipped[billrun.SkipReason.BELOW_PREVIOUS].customers == 1

    corrected = await bill_of(admin_db, owing)
    assert told.bill.bill_id == corrected["bill_id"]
    assert told.bill.total_amount == corrected["total_amount"]
    assert (corrected["units_used"], corrected["current_reading"], corrected["estimated"]) == (
        Decimal("50.00"),
        Decimal("5050.00"),
        0,
    )
    expected = tariff.charges(Decimal("50"))
    assert corrected["total_amount"] == sum(line.amount for line in expected)
    lines = await ledger.lines(admin_db, int(corrected["bill_id"]))
    assert unwritten(lines) == expected
    following = await bill_of(admin_db, owing, OCT)
    assert following["units_used"] == Decimal("0.00")
    assert following["previous_reading"] == Decimal("5050.00")
    assert following["total_amount"] == sum(line.amount for line in tariff.charges(Decimal(0)))
    readings = await fetch_dicts(
        admin_db,
        "SELECT customer_id, reading FROM meter_readings WHERE billing_month = %s"
        " AND source = 'estimate' ORDER BY customer_id",
        SEP,
    )
    assert readings == [
        {"customer_id": owing.customer_id, "reading": Decimal("5050.00")},
        {"customer_id": paid_up.customer_id, "reading": Decimal("5110.33")},
    ]
    assert await bill_of(admin_db, paid_up) == paid_before
    edits = await fetch_dicts(admin_db, "SELECT bill_id FROM audit_log WHERE action = 'bill.edit'")
    assert edits == [{"bill_id": corrected["bill_id"]}]
    await assert_books_balance(admin_db)


async def test_customers_who_cannot_be_billed_are_reported_with_the_reason(
    admin_db: Database,
) -> None:
    """No previous reading at all, a reading below the last (no rollover), one awaiting
    review, and no reading with nothing to estimate from: no bill, each reported."""
    no_previous = await make_customer(admin_db, meter_number="SKIP-PREV")
    await enter_reading(admin_db, no_previous.customer_id, SEP, "100")
    below = await metered(admin_db, "5000", "4000", tariff=None)
    pending = await metered(admin_db, "5000", None, tariff=None)
    await enter_reading(
        admin_db, pending.customer_id, SEP, "5100", source="customer", status="pending"
    )
    await make_customer(admin_db, meter_number="SKIP-NONE")
    billed = await metered(admin_db, "10", "20", tariff=None)
    result = await run(admin_db)
    assert result.issued == 1
    await bill_of(admin_db, billed)
    skipped = {reason: (item.customers, item.meters) for reason, item in result.skipped.items()}
    assert skipped == {
        billrun.SkipReason.NO_PREVIOUS: (1, ("SKIP-PREV",)),
        billrun.SkipReason.BELOW_PREVIOUS: (1, (below.meter_number,)),
        billrun.SkipReason.PENDING: (1, (pending.meter_number,)),
        billrun.SkipReason.NO_READING: (1, ("SKIP-NONE",)),
    }
    assert len(await fetch_dicts(admin_db, "SELECT bill_id FROM bills")) == 1


async def test_account_credit_pays_the_new_bill_as_a_payment_from_credit(
    admin_db: Database,
) -> None:
    customer = await metered(admin_db, "0", "10", tariff=None)  # 10 × 68.50 = 685.00
    august = await make_bill(admin_db, customer, month=AUG, units="1", rate="1")
    await give_credit(admin_db, august, "200.00")
    result = await run(admin_db)
    assert result.credit_applied == Decimal("200.00")
    row = await bill_of(admin_db, customer)
    assert (row["amount_paid"], row["payment_status"]) == (Decimal("200.00"), "partial")
    paid = await fetch_dicts(
        admin_db,
        "SELECT amount_paid, payment_method FROM payments WHERE bill_id = %s",
        row["bill_id"],
    )
    assert paid == [{"amount_paid": Decimal("200.00"), "payment_method": "credit"}]
    credit = await fetch_dicts(
        admin_db, "SELECT credit FROM customers WHERE customer_id = %s", customer.customer_id
    )
    assert credit == [{"credit": Decimal("0.00")}]
    await assert_books_balance(admin_db)


async def test_one_audit_entry_stands_for_the_run_and_a_second_run_issues_only_what_is_missing(
    admin_db: Database,
) -> None:
    await make_tariff(admin_db, THREE_BANDS)
    first_customers = [await metered(admin_db, "0", str(10 * i)) for i in range(1, 6)]
    first = await run(admin_db, chunk_customers=2)
    assert first.issued == 5
    entries = await fetch_dicts(
        admin_db, "SELECT audit_id, action, after_data FROM audit_log WHERE action = 'bill.run'"
    )
    assert [e["audit_id"] for e in entries] == [first.run_id]
    assert json.loads(entries[0]["after_data"])["issued"] == 5
    # Each bill leads to the run's entry (/audit <bill>).
    about = await audit.entries(
        admin_db, bill_id=int((await bill_of(admin_db, first_customers[0]))["bill_id"])
    )
    assert [(e.audit_id, e.action) for e in about] == [(first.run_id, billrun.RUN_ACTION)]
    lines_before = len(await fetch_dicts(admin_db, "SELECT line_id FROM bill_lines"))

    again = await run(admin_db)
    assert (again.issued, again.already_billed, again.total_billed) == (0, 5, Decimal("0.00"))
    assert len(await fetch_dicts(admin_db, "SELECT line_id FROM bill_lines")) == lines_before

    late = await metered(admin_db, "0", "70")  # a reading entered after the first run
    third = await run(admin_db)
    assert (third.issued, third.already_billed) == (1, 5)
    assert (await bill_of(admin_db, late))["import_audit_id"] == third.run_id
    for customer in first_customers:
        assert (await bill_of(admin_db, customer))["import_audit_id"] == first.run_id
    await assert_books_balance(admin_db)


async def test_a_second_run_of_the_month_is_refused_while_the_first_holds_the_turn(
    admin_db: Database,
) -> None:
    """Started between two chunks of the first run, a second run is refused and writes
    nothing; the first finishes alone, every customer billed once."""
    customers = [await metered(admin_db, "0", str(5 * i), tariff=None) for i in range(1, 5)]
    refusals: list[BaseException] = []

    async def second_run_meanwhile(progress: billrun.Progress) -> None:
        if not refusals:
            with pytest.raises(BillRunInProgress) as refused:
                await run(admin_db)
            refusals.append(refused.value)

    result = await run(admin_db, chunk_customers=1, progress=second_run_meanwhile)
    assert result.issued == 4 and len(refusals) == 1
    assert isinstance(refusals[0], BillRunInProgress)
    assert refusals[0].billing_month == SEP and refusals[0].started_at is not None
    for customer in customers:
        await bill_of(admin_db, customer)
    runs = await fetch_dicts(admin_db, "SELECT audit_id FROM audit_log WHERE action = 'bill.run'")
    assert len(runs) == 1  # the refused run wrote nothing at all
    # The turn is free once the first run has finished.
    assert (await run(admin_db)).issued == 0


async def test_two_runs_at_once_bill_each_customer_once(admin_db: Database) -> None:
    await make_tariff(admin_db, THREE_BANDS)
    for i in range(1, 41):
        await metered(admin_db, "0", str(3 * i))
    outcomes = await asyncio.gather(
        run(admin_db, chunk_customers=3),
        run(admin_db, chunk_customers=5),
        return_exceptions=True,
    )
    issued = [o.issued for o in outcomes if isinstance(o, billrun.BillRunResult)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(o, BillRunInProgress) for o in refused), refused
    assert sum(issued) == 40
    rows = await fetch_dicts(
        admin_db, "SELECT COUNT(*) AS bills, COUNT(DISTINCT customer_id) AS customers FROM bills"
    )
    assert rows == [{"bills": 40, "customers": 40}]
    await assert_books_balance(admin_db)


async def test_a_bill_issued_by_staff_meanwhile_is_left_alone(admin_db: Database) -> None:
    """/newbill for a customer before the run: the run does not bill them again, counts the
    bill as already there, and bills everyone else."""
    staff_billed = await metered(admin_db, "0", "10", tariff=None)
    other = await metered(admin_db, "0", "20", tariff=None)
    existing: Bill = await make_bill(admin_db, staff_billed, month=SEP, units="99", rate="2")
    result = await run(admin_db)
    assert (result.issued, result.already_billed) == (1, 1)
    assert (await bill_of(admin_db, staff_billed))["bill_id"] == existing.bill_id
    assert (await bill_of(admin_db, other))["payment_status"] == PaymentStatus.UNPAID.value
    await assert_books_balance(admin_db)


async def test_an_average_rate_exactly_half_way_rounds_as_domain_billing_does(
    admin_db: Database,
) -> None:
    """0.01 of energy over 0.32 units is 0.03125 a unit: rate_per_unit keeps 0.0313, as
    Tariff.average_rate rounds (half up, as every figure we keep), not 0.0312."""
    tariff = await make_tariff(
        admin_db,
        Tariff(
            code="TIE",
            name="Tie",
            customer_class="any",
            effective_from=date(2026, 1, 1),
            bands=(
                Band(Decimal(0), Decimal("0.16"), Decimal("0.0625")),
                Band(Decimal("0.16"), None, Decimal(0)),
            ),
            fixed_charge=Decimal("1.00"),
        ),
    )
    customer = await metered(admin_db, "7", "7.32", tariff="TIE")
    await run(admin_db)
    row = await bill_of(admin_db, customer)
    assert tariff.average_rate(Decimal("0.32")) == Decimal("0.0313")
    assert (row["rate_per_unit"], row["total_amount"]) == (Decimal("0.0313"), Decimal("1.01"))


async def test_a_run_that_fell_silent_loses_its_turn_to_the_next(admin_db: Database) -> None:
    """A turn whose heartbeat is older than STALE_AFTER (a run that died) is taken by the next
    run; the run that held it, if it wakes up, stops at its next chunk (BillRunTurnLost)."""
    customers = [await metered(admin_db, "0", str(4 * i), tariff=None) for i in range(1, 4)]
    taken: list[billrun.BillRunResult] = []

    async def die_and_be_replaced(progress: billrun.Progress) -> None:
        if taken:
            return
        async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
            await cur.execute(
                "UPDATE bill_runs SET heartbeat_at = heartbeat_at - INTERVAL 11 MINUTE"
            )
            await uow.commit()
        taken.append(await run(admin_db))

    with pytest.raises(BillRunTurnLost):
        await run(admin_db, chunk_customers=1, progress=die_and_be_replaced)
    assert taken[0].issued == 2  # the first chunk was the silent run's
    for customer in customers:
        await bill_of(admin_db, customer)
    await assert_books_balance(admin_db)
