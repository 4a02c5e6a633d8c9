"""Rendering without Telegram or a database: phone tables, receipt PDFs, trend charts, CSV."""

from __future__ import annotations

import csv
import html
import io
import math
import re
import struct
import time
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import numpy
import pytest
from pypdf import PdfReader

from domain.billing import Line, LineKind
from domain.bills import BillWithCustomer
from domain.models import (
    Bill,
    Customer,
    Page,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Receipt,
)
from domain.money import Currency
from domain.payments import PaymentWithCustomer
from domain.reports import (
    AGEING_BUCKETS,
    Debtor,
    OutstandingReport,
    RevenueLine,
    RevenueReport,
    TrendMonth,
    month_add,
)
from handlers.render.chart import compact_money, trend_chart_png, trend_figure
from handlers.render.csv_export import outstanding_csv, revenue_csv, trend_csv
from handlers.render.receipt import receipt_filename, render_receipt_pdf
from handlers.render.tables import (
    admin_bills_html,
    admin_payments_html,
    customer_bills_html,
    customers_html,
    outstanding_html,
    payments_html,
    phone_table,
    revenue_html,
    text_width,
    trend_html,
)

NAIRA = Currency("NGN", "₦")
LAGOS = ZoneInfo("Africa/Lagos")
# "Ọ" and "ọ" are precomposed; the acute on the second "ọ" is a combining mark (U+0301).
WIDE_NAME = "Ngozi \u1ecckaf\u1ecd\u0301r & <Sons>"
BIG = Decimal("9999999.99")
PAID_AT = datetime(2026, 11, 24, 13, 5, tzinfo=UTC)  # 14:05 in Lagos
TODAY = date(2026, 12, 3)  # the utility's local date the lists are drawn on


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def make_receipt(
    *,
    voided: bool = False,
    name: str = WIDE_NAME,
    address: str = "",
    recorded_by: str | None = None,
    due_date: date | None = date(2026, 10, 14),
    credit_after: Decimal | None = None,
    bill_lines: tuple[Line, ...] = (),
) -> Receipt:
    return Receipt(
        receipt_number="EB-261124-7KQ2M9XA",
        payment_id=42,
        date_of_payment=PAID_AT,
        customer_name=name,
        meter_number="MTR-0012345",
        address=address or "12 Adeola Odeku Street, Victoria Island, Lagos",
        billing_month=date(2026, 9, 1),
        units_used=Decimal("145987.50"),
        rate_per_unit=Decimal("68.5000"),
        bill_total=BIG,
        amount_paid=Decimal("1234567.89"),
        paid_to_date=Decimal("2345678.90"),
        balance=Decimal("7654321.09"),
        payment_method=PaymentMethod.BANK_TRANSFER,
        payment_status=PaymentStatus.PARTIAL,
        voided=voided,
        due_date=due_date,
        recorded_by=recorded_by,
        credit_after=credit_after,
        bill_lines=bill_lines,
    )


# A bill of three bands, a fixed charge, tax, two late fees and a waiver (the lines need not
# add up here: the renderer draws what it is given).
BANDED_LINES = (
    Line(
        LineKind.ENERGY,
        Decimal("617.28"),
        Decimal("50"),
        Decimal("12.3456"),
        Decimal("0"),
        Decimal("50"),
    ),
    Line(
        LineKind.ENERGY,
        Decimal("1875.01"),
        Decimal("100"),
        Decimal("18.7501"),
        Decimal("50"),
        Decimal("150"),
    ),
    Line(LineKind.ENERGY, Decimal("0.25"), Decimal("0.01"), Decimal("25.1250"), Decimal("150")),
    Line(LineKind.FIXED, Decimal("500.00")),
    Line(LineKind.TAX, Decimal("224.44"), percent=Decimal("7.50")),
    Line(
        LineKind.LATE_FEE, Decimal("80.42"), percent=Decimal("2.5"), fee_period=date(2026, 10, 1)
    ),
    Line(
        LineKind.LATE_FEE, Decimal("82.43"), percent=Decimal("2.5"), fee_period=date(2026, 11, 1)
    ),
    Line(LineKind.WAIVER, Decimal("-80.42"), waives_line_id=1, note="meter fault"),
)


