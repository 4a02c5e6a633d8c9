"""The money rules of a bill, with no database (domain/billing.py): bands at their edges,
fixed charge, tax rounding, late-fee cap, credit, waiver."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from domain.billing import Band, Charges, LateFeeRule, Line, LineKind, Tariff, flat_tariff
from domain.errors import (
    AmountExceedsBalance,
    BillAlreadyPaid,
    InvalidAmount,
    InvalidTariff,
    TotalBelowPaid,
)
from domain.models import PaymentStatus


def three_bands(**more: object) -> Tariff:
    return Tariff(
        code="RES-T",
        name="Residential tiered",
        customer_class="residential",
        effective_from=date(2026, 1, 1),
        bands=(
            Band(D(0), D(50), D("0.50")),
            Band(D(50), D(150), D("0.75")),
            Band(D(150), None, D("1.20")),
        ),
        **more,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("units", "energy"),
    [
        (D("0.01"), [D("0.01")]),  # 0.005 rounds half up
        (D(50), [D("25.00")]),  # exactly the first band's top: nothing in the second
        (D("50.01"), [D("25.00"), D("0.01")]),
        (D(150), [D("25.00"), D("75.00")]),
        (D("150.01"), [D("25.00"), D("75.00"), D("0.01")]),
        (D(400), [D("25.00"), D("75.00"), D("300.00")]),
    ],
)
def test_bands_charge_each_unit_once_at_their_edges(units: D, energy: list[D]) -> None:
    lines = three_bands().charges(units)
    assert [line.amount for line in lines] == energy
    assert sum(line.units or 0 for line in lines) == units
    assert all(line.kind is LineKind.ENERGY for line in lines)


def test_fixed_charge_and_tax_are_lines_and_tax_rounds_half_up_once() -> None:
    tariff = three_bands(fixed_charge=D("5.00"), tax_percent=D("7.5"))
    lines = tariff.charges(D("60.33"))
    # 25.00 + 10.33 × 0.75 = 7.7475 → 7.75; fixed 5.00; tax 7.5% of 37.75 = 2.83125 → 2.83
    assert [(line.kind, line.amount) for line in lines] == [
        (LineKind.ENERGY, D("25.00")),
        (LineKind.ENERGY, D("7.75")),
        (LineKind.FIXED, D("5.00")),
        (LineKind.TAX, D("2.83")),
    ]
    assert Charges.issue(tariff, D("60.33")).total == D("40.58")


def test_the_flat_tariff_is_units_times_rate() -> None:
    charges = Charges.issue(flat_tariff(D("68.50")), D("3.33"))
    assert charges.total == D("228.11")  # 228.105 half up
    assert [line.kind for line in charges.lines] == [LineKind.ENERGY]
    assert flat_tariff(D("68.50")).single_rate == D("68.50")
    assert three_bands().single_rate is None


def test_a_month_of_no_use_owes_the_fixed_charge_or_is_refused() -> None:
    assert Charges.issue(three_bands(fixed_charge=D("4.00")), D(0)).total == D("4.00")
    with pytest.raises(InvalidAmount):
        Charges.issue(three_bands(), D(0))


@pytest.mark.parametrize(
    "bands",
    [
        (),
        (Band(D(10), None, D(1)),),  # does not start at 0
        (Band(D(0), D(50), D(1)), Band(D(60), None, D(1))),  # gap
        (Band(D(0), None, D(1)), Band(D(50), None, D(1))),  # open band not last
        (Band(D(0), D(50), D(1)),),  # last band closed
        (Band(D(0), None, D(-1)),),  # negative rate
    ],
)
def test_bands_that_do_not_cover_every_unit_once_are_refused(bands: tuple[Band, ...]) -> None:
    with pytest.raises(InvalidTariff):
        Tariff("X", "X", "any", date(2026, 1, 1), bands)


def test_paying_checks_the_amount_against_what_is_owed() -> None:
    charges = Charges.issue(flat_tariff(D("2.00")), D(50))  # 100.00
    part = charges.pay(D("40.00"))
    assert (part.outstanding, part.status) == (D("60.00"), PaymentStatus.PARTIAL)
    with pytest.raises(AmountExceedsBalance) as refused:
        part.pay(D("60.01"))
    assert refused.value.outstanding == D("60.00")
    with pytest.raises(InvalidAmount):
        part.pay(D("0.001"))
    paid = part.pay(D("60.00"))
    assert paid.status is PaymentStatus.PAID
    with pytest.raises(BillAlreadyPaid):
        paid.pay(D("1.00"))
    assert paid.void(D("60.00")).status is PaymentStatus.PARTIAL


def test_credit_pays_what_it_can() -> None:
    charges = Charges.issue(flat_tariff(D("1.00")), D(30))
    assert charges.credit_to_apply(D("12.34")) == D("12.34")
    assert charges.credit_to_apply(D("99.00")) == D("30.00")
    assert charges.pay(D("30.00")).credit_to_apply(D("5.00")) == D("0.00")


def test_a_correction_keeps_fees_and_never_goes_below_what_is_paid() -> None:
    tariff = three_bands()
    fee = Line(LineKind.LATE_FEE, D("3.00"), fee_period=date(2026, 2, 1), line_id=7)
    charges = Charges.issue(tariff, D(100)).add(fee).pay(D("50.00"))  # 62.50 + 3.00
    corrected = charges.correct(tariff, D(80))  # 25.00 + 22.50 + the fee
    assert corrected.total == D("50.50")
    assert fee in corrected.lines
    with pytest.raises(TotalBelowPaid) as refused:
        charges.correct(tariff, D(40))  # 20.00 + 3.00 < 50.00 paid
    assert refused.value.paid == D("50.00")


RULE = LateFeeRule(grace_days=5, percent=D("10"), fixed=D("1.00"), cap=D("20.00"))


@pytest.mark.parametrize(
    ("overdue", "fee"),
    [
        (D("0"), D("0.00")),
        (D("10.05"), D("2.01")),
        (D("150.00"), D("16.00")),
        (D("1000"), D("20.00")),
    ],
)
def test_a_late_fee_is_percent_plus_fixed_up_to_the_cap(overdue: D, fee: D) -> None:
    # 10% of 10.05 = 1.005 → 1.01, + 1.00
    assert RULE.fee(overdue) == fee


def test_a_late_fee_starts_after_the_grace_days_and_is_taken_once() -> None:
    charges = Charges.issue(flat_tariff(D("1.00")), D(100))
    due = date(2026, 3, 14)
    assert charges.late_fee(RULE, due_date=due, today=date(2026, 3, 19)) is None  # grace
    fee = charges.late_fee(RULE, due_date=due, today=date(2026, 3, 20))
    assert fee is not None and fee.amount == D("11.00") and fee.kind is LineKind.LATE_FEE
    with_fee = charges.add(Line(**{**fee.__dict__, "line_id": 1}))
    assert with_fee.late_fee(RULE, due_date=due, today=date(2026, 4, 30)) is None
    assert charges.pay(D("100.00")).late_fee(RULE, due_date=due, today=date(2026, 4, 1)) is None
    assert charges.late_fee(LateFeeRule(), due_date=due, today=date(2027, 1, 1)) is None


def test_a_waiver_takes_back_one_fee_once() -> None:
    fee = Line(LineKind.LATE_FEE, D("11.00"), fee_period=date(2026, 3, 1), line_id=9)
    charges = Charges.issue(flat_tariff(D("1.00")), D(100)).add(fee)
    waiver = charges.waive(fee, note="first time")
    assert (waiver.kind, waiver.amount, waiver.waives_line_id) == (LineKind.WAIVER, D("-11.00"), 9)
    waived = charges.add(waiver)
    assert waived.total == D("100.00")
    assert waived.fees_to_waive() == ()
    with pytest.raises(InvalidAmount):
        waived.waive(fee)
    with pytest.raises(TotalBelowPaid):
        charges.pay(D("105.00")).waive(fee)


def test_units_are_current_minus_previous_across_a_rollover_but_not_a_slip() -> None:
    from domain.errors import ReadingBelowPrevious
    from domain.readings import consumption

    assert consumption(D("1200.00"), D("1350.50"), digits=6) == (D("150.50"), False)
    assert consumption(D("999950"), D("30"), digits=6) == (D("80"), True)
    with pytest.raises(ReadingBelowPrevious) as refused:
        consumption(D("5000"), D("4990"), digits=6)
    assert (refused.value.previous, refused.value.current) == (D("5000"), D("4990"))


def test_the_worked_example_of_docs_billing_md() -> None:
    tariff = three_bands(
        fixed_charge=D("5.00"),
        tax_percent=D("7.5"),
        late_fee=LateFeeRule(grace_days=10, percent=D("2"), fixed=D("1.00"), cap=D("20.00")),
    )
    units = D("12575.5") - D("12340.0")
    charges = Charges.issue(tariff, units)
    assert [line.amount for line in charges.lines] == [
        D("25.00"),
        D("75.00"),
        D("102.60"),
        D("5.00"),
        D("15.57"),
    ]
    assert (charges.total, tariff.average_rate(units)) == (D("223.17"), D("0.8603"))
    part = charges.pay(D("100.00"))
    due = date(2026, 4, 14)
    assert part.late_fee(tariff.late_fee, due_date=due, today=date(2026, 4, 24)) is None
    fee = part.late_fee(tariff.late_fee, due_date=due, today=date(2026, 4, 25))
    assert fee is not None and fee.amount == D("3.46")
    with_fee = part.add(Line(LineKind.LATE_FEE, fee.amount, fee_period=fee.fee_period, line_id=1))
    assert (with_fee.total, with_fee.outstanding) == (D("226.63"), D("126.63"))
    assert with_fee.add(with_fee.waive(with_fee.lines[-1])).total == D("223.17")
