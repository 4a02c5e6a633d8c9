"""Lists and reports as chat HTML that fits a phone held upright.

A table goes into a ``<pre>`` block only if every line fits ``width`` monospace characters
(about 34 on a phone); otherwise each row becomes a card of ``Header: value`` lines in the
normal proportional font, which Telegram wraps by itself.

Cells are strings formatted here (money through ``Currency.format``) and tabulate is told not
to parse numbers: it would turn ``"1500.00"`` into ``1500`` and ``"18.50"`` into ``18.5``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, timedelta, tzinfo
from decimal import Decimal
from typing import Literal, TypeVar

from tabulate import DataRow, TableFormat, tabulate

from domain.billing import Line
from domain.bills import BillWithCustomer
from domain.models import Bill, Customer, Page, Payment, PaymentMethod
from domain.money import Currency
from domain.payments import PaymentWithCustomer
from domain.reports import (
    AGEING_BUCKETS,
    AGEING_LABELS,
    OutstandingReport,
    RevenueReport,
    TrendMonth,
)
from handlers.render.bill_lines import lines_html, shows_lines
from handlers.render.formatting import (
    date_label,
    due_text,
    figures_text,
    local_date_text,
    month_label,
    units_text,
)

T = TypeVar("T")
Align = Literal["left", "right"]

PHONE_WIDTH = 34
MIN_SHRUNK_WIDTH = 10  # a name cut shorter than this is no longer recognisable
CARD_VALUE_LIMIT = 64
# An amount or count as shown: an optional minus and currency sign, digits with separators,
# optional decimals and percent sign ("₦1,234.50", "-₦5.00", "87.5%", "12").
_NUMBER = re.compile(r"^-?[^\d\s.,-]{0,3}\d[\d,]*(\.\d+)?%?$")
_INSTANT = timedelta(microseconds=1)
_ZERO = Decimal("0.00")
NO_FIGURE = "—"  # a month with no bills: no figures, rather than zeros

# tabulate's "plain" layout with one space between columns instead of two: two more
# characters for the data on a 34-character line.
COMPACT = TableFormat(
    lineabove=None,
    linebelowheader=None,
    linebetweenrows=None,
    linebelow=None,
    headerrow=DataRow("", " ", ""),
    datarow=DataRow("", " ", ""),
    padding=0,
    with_header_hide=None,
)


# Text measuring


def text_width(text: str) -> int:
    """Monospace columns ``text`` may take: wide (CJK) characters count two.

    Combining marks count one although they take none, so a measured line is never narrower
    than tabulate (which counts code points) laid it out.
    """
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` columns, ending in ``…`` if anything was cut."""
    if text_width(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        char_width = text_width(char)
        if used + char_width > limit - 1:
            break
        kept.append(char)
        used += char_width
    return "".join(kept).rstrip() + "…"


def _clean(cell: str) -> str:
    # A newline or tab inside a cell would break the table's lines apart.
    return " ".join(str(cell).split())


# The generic table


def phone_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int = PHONE_WIDTH,
    align: Sequence[Align] | None = None,
    shrink: int | None = None,
) -> str:
    """HTML for Telegram: a ``<pre>`` table if it fits ``width`` columns, else cards.

    ``align`` gives each column's alignment; by default columns of amounts and numbers are
    right-aligned and the rest left. ``shrink`` names one column (a name, say) whose values
    may be cut with ``…`` to make the table fit before falling back to cards. Every cell is
    escaped.
    """
    clean_headers = [_clean(h) for h in headers]
    clean_rows = [[_clean(c) for c in row] for row in rows]
    aligns: list[Align] = (
        list(align)
        if align is not None
        else [_default_align([row[i] for row in clean_rows]) for i in range(len(clean_headers))]
    )

    table = _tabulate(clean_headers, clean_rows, aligns)
    excess = _table_width(table) - width
    if excess > 0 and shrink is not None:
        column = [clean_headers[shrink], *(row[shrink] for row in clean_rows)]
        limit = max(text_width(value) for value in column) - excess
        if limit >= MIN_SHRUNK_WIDTH:
            clean_headers[shrink] = shorten(clean_headers[shrink], limit)
            for row in clean_rows:
                row[shrink] = shorten(row[shrink], limit)
            table = _tabulate(clean_headers, clean_rows, aligns)
            excess = _table_width(table) - width
    if excess <= 0:
        # Escaped after layout: escaping first would pad by the length of "&amp;", not "&".
        return f"<pre>{html.escape(table, quote=False)}</pre>"
    return cards(headers, rows)