CONTACT = "Customer care: 0700 000 0000 · care@citypower.example\n12 Marina Road, Lagos"


def render(
    receipt: Receipt, *, contact: str = CONTACT, utility: str = "City Power & Light"
) -> bytes:
    return render_receipt_pdf(
        receipt, utility_name=utility, currency=NAIRA, timezone=LAGOS, contact=contact
    )


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return nfc("\n".join(page.extract_text() for page in reader.pages))


# Receipts


def test_receipt_pdf_shows_every_figure_of_the_payment() -> None:
    text = pdf_text(render(make_receipt()))

    for expected in (
        "City Power & Light",
        "EB-261124-7KQ2M9XA",
        nfc(WIDE_NAME),
        "MTR-0012345",
        "12 Adeola Odeku Street, Victoria Island, Lagos",
        "Sep 2026",
        "145,987.5 kWh",
        "₦68.50 per kWh",
        "₦9,999,999.99",  # bill total
        "₦1,234,567.89",  # this payment
        "₦2,345,678.90",  # paid to date
        "₦7,654,321.09",  # balance
        "Bank transfer",
        "Part-paid",  # the status's one label (PaymentStatus.label), as in the chat
    ):
        assert expected in text, f"{expected!r} missing from the receipt:\n{text}"


def test_receipt_carries_the_currency_code_due_date_month_contact_and_recorder() -> None:
    """Issue 14: amounts with the currency's code and sign (SPEC §4), the bill's due date,
    the month as "Sep 2026", the utility's contact details and who recorded an office
    payment."""
    text = pdf_text(render(make_receipt(recorded_by="Ada Clerk")))
    for expected in (
        "Bill total NGN ₦9,999,999.99",
        "This payment NGN ₦1,234,567.89",
        "Paid to date NGN ₦2,345,678.90",
        "Balance NGN ₦7,654,321.09",
        "Rate NGN ₦68.50 per kWh",
        "Billing month Sep 2026",
        "Due date 14 Oct 2026",
        "Customer care: 0700 000 0000 · care@citypower.example",
        "12 Marina Road, Lagos",
        "Recorded by Ada Clerk",
    ):
        assert expected in text, f"{expected!r} missing from the receipt:\n{text}"
    assert "2026-09" not in text


def test_a_customer_s_own_payment_names_no_recorder_and_an_empty_contact_no_line() -> None:
    text = pdf_text(render(make_receipt(due_date=None), contact=""))
    assert "Recorded by" not in text and "Customer care" not in text
    assert "Due date" not in text  # not known to this caller: left out, not invented
    assert "This payment NGN ₦1,234,567.89" in text


def _baselines(data: bytes) -> dict[str, float]:
    """The height (PDF points from the bottom) at which each piece of text is drawn."""
    heights: dict[str, float] = {}

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            heights.setdefault(nfc(text.strip()), tm[5] * cm[3] + cm[5])

    PdfReader(io.BytesIO(data)).pages[0].extract_text(visitor_text=visit)
    return heights


def test_the_fullest_receipt_still_ends_above_its_footer() -> None:
    """Voided, a two-line utility name, two contact lines, a name and address cut to their
    most lines, a due date, a recorder and a bill of more lines than fit: the last row is
    still drawn above the footer."""
    receipt = make_receipt(
        voided=True,
        name="Adébáyọ̀ Olúwaṣeun " * 12,
        address="Plot 7, Road 3, " * 40,
        recorded_by="Chief Cashier Olúwaṣeun Adébáyọ̀ " * 4,
        credit_after=Decimal("9876543.21"),
        bill_lines=BANDED_LINES,
    )
    data = render(receipt, utility="City Power & Light Distribution Company of Lagos " * 2)
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    heights = _baselines(data)
    status = heights["VOIDED (was: Part-paid)"]
    footer = heights["This receipt was voided."]
    assert status - footer >= 12, (status, footer)  # points: a clear gap, no overlap


