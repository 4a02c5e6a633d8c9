"""The words for a bill's lines (a Line carries kind, units, rate, band, percent and amount,
never a sentence): one label per line, used by the statement PDF, /bills, the staff views
and the lines export."""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

from domain.billing import Line, LineKind
from domain.money import Currency
from handlers.render.formatting import month_label, rate_text, units_text


def percent_text(percent: Decimal) -> str:
    """``7.5%``: no trailing zeros."""
    text = f"{percent:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def band_text(line: Line) -> str:
    """The band an energy line was charged in: ``0–50 kWh``, ``above 150 kWh``; empty for
    the one band of a flat tariff (from 0, open-ended)."""
    low = line.band_from_kwh or Decimal(0)
    if line.band_to_kwh is None:
        return "" if low == 0 else f"above {units_text(low)} kWh"
    return f"{units_text(low)}–{units_text(line.band_to_kwh)} kWh"


def line_label(line: Line, currency: Currency) -> str:
    """What a line is, in words: ``Energy 0–50 kWh: 50 kWh × ₦10.00``, ``Fixed charge``,
    ``Tax 7.5%``, ``Late fee (Oct 2026)``, ``Late fee waived``, ``Correction``."""
    kind = line.kind
    if kind is LineKind.ENERGY:
        band = band_text(line)
        head = f"Energy {band}" if band else "Energy"
        if line.units is not None and line.rate is not None:
            return f"{head}: {units_text(line.units)} kWh × {rate_text(line.rate, currency)}"
        return head
    if kind is LineKind.FIXED:
        return "Fixed charge"
    if kind is LineKind.TAX:
        return f"Tax {percent_text(line.percent)}" if line.percent is not None else "Tax"
    if kind is LineKind.LATE_FEE:
        rule = f" {percent_text(line.percent)}" if line.percent else ""
        period = f" ({month_label(line.fee_period)})" if line.fee_period else ""
        return f"Late fee{rule}{period}"
    if kind is LineKind.WAIVER:
        return "Late fee waived" + (f": {line.note}" if line.note else "")
    return "Correction" + (f": {line.note}" if line.note else "")


def shows_lines(lines: Sequence[Line]) -> bool:
    """Whether a bill's lines say more than ``units × rate``: more than one line."""
    return len(lines) > 1


def lines_text(lines: Sequence[Line], currency: Currency) -> list[str]:
    """One plain-text row per line: ``Tax 7.5%: ₦337.50`` (escape before putting in HTML)."""
    return [f"{line_label(line, currency)}: {currency.format(line.amount)}" for line in lines]


def lines_html(lines: Sequence[Line], currency: Currency) -> str:
    """A bill's lines for a chat message, one ``• label: amount`` row each (escaped)."""
    return "\n".join(f"• {html.escape(row, quote=False)}" for row in lines_text(lines, currency))
