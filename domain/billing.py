"""The money rules of a bill, as values with no database: tariffs and their bands, the lines
a bill is made of, late fees and waivers (issue 15). domain/ledger.py writes what these
decide; the handlers choose the words (a line carries data, never a sentence).

Rounding (SPEC §4): every line is rounded half up to the cent on its own; a bill's total is
the sum of its rounded lines, so what a statement shows always adds up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from domain.errors import (
    AmountExceedsBalance,
    BillAlreadyPaid,
    InvalidAmount,
    InvalidTariff,
    TotalBelowPaid,
)
from domain.models import PaymentStatus
from domain.money import MAX_AMOUNT, to_cents

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
FLAT_TARIFF_CODE = "FLAT"


class LineKind(StrEnum):
    ENERGY = "energy"
    FIXED = "fixed"
    TAX = "tax"
    LATE_FEE = "late_fee"
    WAIVER = "waiver"
    CORRECTION = "correction"


# The lines a tariff makes from a month's units; a correction of the units replaces them and
# keeps the rest (late fees, waivers, corrections).
CHARGE_KINDS = frozenset({LineKind.ENERGY, LineKind.FIXED, LineKind.TAX})


@dataclass(frozen=True)
class Band:
    """``from_kwh`` < units ≤ ``to_kwh`` (None: open-ended) are charged at ``rate``."""

    from_kwh: Decimal
    to_kwh: Decimal | None
    rate: Decimal

    def units_in(self, units: Decimal) -> Decimal:
        """How many of ``units`` fall in this band."""
        if units <= self.from_kwh:
            return ZERO
        top = units if self.to_kwh is None else min(units, self.to_kwh)
        return top - self.from_kwh


@dataclass(frozen=True)
class LateFeeRule:
    """A fee of ``percent`` of the overdue balance plus ``fixed``, at most ``cap``, charged
    once a bill is still owing ``grace_days`` after its due date."""

    grace_days: int = 0
    percent: Decimal = ZERO
    fixed: Decimal = ZERO
    cap: Decimal | None = None

    @property
    def charges(self) -> bool:
        return self.percent > 0 or self.fixed > 0

    def first_fee_day(self, due_date: date) -> date:
        """The first day a bill falling due on ``due_date`` and still owing takes a fee."""
        return due_date + timedelta(days=self.grace_days + 1)

    def fee(self, overdue: Decimal) -> Decimal:
        """The fee on an ``overdue`` balance (0.00 when nothing is overdue or no fee)."""
        if overdue <= 0 or not self.charges:
            return ZERO
        amount = to_cents(overdue * self.percent / HUNDRED) + self.fixed
        if self.cap is not None:
            amount = min(amount, self.cap)
        return to_cents(amount)


@dataclass(frozen=True)
class Line:
    """One line of a bill. ``line_id`` is None until the ledger has written it."""

    kind: LineKind
    amount: Decimal
    units: Decimal | None = None
    rate: Decimal | None = None
    band_from_kwh: Decimal | None = None
    band_to_kwh: Decimal | None = None
    percent: Decimal | None = None
    fee_period: date | None = None
    waives_line_id: int | None = None
    note: str | None = None
    line_id: int | None = None


@dataclass(frozen=True)
class Tariff:
    """One version of a tariff: what a bill for a month in force costs."""

    code: str
    name: str
    customer_class: str
    effective_from: date
    bands: tuple[Band, ...]
    fixed_charge: Decimal = ZERO
    tax_percent: Decimal = ZERO
    late_fee: LateFeeRule = field(default_factory=LateFeeRule)
    version_id: int | None = None

    def __post_init__(self) -> None:
        check_bands(self.bands)
        if self.fixed_charge < 0 or self.fixed_charge > MAX_AMOUNT:
            raise InvalidTariff("fixed_charge", self.fixed_charge)
        if not ZERO <= self.tax_percent <= HUNDRED:
            raise InvalidTariff("tax_percent", self.tax_percent)
        rule = self.late_fee
        if not ZERO <= rule.percent <= HUNDRED:
            raise InvalidTariff("late_fee_percent", rule.percent)
        if rule.fixed < 0:
            raise InvalidTariff("late_fee_fixed", rule.fixed)
        if rule.cap is not None and rule.cap <= 0:
            raise InvalidTariff("late_fee_cap", rule.cap)
        if not 0 <= rule.grace_days <= 365:
            raise InvalidTariff("grace_days", rule.grace_days)

    @property
    def single_rate(self) -> Decimal | None:
        """The rate of a one-band tariff; None when the tariff has several bands."""
        return self.bands[0].rate if len(self.bands) == 1 else None

    def charges(self, units: Decimal) -> tuple[Line, ...]:
        """The energy (one line per band used), fixed-charge and tax lines of ``units``."""
        lines: list[Line] = []
        for band in self.bands:
            used = band.units_in(units)
            if used > 0:
                lines.append(
                    Line(
                        LineKind.ENERGY,
                        to_cents(used * band.rate),
                        units=used,
                        rate=band.rate,
                        band_from_kwh=band.from_kwh,
                        band_to_kwh=band.to_kwh,
                    )
                )
        if self.fixed_charge > 0:
            lines.append(Line(LineKind.FIXED, self.fixed_charge))
        if self.tax_percent > 0:
            taxable = sum((line.amount for line in lines), ZERO)
            lines.append(
                Line(
                    LineKind.TAX,
                    to_cents(taxable * self.tax_percent / HUNDRED),
                    percent=self.tax_percent,
                )
            )
        return tuple(lines)

    def average_rate(self, units: Decimal) -> Decimal:
        """The rate a bill of ``units`` keeps in ``rate_per_unit``: the one band's rate, or
        the energy charged per unit (4 places) on a banded tariff."""
        if self.single_rate is not None or units <= 0:
            return self.bands[0].rate
        energy = sum(
            (line.amount for line in self.charges(units) if line.kind is LineKind.ENERGY), ZERO
        )
        return (energy / units).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def check_bands(bands: tuple[Band, ...]) -> None:
    """Bands start at 0 kWh, follow on without gaps or overlaps, and only the last is open."""
    if not bands:
        raise InvalidTariff("bands", None)
    expected_from = ZERO
    for index, band in enumerate(bands):
        if band.from_kwh != expected_from:
            raise InvalidTariff("band_from_kwh", band.from_kwh)
        if band.rate < 0:
            raise InvalidTariff("rate_per_kwh", band.rate)
        last = index == len(bands) - 1
        if band.to_kwh is None:
            if not last:
                raise InvalidTariff("band_to_kwh", None)
        elif band.to_kwh <= band.from_kwh or last:
            raise InvalidTariff("band_to_kwh", band.to_kwh)
        else:
            expected_from = band.to_kwh


def flat_tariff(rate: Decimal, *, effective_from: date = date(2000, 1, 1)) -> Tariff:
    """The seed's tariff: ``units × rate``, one open band, no fixed charge, no tax, no fee."""
    return Tariff(
        code=FLAT_TARIFF_CODE,
        name="Flat rate",
        customer_class="any",
        effective_from=effective_from,
        bands=(Band(ZERO, None, rate),),
    )


