"""Tariffs as chat HTML, without Telegram or a database: the list fits a phone held upright,
a version reads as a clerk would say it, and names are escaped."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from domain.billing import Band, LateFeeRule, Tariff
from domain.money import Currency
from domain.tariffs import TariffHistory, TariffSummary
from handlers.render.tables import PHONE_WIDTH, text_width
from handlers.render.tariffs import late_fee_text, tariff_html, tariffs_html

NAIRA = Currency("NGN", "₦")


def version(start: date, *bands: Band, fixed: str = "0", tax: str = "0") -> Tariff:
    return Tariff(
        code="RES-T",
        name="Residential <tiered>",
        customer_class="residential",
        effective_from=start,
        bands=bands,
        fixed_charge=Decimal(fixed),
        tax_percent=Decimal(tax),
    )


TIERS = (
    Band(Decimal(0), Decimal(50), Decimal("0.5")),
    Band(Decimal(50), Decimal(150), Decimal("0.75")),
    Band(Decimal(150), None, Decimal("1.2")),
)


def test_the_tariff_list_is_a_table_that_fits_a_phone() -> None:
    found = [
        TariffSummary(
            1, "RES-T", "Residential tiered & more", "residential", date(2026, 1, 1), 2, 1234
        ),
        TariffSummary(2, "COM-1", "Commercial", "commercial", None, 1, 0),
    ]
    text = tariffs_html(
        found, flat_customers=1, default_rate=Decimal("68.5"), currency=NAIRA, page=0, pages=2
    )
    table = re.search(r"<pre>(.*)</pre>", text, re.DOTALL)
    assert table is not None, text
    for line in table.group(1).splitlines():
        assert text_width(line) <= PHONE_WIDTH, line
    assert "Residential" in table.group(1)  # cut to fit, not dropped
    assert "upcoming" in table.group(1) and "Jan 2026" in table.group(1)
    assert "(page 1 of 2)" in text
    assert "Flat default ₦68.50/kWh: 1 customer." in text
    # A code too long for the columns: each tariff becomes a card instead.
    long = [TariffSummary(3, "C" * 32, "Commercial", "commercial", None, 1, 0)]
    cards = tariffs_html(
        long, flat_customers=0, default_rate=Decimal(1), currency=NAIRA, page=0, pages=1
    )
    assert "<pre>" not in cards and f"Code: {'C' * 32}" in cards


def test_a_tariff_shows_its_version_in_force_the_next_and_the_earlier_escaped() -> None:
    history = TariffHistory(
        1,
        "RES-T",
        "Residential <tiered>",
        "residential",
        (
            version(date(2099, 1, 1), Band(Decimal(0), None, Decimal(2))),
            version(
                date(2026, 1, 1),
                *TIERS,
                fixed="5.00",
                tax="7.50",
            ),
            version(date(2025, 1, 1), Band(Decimal(0), None, Decimal("0.9"))),
        ),
    )
    text = tariff_html(history, NAIRA, today=date(2026, 12, 3))
    assert "Residential &lt;tiered&gt;" in text and "<tiered>" not in text
    in_force = text.index("From 01 Jan 2026</b> · in force")
    upcoming = text.index("From 01 Jan 2099</b> · upcoming")
    earlier = text.index("From 01 Jan 2025: 0+ ₦0.90; fixed ₦0.00, tax 0%; late fee: no late fee")
    assert in_force < upcoming < earlier
    assert "• 50–150 kWh: ₦0.75/kWh" in text and "• over 150 kWh: ₦1.20/kWh" in text
    assert "Fixed charge ₦5.00 a month · tax 7.5%" in text


def test_a_late_fee_rule_is_said_in_words() -> None:
    assert late_fee_text(LateFeeRule(), NAIRA) == "no late fee"
    rule = LateFeeRule(10, Decimal("5.00"), Decimal("2.00"), Decimal("50.00"))
    assert late_fee_text(rule, NAIRA) == (
        "5% of the overdue balance + ₦2.00, at most ₦50.00, charged 10 days after the due date"
    )
    assert late_fee_text(LateFeeRule(0, fixed=Decimal("3")), NAIRA) == (
        "₦3.00, charged the day after the due date"
    )
