"""Money: parsing what people type, rounding like the database, formatting for people."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.errors import InvalidAmount, WrongCurrency

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # DECIMAL(12,2)


def to_cents(value: Decimal) -> Decimal:
    """Quantize to 0.01 rounding half away from zero, as MySQL does when it stores DECIMAL."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def bill_total(units_used: Decimal, rate_per_unit: Decimal) -> Decimal:
    """``units × rate`` rounded to the cent (ROUND_HALF_UP)."""
    return to_cents(units_used * rate_per_unit)


_AMOUNT_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")
# Minus signs as phones type them (NFKC leaves U+2212 and the dashes alone): never mistaken
# for a currency sign, so "−5" is refused as negative instead of read as 5.
_MINUS_SIGNS = "-\u2212\u2010\u2011\u2012\u2013\u2014\u2015"
_CODE_RE = re.compile(r"^[A-Za-z]{3}$")
_GROUPED_RE = re.compile(r"^\d{1,3}(,\d{3})+(\.\d{1,2})?$")


def _names_a_currency(marker: str) -> bool:
    """A three-letter code (``USD``) or a short run with a currency sign (``$``, ``US$``)."""
    return bool(_CODE_RE.match(marker)) or (
        len(marker) <= 4 and any(unicodedata.category(ch) == "Sc" for ch in marker)
    )


def _without_currency(text: str, currency: Currency) -> str:
    """``text`` without the configured currency's code and/or sign before or after the number
    (``₦1,500``, ``NGN 1500``, ``NGN ₦1,500``, ``1500 NGN``).

    Another currency's code or sign is refused with :class:`WrongCurrency`: ``$7`` is not
    ``₦7``. Anything else around the number is left for the format check to refuse.
    """
    digits = [i for i, ch in enumerate(text) if unicodedata.category(ch) == "Nd"]
    if not digits or text.startswith(tuple(_MINUS_SIGNS)):
        return text  # not a number, or a negative one ("-₦5"): refused for that
    first, last = digits[0], digits[-1] + 1
    before = text[:first].rstrip()
    if before.endswith(tuple(_MINUS_SIGNS)):
        first = len(before) - 1  # "₦-5" is a negative amount in naira, refused as negative
    own = {
        "".join(unicodedata.normalize("NFKC", mark).split()).casefold()
        for mark in (currency.code, currency.symbol, currency.code + currency.symbol)
    }
    for around in (text[:first], text[last:]):
        marker = "".join(around.split())
        if not marker or marker.casefold() in own:
            continue
        if _names_a_currency(marker):
            raise WrongCurrency(typed=around.strip(), expected=currency.code)
        return text  # something else around the number: the format check refuses it all
    return text[first:last]


def parse_amount(text: str, *, currency: Currency) -> Decimal:
    """Read an amount a person typed in ``currency``: ``1500``, ``1500.5``, ``1,500.50``,
    ``₦1,500``, ``NGN 1500``.

    An amount in another currency (``$7``, ``USD 7``, ``€7``) raises :class:`WrongCurrency`;
    anything ambiguous or odd (``1.000,00``, ``1e9``, ``NaN``, ``-5``, ``0.001``, other
    scripts' digits) is refused with a message that says what to type instead.
    """
    cleaned = _without_currency(unicodedata.normalize("NFKC", text).strip(), currency)
    if cleaned.startswith(tuple(_MINUS_SIGNS)):
        raise InvalidAmount("The amount must be greater than zero.")
    if not cleaned.isascii():
        raise InvalidAmount("Please type the amount with the digits 0-9, e.g. 1500.50.")
    if _GROUPED_RE.match(cleaned):
        cleaned = cleaned.replace(",", "")
    if not _AMOUNT_RE.match(cleaned):
        raise InvalidAmount("Please type an amount like 1500 or 1500.50 (at most two decimals).")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise InvalidAmount("That is not an amount.") from exc
    if amount <= 0:
        raise InvalidAmount("The amount must be greater than zero.")
    if amount > MAX_AMOUNT:
        raise InvalidAmount("That amount is too large.")
    return amount


_THOUSANDS_RE = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")


@functools.cache
def _decimal_pattern(places: int) -> re.Pattern[str]:
    """A positive number of up to ten digits with at most ``places`` decimals."""
    return re.compile(rf"^\d{{1,10}}(\.\d{{1,{places}}})?$" if places else r"^\d{1,10}$")


def parse_decimal(text: str, *, places: int, what: str, maximum: Decimal) -> Decimal:
    """Read a positive decimal (units, a rate) with at most ``places`` decimals."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    # Commas only as thousands separators: "52,4" is a decimal comma, not 524.
    if "," in cleaned and _THOUSANDS_RE.match(cleaned):
        cleaned = cleaned.replace(",", "")
    if not cleaned.isascii() or not _decimal_pattern(places).match(cleaned):
        raise InvalidAmount(f"Please type the {what} as a number with at most {places} decimals.")
    value = Decimal(cleaned)
    if value <= 0:
        raise InvalidAmount(f"The {what} must be greater than zero.")
    if value > maximum:
        raise InvalidAmount(f"That {what} is too large.")
    return value


@dataclass(frozen=True)
class CardLimits:
    """What Telegram Payments takes in one currency: its exponent (decimal places of its
    smallest unit) and the smallest and largest invoice total, in that unit. From Telegram's
    currencies.json (about 1 and 10,000 US dollars' worth)."""

    exponent: int
    min_minor: int
    max_minor: int


# The currencies a utility using this bot is likely to bill in. A currency missing here gets
# no card payments (transfer claims and office payments still work).
CARD_LIMITS: dict[str, CardLimits] = {
    "NGN": CardLimits(2, 41_200, 412_000_000),
    "GHS": CardLimits(2, 1_100, 11_000_000),
    "KES": CardLimits(2, 12_900, 129_000_000),
    "ZAR": CardLimits(2, 1_800, 18_000_000),
    "USD": CardLimits(2, 100, 1_000_000),
    "EUR": CardLimits(2, 100, 1_000_000),
    "GBP": CardLimits(2, 100, 1_000_000),
    "INR": CardLimits(2, 8_500, 85_000_000),
    "JPY": CardLimits(0, 150, 1_500_000),
}


@dataclass(frozen=True)
class Currency:
    """The configured currency: ISO code and sign, e.g. ``NGN`` and ``₦``."""

    code: str
    symbol: str

    @property
    def card_limits(self) -> CardLimits | None:
        """Telegram's bounds for an invoice in this currency (None: no card payments)."""
        return CARD_LIMITS.get(self.code.upper())

    def to_minor(self, amount: Decimal) -> int:
        """An amount in the currency's smallest unit (kobo, cents), as invoices carry it."""
        limits = self.card_limits
        exponent = limits.exponent if limits else 2
        return int(to_cents(amount).scaleb(exponent).to_integral_value(rounding=ROUND_HALF_UP))

    def from_minor(self, minor: int) -> Decimal:
        """The amount of ``minor`` smallest units, to the cent."""
        limits = self.card_limits
        exponent = limits.exponent if limits else 2
        return to_cents(Decimal(minor).scaleb(-exponent))

    def format(self, amount: Decimal) -> str:
        """``₦1,234.50``; negative amounts as ``-₦5.00``."""
        cents = to_cents(amount)
        sign = "-" if cents < 0 else ""
        return f"{sign}{self.symbol}{abs(cents):,.2f}"

    def format_with_code(self, amount: Decimal) -> str:
        """``NGN ₦1,234.50`` — for documents where the code helps."""
        return f"{self.code} {self.format(amount)}"
