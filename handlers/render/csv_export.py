"""Reports as CSV files: UTF-8, a header row, amounts as plain ``1234.50``.

Amounts carry no currency sign or thousands separator, so ``Decimal(cell)`` reads them back
exactly. Each file is one table; reports with several parts say which part a row belongs to
in a ``section`` column.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

from domain.models import PaymentMethod
from domain.money import Currency, to_cents
from domain.reports import (
    AGEING_BUCKETS,
    AGEING_LABELS,
    OutstandingReport,
    RevenueReport,
    TrendMonth,
)
from domain.statements import ExportLine
from handlers.render.bill_lines import line_label
from handlers.render.formatting import month_key

# A cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def plain(amount: Decimal) -> str:
    """``1234.5`` → ``1234.50``: two decimals, no sign of currency, no separators."""
    return f"{to_cents(amount):.2f}"


def safe_text(text: str) -> str:
    """Free text (names, meters) made inert for spreadsheets: ``=cmd`` → ``'=cmd``."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _csv(header: Sequence[str], rows: Iterable[Sequence[str | int]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _method_label(key: str) -> str:
    try:
        return PaymentMethod(key).label
    except ValueError:
        return key


def revenue_csv(report: RevenueReport) -> bytes:
    """Columns section, key, label, payments, amount; one total row, then methods, months."""
    if report.start is None and report.end is None:
        period = "All time"
    else:
        start = report.start.isoformat() if report.start else ""
        end = report.end.isoformat() if report.end else ""
        period = f"{start} to {end}"
    rows: list[Sequence[str | int]] = [
        ("total", "all", period, report.payments, plain(report.total))
    ]
    rows += [
        ("method", line.key, _method_label(line.key), line.payments, plain(line.total))
        for line in report.by_method
    ]
    rows += [
        ("month", line.key, line.key, line.payments, plain(line.total)) for line in report.by_month
    ]
    return _csv(("section", "key", "label", "payments", "amount"), rows)


def outstanding_csv(report: OutstandingReport) -> bytes:
    """Columns section, key, label, bills, customers, amount: total, ageing, top debtors."""
    rows: list[Sequence[str | int]] = [
        (
            "total",
            report.as_of.isoformat(),
            "Outstanding",
            report.bills,
            report.customers,
            plain(report.total),
        )
    ]
    rows += [
        (
            "ageing",
            bucket,
            AGEING_LABELS[bucket],
            "",
            "",
            plain(report.ageing.get(bucket, Decimal(0))),
        )
        for bucket in AGEING_BUCKETS
    ]
    rows += [
        (
            "debtor",
            safe_text(debtor.meter_number),
            safe_text(debtor.full_name),
            debtor.bills,
            "",
            plain(debtor.owed),
        )
        for debtor in report.top_debtors
    ]
    return _csv(("section", "key", "label", "bills", "customers", "amount"), rows)


def trend_csv(months: Sequence[TrendMonth]) -> bytes:
    """Columns month, units, billed, collected, collection_rate (percent; empty for a month
    with no bills), bills."""
    return _csv(
        ("month", "units", "billed", "collected", "collection_rate", "bills"),
        (
            (
                month_key(month.billing_month),
                plain(month.units),
                plain(month.billed),
                plain(month.collected),
                "" if month.collection_rate is None else str(month.collection_rate),
                month.bills,
            )
            for month in months
        ),
    )


LINES_HEADER = (
    "bill_id",
    "meter_number",
    "full_name",
    "billing_month",
    "kind",
    "description",
    "band_from_kwh",
    "band_to_kwh",
    "units",
    "rate",
    "percent",
    "amount",
    "bill_total",
)


def bill_lines_csv(lines: Sequence[ExportLine], currency: Currency) -> bytes:
    """One row per bill line: the bill, its meter, customer and month, the line's kind and
    words, its band, units, rate, percent and amount (plain figures, empty when not
    applicable), and the bill's total (the sum of its lines)."""

    def number(value: Decimal | None) -> str:
        return "" if value is None else f"{value:f}"

    return _csv(
        LINES_HEADER,
        (
            (
                item.bill_id,
                safe_text(item.meter_number),
                safe_text(item.full_name),
                month_key(item.billing_month),
                item.line.kind.value,
                safe_text(line_label(item.line, currency)),
                number(item.line.band_from_kwh),
                number(item.line.band_to_kwh),
                number(item.line.units),
                number(item.line.rate),
                number(item.line.percent),
                plain(item.line.amount),
                plain(item.bill_total),
            )
            for item in lines
        ),
    )
