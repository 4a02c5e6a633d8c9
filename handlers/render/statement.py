"""Bill statements as one-page A4 PDFs, drawn with fpdf2 in the receipts' embedded DejaVu Sans
(any name and currency sign renders), with the last twelve months' usage as a bar chart
drawn from fpdf2's own shapes (no image to encode).

The page never spills: every free text is cut to a few lines, and a bill with more lines
than fit shows the first ones and the rest summed on one row.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from domain.money import Currency
from domain.statements import Statement, UsageMonth
from handlers.render import fonts
from handlers.render.bill_lines import line_label
from handlers.render.formatting import date_label, month_key, month_label, units_text
from handlers.render.receipt import ACCENT, INK, MUTED, RULE, fit_lines, rule

FAMILY = "DejaVu"
PAGE_WIDTH = 210.0  # A4, millimetres
PAGE_HEIGHT = 297.0
MARGIN = 14.0
LABEL_WIDTH = 36.0
AMOUNT_WIDTH = 46.0
ROW_HEIGHT = 5.6
MAX_LINES = 12  # bill lines drawn one by one; any more are summed on one row
CHART_HEIGHT = 46.0
Color = tuple[int, int, int]
BAR: Color = (158, 202, 225)
BAR_CURRENT: Color = ACCENT
BAND: Color = (236, 242, 248)


def statement_filename(statement: Statement) -> str:
    """The chat document's file name: ``statement-<YYYY-MM>-<meter>.pdf``."""
    meter = "".join(c if c.isalnum() or c in "-_" else "_" for c in statement.meter_number)
    return f"statement-{month_key(statement.bill.billing_month)}-{meter}.pdf"


def render_statement_pdf(
    statement: Statement,
    *,
    utility_name: str,
    currency: Currency,
    timezone: tzinfo,
    drawn_at: datetime,
    contact: str = "",
) -> bytes:
    """Draw one bill's statement as a one-page A4 PDF and return its bytes.

    ``drawn_at`` is the statement's date (and the PDF's creation date, so the same statement
    drawn at the same moment is the same bytes); ``contact`` is how customers reach the
    utility (UTILITY_CONTACT), up to two lines under its name."""
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)
    free_text = (
        utility_name,
        contact,
        statement.customer_name,
        statement.address,
        statement.meter_number,
        *(line.note or "" for line in statement.lines),
    )
    font = (
        fonts.receipt_font()
        if fonts.covered("".join(free_text) + currency.symbol)
        else fonts.dejavu_path()
    )
    pdf.add_font(FAMILY, "", font)
    loaded = pdf.fonts[FAMILY.lower()]
    if isinstance(loaded, TTFFont):  # as receipts: the subset's boxes do not change
        loaded.ttfont.recalcBBoxes = False
    bill = statement.bill
    pdf.set_creation_date(drawn_at)
    pdf.set_title(f"Statement {month_label(bill.billing_month)} {statement.meter_number}")
    pdf.set_author(utility_name)
    pdf.set_subject(f"Electricity bill statement for meter {statement.meter_number}")
    pdf.set_creator(utility_name)
    pdf.set_lang("en")
    pdf.add_page()

    _heading(pdf, statement, utility_name, contact, drawn_at.astimezone(timezone).date())
    _details(pdf, statement)
    rule(pdf)
    _charges(pdf, statement, currency)
    rule(pdf)
    top = pdf.get_y()
    _summary(pdf, statement, currency)
    _usage_chart(pdf, statement.usage, x=PAGE_WIDTH / 2 + 4, y=top, width=PAGE_WIDTH / 2 - 18)
    _footer(pdf, statement)
    return bytes(pdf.output())


