"""Reconciliation (issue 13, item 5): a month's money by local day and by the channel it came
through, to tick off against the payment provider's settlement report, the bank statement
and the till.

Read-only. Every event counts on the local day (the utility's time zone) it happened:

* a provider charge on the day it was received, with its parts paid to a bill and put into
  account credit;
* any other payment on its day, by channel (a transfer staff confirmed from a customer's
  claim, a transfer staff recorded directly, cash, POS, a payment from account credit);
* a void on the day of the void, by the channel of the payment voided (a payment voided
  later still counts on its own day: the money did arrive);
* a refund of account credit on the day it was made.

Pending claims and the credit customers hold are figures as of now: neither is money received
in the month (a claim is a customer's word; credit is money owed back or still to be applied).
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum

from domain.db import Database, Row, UnitOfWork
from domain.models import PaymentMethod, db_time, now_utc, utc
from domain.money import to_cents

ZERO = Decimal("0.00")


class Channel(StrEnum):
    """How money came (or went), in the order a report lists it."""

    CARD = "card"  # provider charges received (Telegram Payments)
    CARD_TO_BILLS = "card_to_bills"  # … of which paid to bills
    CARD_TO_CREDIT = "card_to_credit"  # … of which became account credit
    CLAIM = "claim"  # transfers staff confirmed from a customer's claim
    TRANSFER = "transfer"  # transfers staff recorded directly
    CASH = "cash"
    POS = "pos"
    CREDIT = "credit"  # payments from account credit (money received earlier)
    VOID_CARD = "void_card"
    VOID_CLAIM = "void_claim"
    VOID_TRANSFER = "void_transfer"
    VOID_CASH = "void_cash"
    VOID_POS = "void_pos"
    VOID_CREDIT = "void_credit"
    REFUND = "refund"  # account credit paid back by staff

    @property
    def is_void(self) -> bool:
        return self.value.startswith("void_")

    def voided(self) -> Channel:
        """The channel a void of a payment of this channel counts in."""
        return Channel(f"void_{self.value}")


# Money that arrived in the month, whatever became of it: charges, transfers, cash, POS.
# (Card parts and payments from credit are not added again: they are money counted already.)
MONEY_IN = (Channel.CARD, Channel.CLAIM, Channel.TRANSFER, Channel.CASH, Channel.POS)


@dataclass(frozen=True)
class Figure:
    """How many, and how much."""

    count: int = 0
    amount: Decimal = ZERO

    def __add__(self, other: Figure) -> Figure:
        return Figure(self.count + other.count, self.amount + other.amount)


@dataclass(frozen=True)
class DayFigure:
    day: date  # the local day
    channel: Channel
    figure: Figure


@dataclass(frozen=True)
class MonthReconciliation:
    month: date  # the first day of the month
    start: datetime  # the month's first instant in the utility's time zone (aware)
    end: datetime  # the next month's first instant (exclusive)
    days: list[DayFigure]  # by day, then in Channel order; only days and channels with events
    totals: dict[Channel, Figure]  # the month's figure for every channel, in Channel order
    pending_claims: Figure  # as of ``as_of``
    credit_held: Figure  # as of ``as_of``: count = customers holding credit
    refunds_owed: Figure  # as of ``as_of``: voided card payments to refund at the provider
    refunds_made: Figure  # as of ``as_of``: those staff have refunded there
    as_of: datetime

    @property
    def money_in(self) -> Decimal:
        """Money that arrived in the month: charges, transfers, cash and POS."""
        return sum((self.totals[channel].amount for channel in MONEY_IN), ZERO)

    def day(self, day: date) -> dict[Channel, Figure]:
        """One day's figures by channel (channels with no events left out)."""
        return {line.channel: line.figure for line in self.days if line.day == day}


