"""Small formatters shared by the renderers and handlers: months, days, due dates, units,
rates, local times. A status is shown by its own ``PaymentStatus.label``."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal

from domain.models import Bill
from domain.money import Currency, to_cents


def month_label(month: date) -> str:
    """A billing month as people read it, everywhere in the chat: ``Oct 2026``."""
    return f"{month:%b %Y}"


def month_key(month: date) -> str:
    """A billing month as typed and as files hold it: ``2026-10`` (CSV cells, file names)."""
    return f"{month:%Y-%m}"


def date_label(day: date) -> str:
    """A day as people read it: ``14 Nov 2026``."""
    return f"{day:%d %b %Y}"


def due_text(bill: Bill, today: date) -> str:
    """A bill's due date, flagged when money is still owed after it: ``14 Nov 2026
    (overdue)``. ``today`` is the utility's local date."""
    flag = " (overdue)" if bill.is_overdue(today) else ""
    return f"{date_label(bill.due_date)}{flag}"


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


def figures_text(bill: Bill, currency: Currency) -> str:
    """How a bill's total is made: ``250 units × ₦68.50 = ₦17,125.00``."""
    return (
        f"{units_text(bill.units_used)} units × {rate_text(bill.rate_per_unit, currency)} = "
        f"{currency.format(bill.total_amount)}"
    )


def local_date_text(moment: datetime, timezone: tzinfo) -> str:
    """``2026-11-24`` in the utility's own time zone."""
    return f"{moment.astimezone(timezone):%Y-%m-%d}"
