"""The staff's notice of a daily recount, without a database: each report's net change, the
months and days it touched, and nothing about a report that was right."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.config import load_config
from domain.report_totals import BILL_TOTALS, CUSTOMER_BALANCES, PAYMENT_TOTALS, Drift
from handlers.notifications import recount_notice_text

CONFIG = load_config(
    environ={
        "DATABASE_URL": "mysql://a:b@127.0.0.1:3306/billing",
        "CUSTOMER_DATABASE_URL": "mysql://c:d@127.0.0.1:3306/billing",
    },
    env_file=None,
)


def bill_totals(month: int, **change: str) -> Drift:
    figures = ("bills", "units_used", "billed", "collected", "open_bills", "owed")
    kept = {name: Decimal("0") for name in figures}
    return Drift(
        BILL_TOTALS,
        {"billing_month": date(2026, month, 1), "due_date": date(2026, month, 28)},
        kept,
        {name: Decimal(change.get(name, "0")) for name in figures},
    )


def test_a_recount_notice_names_each_report_its_change_and_where() -> None:
    """Bills deleted by hand in seven months (two shown per month, one per customer) and a
    payment deleted by hand: every report line says what changed, signed."""
    drift = [bill_totals(m, bills="-1", billed="-10.00", open_bills="-1", owed="-10.00")
             for m in range(1, 8)]  # fmt: skip
    drift.append(
        Drift(
            PAYMENT_TOTALS,
            {"payment_date": date(2026, 3, 5), "payment_method": "cash"},
            {"payments": Decimal("2"), "amount": Decimal("1500.00")},
            {"payments": Decimal("1"), "amount": Decimal("500.00")},
        )
    )
    drift += [
        Drift(
            CUSTOMER_BALANCES,
            {"customer_id": n},
            {"open_bills": Decimal("1"), "owed": Decimal("10.00")},
            {"open_bills": Decimal("0"), "owed": Decimal("0.00")},
        )
        for n in (1, 2)
    ]
    text = recount_notice_text(drift, CONFIG)
    assert "/outstanding -₦70.00, -7 open bills" in text, text
    assert (
        "/trend billed -₦70.00 on -7 bills, collected ₦0.00 "
        "(Jan 2026, Feb 2026, Mar 2026, Apr 2026, May 2026, Jun 2026 …)" in text
    ), text
    assert "/revenue -₦1,000.00, -1 payment (05 Mar 2026)" in text, text
    assert "2 customer balances (top debtors)" in text, text


def test_a_recount_notice_leaves_out_the_reports_that_were_right() -> None:
    text = recount_notice_text([bill_totals(9, bills="1", billed="5.00")], CONFIG)
    assert "/trend billed +₦5.00 on +1 bill, collected ₦0.00 (Sep 2026)" in text, text
    assert "/revenue" not in text and "customer balance" not in text
