"""The words people read for the money errors (issue 15): the domain raises figures as
Decimals, handlers/words.explain says them with the configured currency. No database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from domain.billrun import BillRunResult
from domain.claims import ClaimExceedsOutstanding, ClaimNotFound
from domain.errors import (
    AmountExceedsBalance,
    BillNotFound,
    CardAmountOutOfBounds,
    CommitOutcomeUnknown,
    CreditRefundRefused,
    DatabaseUnavailable,
    DomainError,
    InsufficientCredit,
    InvalidAmount,
    InvoiceRefused,
    PaymentOutcomeUnknown,
    RefundExceedsCredit,
    TotalBelowPaid,
    WrongCurrency,
)
from domain.money import Currency
from domain.readings import Consumption, MonthReading
from handlers.admin_billrun import summary_text
from handlers.admin_readings import units_text
from handlers.words import explain

NAIRA = Currency("NGN", "₦")
RAND = Currency("ZAR", "R")
D = Decimal


@pytest.mark.parametrize(
    ("error", "figures"),
    [
        (AmountExceedsBalance(D("1234.5")), ["1,234.50"]),
        (InsufficientCredit(D("20.00")), ["20.00"]),
        (TotalBelowPaid(D("50.00")), ["50.00"]),
        (RefundExceedsCredit(D("300.00")), ["300.00"]),
        (CardAmountOutOfBounds(D("412.00"), D("4120000.00")), ["412.00", "4,120,000.00"]),
        (InvoiceRefused("balance_changed", outstanding=D("500.00")), ["500.00"]),
        (
            ClaimExceedsOutstanding(claim_id=7, amount=D("900.00"), outstanding=D("150.25")),
            ["900.00", "150.25"],
        ),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, DomainError) else "",
)
@pytest.mark.parametrize("currency", [NAIRA, RAND], ids=["NGN", "ZAR"])
def test_every_money_error_shows_its_figures_in_the_configured_currency(
    error: DomainError, figures: list[str], currency: Currency
) -> None:
    words = explain(error, currency)
    for figure in figures:
        assert f"{currency.symbol}{figure}" in words, words
    # The domain's own message has the bare figure (no currency): the handler's words differ.
    assert words != str(error)


def test_the_money_errors_carry_their_figures_as_decimals() -> None:
    assert AmountExceedsBalance(D("10.00")).outstanding == D("10.00")
    assert InsufficientCredit(D("20.00")).credit == D("20.00")
    assert TotalBelowPaid(D("50.00")).paid == D("50.00")
    refused = CardAmountOutOfBounds(D("412.00"), D("4120000.00"))
    assert (refused.minimum, refused.maximum) == (D("412.00"), D("4120000.00"))
    assert InvoiceRefused("balance_changed", outstanding=D("5.00")).outstanding == D("5.00")
    too_much = RefundExceedsCredit(D("300.00"))
    assert too_much.credit == D("300.00")
    # A refund of more than the credit is both a refused refund and a refused amount.
    assert isinstance(too_much, CreditRefundRefused) and isinstance(too_much, InvalidAmount)


def test_errors_without_figures_are_worded_without_any() -> None:
    assert explain(CardAmountOutOfBounds(None, None), RAND) == (
        "Card payments are not available in ZAR."
    )
    assert explain(InvoiceRefused("expired"), NAIRA).startswith("This invoice has expired")
    assert "less" in explain(InvoiceRefused("balance_changed"), NAIRA)
    assert explain(InvoiceRefused("no-such-check"), NAIRA) == (
        "This payment cannot go ahead — nothing was charged."
    )
    paid_meanwhile = ClaimExceedsOutstanding(claim_id=1, amount=D("5.00"), outstanding=D("0"))
    assert explain(paid_meanwhile, NAIRA) == "That bill is already paid."
    # A refused reason carries no credit: its message says what a reason needs.
    assert explain(CreditRefundRefused("Please give a reason."), NAIRA) == "Please give a reason."


def test_a_wrong_currency_names_the_configured_one() -> None:
    words = explain(WrongCurrency("USD", "NGN"), NAIRA)
    assert "NGN (₦)" in words and "“USD” is not NGN" in words and "₦1,500.50" in words


def test_an_unknown_outcome_is_never_worded_as_nothing_charged() -> None:
    unavailable = explain(DatabaseUnavailable(), NAIRA)
    unknown = explain(PaymentOutcomeUnknown(), NAIRA)
    assert "temporarily unavailable" in unavailable and "Nothing was charged" in unavailable
    assert "temporarily unavailable" in unknown and "Confirm again" in unknown
    assert "Nothing was charged" not in unknown
    assert "Nothing was charged" not in explain(CommitOutcomeUnknown(), NAIRA)


def test_other_errors_keep_the_domains_plain_message() -> None:
    assert explain(BillNotFound(), NAIRA) == "That bill could not be found."
    assert explain(ClaimNotFound(3), NAIRA) == "That payment claim could not be found."


def test_a_bill_run_summary_says_how_many_over_estimates_it_corrected() -> None:
    context: Any = SimpleNamespace(config=SimpleNamespace(currency=NAIRA))
    result = BillRunResult(date(2026, 10, 1), run_id=1, issued=3, total_billed=D("300"))
    assert "Over-estimates" not in summary_text(result, context)
    result.corrected = 2
    text = summary_text(result, context)
    assert "Over-estimates corrected: 2 earlier estimated bills brought down" in text


def test_staff_are_told_what_the_bill_run_makes_of_a_reading_after_an_estimate() -> None:
    oct_, sep, aug = date(2026, 10, 1), date(2026, 9, 1), date(2026, 8, 1)
    previous, estimate = MonthReading(aug, D("5000")), MonthReading(sep, D("5110.33"))
    above = Consumption(oct_, D("5300"), previous, D("300"), estimate=estimate)
    text = units_text(above)
    assert "Units: <b>300 kWh</b>" in text
    assert "Sep 2026 was estimated at 5110.33: the bill run bills 189.67 kWh for Oct" in text
    below = Consumption(oct_, D("5050"), previous, D("50"), estimate=estimate)
    assert "below Sep 2026's estimate of 5110.33: the bill run corrects" in units_text(below)
    assert "estimate" not in units_text(Consumption(oct_, D("5300"), previous, D("300")))
