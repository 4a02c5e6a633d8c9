"""Staff reports computed in SQL: revenue, outstanding balances with ageing, usage trend.

Read-only: the functions return report records straight from aggregate queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
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


async def revenue(
    db: Database, *, start: datetime | None = None, end: datetime | None = None
) -> RevenueReport:
    """Non-void payments, all time or in [start, end): total, by method, by month."""
    params = {
        "start": db_time(start) if start else None,
        "end": db_time(end) if end else None,
    }

    async def work(uow: UnitOfWork) -> RevenueReport:
        total = await uow.fetch_one("revenue_total", params)
        methods = await uow.fetch_all("revenue_by_method", params)
        months = await uow.fetch_all("revenue_by_month", params)
        assert total is not None
        return RevenueReport(
            start=start,
            end=end,
            total=Decimal(total["total"]),
            payments=int(total["payments"]),
            by_method=[
                RevenueLine(
                    PaymentMethod(r["payment_method"]).value,
                    Decimal(r["total"]),
                    int(r["payments"]),
                )
                for r in methods
            ],
            by_month=[
                RevenueLine(str(r["month"])[:7], Decimal(r["total"]), int(r["payments"]))
                for r in months
            ],
        )

    return await db.read(work)


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
    def collection_rate(self) -> Decimal:
        """Collected ÷ billed, as a percentage with one decimal."""
        if not self.billed:
            return Decimal("0.0")
        return (self.collected * 100 / self.billed).quantize(Decimal("0.1"))


def month_add(month: date, delta: int) -> date:
    index = month.year * 12 + month.month - 1 + delta
    return date(index // 12, index % 12 + 1, 1)


async def usage_trend(db: Database, *, months: int, until: date) -> list[TrendMonth]:
    """The last ``months`` billing months up to ``until``: units, billed, collected, rate.

    Months without bills are listed with zeros, so a chart's axis has no gaps.
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
