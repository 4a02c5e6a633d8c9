"""Tariffs as chat HTML for staff: the list (a phone-width table), one version's bands,
fixed charge, tax and late-fee rule, and a tariff's history."""

from __future__ import annotations

import html
from datetime import date
from decimal import Decimal

from domain.billing import Band, LateFeeRule, Tariff
from domain.money import Currency
from domain.tariffs import TariffHistory, TariffSummary
from handlers.render.formatting import date_label, month_label, rate_text, units_text
from handlers.render.tables import phone_table

HISTORY_SHOWN = 8  # earlier versions under the one in force


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def percent_text(percent: Decimal) -> str:
    """``7.50`` → ``7.5%``, ``100.00`` → ``100%``."""
    text = f"{percent:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def band_label(band: Band) -> str:
    """``0–50 kWh``, ``over 150 kWh``."""
    if band.to_kwh is None:
        return f"over {units_text(band.from_kwh)} kWh"
    return f"{units_text(band.from_kwh)}–{units_text(band.to_kwh)} kWh"


def late_fee_text(rule: LateFeeRule, currency: Currency) -> str:
    """``5% of the overdue balance + ₦2.00, at most ₦50.00, 10 days after the due date``."""
    if not rule.charges:
        return "no late fee"
    parts = []
    if rule.percent > 0:
        parts.append(f"{percent_text(rule.percent)} of the overdue balance")
    if rule.fixed > 0:
        parts.append(currency.format(rule.fixed))
    text = " + ".join(parts)
    if rule.cap is not None:
        text += f", at most {currency.format(rule.cap)}"
    days = rule.grace_days
    when = (
        "the day after the due date"
        if days == 0
        else f"{days} day{'s' if days != 1 else ''} after the due date"
    )
    return f"{text}, charged {when}"


def version_lines(version: Tariff, currency: Currency) -> list[str]:
    """A version's figures, one per line: each band, the fixed charge and tax, the late fee."""
    lines = [
        f"• {band_label(band)}: {rate_text(band.rate, currency)}/kWh" for band in version.bands
    ]
    lines.append(
        f"Fixed charge {currency.format(version.fixed_charge)} a month · "
        f"tax {percent_text(version.tax_percent)}"
    )
    lines.append(f"Late fee: {late_fee_text(version.late_fee, currency)}")
    return lines


def version_html(version: Tariff, currency: Currency, *, note: str = "") -> str:
    """One version under its starting day: ``From 01 Jan 2026 · in force``."""
    head = f"<b>From {date_label(version.effective_from)}</b>" + (f" · {note}" if note else "")
    return "\n".join([head, *(esc(line) for line in version_lines(version, currency))])


def compact_bands(bands: tuple[Band, ...], currency: Currency) -> str:
    """``0–50 ₦0.50 · 50–150 ₦0.75 · 150+ ₦1.20`` on one line."""
    return " · ".join(
        (
            f"{units_text(b.from_kwh)}+"
            if b.to_kwh is None
            else f"{units_text(b.from_kwh)}–{units_text(b.to_kwh)}"
        )
        + f" {rate_text(b.rate, currency)}"
        for b in bands
    )


def tariff_heading(code: str, name: str, customer_class: str) -> str:
    return f"<b>{esc(code)}</b> · {esc(name)} ({esc(customer_class)})"


def tariff_html(history: TariffHistory, currency: Currency, *, today: date) -> str:
    """/tariff <code>: the version in force, those to come, and the earlier ones."""
    current = history.in_force(today)
    upcoming = [v for v in history.versions if v.effective_from > today]
    earlier = [v for v in history.versions if v.effective_from <= today and v is not current]
    blocks = [tariff_heading(history.code, history.name, history.customer_class)]
    if current is not None:
        blocks.append(version_html(current, currency, note="in force"))
    else:
        blocks.append("No version is in force yet.")
    for version in reversed(upcoming):
        blocks.append(version_html(version, currency, note="upcoming"))
    if earlier:
        shown = earlier[:HISTORY_SHOWN]
        lines = ["<b>Earlier versions</b>"]
        for version in shown:
            lines.append(
                f"From {date_label(version.effective_from)}: "
                f"{esc(compact_bands(version.bands, currency))}; fixed "
                f"{esc(currency.format(version.fixed_charge))}, tax "
                f"{percent_text(version.tax_percent)}; late fee: "
                f"{esc(late_fee_text(version.late_fee, currency))}"
            )
        if len(earlier) > len(shown):
            lines.append(f"…and {len(earlier) - len(shown)} older.")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def tariffs_html(
    found: list[TariffSummary],
    *,
    flat_customers: int,
    default_rate: Decimal,
    currency: Currency,
    page: int,
    pages: int,
) -> str:
    """/tariffs: one page of tariffs (code, name, the month its version in force started,
    customers on it), then the flat default."""
    title = "<b>Tariffs</b>" + (f" (page {page + 1} of {pages})" if pages > 1 else "")
    flat = (
        f"Flat default {rate_text(default_rate, currency)}/kWh: {flat_customers} "
        f"customer{'s' if flat_customers != 1 else ''}."
    )
    if not found:
        return f"{title}\nNo tariffs yet: add one with /newtariff.\n{flat}"
    rows = [
        [
            t.code,
            t.name,
            month_label(t.in_force_from) if t.in_force_from else "upcoming",
            str(t.customers),
        ]
        for t in found
    ]
    table = phone_table(["Code", "Name", "Since", "Cust"], rows, shrink=1)
    return f"{title}\n{table}\n{flat}\nTap a code for its bands and history."