def test_a_banded_bill_s_receipt_lists_its_lines_instead_of_units_and_rate() -> None:
    money = NAIRA.format
    text = pdf_text(render(make_receipt(bill_lines=BANDED_LINES[:5])))
    for row in (
        "Energy 0–50 kWh: 50 kWh × ₦12.3456",
        "Energy above 150 kWh",
        "Fixed charge",
        "Tax 7.5%",
        money(Decimal("224.44")),
        money(Decimal("1875.01")),
    ):
        assert row in text, (row, text)
    assert "per kWh" not in text  # the one-rate row is for a flat bill
    flat = pdf_text(render(make_receipt(bill_lines=BANDED_LINES[:1])))
    assert "₦68.50 per kWh" in flat and "Energy" not in flat


def test_a_receipt_with_more_lines_than_fit_sums_the_rest() -> None:
    """A roomy receipt lists all eight lines; the fullest one (a long name and address, a
    recorder, credit) lists what fits and sums the rest in a row pointing to the statement."""
    roomy = pdf_text(render(make_receipt(bill_lines=BANDED_LINES)))
    assert "meter fault" in roomy and "see your statement" not in roomy
    full = make_receipt(
        name="Adébáyọ̀ Olúwaṣeun " * 12,
        address="Plot 7, Road 3, " * 40,
        recorded_by="Chief Cashier",
        credit_after=Decimal("12.00"),
        bill_lines=BANDED_LINES,
    )
    text = pdf_text(render(full))
    found = re.search(r"(\d+) more \(see your statement\) (₦[\d,.-]+)", text)
    assert found is not None, text
    rest = BANDED_LINES[-int(found.group(1)) :]
    assert found.group(2) == NAIRA.format(sum((line.amount for line in rest), Decimal(0)))
    assert "meter fault" not in text  # the waiver is among the summed


def test_a_receipt_shows_the_account_credit_after_its_payment_and_none_without() -> None:
    """Issue 13: account credit is shown on receipts, as it stood right after the payment; a
    customer without credit sees no credit words."""
    text = pdf_text(render(make_receipt(credit_after=Decimal("9876543.21"))))
    assert "Account credit NGN ₦9,876,543.21" in text
    assert "credit" not in pdf_text(render(make_receipt(credit_after=Decimal("0.00")))).lower()
    assert "credit" not in pdf_text(render(make_receipt())).lower()


def test_receipt_shows_the_payment_time_in_the_configured_time_zone() -> None:
    assert "2026-11-24 14:05 WAT" in pdf_text(render(make_receipt()))


def test_same_receipt_renders_to_identical_bytes() -> None:
    assert render(make_receipt()) == render(make_receipt())


def test_voided_receipt_carries_a_voided_marker_and_a_valid_one_does_not() -> None:
    voided = pdf_text(render(make_receipt(voided=True)))
    valid = pdf_text(render(make_receipt()))

    assert "VOIDED" in voided
    assert "not proof of payment" in voided
    assert "VOIDED" not in valid


def test_receipt_is_one_page_even_with_a_very_long_name_and_address() -> None:
    data = render(make_receipt(name="Adébáyọ̀ Olúwaṣeun " * 12, address="Plot 7, Road 3, " * 40))

    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = pdf_text(data)
    assert "…" in text  # cut, not spilled
    assert "₦7,654,321.09" in text  # the figures below the address are still there


def test_receipt_renders_a_name_outside_the_font_subset() -> None:
    georgian = "ნინო ბერიძე"  # DejaVu Sans has Georgian; the prepared subset does not

    assert nfc(georgian) in pdf_text(render(make_receipt(name=georgian)))


def test_receipt_file_is_named_after_the_receipt_number() -> None:
    assert receipt_filename("EB-261124-7KQ2M9XA") == "receipt-EB-261124-7KQ2M9XA.pdf"


