"""Staff reports: revenue, outstanding balances with ageing and top debtors, usage trend.

Read-only: the functions return report records straight from queries over the report totals
that every write keeps up to date (``domain.report_totals``), so a report reads a few
hundred summary rows, not every bill and payment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

from domain.db import Database, UnitOfWork
from domain.models import PaymentMethod, db_time


@dataclass(frozen=True)
class RevenueLine:
    key: str  # a payment method, or a month as YYYY-MM
    total: Decimal
    payments: int


@dataclass(frozen=True)
class RevenueReport:
    start: datetime | None
    end: datetime | None
    total: Decimal
    payments: int
    by_method: list[RevenueLine]
    by_month: list[RevenueLine]


def _day_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day)


def _period_parts(start: datetime | None, end: datetime | None) -> dict[str, object]:
    """Split [start, end) (naive UTC) into whole UTC days, read from the kept totals, and the
    part-days at its edges, read from the payments themselves (NULL: no such part)."""
    first_day = None if start is None else _day_start(start + timedelta(days=1, microseconds=-1))
    last_day = None if end is None else _day_start(end)
    head: tuple[datetime | None, datetime | None] = (None, None)
    tail: tuple[datetime | None, datetime | None] = (None, None)
    if first_day is not None and last_day is not None and first_day > last_day:
        # [start, end) lies within one UTC day: no whole day, one part-day.
        last_day = first_day
        head = (start, end)
    else:
        if start is not None and first_day is not None and start < first_day:
            head = (start, first_day)
        if end is not None and last_day is not None and last_day < end:
            tail = (last_day, end)
    return {
        "first_day": first_day.date() if first_day else None,
        "last_day": last_day.date() if last_day else None,
        "head_start": head[0],
        "head_end": head[1],
        "tail_start": tail[0],
        "tail_end": tail[1],
    }


@dataclass(frozen=True)
class _MonthStartWindow:
    """The stretch between a local month's start and the UTC midnight next to it (naive
    UTC): its payments count in ``utc_month`` by UTC but in ``local_month`` locally."""

    starts: datetime
    ends: datetime
    utc_month: str  # YYYY-MM
    local_month: str


def _month_start_windows(
    utc_months: set[date], zone: tzinfo, since: datetime | None, until: datetime | None
) -> list[_MonthStartWindow]:
    """The windows around the starts of the months that the UTC months found may share
    payments with, clipped to [since, until) (naive UTC)."""
    windows = []
    for month in sorted(utc_months | {month_add(m, 1) for m in utc_months}):
        utc_start = datetime(month.year, month.month, 1)
        local_start = datetime(month.year, month.month, 1, tzinfo=zone)
        boundary = local_start.astimezone(UTC).replace(tzinfo=None)
        this, before = f"{month:%Y-%m}", f"{month_add(month, -1):%Y-%m}"
        if boundary < utc_start:  # east of UTC: the month starts on the UTC day before
            starts, ends, utc_month, local_month = boundary, utc_start, before, this
        elif boundary > utc_start:  # west of UTC: the UTC month starts first
            starts, ends, utc_month, local_month = utc_start, boundary, this, before
        else:
            continue
        starts = max(starts, since) if since else starts
        ends = min(ends, until) if until else ends
        if starts < ends:
            windows.append(_MonthStartWindow(starts, ends, utc_month, local_month))
    return windows


async def revenue(
    db: Database,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    zone: tzinfo = UTC,
) -> RevenueReport:
    """Non-void payments, all time or in [start, end): total, by method, and by month of
    payment in ``zone`` (the utility's time zone)."""
    since, until = (db_time(start) if start else None), (db_time(end) if end else None)
    lines = await db.fetch_all("revenue_lines", _period_parts(since, until))
    by_method: dict[str, list[Decimal | int]] = {}
    by_month: dict[str, list[Decimal | int]] = {}

    def add(sums: dict[str, list[Decimal | int]], key: str, total: Decimal, count: int) -> None:
        found = sums.setdefault(key, [Decimal("0.00"), 0])
        found[0] += total
        found[1] += count

    for line in lines:
        total, count = Decimal(line["total"]), int(line["payments"])
        add(by_method, PaymentMethod(line["payment_method"]).value, total, count)
        add(by_month, str(line["month"])[:7], total, count)
    # The lines count by UTC month; payments between a local month's start and the UTC
    # midnight next to it belong to the other month than their UTC month.
    utc_months = {date.fromisoformat(f"{key}-01") for key in by_month}
    windows = _month_start_windows(utc_months, zone, since, until)
    if windows:
        moved = await db.fetch_all(
            "revenue_in_windows",
            {"windows": json.dumps([[str(w.starts), str(w.ends)] for w in windows])},
        )
        for row in moved:
            window = windows[int(row["window"]) - 1]
            total, count = Decimal(row["total"]), int(row["payments"])
            add(by_month, window.utc_month, -total, -count)
            add(by_month, window.local_month, total, count)

    def report_lines(sums: dict[str, list[Decimal | int]]) -> list[RevenueLine]:
        # A voided payment leaves its day's totals at zero: such a line is not revenue.
        return [RevenueLine(k, Decimal(v[0]), int(v[1])) for k, v in sums.items() if v[1]]

    methods = sorted(report_lines(by_method), key=lambda line: (-line.total, line.key))
    months = sorted(report_lines(by_month), key=lambda line: line.key)
    return RevenueReport(
        start=start,
        end=end,
        total=sum((line.total for line in methods), Decimal("0.00")),
        payments=sum(line.payments for line in methods),
        by_method=methods,
        by_month=months,
    )


AGEING_BUCKETS = ("not_due", "days_0_30", "days_31_60", "days_61_90", "days_over_90")
AGEING_LABELS = {
    "not_due": "Not yet due",
    "days_0_30": "0–30 days",
    "days_31_60": "31–60 days",
    "days_61_90": "61–90 days",
    "days_over_90": "90+ days",
}


@dataclass(frozen=True)
class Debtor:
    customer_id: int
    meter_number: str
    full_name: str
    owed: Decimal
    bills: int


@dataclass(frozen=True)
class OutstandingReport:
    as_of: date
    total: Decimal
    bills: int
    customers: int
    ageing: dict[str, Decimal]  # AGEING_BUCKETS → amount owed, by days past the due date
    top_debtors: list[Debtor]


async def outstanding(db: Database, *, today: date, top: int = 10) -> OutstandingReport:
    """What is owed on open bills: total, counts, ageing by days past due, top debtors."""

    async def work(uow: UnitOfWork) -> OutstandingReport:
        summary = await uow.fetch_one("outstanding_summary", {"today": today})
        debtors = await uow.fetch_all("top_debtors", {"limit": top})
        assert summary is not None
        return OutstandingReport(
            as_of=today,
            total=Decimal(summary["total"]),
            bills=int(summary["bills"]),
            customers=int(summary["customers"]),
            ageing={bucket: Decimal(summary[bucket]) for bucket in AGEING_BUCKETS},
            top_debtors=[
                Debtor(
                    int(r["customer_id"]),
                    r["meter_number"],
                    r["full_name"],
                    Decimal(r["owed"]),
                    int(r["bills"]),
                )
                for r in debtors
            ],
        )

    return await db.read(work)


@dataclass(frozen=True)
class TrendMonth:
    billing_month: date
    units: Decimal
    billed: Decimal
    collected: Decimal
    bills: int

    @property
    def collection_rate(self) -> Decimal | None:
        """Collected ÷ billed, as a percentage with one decimal; None for a month nothing
        was billed in (no rate, rather than a rate of 0)."""
        if not self.bills or not self.billed:
            return None
        return (self.collected * 100 / self.billed).quantize(Decimal("0.1"))


def month_add(month: date, delta: int) -> date:
    index = month.year * 12 + month.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


async def usage_trend(db: Database, *, months: int, until: date) -> list[TrendMonth]:
    """The last ``months`` billing months up to ``until``: units, billed, collected, rate.

    Every month is listed, so a chart's axis has a place for each; a month without bills
    has ``bills == 0`` (and zeros), which the table and chart show as no figures at all.
    """
    end = until.replace(day=1)
    start = month_add(end, -(months - 1))
    rows = await db.fetch_all("usage_trend", {"start": start, "end": end})
    found = {
        r["billing_month"]: TrendMonth(
            r["billing_month"],
            Decimal(r["units"]),
            Decimal(r["billed"]),
            Decimal(r["collected"]),
            int(r["bills"]),
        )
        for r in rows
    }
    zero = Decimal("0.00")
    return [
        found.get(month_add(start, i), TrendMonth(month_add(start, i), zero, zero, zero, 0))
        for i in range(months)
    ]
