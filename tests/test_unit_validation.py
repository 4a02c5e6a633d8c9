"""Field checks without a database: each returns the clean value or refuses with a reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from domain import validation
from domain.errors import ControlCharacters, InvalidInput


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("MTR-10001", "MTR-10001"),
        ("  mtr-10001 ", "MTR-10001"),
        ("abc", "ABC"),
        ("ＭＴＲ-１", "MTR-1"),  # full-width letters and digits fold to ASCII
        ("A" * 32, "A" * 32),
    ],
)
def test_meter_number_is_trimmed_and_upper_cased(typed: str, clean: str) -> None:
    """Meter numbers are compared upper-case, so they are stored upper-case."""
    assert validation.meter_number(typed) == clean


@pytest.mark.parametrize(
    "typed", ["", "AB", "-ABC", "MTR 10001", "MTR_10001", "MTR-١٠٠", "A" * 33, "MTR%"]
)
def test_meter_number_refuses_short_long_spaced_and_non_ascii_values(typed: str) -> None:
    """Only 3 to 32 ASCII letters, digits and dashes (not leading) make a meter number."""
    with pytest.raises(InvalidInput, match="meter number"):
        validation.meter_number(typed)


def test_clean_text_drops_control_and_invisible_characters_and_folds_spaces() -> None:
    """Bell, zero-width and right-to-left override characters cannot hide in stored text."""
    assert validation.clean_text("a\u202eb\u200bc  d\n\t e\x07") == "abc d e"
    assert validation.clean_text("Cafe\u0301") == "Café"  # NFC: one code point for é


def test_full_name_keeps_any_script_and_refuses_blank_or_overlong_names() -> None:
    """Names in any alphabet are kept as typed (cleaned); 2 to 200 characters."""
    assert validation.full_name("  Ngozi   Ọkafọ́r ") == "Ngozi Ọkafọ́r"
    assert validation.full_name("Ли Вэй") == "Ли Вэй"
    for bad in ("", " ", "A", "\u200bA\u200b", "x" * 201):
        with pytest.raises(InvalidInput):
            validation.full_name(bad)


def test_address_needs_three_to_five_hundred_characters() -> None:
    """A usable address is at least 3 characters after cleaning and at most 500."""
    assert validation.address(" 12  Marina Road ") == "12 Marina Road"
    assert len(validation.address("y" * 500)) == 500
    for bad in ("", "ab", "y" * 501):
        with pytest.raises(InvalidInput):
            validation.address(bad)


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("+2348012345678", "+2348012345678"),
        (" 0801 234 5678 ", "+2348012345678"),
        ("0803 123 4567", "+2348031234567"),
        ("08031234567", "+2348031234567"),
        ("+234 (801) 234-5678", "+2348012345678"),
        ("+234 (0) 801 234 5678", "+2348012345678"),
        ("080-1234-5678", "+2348012345678"),
        ("0803.123.4567", "+2348031234567"),
        ("+1 650 253 0000", "+16502530000"),  # another country's, with its code
        ("０８０３ １２３ ４５６７", "+2348031234567"),  # full-width digits (NFKC)
    ],
)
def test_phone_numbers_are_stored_in_e164_read_in_the_utility_s_country(
    typed: str, clean: str
) -> None:
    """Issue 14: "0803 123 4567" was stored as typed. A number without its country code is
    read as one of the default region (Nigeria) and every number is stored in E.164."""
    assert validation.phone_number(typed) == clean


def test_the_phone_region_is_the_utility_s_country() -> None:
    """The same local digits are another country's number in another region; with no region
    the country code is required."""
    assert validation.phone_number("024 412 3456", "GH") == "+233244123456"
    assert validation.phone_number("0712 345678", "KE") == "+254712345678"
    assert validation.phone_number("+2348031234567", "GH") == "+2348031234567"
    assert validation.phone_number("+233 24 412 3456", None) == "+233244123456"
    with pytest.raises(InvalidInput, match="country code"):
        validation.phone_number("0803 123 4567", None)


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "12345",
        "phone",
        "+234-abc-5678",
        "٠٨٠١٢٣٤٥٦٧٨",
        "1" * 21,
        "0803 123 456",  # a digit short
        "0803 123 45678",  # a digit too many
        "+234 000 000 0000",  # no such number in Nigeria's plan
        "tel:+2348012345678",
        "++2348012345678",
        "+2348012345678 ext",
    ],
)
def test_phone_number_refuses_letters_wrong_lengths_and_numbers_no_plan_has(typed: str) -> None:
    """A phone number must be one a telephone plan has, typed in ASCII digits and the
    separators phones use."""
    with pytest.raises(InvalidInput, match="phone number"):
        validation.phone_number(typed)


def test_phone_region_names_a_country_phone_numbers_are_known_for() -> None:
    assert validation.phone_region(" ng ") == "NG"
    for bad in ("EU", "XX", "Nigeria", ""):
        with pytest.raises(ValueError):
            validation.phone_region(bad)


def test_email_is_lower_cased_and_must_look_like_an_address() -> None:
    """Emails are compared lower-case; obvious non-addresses are refused."""
    assert validation.email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    for bad in ("", "ada", "ada@", "@example.com", "ada@example", "a b@example.com", "ada@@x.io"):
        with pytest.raises(InvalidInput, match="email"):
            validation.email(bad)


@pytest.mark.parametrize(
    "typed",
    [
        "<b>x</b>@example.com",  # issue 14: this was saved
        "<x>@example.com",
        "Ada <ada@example.com>",
        '"ada lovelace"@example.com',
        "ada..lovelace@example.com",
        ".ada@example.com",
        "ada@example..com",
        "ada@-example.com",
        "ada@[127.0.0.1]",
        "ada@localhost",
        "ada@example.test",  # a reserved name
        "ada@example.invalid",
        "n" * 65 + "@example.com",  # more than 64 characters before the @
        "user@" + "x" * 200 + ".com",
        "adé@example.com",  # a local part outside ASCII needs SMTPUTF8, which is not assumed
    ],
)
def test_email_addresses_are_checked_by_the_rfcs_not_by_a_loose_pattern(typed: str) -> None:
    """email-validator's rules (no network): markup, display names, quoted or dotted-badly
    local parts, IP literals, reserved and over-long names are refused, saying why."""
    with pytest.raises(InvalidInput, match=r"email address like name@example\.com"):
        validation.email(typed)


def test_an_international_domain_is_kept_readable() -> None:
    assert validation.email("Ngozi@Exämple.com") == "ngozi@exämple.com"


def test_admin_name_needs_two_to_a_hundred_characters() -> None:
    """Admin names are cleaned like customer names, with a shorter limit."""
    assert validation.admin_name(" Chief   Cashier ") == "Chief Cashier"
    for bad in ("", "A", "n" * 101):
        with pytest.raises(InvalidInput):
            validation.admin_name(bad)


@pytest.mark.parametrize(
    ("typed", "month"),
    [
        ("2026-10", date(2026, 10, 1)),
        (" 2000-01 ", date(2000, 1, 1)),
        ("2100-12", date(2100, 12, 1)),
        (date(2026, 10, 17), date(2026, 10, 1)),
    ],
)
def test_billing_month_is_the_first_day_of_the_month_given(typed: str | date, month: date) -> None:
    """``YYYY-MM`` or any date becomes the first day of its month."""
    assert validation.billing_month(typed) == month


@pytest.mark.parametrize(
    "typed", ["", "2026-13", "2026-00", "1999-12", "2101-01", "2026-1", "10/2026", "٢٠٢٦-١٠"]
)
def test_billing_month_refuses_impossible_or_badly_written_months(typed: str) -> None:
    """Only real months from 2000-01 to 2100-12, written YYYY-MM in ASCII digits."""
    with pytest.raises(InvalidInput):
        validation.billing_month(typed)


VALIDATORS: list[Callable[[str], str]] = [
    validation.full_name,
    validation.address,
    validation.admin_name,
]


@pytest.mark.parametrize("check", VALIDATORS)
def test_free_text_fields_keep_html_special_characters_for_the_renderer_to_escape(
    check: Callable[[str], str],
) -> None:
    """Validation does not mangle ``<`` or ``&``: escaping is the renderer's job, done once."""
    assert check("Ngozi & <Sons>") == "Ngozi & <Sons>"


