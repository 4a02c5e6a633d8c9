"""Bill statements and bill lines rendered without Telegram or a database (issue 15 §5).

Proves: the statement PDF is one page and its text holds every line of the bill (energy per
band, fixed charge, tax, late fee, waiver), the readings, the account figures and the amount
due with the currency's code and sign, the customer's name in non-Latin letters and the
twelve months of the usage chart; a bill with more lines than fit sums the rest on one row;
the same statement drawn at the same moment is the same bytes; the file is named
``statement-<YYYY-MM>-<meter>.pdf``; each kind of line has its words.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from domain.billing import Line, LineKind
from domain.models import Bill, PaymentStatus
from domain.money import Currency
from domain.reports import month_add
from domain.statements import ExportLine, Statement, UsageMonth
from handlers.render.bill_lines import line_label, lines_html, lines_text, shows_lines
from handlers.render.csv_export import LINES_HEADER, bill_lines_csv
from handlers.render.statement import render_statement_pdf, statement_filename
from handlers.render.tables import customer_bills_html

NAIRA = Currency("NGN", "₦")
CEDI = Currency("GHS", "₵")
LAGOS = ZoneInfo("Africa/Lagos")
DRAWN_AT = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
NAME = "Ọlá Adébáyọ̀ — Олег Петров"
SEPTEMBER = date(2026, 9, 1)

LINES = (
    Line(LineKind.ENERGY, Decimal("500.00"), units=Decimal("50"), rate=Decimal("10"),
         band_from_kwh=Decimal("0"), band_to_kwh=Decimal("50")),
    Line(LineKind.ENERGY, Decimal("2000.00"), units=Decimal("100"), rate=Decimal("20"),
         band_from_kwh=Decimal("50"), band_to_kwh=Decimal("150")),
    Line(LineKind.ENERGY, Decimal("1500.00"), units=Decimal("50"), rate=Decimal("30.25"),
         band_from_kwh=Decimal("150"), band_to_kwh=None),
    Line(LineKind.FIXED, Decimal("500.00")),
    Line(LineKind.TAX, Decimal("337.50"), percent=Decimal("7.50")),
    Line(LineKind.LATE_FEE, Decimal("120.00"), percent=Decimal("5.00"),
         fee_period=date(2026, 10, 1), line_id=7),
    Line(LineKind.WAIVER, Decimal("-120.00"), waives_line_id=7, note="first time"),
)  # fmt: skip


def make_statement(**changes: object) -> Statement:
    total = sum((line.amount for line in LINES), Decimal(0))
    bill = Bill(
        bill_id=4242,
        customer_id=1,
        billing_month=SEPTEMBER,
        units_used=Decimal("200"),
        rate_per_unit=Decimal("20"),
        total_amount=total,
        amount_paid=Decimal("1000.00"),
        payment_status=PaymentStatus.PARTIAL,
        due_date=date(2026, 10, 14),
    )
    usage = tuple(
        UsageMonth(month_add(SEPTEMBER, -back), None if back == 3 else Decimal(100 + back * 10))
        for back in range(11, -1, -1)
    )
    base = Statement(
        bill=bill,
        lines=LINES,
        customer_name=NAME,
        meter_number="MTR-0012345",
        address="12 Adeola Odeku Street, Victoria Island, Lagos",
        previous_reading=Decimal("12345"),
        current_reading=Decimal("12545"),
        estimated=False,
        issued_at=datetime(2026, 10, 1, 8, 0, tzinfo=UTC),
        previous_balance=Decimal("2000.00"),
        payments_since=Decimal("300.00"),
        earlier_owed=Decimal("700.00"),
        credit=Decimal("55.00"),
        usage=usage,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def draw(statement: Statement, currency: Currency = NAIRA) -> bytes:
    return render_statement_pdf(
        statement,
        utility_name="City Power & Light",
        currency=currency,
        timezone=LAGOS,
        drawn_at=DRAWN_AT,
        contact="Customer care: 0700 000 0000",
    )


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[ \t]+", " ", unicodedata.normalize("NFC", text))


def test_the_statement_holds_every_line_of_the_bill() -> None:
    data = draw(make_statement())
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    text = pdf_text(data)
    for expected in (
        "Energy 0–50 kWh: 50 kWh × ₦10.00 ₦500.00",
        "Energy 50–150 kWh: 100 kWh × ₦20.00 ₦2,000.00",
        "Energy above 150 kWh: 50 kWh × ₦30.25 ₦1,500.00",
        "Fixed charge ₦500.00",
        "Tax 7.5% ₦337.50",
        "Late fee 5% (Oct 2026) ₦120.00",
        "Late fee waived: first time -₦120.00",
        "Total of this bill NGN ₦4,837.50",
    ):
        assert expected in text, f"{expected!r} missing from the statement:\n{text}"


def test_the_statement_holds_the_customer_readings_account_and_amount_due() -> None:
    text = pdf_text(draw(make_statement()))
    for expected in (
        "City Power & Light",
        "Customer care: 0700 000 0000",
        unicodedata.normalize("NFC", NAME),
        "MTR-0012345",
        "Billing month Sep 2026",
        "Due date 14 Oct 2026",
        "previous 12,345 · current 12,545 · 200 kWh used",
        "Previous balance ₦2,000.00",
        "Payments since your last bill -₦300.00",
        "This bill ₦4,837.50",
        "Paid on this bill -₦1,000.00",
        "Paid since on earlier bills -₦1,000.00",  # 2,000 − 300 owed at issue, 700 now
        "Amount due NGN ₦4,537.50",  # 700 + 4,837.50 − 1,000
        "Account credit ₦55.00",
        "Statement date 02 Oct 2026",
    ):
        assert expected in text, f"{expected!r} missing from the statement:\n{text}"


def test_the_usage_chart_names_twelve_months_and_their_units() -> None:
    text = pdf_text(draw(make_statement()))
    assert "Your usage, last 12 months (kWh)" in text
    for month in ("Oct", "Nov", "Dec", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug"):
        assert month in text
    assert "210" in text and "100" in text  # the oldest month's bar and this month's


def test_an_estimated_bill_says_so_and_a_bill_without_readings_shows_its_units() -> None:
    estimated = pdf_text(draw(make_statement(estimated=True)))
    assert "estimated" in estimated
    plain = pdf_text(draw(make_statement(previous_reading=None, current_reading=None)))
    assert "Meter readings 200 kWh used" in plain and "estimated" not in plain


def test_a_cedi_statement_carries_its_own_sign_and_code() -> None:
    text = pdf_text(draw(make_statement(), CEDI))
    assert "Amount due GHS ₵4,537.50" in text and "₦" not in text


def test_a_bill_with_many_lines_stays_on_one_page_and_sums_the_rest() -> None:
    fees = tuple(
        Line(LineKind.LATE_FEE, Decimal("10.00"), fee_period=month_add(SEPTEMBER, n))
        for n in range(1, 15)
    )
    crowded = make_statement(
        lines=LINES + fees,
        customer_name="Adébáyọ̀ Olúwaṣeun " * 12,
        address="Plot 7, Road 3, " * 40,
    )
    data = draw(crowded)
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    text = pdf_text(data)
    # Twelve rows: the seven lines above and four fees, then the other ten fees summed.
    assert "Late fee (Jan 2027) ₦10.00" in text
    assert "10 more lines ₦100.00" in text
    assert "Late fee (Feb 2027)" not in text
    assert "Amount due NGN" in text and "Send /pay" in text


def test_the_same_statement_drawn_at_the_same_moment_is_the_same_bytes() -> None:
    assert draw(make_statement()) == draw(make_statement())


def test_the_statement_file_is_named_after_the_month_and_meter() -> None:
    assert statement_filename(make_statement()) == "statement-2026-09-MTR-0012345.pdf"
    odd = make_statement(meter_number="MTR/12 34")
    assert statement_filename(odd) == "statement-2026-09-MTR_12_34.pdf"


def test_each_kind_of_line_has_its_words() -> None:
    assert [line_label(line, NAIRA) for line in LINES] == [
        "Energy 0–50 kWh: 50 kWh × ₦10.00",
        "Energy 50–150 kWh: 100 kWh × ₦20.00",
        "Energy above 150 kWh: 50 kWh × ₦30.25",
        "Fixed charge",
        "Tax 7.5%",
        "Late fee 5% (Oct 2026)",
        "Late fee waived: first time",
    ]
    flat = Line(LineKind.ENERGY, Decimal("1000.00"), units=Decimal("100"),
                rate=Decimal("10"), band_from_kwh=Decimal("0"))  # fmt: skip
    assert line_label(flat, NAIRA) == "Energy: 100 kWh × ₦10.00"
    assert not shows_lines((flat,)) and shows_lines(LINES)
    assert lines_text(LINES[3:5], NAIRA) == ["Fixed charge: ₦500.00", "Tax 7.5%: ₦337.50"]


def test_customer_bills_show_the_lines_of_a_bill_of_several_and_escape_them() -> None:
    bill = make_statement().bill
    flat = Bill(
        bill_id=7,
        customer_id=1,
        billing_month=date(2026, 8, 1),
        units_used=Decimal("80"),
        rate_per_unit=Decimal("10"),
        total_amount=Decimal("800.00"),
        amount_paid=Decimal("0.00"),
        payment_status=PaymentStatus.UNPAID,
        due_date=date(2026, 9, 14),
    )
    noted = (*LINES[:-1], replace(LINES[-1], note="<b>goodwill</b>"))
    text = customer_bills_html(
        [bill, flat],
        NAIRA,
        today=date(2026, 10, 2),
        lines={bill.bill_id: noted, flat.bill_id: (LINES[0],)},
    )
    assert "• Tax 7.5%: ₦337.50" in text
    assert "• Late fee waived: &lt;b&gt;goodwill&lt;/b&gt;: -₦120.00" in text
    assert "Total ₦4,837.50" in text
    assert "80 units × ₦10.00 = ₦800.00" in text
    assert lines_html(LINES[3:5], NAIRA) == "• Fixed charge: ₦500.00\n• Tax 7.5%: ₦337.50"


def test_the_lines_csv_has_a_row_per_line_with_plain_figures_and_inert_text() -> None:
    items = [
        ExportLine(4242, "=MTR-1", "Ọlá", SEPTEMBER, Decimal("4837.50"), line) for line in LINES
    ]
    rows = list(csv.reader(io.StringIO(bill_lines_csv(items, NAIRA).decode("utf-8"))))
    assert rows[0] == list(LINES_HEADER)
    assert len(rows) == 1 + len(LINES)
    first, tax, waiver = rows[1], rows[5], rows[7]
    assert first == [
        "4242", "'=MTR-1", "Ọlá", "2026-09", "energy", "Energy 0–50 kWh: 50 kWh × ₦10.00",
        "0", "50", "50", "10", "", "500.00", "4837.50",
    ]  # fmt: skip
    assert tax[4:6] == ["tax", "Tax 7.5%"] and tax[10:12] == ["7.50", "337.50"]
    assert waiver[4] == "waiver" and waiver[11] == "-120.00"
    assert sum(Decimal(row[11]) for row in rows[1:]) == Decimal("4837.50")
