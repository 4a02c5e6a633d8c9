"""The new-bill and corrected-bill notices, without a database (issue 15 §5): a bill that is
units × rate says so; a bill of several lines (bands, fixed charge, tax) never shows a
``units × rate = total`` that does not multiply out, and says where its lines are."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from bot.config import load_config
from domain.models import Bill, PaymentStatus
from handlers.notifications import corrected_bill_notice, new_bill_notice

CONFIG = load_config(
    environ={
        "DATABASE_URL": "mysql://a:b@127.0.0.1:3306/billing",
        "CUSTOMER_DATABASE_URL": "mysql://c:d@127.0.0.1:3306/billing",
    },
    env_file=None,
)
FLAT = Bill(
    bill_id=1,
    customer_id=1,
    billing_month=date(2026, 10, 1),
    units_used=Decimal("250"),
    rate_per_unit=Decimal("68.5"),
    total_amount=Decimal("17125.00"),
    amount_paid=Decimal("0.00"),
    payment_status=PaymentStatus.UNPAID,
    due_date=date(2026, 11, 14),
)
# Three bands (4,000.00 of energy: 20.00 a unit on average), a fixed charge and tax.
TIERED = replace(FLAT, units_used=Decimal("200"), rate_per_unit=Decimal("20"),
                 total_amount=Decimal("4837.50"))  # fmt: skip


def test_a_units_times_rate_bill_shows_its_product() -> None:
    text = new_bill_notice(7, FLAT, CONFIG).text
    assert "250 units × ₦68.50 = <b>₦17,125.00</b>" in text
    assert "New bill for Oct 2026" in text and "Due by 14 Nov 2026" in text


def test_a_bill_of_several_lines_shows_its_total_and_where_its_lines_are() -> None:
    new = new_bill_notice(7, TIERED, CONFIG).text
    corrected = corrected_bill_notice(7, TIERED, CONFIG).text
    for text in (new, corrected):
        assert "×" not in text
        assert "200 units, total <b>₦4,837.50</b>" in text
    assert "each line is on its statement" in new
    assert "/statement 2026-10 shows each line" in corrected