def cards(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """One card per row: ``Header: value`` lines (the first in bold), a blank line between."""
    blocks = []
    for row in rows:
        lines = [
            f"{html.escape(_clean(header), quote=False)}: "
            f"{html.escape(shorten(_clean(value), CARD_VALUE_LIMIT), quote=False)}"
            for header, value in zip(headers, row, strict=True)
        ]
        if lines:
            lines[0] = f"<b>{lines[0]}</b>"
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _default_align(column: list[str]) -> Align:
    values = [value for value in column if value]
    return "right" if values and all(_NUMBER.match(value) for value in values) else "left"


def _tabulate(headers: list[str], rows: list[list[str]], aligns: list[Align]) -> str:
    # The header and its rule go in as data rows: tabulate pads real headers by two spaces
    # (MIN_PADDING), which on a phone is two characters of data lost per column. Widths are
    # in code points, as tabulate counts them.
    widths = [max(len(value) for value in column) for column in zip(headers, *rows, strict=True)]
    rule = ["-" * width for width in widths]
    text = tabulate(
        [headers, rule, *rows],
        tablefmt=COMPACT,
        disable_numparse=True,
        colalign=aligns,
    )
    return "\n".join(line.rstrip() for line in text.splitlines())


def _table_width(table: str) -> int:
    return max((text_width(line) for line in table.splitlines()), default=0)


# Pieces shared by the lists and reports


def _title(text: str) -> str:
    return f"<b>{html.escape(text, quote=False)}</b>"


def _items(records: Page[T] | Sequence[T]) -> list[T]:
    return list(records.items) if isinstance(records, Page) else list(records)


def _page_line(records: Page[T] | Sequence[T], noun: str) -> str | None:
    if not isinstance(records, Page) or records.pages <= 1:
        return None
    return f"Page {records.page + 1} of {records.pages} · {records.total} {noun}"


def _message(*parts: str | None) -> str:
    return "\n".join(part for part in parts if part is not None)


def _method_label(method: str) -> str:
    try:
        return PaymentMethod(method).label
    except ValueError:
        return method


def _month_of_key(key: str) -> str:
    """A report's ``YYYY-MM`` key as the month people read (``Oct 2026``)."""
    try:
        return month_label(date.fromisoformat(f"{key}-01"))
    except ValueError:
        return key


def _amount(payment: Payment, currency: Currency) -> str:
    amount = currency.format(payment.amount_paid)
    return f"{amount} void" if payment.is_void else amount


# Lists


def customer_bills_html(
    bills: Page[Bill] | Sequence[Bill],
    currency: Currency,
    *,
    today: date,
    title: str = "Your bills",
    lines: Mapping[int, Sequence[Line]] | None = None,
) -> str:
    """A customer's bills, one short block each: month and status (flagged when overdue on
    ``today``, the utility's local date), units × rate = total — or, for a bill of several
    ``lines`` (bands, fixed charge, tax, late fee…), each line and the total — balance and
    due date.

    Blocks rather than a table: six figures a bill do not fit a phone's width, and
    ``Header: value`` cards would take seven lines a bill."""
    items = _items(bills)
    if not items:
        return _message(_title(title), "No bills to show.")
    blocks = []
    for bill in items:
        head = f"<b>{month_label(bill.billing_month)}</b> · {bill.payment_status.label}"
        if bill.is_overdue(today):
            head += " · ⚠️ <b>overdue</b>"
        own = (lines or {}).get(bill.bill_id, ())
        if shows_lines(own):
            money = (
                f"{lines_html(own, currency)}\n"
                f"Total {html.escape(currency.format(bill.total_amount), quote=False)}"
            )
        else:
            money = html.escape(figures_text(bill, currency), quote=False)
        balance = f"Balance {html.escape(currency.format(bill.outstanding), quote=False)}"
        if bill.outstanding > 0:
            balance += f" · due {date_label(bill.due_date)}"
        blocks.append("\n".join((head, money, balance)))
    return _message(_title(title), "", "\n\n".join(blocks), _page_line(bills, "bills"))


def admin_bills_html(
    bills: Page[BillWithCustomer] | Sequence[BillWithCustomer],
    currency: Currency,
    *,
    today: date,
    title: str = "Bills",
) -> str:
    """Bills across customers: bill id (for /editbill), meter, month, outstanding, status,
    due date (flagged when overdue on ``today``), name."""
    items = _items(bills)
    if not items:
        return _message(_title(title), "No bills to show.")
    table = phone_table(
        ("Bill", "Meter", "Month", "Outstanding", "Status", "Due", "Name"),
        [
            (
                str(item.bill.bill_id),
                item.meter_number,
                month_label(item.bill.billing_month),
                currency.format(item.bill.outstanding),
                item.bill.payment_status.label,
                due_text(item.bill, today),
                item.full_name,
            )
            for item in items
        ],
        align=("right", "left", "left", "right", "left", "left", "left"),
        shrink=6,
    )
    return _message(_title(title), table, _page_line(bills, "bills"))


def payments_html(
    payments: Page[Payment] | Sequence[Payment],
    currency: Currency,
    *,
    timezone: tzinfo,
    title: str = "Your payments",
) -> str:
    """A customer's payments: date (local), amount (``void`` if voided), method, receipt."""
    items = _items(payments)
    if not items:
        return _message(_title(title), "No payments to show.")
    table = phone_table(
        ("Date", "Amount", "Method", "Receipt"),
        [
            (
                local_date_text(payment.date_of_payment, timezone),
                _amount(payment, currency),
                payment.payment_method.label,
                payment.receipt_number,
            )
            for payment in items
        ],
        align=("left", "right", "left", "left"),
    )
    return _message(_title(title), table, _page_line(payments, "payments"))


def admin_payments_html(
    payments: Page[PaymentWithCustomer] | Sequence[PaymentWithCustomer],
    currency: Currency,
    *,
    timezone: tzinfo,
    title: str = "Payments",
) -> str:
    """Payments across customers: id (for /voidpayment), date, meter, amount, method, name."""
    items = _items(payments)
    if not items:
        return _message(_title(title), "No payments to show.")
    table = phone_table(
        ("ID", "Date", "Meter", "Amount", "Method", "Name"),
        [
            (
                str(item.payment.payment_id),
                local_date_text(item.payment.date_of_payment, timezone),
                item.meter_number,
                _amount(item.payment, currency),
                item.payment.payment_method.label,
                item.full_name,
            )
            for item in items
        ],
        align=("right", "left", "left", "right", "left", "left"),
        shrink=5,
    )
    return _message(_title(title), table, _page_line(payments, "payments"))


def customers_html(
    customers: Page[Customer] | Sequence[Customer], *, title: str = "Customers"
) -> str:
    """Customers: meter and name (cut to fit), with a page line when there are more."""
    items = _items(customers)
    if not items:
        return _message(_title(title), "No customers found.")
    # The free-text name goes last: tabulate counts code points, so a name with combining
    # marks would shift every column to its right by a character.
    table = phone_table(
        ("Meter", "Name"),
        [(customer.meter_number, customer.full_name) for customer in items],
        shrink=1,
    )
    return _message(_title(title), table, _page_line(customers, "customers"))


# Reports


def revenue_html(report: RevenueReport, currency: Currency, *, timezone: tzinfo) -> str:
    """Revenue: the total, then by payment method and by month."""
    if report.start is None and report.end is None:
        period = "all time"
    else:
        start = local_date_text(report.start, timezone) if report.start else "the start"
        # ``end`` is exclusive: a period up to midnight ends on the day before.
        end = local_date_text(report.end - _INSTANT, timezone) if report.end is not None else "now"
        period = f"{start} to {end}"
    summary = (
        f"Total: {html.escape(currency.format(report.total), quote=False)} "
        f"from {report.payments} payment{'s' if report.payments != 1 else ''}"
    )
    by_method = (
        phone_table(
            ("Method", "Count", "Amount"),
            [
                (_method_label(line.key), str(line.payments), currency.format(line.total))
                for line in report.by_method
            ],
            align=("left", "right", "right"),
        )
        if report.by_method
        else "No payments."
    )
    by_month = (
        phone_table(
            ("Month", "Count", "Amount"),
            [
                (_month_of_key(line.key), str(line.payments), currency.format(line.total))
                for line in report.by_month
            ],
            align=("left", "right", "right"),
        )
        if report.by_month
        else "No payments."
    )
    return _message(
        _title(f"Revenue, {period}"),
        summary,
        "",
        _title("By method"),
        by_method,
        "",
        _title("By month"),
        by_month,
    )


def outstanding_html(report: OutstandingReport, currency: Currency) -> str:
    """Outstanding balances: total and counts, ageing by days past due, top debtors."""
    summary = (
        f"Total: {html.escape(currency.format(report.total), quote=False)} "
        f"on {report.bills} bill{'s' if report.bills != 1 else ''} "
        f"({report.customers} customer{'s' if report.customers != 1 else ''})"
    )
    ageing = phone_table(
        ("Past due", "Amount"),
        [
            (AGEING_LABELS[bucket], currency.format(report.ageing.get(bucket, _ZERO)))
            for bucket in AGEING_BUCKETS
        ],
        align=("left", "right"),
    )
    debtors = (
        phone_table(
            ("Meter", "Owed", "Name"),
            [
                (debtor.meter_number, currency.format(debtor.owed), debtor.full_name)
                for debtor in report.top_debtors
            ],
            align=("left", "right", "left"),
            shrink=2,
        )
        if report.top_debtors
        else "Nobody owes anything."
    )
    return _message(
        _title(f"Outstanding as of {report.as_of:%Y-%m-%d}"),
        summary,
        "",
        _title("Ageing"),
        ageing,
        "",
        _title("Top debtors"),
        debtors,
    )


def percent_text(rate: Decimal | None) -> str:
    """A collection rate as shown: ``87.5%``, or "—" for a month with nothing billed."""
    return NO_FIGURE if rate is None else f"{rate}%"


def trend_html(months: Sequence[TrendMonth], currency: Currency) -> str:
    """Usage trend per billing month: units, billed, collected, and the share of what was
    billed that has been collected. A month with no bills shows "—", not zeros."""
    if not months:
        return _message(_title("Usage trend"), "No months to show.")
    rows = []
    for month in months:
        figures = (
            (
                units_text(month.units),
                currency.format(month.billed),
                currency.format(month.collected),
                percent_text(month.collection_rate),
            )
            if month.bills
            else (NO_FIGURE,) * 4
        )
        rows.append((month_label(month.billing_month), *figures))
    table = phone_table(
        ("Month", "Units", "Billed", "Collected", "Collected %"),
        rows,
        align=("left", "right", "right", "right", "right"),
    )
    return _message(_title("Usage trend"), table)
