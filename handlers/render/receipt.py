"""Payment receipts as one-page A5 PDFs, drawn with fpdf2 in an embedded DejaVu Sans.

The same receipt always renders to the same bytes: the creation date is the payment's date,
fpdf2 derives the document id from the content, and the font subset is deterministic.

Speed: each document loads its own copy of the font (fpdf2 subsets it in place on output),
so the font is a small subset prepared once per process (see ``fonts``). Emphasis comes from
size and colour rather than DejaVu Sans Bold: a second font, even subset, took a receipt from
25 ms to 36 ms in a measurement here. (Fake bold by stroking the outlines is no way out:
fpdf2 2.8 writes the text stroke width in millimetres where PDF expects points.)
"""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from domain.models import Receipt
from domain.money import Currency
from handlers.render import fonts
from handlers.render.bill_lines import line_label, shows_lines
from handlers.render.formatting import local_time_text, month_label, rate_text, units_text

FAMILY = "DejaVu"
PAGE_WIDTH = 148.0  # A5, millimetres
PAGE_HEIGHT = 210.0
MARGIN = 12.0
LABEL_WIDTH = 34.0
CONTACT_LINES = 2  # lines of the utility's contact details under its name
ROW_HEIGHT = 5.4  # a _row of size 11 or less
BIG_ROW_HEIGHT = 7.5
RULE_HEIGHT = 4.5
FOOTER_TOP = PAGE_HEIGHT - MARGIN - 10
FOOTER_GAP = 4.5  # between the last row and the footer
CHARGE_ROW_HEIGHT = 4.4  # a bill's lines on a receipt: small rows
Color = tuple[int, int, int]
INK: Color = (20, 20, 20)
ACCENT: Color = (16, 70, 120)
MUTED: Color = (105, 105, 105)
RULE: Color = (190, 190, 190)
WHITE: Color = (255, 255, 255)
VOID_RED: Color = (190, 20, 20)
WATERMARK_RED: Color = (246, 205, 205)


def receipt_filename(receipt_number: str) -> str:
    """The chat document's file name: ``receipt-<receipt_number>.pdf``."""
    return f"receipt-{receipt_number}.pdf"


def render_receipt_pdf(
    receipt: Receipt,
    *,
    utility_name: str,
    currency: Currency,
    timezone: tzinfo,
    contact: str = "",
) -> bytes:
    """Draw one receipt as a one-page A5 PDF and return its bytes.

    Amounts carry the currency's code and sign (``NGN ₦1,234.50``, SPEC §4); ``contact`` is
    how customers reach the utility (UTILITY_CONTACT), up to two lines under its name."""
    pdf = FPDF(orientation="P", unit="mm", format=(PAGE_WIDTH, PAGE_HEIGHT))
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    # Everything sits at computed positions and long values are cut to a few lines, so the
    # receipt cannot spill onto a second page.
    pdf.set_auto_page_break(False)
    free_text = (
        utility_name,
        contact,
        receipt.customer_name,
        receipt.address,
        receipt.meter_number,
        receipt.recorded_by or "",
        *(line_label(line, currency) for line in receipt.bill_lines),
    )
    # A name in a script outside the subset (Arabic, Armenian, Georgian…) still renders
    # with the full font, just more slowly.
    font = (
        fonts.receipt_font()
        if fonts.covered("".join(free_text) + currency.symbol)
        else fonts.dejavu_path()
    )
    pdf.add_font(FAMILY, "", font)
    # The subset's glyphs go into the PDF as they are. fontTools would otherwise recompute
    # every glyph's bounding box on output, decoding and re-encoding each outline: a quarter
    # of a receipt's time (26 → 20 ms measured here), for boxes that do not change.
    loaded = pdf.fonts[FAMILY.lower()]
    if isinstance(loaded, TTFFont):
        loaded.ttfont.recalcBBoxes = False
    pdf.set_creation_date(receipt.date_of_payment)
    pdf.set_title(f"Receipt {receipt.receipt_number}")
    pdf.set_author(utility_name)
    pdf.set_subject(f"Payment receipt for meter {receipt.meter_number}")
    pdf.set_creator(utility_name)
    pdf.set_lang("en")
    pdf.add_page()

    if receipt.voided:
        _watermark(pdf)
    _heading(pdf, receipt, utility_name, contact)
    if receipt.voided:
        _void_banner(pdf)

    _row(pdf, "Date", local_time_text(receipt.date_of_payment, timezone))
    _row(pdf, "Customer", receipt.customer_name, max_lines=2)
    _row(pdf, "Meter", receipt.meter_number)
    _row(pdf, "Address", receipt.address, max_lines=3)
    rule(pdf)
    money = currency.format_with_code
    _row(pdf, "Billing month", month_label(receipt.billing_month))
    if receipt.due_date is not None:
        _row(pdf, "Due date", f"{receipt.due_date:%d %b %Y}")
    if shows_lines(receipt.bill_lines):  # bands, fixed charge, tax, a late fee…
        _charges(pdf, receipt, currency)
    else:
        _row(pdf, "Units used", f"{units_text(receipt.units_used)} kWh")
        _row(pdf, "Rate", f"{currency.code} {rate_text(receipt.rate_per_unit, currency)} per kWh")
    _row(pdf, "Bill total", money(receipt.bill_total))
    rule(pdf)
    _row(pdf, "This payment", money(receipt.amount_paid), size=14)
    _row(pdf, "Paid to date", money(receipt.paid_to_date))
    _row(pdf, "Balance", money(receipt.balance), size=11)
    if receipt.credit_after:
        _row(pdf, "Account credit", money(receipt.credit_after))
    _row(pdf, "Method", receipt.payment_method.label)
    if receipt.recorded_by:
        _row(pdf, "Recorded by", receipt.recorded_by)
    status = receipt.payment_status.label
    if receipt.voided:
        _row(pdf, "Status", f"VOIDED (was: {status})", size=11, color=VOID_RED)
    else:
        _row(pdf, "Status", status, size=11)
    _footer(pdf, receipt)
    return bytes(pdf.output())