def test_a_bill_falls_due_the_configured_days_after_the_end_of_its_month() -> None:
    """September with 14 days → 14 October; February 2028 (leap) with 10 → 10 March (each
    issued before its month ended)."""
    from datetime import date

    from domain.bills import default_due_date

    assert default_due_date(date(2026, 9, 1), 14, issued_on=date(2026, 9, 30)) == date(
        2026, 10, 14
    )
    assert default_due_date(date(2028, 2, 1), 10, issued_on=date(2028, 2, 20)) == date(2028, 3, 10)


def test_a_bill_issued_after_its_month_ended_falls_due_counted_from_its_issue_day() -> None:
    """October billed on 3 December would fall due on 14 November, before it was issued:
    it falls due 14 days after it is issued instead; whatever the day of issue, there are
    always the configured days to pay."""
    from datetime import date, timedelta

    from domain.bills import default_due_date

    issued = date(2026, 12, 3)
    assert default_due_date(date(2026, 10, 1), 14, issued_on=issued) == date(2026, 12, 17)
    for day in range(60):  # whatever the day of issue, at least 14 days to pay
        on = date(2026, 10, 1) + timedelta(days=day)
        assert default_due_date(date(2026, 10, 1), 14, issued_on=on) >= on + timedelta(14)


def test_names_keep_joiners_inside_words_but_lose_direction_and_zero_width_tricks() -> None:
    """'می‌خواهم' keeps its ZWNJ; RLO, ZWSP, BOM and a stray leading joiner are dropped."""
    from domain.validation import clean_text

    persian = "می\u200cخواهم"
    assert clean_text(persian) == persian
    assert clean_text("\u202eAmina\u200b Bello\ufeff") == "Amina Bello"
    assert clean_text("\u200dAmina") == "Amina"


