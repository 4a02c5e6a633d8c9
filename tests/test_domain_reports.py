"""Reports on the real MariaDB equal what the raw rows add up to.

A varied data set (customers, months, due dates of every age, payments by every method at
chosen times, some voided) is built through the domain, each payment the way its money really
arrives: card payments as provider charges of invoices, transfers and mobile money as claims
staff confirmed, cash and POS recorded at the office, payments from account credit by the
customer. Each report is then checked against sums the test makes itself from ``SELECT *`` of
the tables.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiomysql
import pytest

from domain import bills, card_payments, claims, customers, payments, reports
from domain.db import Database
from domain.models import Bill, Payment, PaymentMethod
from domain.money import Currency
from tests.factories import give_credit

TODAY = date(2026, 11, 15)
NAIRA = Currency("NGN", "₦")
LAGOS = timezone(timedelta(hours=1))  # periods are asked for in local time

# customer: (meter, name)
CUSTOMERS = {
    "A": ("RPT-0001", "Amina Bello"),
    "B": ("RPT-0002", "Bola Ade"),
    "C": ("RPT-0003", "Chidi Eze"),
    "D": ("RPT-0004", "Dayo Ola"),
    "E": ("RPT-0005", "Efe Uche"),
    "F": ("RPT-0006", "Funke Ayo"),
}

# (customer, billing month, units, rate, due date): due dates at every ageing boundary
BILLS = [
    ("A", date(2026, 6, 1), "310.50", "52.4000", date(2026, 7, 14)),  # 124 days late
    ("A", date(2026, 7, 1), "280.00", "52.4000", date(2026, 8, 16)),  # 91
    ("A", date(2026, 8, 1), "295.25", "52.4000", date(2026, 8, 17)),  # 90
    ("A", date(2026, 10, 1), "120.00", "55.0000", date(2026, 11, 15)),  # due today
    ("B", date(2026, 8, 1), "199.99", "49.9999", date(2026, 9, 15)),  # 61
    ("B", date(2026, 9, 1), "205.10", "49.9999", date(2026, 9, 16)),  # 60
    ("B", date(2026, 10, 1), "150.00", "50.0000", date(2026, 10, 15)),  # 31
    ("C", date(2026, 9, 1), "90.00", "61.2345", date(2026, 10, 16)),  # 30
    ("C", date(2026, 10, 1), "95.50", "61.2345", date(2026, 11, 14)),  # 1
    ("C", date(2026, 11, 1), "80.00", "61.2345", date(2026, 12, 14)),  # not due
    ("D", date(2026, 6, 1), "400.00", "45.0000", date(2026, 7, 14)),
    ("D", date(2026, 7, 1), "410.00", "45.0000", date(2026, 8, 14)),
    ("E", date(2026, 10, 1), "100.00", "40.0000", date(2026, 10, 20)),  # E and F owe the same
    ("F", date(2026, 10, 1), "100.00", "40.0000", date(2026, 10, 20)),
]

# (customer, billing month, amount or None for the whole outstanding, method, when in UTC,
#  voided)
PAYMENTS: list[tuple[str, date, str | None, PaymentMethod, datetime, bool]] = [
    ("A", date(2026, 6, 1), "5000.00", PaymentMethod.CARD, datetime(2026, 7, 2, 10, 0), False),
    ("A", date(2026, 6, 1), "1000.00", PaymentMethod.CASH, datetime(2026, 7, 20, 9, 0), True),
    (
        "A",
        date(2026, 8, 1),
        "2500.00",
        PaymentMethod.MOBILE_MONEY,
        datetime(2026, 8, 31, 22, 59, 59),
        False,
    ),  # just before the period (Lagos midnight)
    (
        "B",
        date(2026, 8, 1),
        "3000.00",
        PaymentMethod.BANK_TRANSFER,
        datetime(2026, 8, 31, 23, 0),
        False,
    ),  # the period's first instant
    ("B", date(2026, 9, 1), "4000.00", PaymentMethod.POS, datetime(2026, 9, 15, 12, 0), False),
    ("B", date(2026, 9, 1), "1500.00", PaymentMethod.CARD, datetime(2026, 9, 20, 8, 0), True),
    ("B", date(2026, 9, 1), "1500.00", PaymentMethod.CARD, datetime(2026, 9, 20, 8, 5), False),
    (
        "C",
        date(2026, 9, 1),
        "2000.00",
        PaymentMethod.MOBILE_MONEY,
        datetime(2026, 9, 30, 22, 59, 59, 999999),
        False,
    ),  # the period's last instant
    (
        "C",
        date(2026, 10, 1),
        "1234.56",
        PaymentMethod.CARD,
        datetime(2026, 9, 30, 23, 0),
        False,
    ),  # the first instant after the period
    ("D", date(2026, 6, 1), None, PaymentMethod.BANK_TRANSFER, datetime(2026, 7, 1, 7, 0), False),
    (
        "D",
        date(2026, 7, 1),
        "100.00",
        PaymentMethod.CASH,
        datetime(2026, 8, 1, 2, 30),
        False,
    ),  # August in UTC and east of it, still 31 July in New York
    ("D", date(2026, 7, 1), None, PaymentMethod.CASH, datetime(2026, 8, 3, 16, 45), False),
    ("E", date(2026, 10, 1), "700.00", PaymentMethod.POS, datetime(2026, 11, 2, 11, 0), True),
    ("A", date(2026, 10, 1), "300.00", PaymentMethod.CREDIT, datetime(2026, 10, 25, 9), True),
    ("C", date(2026, 11, 1), "250.00", PaymentMethod.CREDIT, datetime(2026, 11, 3, 10), False),
]
PERIOD = (datetime(2026, 9, 1, tzinfo=LAGOS), datetime(2026, 10, 1, tzinfo=LAGOS))


@dataclass(frozen=True)
class Raw:
    customers: list[dict[str, Any]]
    bills: list[dict[str, Any]]
    payments: list[dict[str, Any]]


async def _select_all(db: Database, table: str) -> list[dict[str, Any]]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor(aiomysql.DictCursor) as cur:
            await cur.execute(f"SELECT * FROM {table}")
            return [dict(r) for r in await cur.fetchall()]


async def _pay(
    admin_db: Database,
    customer_db: Database,
    bill: Bill,
    amount: Decimal,
    method: PaymentMethod,
    moment: datetime,
    *,
    admin_id: int,
    n: int,
) -> Payment:
    """A payment made the way money of ``method`` reaches a bill (see the module docstring)."""
    if method is PaymentMethod.CARD:
        invoice = await card_payments.create_invoice(
            customer_db,
            customer_id=bill.customer_id,
            bill_id=bill.bill_id,
            amount=amount,
            currency=NAIRA,
            lifetime=timedelta(hours=1),
            now=moment,
        )
        charge = await card_payments.record_charge(
            admin_db,
            reference=invoice.reference,
            charge=payments.ChargeIds(f"rpt-charge-{n}", f"rpt-provider-{n}"),
            currency_code="NGN",
            total_minor=NAIRA.to_minor(amount),
            currency=NAIRA,
            now=moment,
        )
        assert charge.payment is not None and charge.credited == 0
        return charge.payment
    if method in claims.CLAIM_METHODS:
        claim = await claims.submit(
            customer_db,
            customer_id=bill.customer_id,
            bill_id=bill.bill_id,
            amount=amount,
            method=method,
            reference=f"RPT-REF-{n:04d}",
        )
        _, confirmed = await claims.confirm(
            admin_db, claim.claim_id, admin_id=admin_id, now=moment
        )
        return confirmed.payment
    if method is PaymentMethod.CREDIT:
        await give_credit(admin_db, bill, amount)
        from_credit = await payments.pay_bill(
            customer_db,
            bill_id=bill.bill_id,
            amount=amount,
            method=method,
            idempotency_key=f"rpt-{n}",
            customer_id=bill.customer_id,
            now=moment,
        )
        return from_credit.payment
    at_office = await payments.pay_bill(
        admin_db,
        bill_id=bill.bill_id,
        amount=amount,
        method=method,
        idempotency_key=f"rpt-{n}",
        admin_id=admin_id,
        now=moment,
    )
    return at_office.payment


@pytest.fixture
async def raw(admin_db: Database, customer_db: Database) -> Raw:
    """Build the data set through the domain, then read every row back as it is stored."""
    async with admin_db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "INSERT INTO admins (admin_name, email, password_hash) "
                "VALUES ('Report Clerk', 'reports@example.com', 'x')"
            )
            admin_id = int(cur.lastrowid)
        await uow.commit()
    ids: dict[str, int] = {}
    for key, (meter, name) in CUSTOMERS.items():
        created = await customers.add_customer(
            admin_db, meter_number=meter, full_name=name, address="Report Road"
        )
        ids[key] = created.customer_id
    bill_ids: dict[tuple[str, date], int] = {}
    for key, month, units, rate, due in BILLS:
        bill = await bills.create_bill(
            admin_db,
            customer_id=ids[key],
            billing_month=month,
            units_used=Decimal(units),
            rate_per_unit=Decimal(rate),
            due_date=due,
        )
        bill_ids[key, month] = bill.bill_id
    for n, (key, month, amount, method, when, voided) in enumerate(PAYMENTS):
        bill = await bills.get(admin_db, bill_ids[key, month])
        paying = bill.outstanding if amount is None else Decimal(amount)
        moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when
        payment = await _pay(
            admin_db, customer_db, bill, paying, method, moment, admin_id=admin_id, n=n
        )
        if voided:
            await payments.void_payment(
                admin_db, payment.payment_id, admin_id=admin_id, reason="report test"
            )
    return Raw(
        await _select_all(admin_db, "customers"),
        await _select_all(admin_db, "bills"),
        await _select_all(admin_db, "payments"),
    )


def _live(raw: Raw, start: datetime | None = None, end: datetime | None = None) -> list[Any]:
    """Non-void payments, optionally those made in [start, end) (aware bounds)."""
    found = []
    for p in raw.payments:
        when = p["date_of_payment"].replace(tzinfo=UTC)
        if p["voided_at"] is not None:
            continue
        if start is not None and when < start:
            continue
        if end is not None and when >= end:
            continue
        found.append(p)
    return found


def _revenue_lines(
    rows: list[dict[str, Any]], key: str, zone: tzinfo = UTC
) -> dict[str, tuple[Decimal, int]]:
    """Sums by method, or by month of payment in ``zone``."""
    sums: dict[str, list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for p in rows:
        local = p["date_of_payment"].replace(tzinfo=UTC).astimezone(zone)
        k = p["payment_method"] if key == "method" else f"{local:%Y-%m}"
        sums[k][0] += p["amount_paid"]
        sums[k][1] += 1
    return {k: (v[0], v[1]) for k, v in sums.items()}


def _as_dict(lines: list[reports.RevenueLine]) -> dict[str, tuple[Decimal, int]]:
    return {line.key: (line.total, line.payments) for line in lines}


def test_the_data_set_has_what_the_report_tests_rely_on() -> None:
    """Every method, voids, boundary instants and every ageing bucket are represented."""
    assert {m for *_, m, _when, _v in PAYMENTS} == set(PaymentMethod)
    assert any(v for *_, v in PAYMENTS)
    ages = {(TODAY - due).days for *_, due in BILLS}
    assert {-29, 0, 1, 30, 31, 60, 61, 90, 91} <= ages


ZONES = [UTC, LAGOS, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")]


@pytest.mark.parametrize("zone", ZONES, ids=str)
async def test_revenue_for_all_time_is_the_sum_of_non_void_payments(
    raw: Raw, admin_db: Database, zone: tzinfo
) -> None:
    """Total, count, by method (largest first) and by local month of payment equal the raw
    non-void rows, in zones east and west of UTC (payments within hours of a month's start
    fall in another month there than in UTC)."""
    live = _live(raw)
    report = await reports.revenue(admin_db, zone=zone)
    assert report.total == sum(p["amount_paid"] for p in live)
    assert report.payments == len(live) == len(PAYMENTS) - sum(v for *_, v in PAYMENTS)
    by_method = _revenue_lines(live, "method")
    assert _as_dict(report.by_method) == by_method
    assert [line.key for line in report.by_method] == sorted(
        by_method, key=lambda k: (-by_method[k][0], k)
    )
    by_month = _revenue_lines(live, "month", zone)
    assert _as_dict(report.by_month) == by_month
    assert [line.key for line in report.by_month] == sorted(by_month)


async def test_revenue_for_a_period_counts_payments_from_its_first_instant_not_its_end(
    raw: Raw, admin_db: Database
) -> None:
    """[1 Sep, 1 Oct) Lagos time holds its first instant, not its end or a second before, and
    all of it is September (its first hour is 31 August in UTC)."""
    start, end = PERIOD
    live = _live(raw, start, end)
    report = await reports.revenue(admin_db, start=start, end=end, zone=LAGOS)
    assert report.total == sum(p["amount_paid"] for p in live)
    assert report.payments == len(live)
    assert _as_dict(report.by_method) == _revenue_lines(live, "method")
    assert _as_dict(report.by_month) == {"2026-09": (report.total, report.payments)}
    amounts = sorted(p["amount_paid"] for p in live)
    assert amounts == [
        Decimal("1500.00"),
        Decimal("2000.00"),
        Decimal("3000.00"),
        Decimal("4000.00"),
    ]


def _owed(b: dict[str, Any]) -> Decimal:
    return Decimal(b["total_amount"] - b["amount_paid"])


def _bucket(days_late: int) -> str:
    if days_late <= 0:
        return "not_due"
    if days_late <= 30:
        return "days_0_30"
    if days_late <= 60:
        return "days_31_60"
    if days_late <= 90:
        return "days_61_90"
    return "days_over_90"


async def test_outstanding_totals_counts_and_ageing_match_the_open_bills(
    raw: Raw, admin_db: Database
) -> None:
    """Owed = total − paid over bills not fully paid, aged by days past the due date."""
    open_bills = [b for b in raw.bills if _owed(b) > 0]
    report = await reports.outstanding(admin_db, today=TODAY)
    assert report.as_of == TODAY
    assert report.total == sum(_owed(b) for b in open_bills)
    assert report.bills == len(open_bills)
    assert report.customers == len({b["customer_id"] for b in open_bills})
    ageing = dict.fromkeys(reports.AGEING_BUCKETS, Decimal(0))
    for b in open_bills:
        ageing[_bucket((TODAY - b["due_date"]).days)] += _owed(b)
    assert report.ageing == ageing
    assert sum(report.ageing.values()) == report.total
    assert all(amount > 0 for amount in ageing.values())  # the data set fills every bucket


async def test_top_debtors_are_ordered_by_amount_owed_then_customer(
    raw: Raw, admin_db: Database
) -> None:
    """Per customer: owed and open bills; largest first, ties by customer id; limited to top."""
    by_id = {c["customer_id"]: c for c in raw.customers}
    owed: dict[int, list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for b in raw.bills:
        if _owed(b) > 0:
            owed[b["customer_id"]][0] += _owed(b)
            owed[b["customer_id"]][1] += 1
    expected = [
        (cid, by_id[cid]["meter_number"], by_id[cid]["full_name"], amount, count)
        for cid, (amount, count) in sorted(owed.items(), key=lambda kv: (-kv[1][0], kv[0]))
    ]
    report = await reports.outstanding(admin_db, today=TODAY)
    got = [
        (d.customer_id, d.meter_number, d.full_name, d.owed, d.bills) for d in report.top_debtors
    ]
    assert got == expected
    tied = [d for d in report.top_debtors if d.meter_number in ("RPT-0005", "RPT-0006")]
    assert tied[0].owed == tied[1].owed  # E and F owe the same: the earlier customer first
    assert [d.meter_number for d in tied] == ["RPT-0005", "RPT-0006"]
    top_three = await reports.outstanding(admin_db, today=TODAY, top=3)
    assert [(d.customer_id, d.owed) for d in top_three.top_debtors] == [
        (e[0], e[3]) for e in expected[:3]
    ]
    assert top_three.total == report.total  # the limit applies to the list only
    # A limit falling between the tied E and F keeps the earlier customer.
    cut = [d.meter_number for d in report.top_debtors].index("RPT-0005") + 1
    at_tie = await reports.outstanding(admin_db, today=TODAY, top=cut)
    assert [d.customer_id for d in at_tie.top_debtors] == [e[0] for e in expected[:cut]]
    assert at_tie.top_debtors[-1].meter_number == "RPT-0005"


async def test_usage_trend_sums_each_billing_month_and_lists_empty_months_without_a_rate(
    raw: Raw, admin_db: Database
) -> None:
    """Units, billed, collected and bill count per month; a month without bills has no bills
    and no collection rate (not a rate of 0%, which would read as nothing collected)."""
    trend = await reports.usage_trend(admin_db, months=9, until=date(2026, 11, 20))
    assert [t.billing_month for t in trend] == [
        reports.month_add(date(2026, 3, 1), i) for i in range(9)
    ]
    for month in trend:
        rows = [b for b in raw.bills if b["billing_month"] == month.billing_month]
        assert month.units == sum((b["units_used"] for b in rows), Decimal(0))
        assert month.billed == sum((b["total_amount"] for b in rows), Decimal(0))
        assert month.collected == sum((b["amount_paid"] for b in rows), Decimal(0))
        assert month.bills == len(rows)
        if rows:
            assert month.collection_rate == (month.collected * 100 / month.billed).quantize(
                Decimal("0.1")
            )
        else:
            assert month.collection_rate is None
    assert [t.bills for t in trend] == [0, 0, 0, 2, 2, 2, 2, 5, 1]
    # the voided payment on E's bill is not collected
    october = trend[7]
    assert october.collected == sum(
        (p["amount_paid"] for p in _live(raw) if p["billing_month"] == date(2026, 10, 1)),
        Decimal(0),
    )