def _heading(
    pdf: FPDF, statement: Statement, utility_name: str, contact: str, drawn_on: date
) -> None:
    pdf.set_fill_color(*ACCENT)
    pdf.rect(0, 0, PAGE_WIDTH, 4, style="F")
    pdf.set_text_color(*ACCENT)
    pdf.set_font(FAMILY, "", 18)
    for line in fit_lines(pdf, utility_name, pdf.epw, max_lines=2):
        pdf.cell(pdf.epw, 8, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*MUTED)
    pdf.set_font(FAMILY, "", 8)
    for text in [line for line in contact.splitlines() if line.strip()][:2]:
        for line in fit_lines(pdf, text, pdf.epw, max_lines=1):
            pdf.cell(pdf.epw, 4, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_text_color(*INK)
    pdf.set_font(FAMILY, "", 14)
    title = f"Electricity bill · {month_label(statement.bill.billing_month)}"
    pdf.cell(pdf.epw - 60, 8, title)
    pdf.set_font(FAMILY, "", 9)
    pdf.set_text_color(*MUTED)
    pdf.cell(60, 8, f"Bill #{statement.bill.bill_id}", align="R")
    pdf.ln(8)
    pdf.cell(pdf.epw, 5, f"Statement date {drawn_on:%d %b %Y}", new_x=XPos.LMARGIN)
    pdf.ln(5)
    rule(pdf)


def _details(pdf: FPDF, statement: Statement) -> None:
    bill = statement.bill
    _row(pdf, "Customer", statement.customer_name, max_lines=2, size=11)
    _row(pdf, "Meter", statement.meter_number)
    _row(pdf, "Address", statement.address, max_lines=2)
    _row(pdf, "Billing month", month_label(bill.billing_month))
    _row(pdf, "Issued", date_label(statement.issued_at.date()))
    _row(pdf, "Due date", date_label(bill.due_date))
    readings = f"{units_text(bill.units_used)} kWh used"
    if statement.current_reading is not None:
        previous = (
            units_text(statement.previous_reading)
            if statement.previous_reading is not None
            else "none"
        )
        current = units_text(statement.current_reading)
        readings = f"previous {previous} · current {current} · {readings}"
    if statement.estimated:
        readings += " (estimated: the next actual reading corrects it)"
    _row(pdf, "Meter readings", readings, max_lines=2)


def _charges(pdf: FPDF, statement: Statement, currency: Currency) -> None:
    pdf.set_font(FAMILY, "", 11)
    pdf.set_text_color(*ACCENT)
    pdf.cell(pdf.epw, 7, "Charges for this bill", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    lines = statement.lines
    shown = lines if len(lines) <= MAX_LINES else lines[: MAX_LINES - 1]
    for index, line in enumerate(shown):
        _amount_row(
            pdf, line_label(line, currency), currency.format(line.amount), band=index % 2 == 0
        )
    if len(shown) < len(lines):
        rest = lines[len(shown) :]
        total = sum((line.amount for line in rest), Decimal(0))
        _amount_row(pdf, f"{len(rest)} more lines", currency.format(total), band=False)
    pdf.ln(1)
    _amount_row(
        pdf,
        "Total of this bill",
        currency.format_with_code(statement.bill.total_amount),
        size=11,
    )


def _summary(pdf: FPDF, statement: Statement, currency: Currency) -> None:
    width = PAGE_WIDTH / 2 - MARGIN - 2
    money = currency.format

    def row(label: str, value: str, *, size: int = 9, color: Color = INK) -> None:
        pdf.set_x(MARGIN)
        pdf.set_font(FAMILY, "", size)
        pdf.set_text_color(*(MUTED if size <= 9 else color))
        height = ROW_HEIGHT if size <= 10 else 8.0
        pdf.cell(width - 34, height, label)
        pdf.set_text_color(*color)
        pdf.cell(34, height, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_x(MARGIN)
    pdf.set_font(FAMILY, "", 11)
    pdf.set_text_color(*ACCENT)
    pdf.cell(width, 7, "Your account", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    row("Previous balance", money(statement.previous_balance))
    row("Payments since your last bill", money(-statement.payments_since))
    row("This bill", money(statement.bill.total_amount))
    if statement.bill.amount_paid:
        row("Paid on this bill", money(-statement.bill.amount_paid))
    settled = statement.paid_since_on_earlier
    if settled > 0:
        row("Paid since on earlier bills", money(-settled))
    elif settled < 0:
        row("Added since to earlier bills", money(-settled))
    y = pdf.get_y() + 1
    pdf.set_draw_color(*RULE)
    pdf.line(MARGIN, y, MARGIN + width, y)
    pdf.set_y(y + 1)
    row("Amount due", currency.format_with_code(statement.amount_due), size=13, color=ACCENT)
    row("Pay by", date_label(statement.bill.due_date))
    if statement.credit > 0:
        row("Account credit", money(statement.credit))
        pdf.set_x(MARGIN)
        pdf.set_font(FAMILY, "", 7)
        pdf.set_text_color(*MUTED)
        pdf.cell(width, 4, "Account credit pays your next bills.")


def _usage_chart(
    pdf: FPDF, usage: tuple[UsageMonth, ...], *, x: float, y: float, width: float
) -> None:
    pdf.set_xy(x, y)
    pdf.set_font(FAMILY, "", 11)
    pdf.set_text_color(*ACCENT)
    pdf.cell(width, 7, "Your usage, last 12 months (kWh)")
    if not usage:
        return
    top = y + 11
    base = top + CHART_HEIGHT - 10  # room under the bars for the month labels
    highest = max((m.units for m in usage if m.units is not None), default=Decimal(0))
    slot = width / len(usage)
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.2)
    pdf.line(x, base, x + width, base)
    for index, month in enumerate(usage):
        left = x + index * slot
        current = index == len(usage) - 1
        if month.units is not None and highest > 0:
            height = float(month.units / highest) * (base - top - 5)
            pdf.set_fill_color(*(BAR_CURRENT if current else BAR))
            pdf.rect(left + slot * 0.15, base - height, slot * 0.7, max(height, 0.3), style="F")
            pdf.set_font(FAMILY, "", 5)
            pdf.set_text_color(*(INK if current else MUTED))
            pdf.set_xy(left, base - height - 3.2)
            pdf.cell(slot, 3, _compact(month.units), align="C")
        pdf.set_font(FAMILY, "", 5.5)
        pdf.set_text_color(*(INK if current else MUTED))
        pdf.set_xy(left, base + 0.8)
        pdf.cell(slot, 3, f"{month.billing_month:%b}", align="C")
        pdf.set_xy(left, base + 3.6)
        pdf.cell(slot, 3, f"{month.billing_month:%y}", align="C")


def _compact(units: Decimal) -> str:
    """A bar's label: ``245``, ``12.3k``, ``1.2M``."""
    if units >= 1_000_000:
        return f"{units / 1_000_000:.1f}M"
    if units >= 10_000:
        return f"{units / 1_000:.1f}k"
    return f"{units:,.0f}"


def _row(pdf: FPDF, label: str, value: str, *, max_lines: int = 1, size: int = 10) -> None:
    pdf.set_font(FAMILY, "", 9)
    pdf.set_text_color(*MUTED)
    pdf.set_x(MARGIN)
    pdf.cell(LABEL_WIDTH, ROW_HEIGHT, label)
    pdf.set_font(FAMILY, "", size)
    pdf.set_text_color(*INK)
    width = pdf.epw - LABEL_WIDTH
    for line in fit_lines(pdf, value, width, max_lines=max_lines):
        pdf.set_x(MARGIN + LABEL_WIDTH)
        pdf.cell(width, ROW_HEIGHT, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _amount_row(pdf: FPDF, label: str, amount: str, *, band: bool = False, size: int = 9) -> None:
    pdf.set_x(MARGIN)
    if band:
        pdf.set_fill_color(*BAND)
        pdf.rect(MARGIN, pdf.get_y(), pdf.epw, ROW_HEIGHT, style="F")
    pdf.set_font(FAMILY, "", size)
    pdf.set_text_color(*INK)
    width = pdf.epw - AMOUNT_WIDTH
    text = fit_lines(pdf, label, width - 2, max_lines=1)[0]
    pdf.cell(width, ROW_HEIGHT, text)
    pdf.cell(AMOUNT_WIDTH, ROW_HEIGHT, amount, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _footer(pdf: FPDF, statement: Statement) -> None:
    pdf.set_xy(MARGIN, PAGE_HEIGHT - MARGIN - 10)
    pdf.set_font(FAMILY, "", 8)
    pdf.set_text_color(*MUTED)
    pdf.cell(
        pdf.epw,
        5,
        "Send /pay in the chat to pay this bill. Thank you.",
        align="C",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.cell(
        pdf.epw,
        5,
        fit_lines(
            pdf,
            f"Bill {statement.bill.bill_id} · meter {statement.meter_number}",
            pdf.epw,
            max_lines=1,
        )[0],
        align="C",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