def month_bounds(month: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The local month's first instant and the next month's, in ``zone`` (aware)."""
    first = month.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (
        datetime(first.year, first.month, 1, tzinfo=zone),
        datetime(following.year, following.month, 1, tzinfo=zone),
    )


def local_days(month: date, zone: tzinfo) -> list[tuple[date, datetime, datetime]]:
    """Each local day of the month with its [start, end) in naive UTC (a day across a clock
    change is 23 or 25 hours long)."""
    first = month.replace(day=1)
    days = []
    for number in range(1, calendar.monthrange(first.year, first.month)[1] + 1):
        day = first.replace(day=number)
        following = day + timedelta(days=1)
        starts = datetime(day.year, day.month, day.day, tzinfo=zone)
        ends = datetime(following.year, following.month, following.day, tzinfo=zone)
        days.append((day, db_time(starts), db_time(ends)))
    return days


def _figure(row: Row, count_key: str) -> Figure:
    return Figure(int(row[count_key]), to_cents(Decimal(row["amount"])))


async def month_reconciliation(
    db: Database, *, month: date, zone: tzinfo, now: datetime | None = None
) -> MonthReconciliation:
    """The month's figures per local day and channel, the month's totals per channel, and the
    pending claims, credit held and provider refunds owed and made now."""
    days = local_days(month, zone)
    start, end = month_bounds(month, zone)
    bounds = {"start": db_time(start), "end": db_time(end)}
    by_day, pending, credit, refunds = await db.read_batch(
        [
            (
                "reconcile_day_figures",
                {**bounds, "days": json.dumps([[str(s), str(e)] for _, s, e in days])},
            ),
            ("reconcile_pending_claims", {}),
            ("reconcile_credit_held", {}),
            ("reconcile_provider_refunds", {}),
        ]
    )
    order = list(Channel)
    lines = sorted(
        (
            DayFigure(
                days[int(row["day_number"]) - 1][0],
                Channel(row["channel"]),
                _figure(row, "events"),
            )
            for row in by_day
        ),
        key=lambda line: (line.day, order.index(line.channel)),
    )
    totals = {channel: Figure() for channel in Channel}
    for line in lines:
        totals[line.channel] += line.figure
    return MonthReconciliation(
        month=month.replace(day=1),
        start=start,
        end=end,
        days=lines,
        totals=totals,
        pending_claims=_figure(pending[0], "claims"),
        credit_held=_figure(credit[0], "customers"),
        refunds_owed=Figure(int(refunds[0]["owed_count"]), Decimal(refunds[0]["owed_amount"])),
        refunds_made=Figure(int(refunds[0]["made_count"]), Decimal(refunds[0]["made_amount"])),
        as_of=now or now_utc(),
    )


# ---------------------------------------------------------------------------------------------
# The rows behind the figures (for the CSV export)


@dataclass(frozen=True)
class ChargeLine:
    """A provider charge: what to find in the provider's settlement report."""

    received_at: datetime  # aware UTC
    telegram_payment_charge_id: str
    provider_payment_charge_id: str
    amount: Decimal
    currency: str
    to_bill: Decimal
    to_credit: Decimal
    meter_number: str
    billing_month: date  # the month of the invoice's bill
    payment_id: int | None  # the card payment of the bill's part (None: all became credit)
    receipt_number: str | None
    payment_voided: bool


@dataclass(frozen=True)
class PaymentLine:
    """A payment other than a card payment, on the day it was made."""

    date_of_payment: datetime  # aware UTC
    channel: Channel
    method: PaymentMethod
    amount: Decimal
    payment_id: int
    receipt_number: str
    meter_number: str
    billing_month: date
    recorded_by: str | None  # the staff member's name (None: paid from credit, no recorder)
    reference: str | None  # a confirmed claim's transfer reference


@dataclass(frozen=True)
class VoidLine:
    """A payment voided, on the day of the void."""

    voided_at: datetime  # aware UTC
    date_of_payment: datetime
    channel: Channel  # the void's channel (``void_<channel of the payment>``)
    method: PaymentMethod
    amount: Decimal
    payment_id: int
    receipt_number: str
    meter_number: str
    billing_month: date
    voided_by: str | None
    reason: str
    telegram_payment_charge_id: str | None
    provider_payment_charge_id: str | None
    reference: str | None


@dataclass(frozen=True)
class RefundLine:
    """Account credit staff paid back."""

    refunded_at: datetime  # aware UTC
    amount: Decimal
    entry_id: int
    meter_number: str
    refunded_by: str | None
    reason: str


@dataclass(frozen=True)
class MonthLines:
    month: date
    start: datetime
    end: datetime
    charges: list[ChargeLine]
    payments: list[PaymentLine]
    voids: list[VoidLine]
    refunds: list[RefundLine]

    def figures(self) -> dict[Channel, Figure]:
        """The month's figure per channel, added up from the lines (equal to the report's)."""
        totals = {channel: Figure() for channel in Channel}

        def add(channel: Channel, amounts: Iterable[Decimal]) -> None:
            for amount in amounts:
                totals[channel] += Figure(1, amount)

        add(Channel.CARD, (c.amount for c in self.charges))
        add(Channel.CARD_TO_BILLS, (c.to_bill for c in self.charges if c.to_bill > 0))
        add(Channel.CARD_TO_CREDIT, (c.to_credit for c in self.charges if c.to_credit > 0))
        for payment in self.payments:
            add(payment.channel, (payment.amount,))
        for void in self.voids:
            add(void.channel, (void.amount,))
        add(Channel.REFUND, (r.amount for r in self.refunds))
        return totals


def _time(value: datetime) -> datetime:
    moment = utc(value)
    assert moment is not None
    return moment


def _money(value: object) -> Decimal:
    return to_cents(Decimal(str(value)))


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


async def month_lines(db: Database, *, month: date, zone: tzinfo) -> MonthLines:
    """Every row behind the month's figures: provider charges, other payments, voids, refunds
    (each in time order)."""
    start, end = month_bounds(month, zone)
    bounds = {"start": db_time(start), "end": db_time(end)}

    async def work(uow: UnitOfWork) -> list[list[Row]]:
        return await uow.fetch_batch(
            [
                ("reconcile_charges", bounds),
                ("reconcile_payments", bounds),
                ("reconcile_voids", bounds),
                ("reconcile_refunds", bounds),
            ],
            end_read=True,
        )

    charges, paid, voided, refunded = await db.read(work)
    return MonthLines(
        month=month.replace(day=1),
        start=start,
        end=end,
        charges=[
            ChargeLine(
                received_at=_time(r["received_at"]),
                telegram_payment_charge_id=str(r["telegram_payment_charge_id"]),
                provider_payment_charge_id=str(r["provider_payment_charge_id"]),
                amount=_money(r["amount"]),
                currency=str(r["currency"]),
                to_bill=_money(r["amount"]) - _money(r["credited"]),
                to_credit=_money(r["credited"]),
                meter_number=str(r["meter_number"]),
                billing_month=r["billing_month"],
                payment_id=None if r["payment_id"] is None else int(r["payment_id"]),
                receipt_number=_optional_text(r["receipt_number"]),
                payment_voided=r["voided_at"] is not None,
            )
            for r in charges
        ],
        payments=[
            PaymentLine(
                date_of_payment=_time(r["date_of_payment"]),
                channel=Channel(r["channel"]),
                method=PaymentMethod(r["payment_method"]),
                amount=_money(r["amount_paid"]),
                payment_id=int(r["payment_id"]),
                receipt_number=str(r["receipt_number"]),
                meter_number=str(r["meter_number"]),
                billing_month=r["billing_month"],
                recorded_by=_optional_text(r["recorded_by"]),
                reference=_optional_text(r["claim_reference"]),
            )
            for r in paid
        ],
        voids=[
            VoidLine(
                voided_at=_time(r["voided_at"]),
                date_of_payment=_time(r["date_of_payment"]),
                channel=Channel(r["channel"]).voided(),
                method=PaymentMethod(r["payment_method"]),
                amount=_money(r["amount_paid"]),
                payment_id=int(r["payment_id"]),
                receipt_number=str(r["receipt_number"]),
                meter_number=str(r["meter_number"]),
                billing_month=r["billing_month"],
                voided_by=_optional_text(r["voided_by"]),
                reason=str(r["void_reason"] or ""),
                telegram_payment_charge_id=_optional_text(r["telegram_payment_charge_id"]),
                provider_payment_charge_id=_optional_text(r["provider_payment_charge_id"]),
                reference=_optional_text(r["claim_reference"]),
            )
            for r in voided
        ],
        refunds=[
            RefundLine(
                refunded_at=_time(r["created_at"]),
                amount=_money(r["amount"]),
                entry_id=int(r["entry_id"]),
                meter_number=str(r["meter_number"]),
                refunded_by=_optional_text(r["refunded_by"]),
                reason=str(r["reason"] or ""),
            )
            for r in refunded
        ],
    )