@pytest.mark.parametrize("typed", ["a\x00b@example.com", "a\x1b[31mred@example.com"])
def test_an_email_with_a_nul_or_escape_byte_is_refused_not_stored_stripped(typed: str) -> None:
    """``a\\x00b@example.com`` is not ``ab@example.com``: the person is asked again."""
    with pytest.raises(ControlCharacters, match="email address contains control characters"):
        validation.email(typed)


STORED_FIELDS: list[tuple[Callable[[str], object], str]] = [
    (validation.full_name, "Amina{}Bello"),
    (validation.address, "12 Marina{}Road"),
    (validation.admin_name, "Chief{}Cashier"),
    (validation.email, "amina{}@example.com"),
    (validation.phone_number, "+234801{}2345678"),
    (validation.meter_number, "MTR-{}10001"),
    (validation.void_reason, "Entered{}twice"),
]
CONTROL_CHARACTERS = ["\x00", "\x07", "\x08", "\x1b", "\x1f", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize(("check", "template"), STORED_FIELDS)
@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_every_stored_field_refuses_control_characters_wherever_they_are(
    check: Callable[[str], object], template: str, control: str
) -> None:
    """NUL, BEL, backspace, ESC, unit separator, DEL and C1 codes: inside a value or at its
    ends (where ``strip()`` would quietly drop some of them), each field refuses them."""
    for typed in (template.format(control), control + template.format(""), template + control):
        with pytest.raises(ControlCharacters):
            check(typed)


def test_line_breaks_and_tabs_in_free_text_are_whitespace_not_control_characters() -> None:
    """A pasted two-line address or a tab between names is folded into single spaces."""
    assert validation.address("12 Marina Road\r\nLagos") == "12 Marina Road Lagos"
    assert validation.full_name("Amina\tBello\n") == "Amina Bello"
    assert validation.email(" amina@example.com\n") == "amina@example.com"