def test_receipt_render_time_cold_and_warm() -> None:
    """Prints the timings (run with -s to see them); the renders must agree byte for byte."""
    receipt = make_receipt()
    start = time.perf_counter()
    first = render(receipt)
    cold = time.perf_counter() - start
    warm_times = []
    for _ in range(20):
        start = time.perf_counter()
        again = render(receipt)
        warm_times.append(time.perf_counter() - start)
        assert again == first
    warm = sorted(warm_times)[len(warm_times) // 2]
    print(f"\nreceipt PDF: first in this process {cold * 1000:.1f} ms, warm {warm * 1000:.1f} ms")


# Chart


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, chunk_type = struct.unpack(">I4s", data[8:16])
    assert chunk_type == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def trend_months(count: int = 12) -> list[TrendMonth]:
    return [
        TrendMonth(
            month_add(date(2026, 1, 1), i),
            Decimal(12000 + 900 * i),
            Decimal(1_500_000 + 80_000 * i) + Decimal("0.25"),
            Decimal(1_200_000 + 50_000 * i) + Decimal("0.10"),
            100 + i,
        )
        for i in range(count)
    ]


def test_trend_chart_is_a_png_of_exactly_1000_by_600_pixels() -> None:
    data = trend_chart_png(trend_months(), currency=NAIRA, title="Usage trend")

    assert png_size(data) == (1000, 600)


def test_trend_chart_without_months_is_still_a_png_of_the_same_size() -> None:
    assert png_size(trend_chart_png([], currency=NAIRA, title="Usage trend")) == (1000, 600)


# CSV


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def revenue_report() -> RevenueReport:
    return RevenueReport(
        start=None,
        end=None,
        total=Decimal("10001234.50"),
        payments=7,
        by_method=[
            RevenueLine("bank_transfer", BIG, 3),
            RevenueLine("cash", Decimal("1234.51"), 4),
        ],
        by_month=[
            RevenueLine("2026-09", Decimal("1500.00"), 2),
            RevenueLine("2026-10", Decimal("9999734.50"), 5),
        ],
    )


def outstanding_report() -> OutstandingReport:
    return OutstandingReport(
        as_of=date(2026, 11, 24),
        total=Decimal("10001500.49"),
        bills=4,
        customers=2,
        ageing={
            "not_due": Decimal("1500.00"),
            "days_0_30": Decimal("18.50"),
            "days_31_60": Decimal("0.00"),
            "days_61_90": BIG,
            "days_over_90": Decimal("-17.99") + Decimal("17.99"),
        },
        top_debtors=[
            Debtor(1, "MTR-0012345", WIDE_NAME, BIG, 3),
            Debtor(2, "MTR-0000002", '=HYPERLINK("http://x")', Decimal("1500.50"), 1),
        ],
    )


def test_revenue_csv_parses_back_to_the_report_figures() -> None:
    report = revenue_report()
    rows = read_csv(revenue_csv(report))

    assert [r["section"] for r in rows] == ["total", "method", "method", "month", "month"]
    assert Decimal(rows[0]["amount"]) == report.total
    assert int(rows[0]["payments"]) == report.payments
    lines = report.by_method + report.by_month
    assert [(r["key"], Decimal(r["amount"]), int(r["payments"])) for r in rows[1:]] == [
        (line.key, line.total, line.payments) for line in lines
    ]
    assert rows[1]["amount"] == "9999999.99"  # plain: no sign, no separators


def test_outstanding_csv_parses_back_to_the_report_figures() -> None:
    report = outstanding_report()
    rows = read_csv(outstanding_csv(report))

    total, ageing, debtors = rows[0], rows[1:6], rows[6:]
    assert Decimal(total["amount"]) == report.total
    assert (int(total["bills"]), int(total["customers"])) == (4, 2)
    assert {r["key"]: Decimal(r["amount"]) for r in ageing} == report.ageing
    assert [r["key"] for r in ageing] == list(AGEING_BUCKETS)
    assert [Decimal(r["amount"]) for r in debtors] == [d.owed for d in report.top_debtors]
    assert debtors[0]["label"] == WIDE_NAME


def test_outstanding_csv_makes_formula_like_names_inert() -> None:
    rows = read_csv(outstanding_csv(outstanding_report()))

    assert rows[-1]["label"] == '\'=HYPERLINK("http://x")'


def test_trend_csv_parses_back_to_the_months() -> None:
    months = trend_months(3)
    rows = read_csv(trend_csv(months))

    assert [
        (
            r["month"],
            Decimal(r["units"]),
            Decimal(r["billed"]),
            Decimal(r["collected"]),
            Decimal(r["collection_rate"]),
            int(r["bills"]),
        )
        for r in rows
    ] == [
        (
            f"{m.billing_month:%Y-%m}",
            m.units,
            m.billed,
            m.collected,
            m.collection_rate,
            m.bills,
        )
        for m in months
    ]


# Tables


def pre_blocks(text: str) -> list[str]:
    return [html.unescape(block) for block in re.findall(r"<pre>(.*?)</pre>", text, re.S)]


class TagChecker(HTMLParser):
    """Fails on any tag but <b> and <pre>, and on tags left open or closed twice."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in {"b", "pre"}, f"unexpected <{tag}>"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"


def assert_telegram_html(text: str) -> None:
    checker = TagChecker()
    checker.feed(text)
    checker.close()
    assert not checker.open, f"unclosed {checker.open}"


def bill(month: int, total: Decimal, paid: Decimal, bill_id: int = 1) -> Bill:
    return Bill(
        bill_id=bill_id,
        customer_id=1,
        billing_month=date(2026, month, 1),
        units_used=Decimal("100.00"),
        rate_per_unit=Decimal("68.5000"),
        total_amount=total,
        amount_paid=paid,
        payment_status=PaymentStatus.for_amounts(total, paid),
        due_date=date(2026, month, 15),
    )


def payment(payment_id: int, amount: Decimal, *, voided: bool = False) -> Payment:
    return Payment(
        payment_id=payment_id,
        bill_id=1,
        date_of_payment=datetime(2026, 9, 30, 23, 30, tzinfo=UTC),  # 1 October in Lagos
        amount_paid=amount,
        payment_method=PaymentMethod.MOBILE_MONEY,
        billing_month=date(2026, 9, 1),
        payment_status=PaymentStatus.PARTIAL,
        receipt_number=f"EB-260930-{payment_id:08d}",
        idempotency_key=f"key-{payment_id}",
        recorded_by_admin_id=None,
        voided_at=datetime(2026, 10, 2, tzinfo=UTC) if voided else None,
        void_reason="mistake" if voided else None,
    )


def customer(customer_id: int, name: str) -> Customer:
    return Customer(
        customer_id=customer_id,
        meter_number=f"MTR-{customer_id:07d}",
        full_name=name,
        address="1 Test Street",
        phone_number=None,
        email=None,
        telegram_user_id=None,
        has_password=False,
        created_at=PAID_AT,
    )


def every_rendering() -> dict[str, str]:
    """Each list and report with the widest names and the largest amounts."""
    bills = [bill(9, BIG, Decimal("0.00")), bill(10, BIG, Decimal("1.00")), bill(11, BIG, BIG)]
    pays = [payment(1, BIG), payment(2, Decimal("18.50"), voided=True)]
    return {
        "customer bills": customer_bills_html(Page(bills, 0, 3, 7), NAIRA, today=TODAY),
        "admin bills": admin_bills_html(
            [BillWithCustomer(b, "MTR-0012345", WIDE_NAME) for b in bills], NAIRA, today=TODAY
        ),
        "payments": payments_html(pays, NAIRA, timezone=LAGOS),
        "admin payments": admin_payments_html(
            [PaymentWithCustomer(p, "MTR-0012345", WIDE_NAME) for p in pays],
            NAIRA,
            timezone=LAGOS,
        ),
        "customers": customers_html([customer(1, WIDE_NAME), customer(2, WIDE_NAME * 3)]),
        "revenue": revenue_html(revenue_report(), NAIRA, timezone=LAGOS),
        "outstanding": outstanding_html(outstanding_report(), NAIRA),
        "trend": trend_html(trend_months(), NAIRA),
    }


@pytest.mark.parametrize("name", list(every_rendering()))
def test_every_pre_line_fits_34_columns(name: str) -> None:
    for block in pre_blocks(every_rendering()[name]):
        for line in block.splitlines():
            assert len(line) <= 34 and text_width(line) <= 34, f"{name}: {line!r}"


@pytest.mark.parametrize("name", list(every_rendering()))
def test_every_rendering_is_valid_telegram_html(name: str) -> None:
    assert_telegram_html(every_rendering()[name])


@pytest.mark.parametrize("name", ["admin bills", "admin payments", "customers", "outstanding"])
def test_html_special_characters_in_names_are_escaped(name: str) -> None:
    text = every_rendering()[name]

    assert "<Sons>" not in text
    assert "&amp;" in text and "&lt;S" in text


def test_card_layout_is_used_when_columns_do_not_fit() -> None:
    text = phone_table(
        ("Month", "Billed", "Collected", "Rate"),
        [("2026-09", "₦9,999,999.99", "₦9,999,999.99", "100.0%")],
    )

    assert "<pre>" not in text
    assert "<b>Month: 2026-09</b>" in text
    assert "\nBilled: ₦9,999,999.99\nCollected: ₦9,999,999.99\nRate: 100.0%" in text


def test_cards_are_separated_by_a_blank_line_and_escaped() -> None:
    text = phone_table(("Name", "Note"), [("A & B", "x" * 40), ("<C>", "y" * 40)])

    assert text.split("\n\n") == [
        f"<b>Name: A &amp; B</b>\nNote: {'x' * 40}",
        f"<b>Name: &lt;C&gt;</b>\nNote: {'y' * 40}",
    ]


def test_a_table_that_fits_stays_a_table_with_amounts_right_aligned() -> None:
    text = phone_table(("Month", "Amount"), [("2026-09", "₦1,500.00"), ("2026-10", "₦18.50")])

    assert pre_blocks(text) == [
        "Month      Amount\n------- ---------\n2026-09 ₦1,500.00\n2026-10    ₦18.50"
    ]


def test_tabulate_does_not_mangle_1500_00_or_18_50() -> None:
    text = phone_table(("Amount", "Rate"), [("1500.00", "18.50")])

    assert "1500.00" in text and "18.50" in text
    assert "1500 " not in text and "18.5\n" not in text and not text.endswith("18.5</pre>")


def test_a_long_name_is_shortened_to_keep_the_table() -> None:
    text = customers_html([customer(1, "Oluwaseun Adebayo-Williams of Lekki Phase One")])

    (block,) = pre_blocks(text)
    assert block.splitlines()[-1] == "MTR-0000001 Oluwaseun Adebayo-Wil…"


def test_lists_say_which_page_is_shown() -> None:
    text = customer_bills_html(
        Page([bill(9, Decimal("100.00"), Decimal("0"))], 1, 3, 7), NAIRA, today=TODAY
    )

    assert text.endswith("Page 2 of 3 · 7 bills")


def test_payments_show_the_local_date_and_mark_voided_ones() -> None:
    text = payments_html([payment(2, Decimal("18.50"), voided=True)], NAIRA, timezone=LAGOS)

    assert "2026-10-01" in text  # 23:30 UTC on 30 September is 1 October in Lagos
    assert "₦18.50 void" in text


def test_outstanding_report_lists_every_ageing_bucket() -> None:
    text = html.unescape(outstanding_html(outstanding_report(), NAIRA))

    for label in ("Not yet due", "0–30 days", "31–60 days", "61–90 days", "90+ days"):
        assert label in text
    assert "Total: ₦10,001,500.49 on 4 bills (2 customers)" in text


def test_empty_lists_say_so() -> None:
    assert "No bills to show." in customer_bills_html([], NAIRA, today=TODAY)
    assert "No payments to show." in payments_html([], NAIRA, timezone=LAGOS)


def test_chart_money_axis_labels_are_short_but_not_rounded_away() -> None:
    assert [compact_money(v, "₦") for v in (0, 950, 12_500, 1_250_000, 2_000_000)] == [
        "₦0",
        "₦950",
        "₦12.5k",
        "₦1.25M",
        "₦2M",
    ]


# What customers and clerks read (issue 14)


def test_customer_bills_show_units_and_rate_as_well_as_total_balance_and_status() -> None:
    text = html.unescape(
        customer_bills_html([bill(11, Decimal("6850.00"), Decimal("850.00"))], NAIRA, today=TODAY)
    )

    assert "Nov 2026" in text and "Part-paid" in text
    assert "100 units × ₦68.50 = ₦6,850.00" in text
    assert "Balance ₦6,000.00" in text


def test_customer_bills_flag_an_overdue_bill_and_only_that_one() -> None:
    late = bill(10, Decimal("100.00"), Decimal("0"))  # due 15 Oct 2026
    not_yet = bill(12, Decimal("100.00"), Decimal("0"))  # due 15 Dec 2026
    paid_late = bill(9, Decimal("100.00"), Decimal("100.00"))
    text = customer_bills_html([late, not_yet, paid_late], NAIRA, today=TODAY)

    blocks = text.split("\n\n")[1:]  # after the title
    assert "overdue" in blocks[0] and "Oct 2026" in blocks[0]
    assert "overdue" not in blocks[1] and "due 15 Dec 2026" in blocks[1]
    assert "overdue" not in blocks[2]


def test_staff_bill_lists_give_each_due_date_and_flag_overdue_ones() -> None:
    late = BillWithCustomer(bill(10, Decimal("100.00"), Decimal("1.00")), "MTR-1", "Ada")
    paid = BillWithCustomer(bill(9, Decimal("100.00"), Decimal("100.00")), "MTR-2", "Bayo")
    text = admin_bills_html([late, paid], NAIRA, today=TODAY)

    first, second = text.split("\n\n")
    assert "Due: 15 Oct 2026 (overdue)" in first and "Status: Part-paid" in first
    assert "Due: 15 Sep 2026" in second and "overdue" not in second
    assert "Month: Oct 2026" in first


@pytest.mark.parametrize("name", list(every_rendering()))
def test_every_list_uses_one_label_per_status_and_one_month_format(name: str) -> None:
    text = every_rendering()[name]

    for other in ("partial", "part-paid", "Partly paid"):
        assert other not in text, f"{name}: {other!r}"
    # A month is "Oct 2026"; a day may still be 2026-10-01.
    assert not re.search(r"\b\d{4}-\d{2}\b(?!-\d)", text), name


def test_revenue_by_month_shows_months_as_people_read_them() -> None:
    text = revenue_html(revenue_report(), NAIRA, timezone=LAGOS)

    assert "Sep 2026" in text and "Oct 2026" in text


def with_empty_months(months: list[TrendMonth], *indexes: int) -> list[TrendMonth]:
    empty = [
        TrendMonth(m.billing_month, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), 0)
        for m in months
    ]
    return [empty[i] if i in indexes else m for i, m in enumerate(months)]


def test_trend_table_says_collected_percent_and_shows_empty_months_as_dashes() -> None:
    months = with_empty_months(trend_months(3), 2)
    text = trend_html(months, NAIRA)

    assert "Rate" not in text  # read as the tariff
    assert "Collected %" in text
    last = text.split("\n\n")[-1]
    assert "Mar 2026" in last
    assert "Collected %: 0.0%" not in text and "₦0.00" not in text
    assert last.count("—") == 4


def test_trend_csv_leaves_the_rate_of_an_empty_month_empty() -> None:
    rows = read_csv(trend_csv(with_empty_months(trend_months(2), 1)))

    assert rows[1]["collection_rate"] == "" and rows[1]["bills"] == "0"
    assert rows[0]["collection_rate"] != ""


def test_trend_chart_leaves_gaps_for_months_without_bills_and_plots_the_collection_rate() -> None:
    months = with_empty_months(trend_months(6), 2, 5)  # the open month (last) has no bills yet
    figure = trend_figure(months, currency=NAIRA, title="Usage trend")

    lines: dict[str, list[float]] = {
        str(line.get_label()): numpy.asarray(line.get_ydata(), dtype=float).tolist()
        for axis in figure.axes
        for line in axis.lines
    }
    assert set(lines) >= {"Billed", "Collected", "Collected %"}
    for label in ("Billed", "Collected", "Collected %"):
        values = lines[label]
        assert math.isnan(values[2]) and math.isnan(values[5]), label
        assert not any(math.isnan(v) for i, v in enumerate(values) if i not in (2, 5)), label
    assert lines["Collected %"][0] == float(months[0].collection_rate or 0)
    assert png_size(trend_chart_png(months, currency=NAIRA, title="Usage trend")) == (1000, 600)