def _below_charges(receipt: Receipt) -> float:
    """The height of what render_receipt_pdf draws under the bill's lines, row by row."""
    rows = 4 + (receipt.credit_after is not None and receipt.credit_after > 0)
    rows += receipt.recorded_by is not None and receipt.recorded_by != ""
    return ROW_HEIGHT + RULE_HEIGHT + BIG_ROW_HEIGHT + rows * ROW_HEIGHT


def _charges(pdf: FPDF, receipt: Receipt, currency: Currency) -> None:
    """The bill's lines as paid, a small row each (label left, amount right): as many as the
    page has room for above what follows them, the rest summed in a last row that points to
    the statement."""
    _row(pdf, "Charges", f"{units_text(receipt.units_used)} kWh used")
    room = FOOTER_TOP - FOOTER_GAP - pdf.get_y() - _below_charges(receipt)
    fit = max(1, int(room // CHARGE_ROW_HEIGHT))
    lines = receipt.bill_lines
    rows = [(line_label(line, currency), currency.format(line.amount)) for line in lines]
    if len(rows) > fit:
        rest = lines[fit - 1 :]
        summed = currency.format(sum((line.amount for line in rest), Decimal(0)))
        more = "1 more" if len(rest) == 1 else f"{len(rest)} more"
        rows = [*rows[: fit - 1], (f"{more} (see your statement)", summed)]
    pdf.set_font(FAMILY, "", 8.5)
    pdf.set_text_color(*INK)
    indent, amount_width = 4.0, 30.0  # the whole width: a band's label is long
    label_width = pdf.epw - indent - amount_width
    for label, amount in rows:
        pdf.set_x(MARGIN + indent)
        shown = fit_lines(pdf, label, label_width, max_lines=1)[0]
        pdf.cell(label_width, CHARGE_ROW_HEIGHT, shown)
        pdf.cell(
            amount_width, CHARGE_ROW_HEIGHT, amount, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )


def _heading(pdf: FPDF, receipt: Receipt, utility_name: str, contact: str) -> None:
    pdf.set_fill_color(*ACCENT)
    pdf.rect(0, 0, PAGE_WIDTH, 4, style="F")
    pdf.set_text_color(*ACCENT)
    pdf.set_font(FAMILY, "", 17)
    for line in fit_lines(pdf, utility_name, pdf.epw, max_lines=2):
        pdf.cell(pdf.epw, 8, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    contact_lines = [line for line in contact.splitlines() if line.strip()][:CONTACT_LINES]
    if contact_lines:
        pdf.set_text_color(*MUTED)
        pdf.set_font(FAMILY, "", 8)
        for text in contact_lines:
            for line in fit_lines(pdf, text, pdf.epw, max_lines=1):
                pdf.cell(pdf.epw, 4, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_text_color(*INK)
    pdf.set_font(FAMILY, "", 13)
    pdf.cell(pdf.epw, 7, f"Receipt {receipt.receipt_number}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 9)
    pdf.set_text_color(*MUTED)
    pdf.cell(pdf.epw, 5, "Electricity bill payment", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    rule(pdf)


def _void_banner(pdf: FPDF) -> None:
    pdf.set_fill_color(*VOID_RED)
    pdf.set_font(FAMILY, "", 20)
    pdf.set_text_color(*WHITE)
    pdf.cell(pdf.epw, 11, "VOIDED", align="C", fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*VOID_RED)
    pdf.set_font(FAMILY, "", 9)
    pdf.cell(
        pdf.epw,
        6,
        "This payment was cancelled. This receipt is not proof of payment.",
        align="C",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(2)


def _watermark(pdf: FPDF) -> None:
    # Drawn first, so the figures print over it and stay legible.
    pdf.set_font(FAMILY, "", 64)
    pdf.set_text_color(*WATERMARK_RED)
    text = "VOIDED"
    width = pdf.get_string_width(text)
    with pdf.rotation(50, x=PAGE_WIDTH / 2, y=PAGE_HEIGHT / 2):
        pdf.text(PAGE_WIDTH / 2 - width / 2, PAGE_HEIGHT / 2 + 8, text)
    pdf.set_xy(MARGIN, MARGIN)


def _row(
    pdf: FPDF,
    label: str,
    value: str,
    *,
    max_lines: int = 1,
    size: int = 10,
    color: Color = INK,
) -> None:
    line_height = ROW_HEIGHT if size <= 11 else BIG_ROW_HEIGHT
    pdf.set_font(FAMILY, "", 9)
    pdf.set_text_color(*MUTED)
    pdf.set_x(MARGIN)
    pdf.cell(LABEL_WIDTH, line_height, label)
    pdf.set_font(FAMILY, "", size)
    pdf.set_text_color(*color)
    width = pdf.epw - LABEL_WIDTH
    for line in fit_lines(pdf, value, width, max_lines=max_lines):
        pdf.set_x(MARGIN + LABEL_WIDTH)
        pdf.cell(width, line_height, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def rule(pdf: FPDF) -> None:
    """A thin grey line across the page between its margins (receipts and statements)."""
    y = pdf.get_y() + 2
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.3)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 2.5)


def _footer(pdf: FPDF, receipt: Receipt) -> None:
    pdf.set_xy(MARGIN, FOOTER_TOP)
    pdf.set_font(FAMILY, "", 8)
    pdf.set_text_color(*MUTED)
    note = (
        "This receipt was voided."
        if receipt.voided
        else "Thank you. Keep this receipt as proof of payment."
    )
    pdf.cell(pdf.epw, 5, note, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.cell(
        pdf.epw,
        5,
        f"Receipt {receipt.receipt_number} · payment {receipt.payment_id}",
        align="C",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )


def fit_lines(pdf: FPDF, text: str, width: float, *, max_lines: int) -> list[str]:
    """Wrap ``text`` to ``width`` in the current font; cut to ``max_lines`` with an ellipsis."""
    text = " ".join(text.split()) or "—"
    if pdf.get_string_width(text) <= width:
        return [text]  # the usual case; multi_cell's line breaking is comparatively slow
    lines = [text]
    if max_lines > 1:
        wrapped = pdf.multi_cell(width, 5, text, dry_run=True, output="LINES")
        lines = [str(line) for line in wrapped] if isinstance(wrapped, list) else lines
    if len(lines) <= max_lines and all(pdf.get_string_width(line) <= width for line in lines):
        return lines
    kept = lines[:max_lines]
    last = kept[-1].rstrip(" ,;:")
    while last and pdf.get_string_width(last + "…") > width:
        last = last[:-1].rstrip(" ,;:")
    kept[-1] = last + "…"
    return kept
