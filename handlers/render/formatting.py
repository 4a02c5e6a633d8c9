"""Small formatters shared by the renderers: months, statuses, units, rates, local times."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal

from domain.models import PaymentStatus
from domain.money import Currency, to_cents

STATUS_WORDS = {
    PaymentStatus.UNPAID: "unpaid",
    PaymentStatus.PARTIAL: "partial",
    PaymentStatus.PAID: "paid",
}


def month_text(month: date) -> str:
    """A billing month as ``YYYY-MM``."""
    return f"{month:%Y-%m}"


def status_word(status: PaymentStatus) -> str:
    """A bill's status as one short word: ``unpaid``, ``partial`` or ``paid``."""
    return STATUS_WORDS[status]


def units_text(units: Decimal) -> str:
    """``1,234.5`` style: grouped, at most two decimals, no trailing zeros after the point."""
    text = f"{to_cents(units):,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rate_text(rate: Decimal, currency: Currency) -> str:
    """A tariff keeps up to four decimals (``₦68.5025``) but always shows at least two."""
    text = f"{rate:,.4f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{currency.symbol}{whole}.{fraction}"


def local_time_text(moment: datetime, timezone: tzinfo) -> str:
    """``2026-11-24 14:05 WAT`` in the utility's own time zone."""
    local = moment.astimezone(timezone)
    name = local.tzname() or ""
    offset = local.strftime("%z")
    zone = name if name and not name.startswith(("+", "-")) else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{local:%Y-%m-%d %H:%M} {zone}"


def local_date_text(moment: datetime, timezone: tzinfo) -> str:
    """``2026-11-24`` in the utility's own time zone."""
    return f"{moment.astimezone(timezone):%Y-%m-%d}"
