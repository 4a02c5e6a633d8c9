"""Meter readings (issue 15): every case of a month's units, pure and on the real MariaDB.

The rules (``domain.readings.assess``) without a database: a normal month, a rollover, a
reading below the last (refused, both figures), a future month, more digits than the meter,
a reading above a later month's. Then the database: a meter's first reading is its baseline;
re-entering a month before its bill corrects it and after is refused; the previous reading
is a bill's current_reading when that is newer; a customer's submission is pending until
staff accept, correct or reject it; a readings CSV is all-or-nothing with line errors; the
customer account can only submit (pending), never accept or change a reading.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pymysql
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import admins, ledger, readings
from domain.billing import flat_tariff
from domain.db import Database
from domain.errors import ImportRejected, ReadingBelowPrevious
from domain.models import Customer
from domain.readings import (
    InvalidReading,
    MonthAlreadyBilled,
    MonthReading,
    NoPreviousReading,
    NoReading,
    ReadingAboveNext,
    ReadingAlreadyReviewed,
    ReadingAlreadySent,
    ReadingInFuture,
    ReadingSource,
    ReadingStatus,
    ReadingTooLarge,
)
from tests.billrun_support import enter_reading
from tests.factories import fetch_dicts, make_bill, make_customer

NOVEMBER = date(2026, 11, 1)  # "this month" in these tests
OCTOBER = date(2026, 10, 1)
SEPTEMBER = date(2026, 9, 1)
AUGUST = date(2026, 8, 1)
ACCESS_DENIED = {1142, 1143}
REFUSED_BY_TRIGGER = 1644


def D(text: str) -> Decimal:
    return Decimal(text)


# ---------------------------------------------------------------------------------------------
# The rules, pure


def _assess(
    reading: str,
    previous: str | None = "12000",
    *,
    month: date = NOVEMBER,
    digits: int = 6,
    following: MonthReading | None = None,
) -> readings.Consumption:
    return readings.assess(
        billing_month=month,
        reading=D(reading),
        digits=digits,
        previous=None if previous is None else MonthReading(OCTOBER, D(previous)),
        following=following,
        current_month=NOVEMBER,
    )


def test_units_are_the_current_reading_less_the_previous() -> None:
    made = _assess("12345.5")
    assert (made.units, made.rolled_over, made.baseline) == (D("345.5"), False, False)
    assert made.previous == MonthReading(OCTOBER, D("12000"))


def test_the_same_reading_again_makes_zero_units() -> None:
    assert _assess("12000").units == 0


def test_a_meter_that_rolled_over_counts_past_its_last_digit() -> None:
    """999,900 → 150 on a six-digit register is 250 units, not a mistake."""
    made = _assess("150", "999900")
    assert (made.units, made.rolled_over) == (D("250"), True)
    # A five-digit register rolls over at 100,000.
    assert _assess("40", "99980", digits=5).units == D("60")


def test_a_reading_lower_than_the_last_and_not_a_rollover_is_refused_with_both_figures() -> None:
    with pytest.raises(ReadingBelowPrevious) as refused:
        _assess("11990")
    assert (refused.value.previous, refused.value.current) == (D("12000"), D("11990"))
    assert refused.value.previous_month == OCTOBER
    # Half-way round the register is no rollover either.
    with pytest.raises(ReadingBelowPrevious):
        _assess("100", "500000")


def test_the_first_reading_of_a_meter_is_its_baseline_with_no_units() -> None:
    made = _assess("4321", None)
    assert made.baseline and made.units is None and made.previous is None


def test_a_month_that_has_not_begun_is_refused() -> None:
    with pytest.raises(ReadingInFuture) as refused:
        _assess("12100", month=date(2026, 12, 1))
    assert refused.value.billing_month == date(2026, 12, 1)
    assert refused.value.current_month == NOVEMBER


def test_a_reading_with_more_digits_than_the_meter_is_refused() -> None:
    with pytest.raises(ReadingTooLarge) as refused:
        _assess("1000000", "999000")
    assert (refused.value.reading, refused.value.digits) == (D("1000000"), 6)


def test_a_reading_above_a_later_months_reading_is_refused() -> None:
    later = MonthReading(NOVEMBER, D("12500"))
    with pytest.raises(ReadingAboveNext) as refused:
        _assess("12600", month=OCTOBER, previous=None, following=later)
    assert refused.value.next_reading == D("12500") and refused.value.next_month == NOVEMBER
    assert _assess("12400", month=OCTOBER, previous=None, following=later).baseline


@pytest.mark.parametrize(
    ("typed", "value"),
    [("12345", "12345"), (" 12,345.6 ", "12345.6"), ("0", "0"), ("007.50", "7.50")],
)
def test_a_typed_reading_is_read_as_the_meter_shows_it(typed: str, value: str) -> None:
    assert readings.parse_reading(typed) == D(value)


@pytest.mark.parametrize("typed", ["", "abc", "-5", "12.345", "1e5", "12,34", "１２3٣"])
def test_what_is_not_a_reading_is_refused_with_the_text(typed: str) -> None:
    with pytest.raises(InvalidReading) as refused:
        readings.parse_reading(typed)
    assert refused.value.text == typed


# ---------------------------------------------------------------------------------------------
# On the database


async def _clerk(db: Database) -> int:
    admin = await admins.create_admin(
        db, admin_name="Meter Reader", email="reader@utility.example", password="reader-pass-1"
    )
    return admin.admin_id


async def _record(
    db: Database, customer: Customer, month: date, reading: str, admin_id: int | None = None
) -> readings.Recorded:
    return await readings.record(
        db,
        customer_id=customer.customer_id,
        billing_month=month,
        reading=D(reading),
        admin_id=admin_id,
        current_month=NOVEMBER,
    )


async def test_a_month_s_units_follow_from_the_reading_before_it(admin_db: Database) -> None:
    customer = await make_customer(admin_db)
    admin_id = await _clerk(admin_db)
    first = await _record(admin_db, customer, SEPTEMBER, "12000", admin_id)
    assert first.consumption.baseline and first.reading.status is ReadingStatus.ACCEPTED
    with pytest.raises(NoPreviousReading) as baseline:
        await readings.units(admin_db, customer.customer_id, SEPTEMBER)
    assert baseline.value.current == D("12000")

    second = await _record(admin_db, customer, OCTOBER, "12345", admin_id)
    assert second.consumption.units == D("345")
    assert second.reading.source is ReadingSource.STAFF
    assert second.reading.entered_by_admin_id == admin_id
    made = await readings.units(admin_db, customer.customer_id, OCTOBER)
    assert made.units == D("345") and made.previous == MonthReading(SEPTEMBER, D("12000"))
    with pytest.raises(NoReading):
        await readings.units(admin_db, customer.customer_id, NOVEMBER)


async def test_a_reading_after_an_estimated_month_names_the_estimate(
    admin_db: Database,
) -> None:
    """September had no reading and the bill run estimated it: October's reading is still
    checked against August's actual one (units 300), and carries September's estimate, which
    the run counts October from (staff are told so); none when there is no estimate since."""
    customer = await make_customer(admin_db)
    await _record(admin_db, customer, AUGUST, "5000")
    await enter_reading(admin_db, customer.customer_id, SEPTEMBER, "5110.33", source="estimate")
    made = await readings.preview(
        admin_db, customer.customer_id, OCTOBER, D("5300"), current_month=NOVEMBER
    )
    assert made.units == D("300") and made.previous == MonthReading(AUGUST, D("5000"))
    assert made.estimate == MonthReading(SEPTEMBER, D("5110.33"))
    await _record(admin_db, customer, OCTOBER, "5050")
    assert (await readings.units(admin_db, customer.customer_id, OCTOBER)).estimate == (
        MonthReading(SEPTEMBER, D("5110.33"))
    )
    await _record(admin_db, customer, NOVEMBER, "5100")
    assert (await readings.units(admin_db, customer.customer_id, NOVEMBER)).estimate is None


async def test_a_lower_reading_is_refused_and_nothing_is_written(admin_db: Database) -> None:
    customer = await make_customer(admin_db)
    await _record(admin_db, customer, SEPTEMBER, "12000")
    with pytest.raises(ReadingBelowPrevious) as refused:
        await _record(admin_db, customer, OCTOBER, "11000")
    assert (refused.value.previous, refused.value.current) == (D("12000"), D("11000"))
    assert refused.value.previous_month == SEPTEMBER
    assert await readings.reading_of_month(admin_db, customer.customer_id, OCTOBER) is None


async def test_a_rollover_is_recorded_with_its_units(admin_db: Database) -> None:
    customer = await make_customer(admin_db)
    await _record(admin_db, customer, SEPTEMBER, "999950")
    rolled = await _record(admin_db, customer, OCTOBER, "50")
    assert (rolled.consumption.units, rolled.consumption.rolled_over) == (D("100"), True)
    assert (await readings.units(admin_db, customer.customer_id, OCTOBER)).units == D("100")


async def test_a_future_month_is_refused(admin_db: Database) -> None:
    customer = await make_customer(admin_db)
    with pytest.raises(ReadingInFuture):
        await _record(admin_db, customer, date(2026, 12, 1), "10")
    assert await readings.recent(admin_db, customer.customer_id) == []


async def test_re_entering_a_month_before_its_bill_corrects_it(admin_db: Database) -> None:
    customer = await make_customer(admin_db)
    admin_id = await _clerk(admin_db)
    await _record(admin_db, customer, SEPTEMBER, "12000", admin_id)
    await _record(admin_db, customer, OCTOBER, "12900", admin_id)
    again = await _record(admin_db, customer, OCTOBER, "12300", admin_id)
    assert again.replaced == D("12900") and again.consumption.units == D("300")
    rows = await fetch_dicts(
        admin_db,
        "SELECT reading FROM meter_readings WHERE customer_id = %s AND billing_month = %s",
        customer.customer_id,
        OCTOBER,
    )
    assert [r["reading"] for r in rows] == [D("12300")]
    audit_rows = await fetch_dicts(
        admin_db,
        "SELECT action FROM audit_log WHERE entity_type = 'meter_reading' ORDER BY audit_id",
    )
    assert [r["action"] for r in audit_rows] == [
        "reading.record",
        "reading.record",
        "reading.correct",
    ]
    # A correction may not go above a later month already recorded.
    await _record(admin_db, customer, NOVEMBER, "12500", admin_id)
    with pytest.raises(ReadingAboveNext):
        await _record(admin_db, customer, OCTOBER, "12600", admin_id)


async def test_a_billed_month_s_reading_is_refused_with_its_bill(admin_db: Database) -> None:
    customer = await make_customer(admin_db)
    await _record(admin_db, customer, SEPTEMBER, "12000")
    bill = await make_bill(admin_db, customer, month=SEPTEMBER)
    with pytest.raises(MonthAlreadyBilled) as refused:
        await _record(admin_db, customer, SEPTEMBER, "12100")
    assert refused.value.bill_id == bill.bill_id
    assert refused.value.billing_month == SEPTEMBER


async def test_the_previous_bill_s_current_reading_counts_when_it_is_newer(
    admin_db: Database,
) -> None:
    """A bill issued from a reading (by a bill run, or before readings were kept) is the
    figure the next month counts from; an estimated bill is not."""
    customer = await make_customer(admin_db)
    await _record(admin_db, customer, AUGUST, "11000")
    async with admin_db.unit_of_work() as uow:
        await ledger.issue(
            uow,
            ledger.NewBill(
                customer.customer_id,
                SEPTEMBER,
                date(2026, 10, 14),
                D("1000"),
                flat_tariff(D("1.00")),
                previous_reading=D("11000"),
                current_reading=D("12000"),
            ),
            admin_id=None,
        )
        await ledger.issue(
            uow,
            ledger.NewBill(
                customer.customer_id,
                OCTOBER,
                date(2026, 11, 14),
                D("900"),
                flat_tariff(D("1.00")),
                previous_reading=D("12000"),
                current_reading=D("12900"),
                estimated=True,
            ),
            admin_id=None,
        )
        await uow.commit()
    previous = await readings.previous_reading(admin_db, customer.customer_id, NOVEMBER)
    assert previous == MonthReading(SEPTEMBER, D("12000"), from_bill=True)
    made = await _record(admin_db, customer, NOVEMBER, "12500")
    assert made.consumption.units == D("500")


# ---------------------------------------------------------------------------------------------
# Customers' submissions


async def _submit(
    db: Database, customer: Customer, reading: str, photo: str | None = None
) -> readings.Recorded:
    return await readings.submit(
        db,
        customer_id=customer.customer_id,
        reading=D(reading),
        current_month=NOVEMBER,
        photo_file_id=photo,
    )


async def test_a_customer_s_reading_waits_for_staff_and_is_accepted(
    admin_db: Database, customer_db: Database
) -> None:
    customer = await make_customer(admin_db)
    admin_id = await _clerk(admin_db)
    await _record(admin_db, customer, OCTOBER, "12000")
    sent = await _submit(customer_db, customer, "12200", photo="AgAC-photo-1")
    assert sent.reading.status is ReadingStatus.PENDING
    assert sent.reading.source is ReadingSource.CUSTOMER
    assert sent.reading.photo_file_id == "AgAC-photo-1"
    assert sent.consumption.units == D("200")
    with pytest.raises(NoReading) as waiting:
        await readings.units(admin_db, customer.customer_id, NOVEMBER)
    assert waiting.value.pending
    with pytest.raises(ReadingAlreadySent) as twice:
        await _submit(customer_db, customer, "12210")
    assert twice.value.existing.reading == D("12200")

    waiting_list = await readings.pending(admin_db)
    assert [item.reading.reading_id for item in waiting_list.items] == [sent.reading.reading_id]
    assert waiting_list.items[0].previous == MonthReading(OCTOBER, D("12000"))

    accepted = await readings.accept(
        admin_db, sent.reading.reading_id, admin_id=admin_id, current_month=NOVEMBER
    )
    assert accepted.reading.status is ReadingStatus.ACCEPTED
    assert accepted.reading.reviewed_by_admin_id == admin_id
    assert accepted.reading.submitted_reading is None
    assert (await readings.units(admin_db, customer.customer_id, NOVEMBER)).units == D("200")
    with pytest.raises(ReadingAlreadyReviewed) as again:
        await readings.reject(admin_db, sent.reading.reading_id, admin_id=admin_id)
    assert again.value.status is ReadingStatus.ACCEPTED
    assert (await readings.pending(admin_db)).total == 0


async def test_staff_correct_a_submission_and_the_customer_s_figure_is_kept(
    admin_db: Database, customer_db: Database
) -> None:
    customer = await make_customer(admin_db)
    admin_id = await _clerk(admin_db)
    await _record(admin_db, customer, OCTOBER, "12000")
    sent = await _submit(customer_db, customer, "12900")
    corrected = await readings.accept(
        admin_db,
        sent.reading.reading_id,
        admin_id=admin_id,
        current_month=NOVEMBER,
        corrected=D("12090"),
    )
    assert corrected.reading.reading == D("12090")
    assert corrected.reading.submitted_reading == D("12900")
    assert corrected.consumption.units == D("90")
    # A correction is checked like any reading.
    other = await make_customer(admin_db)
    await _record(admin_db, other, OCTOBER, "5000")
    sent_other = await _submit(customer_db, other, "5100")
    with pytest.raises(ReadingBelowPrevious):
        await readings.accept(
            admin_db,
            sent_other.reading.reading_id,
            admin_id=admin_id,
            current_month=NOVEMBER,
            corrected=D("4000"),
        )
    assert (await readings.get(admin_db, sent_other.reading.reading_id)).status is (
        ReadingStatus.PENDING
    )


async def test_a_rejected_submission_counts_for_nothing(
    admin_db: Database, customer_db: Database
) -> None:
    customer = await make_customer(admin_db)
    admin_id = await _clerk(admin_db)
    await _record(admin_db, customer, OCTOBER, "12000")
    sent = await _submit(customer_db, customer, "12050")
    rejected, meter = await readings.reject(admin_db, sent.reading.reading_id, admin_id=admin_id)
    assert rejected.status is ReadingStatus.REJECTED and meter.customer_id == customer.customer_id
    with pytest.raises(NoReading):
        await readings.units(admin_db, customer.customer_id, NOVEMBER)
    # Staff can still record the month's reading; the customer's figure is kept beside it.
    recorded = await _record(admin_db, customer, NOVEMBER, "12070", admin_id)
    assert recorded.reading.status is ReadingStatus.ACCEPTED
    assert recorded.reading.submitted_reading == D("12050")


async def test_a_customer_s_implausible_reading_is_refused_as_staff_s_would_be(
    admin_db: Database, customer_db: Database
) -> None:
    customer = await make_customer(admin_db)
    await _record(admin_db, customer, OCTOBER, "12000")
    with pytest.raises(ReadingBelowPrevious):
        await _submit(customer_db, customer, "1200")
    assert await readings.reading_of_month(admin_db, customer.customer_id, NOVEMBER) is None


# ---------------------------------------------------------------------------------------------
# The customer account: submit only


async def test_the_customer_account_submits_pending_and_can_do_nothing_else(
    admin_db: Database, customer_db: Database, customer_conn: pymysql.connections.Connection
) -> None:
    """A bare INSERT as the customer account is pending whatever it says (the trigger);
    naming source, status or a reviewer, updating or deleting a reading is refused."""
    customer = await make_customer(admin_db)
    admin_id = await _clerk(admin_db)
    await _record(admin_db, customer, OCTOBER, "12000", admin_id)
    cid = customer.customer_id
    refused_statements = [
        "INSERT INTO meter_readings (customer_id, billing_month, reading, source, status) "
        f"VALUES ({cid}, '2026-09-01', 1, 'staff', 'accepted')",
        "INSERT INTO meter_readings (customer_id, billing_month, reading, reviewed_by_admin_id)"
        f" VALUES ({cid}, '2026-09-01', 1, {admin_id})",
        f"UPDATE meter_readings SET reading = 1 WHERE customer_id = {cid}",
        f"UPDATE meter_readings SET status = 'accepted' WHERE customer_id = {cid}",
        f"DELETE FROM meter_readings WHERE customer_id = {cid}",
    ]
    for sql in refused_statements:
        with pytest.raises(pymysql.err.MySQLError) as refused:
            with customer_conn.cursor() as cur:
                cur.execute(sql)
        assert refused.value.args[0] in ACCESS_DENIED, (sql, refused.value)
    with customer_conn.cursor() as cur:
        cur.execute(
            "INSERT INTO meter_readings (customer_id, billing_month, reading, photo_file_id) "
            f"VALUES ({cid}, '2026-11-01', 12100, 'AgAC-1')"
        )
        cur.execute(f"SELECT source, status, reading FROM meter_readings WHERE customer_id={cid}")
        assert sorted(cur.fetchall()) == [
            ("customer", "pending", D("12100.00")),
            ("staff", "accepted", D("12000.00")),
        ]


async def test_no_writer_can_insert_a_customer_s_reading_already_reviewed(
    admin_db: Database, admin_conn: pymysql.connections.Connection
) -> None:
    customer = await make_customer(admin_db)
    admin_id = await _clerk(admin_db)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        with admin_conn.cursor() as cur:
            cur.execute(
                "INSERT INTO meter_readings (customer_id, billing_month, reading, source, "
                f"reviewed_by_admin_id) VALUES ({customer.customer_id}, '2026-11-01', 5, "
                f"'customer', {admin_id})"
            )
    assert refused.value.args[0] == REFUSED_BY_TRIGGER


# ---------------------------------------------------------------------------------------------
# Readings from a CSV file


async def _import(db: Database, text: str) -> readings.ReadingsImported:
    return await readings.import_reading_file(
        db, lambda: io.StringIO(text), admin_id=None, latest_month=NOVEMBER
    )


async def test_a_readings_file_is_recorded_month_by_month(admin_db: Database) -> None:
    first = await make_customer(admin_db, meter_number="MTR-70001")
    second = await make_customer(admin_db, meter_number="MTR-70002")
    done = await _import(
        admin_db,
        "meter_number,billing_month,reading\n"
        "MTR-70001,2026-10,12345\n"  # before its September line: checked in month order
        "MTR-70001,2026-09,12000\n"
        "mtr-70002,2026-10,999990\n"
        "MTR-70002,2026-11,90\n",
    )
    assert (done.count, done.baselines, done.units) == (4, 2, D("445"))
    assert (await readings.units(admin_db, first.customer_id, OCTOBER)).units == D("345")
    rolled = await readings.units(admin_db, second.customer_id, NOVEMBER)
    assert (rolled.units, rolled.rolled_over) == (D("100"), True)
    kept = await readings.recent(admin_db, first.customer_id)
    assert {r.source for r in kept} == {ReadingSource.IMPORT}


async def test_a_readings_file_with_a_bad_line_records_nothing(admin_db: Database) -> None:
    customer = await make_customer(admin_db, meter_number="MTR-70003")
    await _record(admin_db, customer, SEPTEMBER, "5000")
    await make_bill(admin_db, customer, month=SEPTEMBER)
    with pytest.raises(ImportRejected) as refused:
        await _import(
            admin_db,
            "meter_number,billing_month,reading\n"
            "MTR-70003,2026-10,5100\n"
            "MTR-70003,2026-11,4000\n"
            "MTR-99999,2026-10,1\n"
            "MTR-70003,2027-01,6000\n"
            "MTR-70003,2026-09,5050\n"
            "MTR-70003,2026-08,abc\n",
        )
    assert refused.value.errors == [
        (
            3,
            "reading 4000 is lower than the previous reading 5100 (2026-10) and is not a "
            "rollover.",
        ),
        (4, "No customer has meter number MTR-99999."),
        (5, "month '2027-01' has not begun yet (this month is 2026-11)."),
        (6, f"2026-09 is already billed (bill {(await _bill_id(admin_db, customer))})."),
        (7, "reading 'abc' is not a meter reading."),
    ]
    assert [r.billing_month for r in await readings.recent(admin_db, customer.customer_id)] == [
        SEPTEMBER
    ]


async def _bill_id(db: Database, customer: Customer) -> int:
    rows = await fetch_dicts(
        db, "SELECT bill_id FROM bills WHERE customer_id = %s", customer.customer_id
    )
    return int(rows[0]["bill_id"])


def test_the_readings_header_is_told_from_the_bills_header() -> None:
    assert readings.is_readings_header("meter_number,billing_month,reading\r\n")
    assert readings.is_readings_header("\ufeffReading, meter_number ,billing_month")
    assert not readings.is_readings_header("meter_number,billing_month,units_used,rate_per_unit")


def test_a_reading_is_shown_as_the_meter_shows_it() -> None:
    assert [readings.figure(D(v)) for v in ("12000.00", "12345.50", "0.00", "7")] == [
        "12000",
        "12345.5",
        "0",
        "7",
    ]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[\d.,\s٠-٩۰-۹e+-]{0,30}")))
def test_parse_reading_gives_a_clean_figure_or_invalid_reading(text: str) -> None:
    """Any typed text: a finite figure of at most two decimals between 0 and MAX_READING, or
    InvalidReading (never another error)."""
    try:
        value = readings.parse_reading(text)
    except InvalidReading:
        return
    assert value.is_finite() and 0 <= value <= readings.MAX_READING
    assert value == value.quantize(D("0.01"))
