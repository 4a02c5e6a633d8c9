"""Money without a database: what people may type, half-up rounding, formatting for people."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidAmount, WrongCurrency
from domain.money import (
    MAX_AMOUNT,
    Currency,
    bill_total,
    parse_amount,
    parse_decimal,
    to_cents,
)

NAIRA = Currency("NGN", "₦")


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("1500", Decimal("1500")),
        ("1500.5", Decimal("1500.5")),
        ("1,500.50", Decimal("1500.50")),
        ("₦1,500", Decimal("1500")),
        ("₦ 1,500.05", Decimal("1500.05")),
        ("NGN 2,000", Decimal("2000")),
        ("  12.30  ", Decimal("12.30")),
        ("1,234,567.89", Decimal("1234567.89")),
        ("0.01", Decimal("0.01")),
        ("9999999999.99", MAX_AMOUNT),
        ("１５００", Decimal("1500")),  # full-width digits are the same digits after NFKC
    ],
)
def test_parse_amount_accepts_plain_grouped_and_currency_prefixed_amounts(
    typed: str, amount: Decimal
) -> None:
    """Amounts typed the usual ways are read as the exact Decimal meant."""
    parsed = parse_amount(typed, currency=NAIRA)
    assert parsed == amount
    assert isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    "typed",
    [
        "1.000,00",  # European grouping: ambiguous
        "1,50",  # a comma that is not a thousands separator
        "1e9",
        "NaN",
        "Infinity",
        "-0",
        "-5",
        "₦-5",
        "−5",  # U+2212 MINUS SIGN, as some phone keyboards type it
        "–5",  # U+2013 EN DASH, what "smart punctuation" turns a hyphen into
        "0.001",
        "0",
        "0.00",
        "١٥٠٠",  # Arabic-Indic digits
        "۱۵۰۰",  # Extended Arabic-Indic (Persian) digits
        "",
        "   ",
        "+5",
        "1 500",
        "10000000000",
        "five",
    ],
)
def test_parse_amount_refuses_ambiguous_negative_zero_and_foreign_digit_input(typed: str) -> None:
    """Anything that is not clearly a positive amount in whole cents is refused."""
    with pytest.raises(InvalidAmount):
        parse_amount(typed, currency=NAIRA)


@pytest.mark.parametrize("typed", ["-5", "−5", "–5", "₦-5", "-0"])
def test_a_negative_amount_is_refused_with_the_greater_than_zero_message(typed: str) -> None:
    """A minus sign, however it is typed, gets the message that explains the real problem."""
    with pytest.raises(InvalidAmount, match="greater than zero"):
        parse_amount(typed, currency=NAIRA)


@given(st.integers(min_value=1, max_value=int(MAX_AMOUNT * 100)))
def test_parse_amount_reads_back_every_amount_it_formats(cents: int) -> None:
    """Whatever the bot shows with thousands separators, a person can type back unchanged."""
    amount = Decimal(cents) / 100
    assert parse_amount(NAIRA.format(amount), currency=NAIRA) == amount
    assert parse_amount(NAIRA.format_with_code(amount), currency=NAIRA) == amount
    assert parse_amount(f"{amount:.2f}", currency=NAIRA) == amount


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        ("0.125", "0.13"),
        ("0.005", "0.01"),
        ("0.015", "0.02"),
        ("2.675", "2.68"),  # 2.675 is below half as a float; as a Decimal it is exactly half
        ("0.004999", "0.00"),
        ("-0.125", "-0.13"),  # half away from zero, as MySQL rounds
        ("1234.5", "1234.50"),
    ],
)
def test_to_cents_rounds_half_up_like_mysql_not_half_even(value: str, cents: str) -> None:
    """Halves go away from zero (Python's default half-even would give 0.12 and 0.00)."""
    rounded = to_cents(Decimal(value))
    assert rounded == Decimal(cents)
    assert rounded.as_tuple().exponent == -2


def test_bill_total_is_units_times_rate_rounded_half_up_to_the_cent() -> None:
    """``100 × 1.2345 = 123.45`` exactly, and ``0.5 × 0.0125 = 0.00625`` becomes 0.01."""
    assert bill_total(Decimal("100"), Decimal("1.2345")) == Decimal("123.45")
    assert bill_total(Decimal("0.50"), Decimal("0.0125")) == Decimal("0.01")
    assert bill_total(Decimal("33.33"), Decimal("3.0015")) == Decimal("100.04")


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "₦0.00"),
        ("5", "₦5.00"),
        ("999.999", "₦1,000.00"),
        ("1234.5", "₦1,234.50"),
        ("1234567.891", "₦1,234,567.89"),
        ("9999999999.99", "₦9,999,999,999.99"),
        ("-5", "-₦5.00"),
        ("-1234.565", "-₦1,234.57"),
    ],
)
def test_currency_format_shows_the_sign_thousands_separators_and_two_decimals(
    amount: str, shown: str
) -> None:
    """Amounts for people: symbol first, commas between thousands, always two decimals."""
    assert NAIRA.format(Decimal(amount)) == shown


