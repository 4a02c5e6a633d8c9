"""Checks for what people type into customer and admin fields; each returns the clean value."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import email_validator
import phonenumbers

from domain.errors import ControlCharacters, InvalidInput

_METER_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,31}$")
# What a phone keyboard types around the digits of a number: spaces, dots, dashes, brackets.
_PHONE_CHARS_RE = re.compile(r"^\+?[0-9][0-9 ().-]{0,39}$")
# The region a phone number typed without +country code is read in, unless a caller names
# the utility's own (bot/config.py: PHONE_REGION): Nigeria, the country of the default NGN.
DEFAULT_PHONE_REGION = "NG"
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


_JOINERS = "\u200c\u200d"
# Line breaks and tabs come from pasting a multi-line address or name: folded into spaces.
_TYPED_WHITESPACE = "\t\n\r"


def refuse_control_characters(value: str, what: str) -> None:
    """Refuse C0/C1 control characters (NUL, ESC, BEL, DEL…) in a value that will be stored.

    No phone keyboard types them, and dropping them quietly would store something other than
    what was sent (``a\\x00b@example.com`` is not ``ab@example.com``): the person is asked
    to type the value again. Tabs and line breaks are ordinary whitespace and pass.
    """
    if any(unicodedata.category(ch) == "Cc" and ch not in _TYPED_WHITESPACE for ch in value):
        raise ControlCharacters(what)


def clean_text(value: str) -> str:
    """NFC-normalise, drop control/zero-width/direction characters, fold inner whitespace.

    For text that is looked up, not stored (a search, a login's email); the validators of
    stored fields refuse control characters first (:func:`refuse_control_characters`).
    """
    value = unicodedata.normalize("NFC", value)
    kept: list[str] = []
    for index, ch in enumerate(value):
        if ch in _JOINERS:
            # ZWNJ/ZWJ shape Persian, Indic and emoji text: keep them between two letters.
            before = value[index - 1] if index else " "
            after = value[index + 1] if index + 1 < len(value) else " "
            if not before.isspace() and not after.isspace() and before not in _JOINERS:
                kept.append(ch)
        elif ch.isspace():
            kept.append(" ")  # a line break between two words must not glue them together
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"):
            kept.append(ch)
    return " ".join("".join(kept).split())


def meter_number(value: str) -> str:
    refuse_control_characters(value, "meter number")
    cleaned = unicodedata.normalize("NFKC", value).strip().upper()
    if not cleaned.isascii() or not _METER_RE.match(cleaned):
        raise InvalidInput("A meter number is 3 to 32 letters, digits or dashes, e.g. MTR-10001.")
    return cleaned


def full_name(value: str) -> str:
    refuse_control_characters(value, "name")
    cleaned = clean_text(value)
    if not 2 <= len(cleaned) <= 200:
        raise InvalidInput("Please give a name of 2 to 200 characters.")
    return cleaned


def address(value: str) -> str:
    refuse_control_characters(value, "address")
    cleaned = clean_text(value)
    if not 3 <= len(cleaned) <= 500:
        raise InvalidInput("Please give an address of 3 to 500 characters.")
    return cleaned


def phone_number(value: str, region: str | None = DEFAULT_PHONE_REGION) -> str:
    """A real phone number, stored in E.164 (``0803 123 4567`` → ``+2348031234567``).

    A number typed without its country code is read as one of ``region`` (the utility's
    country); with no region, the country code is required. Letters, other scripts' digits
    and numbers no telephone plan has are refused.
    """
    refuse_control_characters(value, "phone number")
    cleaned = unicodedata.normalize("NFKC", value).strip()
    example = _example_number(region)
    if not cleaned.isascii() or not _PHONE_CHARS_RE.match(cleaned):
        raise InvalidInput(f"Please give a phone number of digits, e.g. {example}.")
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            f"Please give the phone number with its country code, e.g. {example}."
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            f"{cleaned} is not a valid phone number. Please check it, e.g. {example}."
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _example_number(region: str | None) -> str:
    """A mobile number of ``region`` in E.164, for a refusal to show."""
    number = phonenumbers.example_number_for_type(
        region or DEFAULT_PHONE_REGION, phonenumbers.PhoneNumberType.MOBILE
    )
    if number is None:
        return "+2348031234567"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_region(value: str) -> str:
    """A region code phone numbers can be read in (``NG``, ``GH``, ``KE``…); ValueError if
    phonenumbers knows no such region."""
    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(code)
    return code


def email(value: str) -> str:
    """An email address by the rules of RFC 5321/5322 as email-validator reads them (no
    network look-up), lower-cased: ``<b>x</b>@example.com``, quoted local parts, IP
    addresses and reserved names such as ``.test`` are refused."""
    refuse_control_characters(value, "email address")
    cleaned = unicodedata.normalize("NFKC", value).strip()
    try:
        checked = email_validator.validate_email(
            cleaned, check_deliverability=False, allow_smtputf8=False, strict=True
        )
    except email_validator.EmailNotValidError as exc:
        raise InvalidInput(f"{exc} Please give an email address like name@example.com.") from exc
    return checked.normalized.lower()


def admin_name(value: str) -> str:
    refuse_control_characters(value, "admin name")
    cleaned = clean_text(value)
    if not 2 <= len(cleaned) <= 100:
        raise InvalidInput("Please give an admin name of 2 to 100 characters.")
    return cleaned


def void_reason(value: str) -> str:
    """Why staff voided a payment: kept in the audit log and shown to the customer."""
    refuse_control_characters(value, "reason")
    cleaned = clean_text(value)[:500]
    if len(cleaned) < 3:
        raise InvalidInput("Please give a reason of at least 3 characters.")
    return cleaned


def billing_month(value: str | date) -> date:
    """``YYYY-MM`` (or a date) as the first day of that month."""
    if isinstance(value, date):
        return value.replace(day=1)
    match = _MONTH_RE.match(unicodedata.normalize("NFKC", value).strip())
    if not match or not value.strip().isascii():
        raise InvalidInput("Please give the month as YYYY-MM, e.g. 2026-10.")
    year, month = int(match.group(1)), int(match.group(2))
    if not 2000 <= year <= 2100 or not 1 <= month <= 12:
        raise InvalidInput("Please give a real month between 2000-01 and 2100-12.")
    return date(year, month, 1)
