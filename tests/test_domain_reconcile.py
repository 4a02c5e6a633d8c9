"""Reconciliation on the real MariaDB (issue 13, item 5): a month built through the domain the
way money really arrives — a card charge partly paid into credit, a confirmed and a pending
transfer claim, a transfer staff recorded, cash and POS at the office (at the local month's
very edges), a payment from credit, voids and a refund of credit — is reported per local day
and channel to the cent, and the rows behind the figures add up to them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from domain import card_payments, claims, payments, reconcile, report_totals, reports
from domain.db import Database
from domain.models import Admin, Bill, Customer, PaymentMethod
from domain.money import Currency
from domain.reconcile import Channel, Figure
from tests.factories import fetch_dicts, make_bill, make_clerk, make_customer, office_payment

LAGOS = ZoneInfo("Africa/Lagos")  # UTC+1: a local day starts at 23:00 UTC the day before
NAIRA = Currency("NGN", "₦")
CHARGE_IDS = payments.ChargeIds("tg-rec-0001", "prov-rec-0001")


def _this_month() -> date:
    """The current local month: the refund of credit is dated by the database's clock."""
    return datetime.now(LAGOS).date().replace(day=1)


def _last_day(month: date) -> date:
    return reconcile.month_bounds(month, LAGOS)[1].date() - timedelta(days=1)


@dataclass(frozen=True)
class Month:
    """The month built, and what the test must know about it."""

    month: date
    clerk: Admin
    ada: Customer
    card_payment_id: int
    refund_day: date