def checked_amount(amount: Decimal) -> Decimal:
    """A money amount someone asked for: a finite Decimal above zero in whole cents, as
    stored (1500 is 1500.00)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidAmount("That is not an amount.")
    if amount <= 0:
        raise InvalidAmount("The amount must be greater than zero.")
    if amount != to_cents(amount):
        raise InvalidAmount("The amount can have at most two decimals (whole cents).")
    return to_cents(amount)


@dataclass(frozen=True)
class Balance:
    """What a bill owes: its total and what is paid on it — all a payment needs to know (a
    payment locks the bill row, not its lines). :class:`Charges` pays through it."""

    total: Decimal
    amount_paid: Decimal = ZERO

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.amount_paid

    @property
    def status(self) -> PaymentStatus:
        return PaymentStatus.for_amounts(self.total, self.amount_paid)

    def pay(self, amount: Decimal) -> Balance:
        """``amount`` paid: on a bill not yet paid, 0 < amount ≤ outstanding, whole cents."""
        if self.status is PaymentStatus.PAID:
            raise BillAlreadyPaid()
        paying = checked_amount(amount)
        if paying > self.outstanding:
            raise AmountExceedsBalance(self.outstanding)
        return replace(self, amount_paid=self.amount_paid + paying)

    def void(self, amount: Decimal) -> Balance:
        """A payment of ``amount`` taken back."""
        return replace(self, amount_paid=self.amount_paid - amount)

    def credit_to_apply(self, credit: Decimal) -> Decimal:
        """How much of ``credit`` (account credit, or money a provider took) this bill takes:
        0.00 when there is none or nothing is owed."""
        return max(ZERO, min(credit, self.outstanding))


@dataclass(frozen=True)
class Charges:
    """A bill's money as a value: its lines and what has been paid on it."""

    lines: tuple[Line, ...]
    amount_paid: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def outstanding(self) -> Decimal:
        return self.total - self.amount_paid

    @property
    def status(self) -> PaymentStatus:
        return PaymentStatus.for_amounts(self.total, self.amount_paid)

    @classmethod
    def issue(cls, tariff: Tariff, units: Decimal) -> Charges:
        """A new bill of ``units`` on ``tariff``: refused when it would be 0.00 or more than
        a bill can hold."""
        charges = cls(tariff.charges(units))
        charges._check_total()
        return charges

    def _check_total(self) -> None:
        if self.total <= 0:
            raise InvalidAmount("These figures make a bill of 0.00; please check them.")
        if self.total > MAX_AMOUNT:
            raise InvalidAmount("These figures make a bill larger than the system can hold.")

    def correct(self, tariff: Tariff, units: Decimal) -> Charges:
        """The bill re-computed for ``units`` on ``tariff``: its energy, fixed and tax lines
        replaced, late fees, waivers and corrections kept; never below what is paid."""
        kept = tuple(line for line in self.lines if line.kind not in CHARGE_KINDS)
        corrected = replace(self, lines=tariff.charges(units) + kept)
        corrected._check_total()
        if corrected.total < self.amount_paid:
            raise TotalBelowPaid(self.amount_paid)
        return corrected

    @property
    def balance(self) -> Balance:
        return Balance(self.total, self.amount_paid)

    def pay(self, amount: Decimal) -> Charges:
        """``amount`` paid: 0 < amount ≤ outstanding, whole cents, on a bill not yet paid."""
        return replace(self, amount_paid=self.balance.pay(amount).amount_paid)

    def void(self, amount: Decimal) -> Charges:
        """A payment of ``amount`` taken back."""
        return replace(self, amount_paid=self.balance.void(amount).amount_paid)

    def credit_to_apply(self, credit: Decimal) -> Decimal:
        """How much of a customer's ``credit`` pays this bill (0.00 when none or nothing owed)."""
        return self.balance.credit_to_apply(credit)

    def late_fee(self, rule: LateFeeRule, *, due_date: date, today: date) -> Line | None:
        """The fee this bill owes today, if it is still owing past its due date plus grace
        days and has not had a fee for that period yet (a bill takes one fee)."""
        if self.outstanding <= 0 or today < rule.first_fee_day(due_date):
            return None
        period = due_date.replace(day=1)
        if any(line.fee_period == period for line in self.lines):
            return None
        amount = rule.fee(self.outstanding)
        if amount <= 0:
            return None
        return Line(LineKind.LATE_FEE, amount, fee_period=period, percent=rule.percent or None)

    def add(self, line: Line) -> Charges:
        added = replace(self, lines=(*self.lines, line))
        added._check_total()
        return added

    def waive(self, fee: Line, *, note: str | None = None) -> Line:
        """The waiver line that takes back ``fee`` (a late fee of this bill, not yet waived);
        refused when the bill would then be less than what is already paid on it."""
        if fee.kind is not LineKind.LATE_FEE or fee.line_id is None or fee not in self.lines:
            raise InvalidAmount("Only a late fee of this bill can be waived.")
        if any(line.waives_line_id == fee.line_id for line in self.lines):
            raise InvalidAmount("That late fee has already been waived.")
        if self.total - fee.amount < self.amount_paid:
            raise TotalBelowPaid(self.amount_paid)
        return Line(LineKind.WAIVER, -fee.amount, waives_line_id=fee.line_id, note=note)

    def fees_to_waive(self) -> tuple[Line, ...]:
        """The late fees of this bill not yet waived."""
        waived = {line.waives_line_id for line in self.lines}
        return tuple(
            line
            for line in self.lines
            if line.kind is LineKind.LATE_FEE and line.line_id not in waived
        )