def test_currency_format_with_code_puts_the_iso_code_before_the_amount() -> None:
    """Documents show ``NGN ₦1,500.00`` so the currency is unmistakable."""
    assert NAIRA.format_with_code(Decimal("1500")) == "NGN ₦1,500.00"
    assert Currency("USD", "$").format_with_code(Decimal("0.5")) == "USD $0.50"


@pytest.mark.parametrize(
    ("typed", "places", "value"),
    [
        ("120", 2, Decimal("120")),
        ("120.5", 2, Decimal("120.5")),
        ("1,234.56", 2, Decimal("1234.56")),
        ("1,234,567", 2, Decimal("1234567")),
        ("52.4000", 4, Decimal("52.4000")),
        ("0.0125", 4, Decimal("0.0125")),
    ],
)
def test_parse_decimal_reads_units_and_rates_with_thousands_separators(
    typed: str, places: int, value: Decimal
) -> None:
    """Units and rates may be typed plain or with commas between thousands."""
    assert parse_decimal(typed, places=places, what="rate", maximum=Decimal("9999999.99")) == value


@pytest.mark.parametrize(
    ("typed", "places"),
    [
        ("52,4", 4),  # a decimal comma: reading it as 524 would bill ten times too much
        ("0,0125", 4),  # would be read as 125
        ("1,5", 2),
        ("12,34", 2),
        ("1.000,5", 4),  # European grouping: would be read as 1.0005
        ("1,2345,678", 2),
        ("1.001", 2),  # too many decimals
        ("0", 2),
        ("-3", 2),
        ("", 2),
        ("1e3", 2),
        ("١٢٠", 2),
    ],
)
def test_parse_decimal_refuses_decimal_commas_and_anything_ambiguous(
    typed: str, places: int
) -> None:
    """A comma that is not a thousands separator is refused, never silently dropped."""
    with pytest.raises(InvalidAmount):
        parse_decimal(typed, places=places, what="rate", maximum=Decimal("9999999.99"))


def test_parse_decimal_refuses_values_above_the_maximum() -> None:
    """The column's limit is checked with a message naming what was typed."""
    with pytest.raises(InvalidAmount, match="rate is too large"):
        parse_decimal("100000", places=4, what="rate", maximum=Decimal("99999.9999"))


def test_only_a_currency_sign_or_three_letter_code_may_lead_an_amount() -> None:
    """'₦1,500' and 'NGN 1500' read as 1500; 'abcd5' and 'x5' are refused, not read as 5."""
    assert parse_amount("₦1,500", currency=NAIRA) == Decimal("1500")
    assert parse_amount("₦ 12.50", currency=NAIRA) == Decimal("12.50")
    assert parse_amount("NGN 1500", currency=NAIRA) == Decimal("1500")
    for text in ("abcd5", "x5", "NGNN5", "ab 5"):
        with pytest.raises(InvalidAmount):
            parse_amount(text, currency=NAIRA)


@pytest.mark.parametrize(
    ("typed", "marker"),
    [
        ("USD 7", "USD"),
        ("$7", "$"),
        ("€7", "€"),
        ("EUR 7", "EUR"),
        ("usd7", "usd"),
        ("US$ 7", "US$"),
        ("£7.50", "£"),
        ("7 USD", "USD"),
        ("7€", "€"),
        ("€5,00", "€"),
        ("NGN $7", "NGN $"),
    ],
)
def test_an_amount_in_another_currency_is_refused_not_read_as_naira(
    typed: str, marker: str
) -> None:
    """'$7' is not ₦7.00: the other currency's code or sign, as typed, comes back with the
    configured code, for the handler to say which currency it takes."""
    with pytest.raises(WrongCurrency) as refused:
        parse_amount(typed, currency=NAIRA)
    assert (refused.value.typed, refused.value.expected) == (marker, "NGN")


@pytest.mark.parametrize(
    ("typed", "amount"),
    [
        ("₦7", Decimal("7")),
        ("NGN 7", Decimal("7")),
        ("ngn7", Decimal("7")),
        ("7", Decimal("7")),
        ("1,500.50", Decimal("1500.50")),
        ("NGN ₦1,500.50", Decimal("1500.50")),
        ("7 NGN", Decimal("7")),
        ("7₦", Decimal("7")),
    ],
)
def test_the_configured_currency_code_or_sign_or_none_is_accepted(
    typed: str, amount: Decimal
) -> None:
    """The utility's own code or sign, before or after the number, or none at all."""
    assert parse_amount(typed, currency=NAIRA) == amount


def test_the_currency_accepted_is_the_configured_one() -> None:
    """With dollars configured, '$7' and 'USD 7' are 7 and '₦7' is the foreign one."""
    dollars = Currency("USD", "$")
    assert parse_amount("$7", currency=dollars) == Decimal("7")
    assert parse_amount("USD 7", currency=dollars) == Decimal("7")
    with pytest.raises(WrongCurrency, match="Amounts are in USD"):
        parse_amount("₦7", currency=dollars)
    assert parse_amount("KSh 1,000", currency=Currency("KES", "KSh")) == Decimal("1000")