def at(month: date, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(month.year, month.month, day, hour, minute, tzinfo=LAGOS)


async def _card_charge_partly_into_credit(
    admin_db: Database, customer_db: Database, bill: Bill, month: date, clerk: Admin
) -> int:
    """Invoice for the whole 1,000.00 on day 2; 400.00 cash at the office on day 3 before the
    customer presses Pay; the charge arrives: 600.00 pays the bill, 400.00 becomes credit."""
    invoice = await card_payments.create_invoice(
        customer_db,
        customer_id=bill.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal("1000.00"),
        currency=NAIRA,
        lifetime=timedelta(days=3),
        now=at(month, 2, 10),
    )
    await office_payment(admin_db, bill, "400.00", now=at(month, 3, 8))
    charge = await card_payments.record_charge(
        admin_db,
        reference=invoice.reference,
        charge=CHARGE_IDS,
        currency_code="NGN",
        total_minor=NAIRA.to_minor(Decimal("1000.00")),
        currency=NAIRA,
        now=at(month, 3, 9, 30),
    )
    assert charge.payment is not None
    assert (charge.payment.amount_paid, charge.credited) == (Decimal("600.00"), Decimal("400.00"))
    return charge.payment.payment_id


@pytest.fixture
async def built(admin_db: Database, customer_db: Database) -> Month:
    """The month, in Africa/Lagos. Every customer's bills are issued before any credit exists
    (a new bill takes credit at once, dated now)."""
    month = _this_month()
    clerk = await make_clerk(admin_db)
    ada = await make_customer(admin_db, full_name="Ada Card")
    ada_first = await make_bill(admin_db, ada, month=date(2026, 9, 1), units="1000", rate="1")
    ada_second = await make_bill(admin_db, ada, month=date(2026, 10, 1), units="500", rate="1")
    ben = await make_customer(admin_db, full_name="Ben Transfer")
    ben_bill = await make_bill(admin_db, ben, units="3000", rate="1")
    cy = await make_customer(admin_db, full_name="Cy Pending")
    cy_bill = await make_bill(admin_db, cy, units="900", rate="1")
    dee = await make_customer(admin_db, full_name="Dee Office")
    dee_bill = await make_bill(admin_db, dee, units="800", rate="1")

    card_payment_id = await _card_charge_partly_into_credit(
        admin_db, customer_db, ada_first, month, clerk
    )
    # Staff refund 150.00 of Ada's 400.00 credit (dated by the database: now); she pays
    # 200.00 of her next bill from it on day 5, and holds 50.00.
    await card_payments.refund_credit(
        admin_db,
        ada.customer_id,
        amount=Decimal("150.00"),
        admin_id=clerk.admin_id,
        reason="paid back in cash",
    )
    [refund] = await fetch_dicts(
        admin_db, "SELECT created_at FROM credit_entries WHERE kind = 'refunded'"
    )
    refund_day = refund["created_at"].replace(tzinfo=UTC).astimezone(LAGOS).date()
    await payments.pay_bill(
        customer_db,
        bill_id=ada_second.bill_id,
        amount=Decimal("200.00"),
        method=PaymentMethod.CREDIT,
        idempotency_key="rec-credit-1",
        customer_id=ada.customer_id,
        now=at(month, 5, 12),
    )

    # Ben: a transfer claim staff confirm on day 6, and a transfer staff record directly.
    claim = await claims.submit(
        customer_db,
        customer_id=ben.customer_id,
        bill_id=ben_bill.bill_id,
        amount=Decimal("1500.00"),
        method=PaymentMethod.BANK_TRANSFER,
        reference="REC-TRF-0001",
    )
    await claims.confirm(admin_db, claim.claim_id, admin_id=clerk.admin_id, now=at(month, 6, 11))
    await office_payment(
        admin_db, ben_bill, "500.00", method=PaymentMethod.BANK_TRANSFER, now=at(month, 6, 15)
    )
    # Cy: a mobile money claim nobody has confirmed yet.
    await claims.submit(
        customer_db,
        customer_id=cy.customer_id,
        bill_id=cy_bill.bill_id,
        amount=Decimal("300.00"),
        method=PaymentMethod.MOBILE_MONEY,
        reference="REC-MOMO-0002",
    )

    # Dee at the office, at the month's very edges in local time.
    start, end = reconcile.month_bounds(month, LAGOS)
    instant = timedelta(microseconds=1)
    before = await office_payment(admin_db, dee_bill, "50.00", now=start - instant)
    await office_payment(admin_db, dee_bill, "300.00", now=start)  # 23:00 UTC the day before
    mistaken = await office_payment(admin_db, dee_bill, "150.00", now=at(month, 7, 10))
    await office_payment(admin_db, dee_bill, "200.00", method=PaymentMethod.POS, now=end - instant)
    await office_payment(admin_db, dee_bill, "100.00", now=end)  # next month
    # Both voided on day 8: the one made last month counts as a void in this one.
    for paid in (before, mistaken):
        await payments.void_payment(
            admin_db,
            paid.payment.payment_id,
            admin_id=clerk.admin_id,
            reason="keyed twice",
            now=at(month, 8, 9),
        )
    assert await report_totals.differences(admin_db) == []
    return Month(month, clerk, ada, card_payment_id, refund_day)


def _expected_days(built: Month) -> dict[date, dict[Channel, Figure]]:
    month = built.month
    expected: dict[date, dict[Channel, Figure]] = defaultdict(dict)

    def add(day: date, channel: Channel, amount: str) -> None:
        found = expected[day].get(channel, Figure())
        expected[day][channel] = found + Figure(1, Decimal(amount))

    add(month.replace(day=1), Channel.CASH, "300.00")
    add(month.replace(day=3), Channel.CASH, "400.00")
    add(month.replace(day=3), Channel.CARD, "1000.00")
    add(month.replace(day=3), Channel.CARD_TO_BILLS, "600.00")
    add(month.replace(day=3), Channel.CARD_TO_CREDIT, "400.00")
    add(month.replace(day=5), Channel.CREDIT, "200.00")
    add(month.replace(day=6), Channel.CLAIM, "1500.00")
    add(month.replace(day=6), Channel.TRANSFER, "500.00")
    add(month.replace(day=7), Channel.CASH, "150.00")
    add(month.replace(day=8), Channel.VOID_CASH, "50.00")
    add(month.replace(day=8), Channel.VOID_CASH, "150.00")
    add(_last_day(month), Channel.POS, "200.00")
    add(built.refund_day, Channel.REFUND, "150.00")
    return dict(expected)


async def test_every_figure_is_reported_on_its_local_day_and_channel_to_the_cent(
    built: Month, admin_db: Database
) -> None:
    """Day by day and channel by channel, the report equals what the test did: the card
    charge and its parts on day 3, the claim and the direct transfer apart on day 6, cash at
    the month's first local instant on day 1 (23:00 UTC the day before), POS at its last
    instant on the last day, both voids on the day of the void (one of a payment made last
    month), the refund on its day; nothing from the instants either side of the month."""
    report = await reconcile.month_reconciliation(admin_db, month=built.month, zone=LAGOS)

    expected = _expected_days(built)
    got = {day: report.day(day) for day in {line.day for line in report.days}}
    assert got == expected
    assert [line.day for line in report.days] == sorted(line.day for line in report.days)

    totals = {channel: figure for channel, figure in report.totals.items() if figure.count}
    assert totals == {
        Channel.CARD: Figure(1, Decimal("1000.00")),
        Channel.CARD_TO_BILLS: Figure(1, Decimal("600.00")),
        Channel.CARD_TO_CREDIT: Figure(1, Decimal("400.00")),
        Channel.CLAIM: Figure(1, Decimal("1500.00")),
        Channel.TRANSFER: Figure(1, Decimal("500.00")),
        Channel.CASH: Figure(3, Decimal("850.00")),
        Channel.POS: Figure(1, Decimal("200.00")),
        Channel.CREDIT: Figure(1, Decimal("200.00")),
        Channel.VOID_CASH: Figure(2, Decimal("200.00")),
        Channel.REFUND: Figure(1, Decimal("150.00")),
    }
    assert list(report.totals) == list(Channel)  # every channel, zeros included, in order
    # Charges, transfers, cash and POS: 1,000 + 1,500 + 500 + 850 + 200.
    assert report.money_in == Decimal("4050.00")
    assert (report.start, report.end) == reconcile.month_bounds(built.month, LAGOS)


async def test_pending_claims_and_credit_held_are_counted_as_of_now_not_as_money_received(
    built: Month, admin_db: Database
) -> None:
    """Cy's unconfirmed 300.00 claim is a pending claim, not a transfer; Ada's 50.00 left of
    her credit (400 received − 150 refunded − 200 spent) is credit held by one customer."""
    report = await reconcile.month_reconciliation(admin_db, month=built.month, zone=LAGOS)

    assert report.pending_claims == Figure(1, Decimal("300.00"))
    assert report.credit_held == Figure(1, Decimal("50.00"))
    assert report.totals[Channel.CLAIM] == Figure(1, Decimal("1500.00"))


async def test_the_rows_behind_the_report_carry_both_charge_ids_and_add_up_to_its_figures(
    built: Month, admin_db: Database
) -> None:
    """The export's lines: the provider charge with both ids, its local time, its split, the
    customer's meter, the bill month and the card payment; the claim's transfer reference and
    its confirming clerk; both voids with their reason; the refund with who made it. Added up
    per channel they equal the report's month totals."""
    lines = await reconcile.month_lines(admin_db, month=built.month, zone=LAGOS)
    report = await reconcile.month_reconciliation(admin_db, month=built.month, zone=LAGOS)

    [charge] = lines.charges
    assert (charge.telegram_payment_charge_id, charge.provider_payment_charge_id) == (
        "tg-rec-0001",
        "prov-rec-0001",
    )
    assert charge.received_at == at(built.month, 3, 9, 30)
    assert (charge.amount, charge.to_bill, charge.to_credit, charge.currency) == (
        Decimal("1000.00"),
        Decimal("600.00"),
        Decimal("400.00"),
        "NGN",
    )
    assert (charge.meter_number, charge.billing_month) == (
        built.ada.meter_number,
        date(2026, 9, 1),
    )
    assert charge.payment_id == built.card_payment_id and charge.receipt_number
    assert not charge.payment_voided

    assert sorted((p.channel.value, p.amount) for p in lines.payments) == sorted(
        [
            ("cash", Decimal("300.00")),
            ("cash", Decimal("400.00")),
            ("credit", Decimal("200.00")),
            ("claim", Decimal("1500.00")),
            ("transfer", Decimal("500.00")),
            ("cash", Decimal("150.00")),
            ("pos", Decimal("200.00")),
        ]
    )
    [claimed] = [p for p in lines.payments if p.channel is Channel.CLAIM]
    assert claimed.reference == "REC-TRF-0001"
    assert claimed.recorded_by == built.clerk.admin_name
    [from_credit] = [p for p in lines.payments if p.channel is Channel.CREDIT]
    assert from_credit.recorded_by is None
    assert [p.date_of_payment for p in lines.payments] == sorted(
        p.date_of_payment for p in lines.payments
    )

    assert [(v.channel, v.amount, v.reason) for v in lines.voids] == [
        (Channel.VOID_CASH, Decimal("50.00"), "keyed twice"),
        (Channel.VOID_CASH, Decimal("150.00"), "keyed twice"),
    ]
    assert lines.voids[0].date_of_payment < lines.start <= lines.voids[0].voided_at
    [refund] = lines.refunds
    assert (refund.amount, refund.refunded_by, refund.reason) == (
        Decimal("150.00"),
        built.clerk.admin_name,
        "paid back in cash",
    )
    assert lines.figures() == report.totals


async def test_a_month_with_nothing_in_it_reports_zeros_and_no_days(
    built: Month, admin_db: Database
) -> None:
    """A month before any of it: every channel is zero and there are no day lines or rows;
    what is pending or held now is the same whichever month is asked for."""
    report = await reconcile.month_reconciliation(admin_db, month=date(2020, 2, 1), zone=LAGOS)
    lines = await reconcile.month_lines(admin_db, month=date(2020, 2, 1), zone=LAGOS)

    assert report.days == [] and report.money_in == Decimal("0.00")
    assert set(report.totals.values()) == {Figure()}
    assert (lines.charges, lines.payments, lines.voids, lines.refunds) == ([], [], [], [])
    assert report.pending_claims == Figure(1, Decimal("300.00"))
    assert report.credit_held == Figure(1, Decimal("50.00"))


async def test_revenue_counts_neither_a_pending_claim_nor_credit_held(
    built: Month, admin_db: Database
) -> None:
    """/revenue's figure for the month is the money applied to bills — the card charge's
    600.00, not its 1,000.00 (the 400.00 credited counts once spent: the 200.00 from credit);
    the claim only once confirmed; neither Cy's pending 300.00 nor Ada's 50.00 of credit
    held."""
    start, end = reconcile.month_bounds(built.month, LAGOS)
    revenue = await reports.revenue(admin_db, start=start, end=end, zone=LAGOS)

    # Card 600 + cash 300 + 400 + credit 200 + claim 1,500 + transfer 500 + POS 200;
    # the voided 150.00 cash is not revenue.
    assert revenue.total == Decimal("3700.00")
    assert {line.key: line.total for line in revenue.by_method} == {
        "card": Decimal("600.00"),
        "cash": Decimal("700.00"),
        "bank_transfer": Decimal("2000.00"),
        "credit": Decimal("200.00"),
        "pos": Decimal("200.00"),
    }
    report = await reconcile.month_reconciliation(admin_db, month=built.month, zone=LAGOS)
    assert report.pending_claims.amount == Decimal("300.00")
    assert report.credit_held.amount == Decimal("50.00")


async def test_card_refunds_owed_and_made_at_the_provider_are_shown_as_of_now(
    built: Month, admin_db: Database
) -> None:
    """None at first. Staff void the 600.00 card payment: its 600.00 and the 50.00 of its
    charge's credit Ada still holds are owed back at the provider; once marked made with the
    provider's reference, the same sum is shown as made and nothing as owed."""
    before = await reconcile.month_reconciliation(admin_db, month=built.month, zone=LAGOS)
    assert (before.refunds_owed, before.refunds_made) == (Figure(), Figure())

    voided = await payments.void_payment(
        admin_db, built.card_payment_id, admin_id=built.clerk.admin_id, reason="disputed"
    )
    assert voided.refund_owed == Decimal("650.00")
    owed = await reconcile.month_reconciliation(admin_db, month=built.month, zone=LAGOS)
    assert (owed.refunds_owed, owed.refunds_made) == (Figure(1, Decimal("650.00")), Figure())
    assert owed.credit_held == Figure()

    [refund] = await card_payments.refunds(admin_db, status="owed")
    await card_payments.mark_refund_made(
        admin_db, refund.refund_id, admin_id=built.clerk.admin_id, provider_reference="RF-1"
    )
    made = await reconcile.month_reconciliation(admin_db, month=built.month, zone=LAGOS)
    assert (made.refunds_owed, made.refunds_made) == (Figure(), Figure(1, Decimal("650.00")))
