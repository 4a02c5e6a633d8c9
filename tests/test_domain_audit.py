"""The audit log on the real MariaDB: what customers change themselves is recorded (issue 14,
item F), and /audit shows every entry in a clerk's words.

Proves: a customer's own address, phone, email and password changes (made on the customer
account, which holds nothing on the audit log) each leave an entry written by the database,
saying what changed and that the customer did it, never a password hash; a staff edit is
recorded once, by the application, with the staff member's name; a login that only links
Telegram records nothing; /audit names fields "Address" and "Rate", not ``rate_per_unit``,
and shows values as money, months and dates.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

from bot.context import BillingContext
from domain import audit, bills, customers, passwords
from domain.audit import AuditEntry
from domain.db import Database
from domain.money import Currency
from handlers.admin_audit import render_entries
from tests.factories import fetch_dicts, make_bill, make_clerk, make_customer

NAIRA = Currency("NGN", "₦")


def clerk_context() -> BillingContext:
    """What render_entries reads of a bot context: the currency and the time zone."""
    config = SimpleNamespace(currency=NAIRA, timezone=ZoneInfo("Africa/Lagos"))
    return cast(BillingContext, SimpleNamespace(config=config))


async def test_a_customer_s_own_address_change_is_in_the_audit_log(
    admin_db: Database, customer_db: Database
) -> None:
    """Issue 14: a clerk saw a new address with no entry. The customer's /profile change (on
    the customer account) is recorded with the old and new address, by the customer."""
    customer = await make_customer(admin_db, address="1 Old Road")
    await customers.update_contact(customer_db, customer.customer_id, address="12 New Road")

    entries = await audit.entries(admin_db, customer_id=customer.customer_id)
    assert [e.action for e in entries] == ["customer.contact", "customer.create"]
    change = entries[0]
    assert change.before == {"address": "1 Old Road"}
    assert change.after == {"address": "12 New Road"}
    assert change.by_customer and change.admin_name is None
    assert change.entity_type == "customer" and change.entity_id == str(customer.customer_id)
    # Written in UTC like the application's own entries, a moment ago.
    assert abs((datetime.now(UTC) - change.created_at).total_seconds()) < 60

    text = render_entries(entries, "Changes", clerk_context())
    assert "Contact details changed" in text
    assert "Address: 1 Old Road → 12 New Road" in text
    assert "by the customer" in text


async def test_each_contact_field_a_customer_changes_is_recorded_and_nothing_else(
    admin_db: Database, customer_db: Database
) -> None:
    """Phone and email in one change (as stored: E.164, lower case); a change of letter case
    alone is a change; saving the same values again records nothing."""
    customer = await make_customer(admin_db, address="4 Broad Street")
    await customers.update_contact(
        customer_db, customer.customer_id, phone_number="0803 123 4567", email="Ngozi@Example.com"
    )
    await customers.update_contact(customer_db, customer.customer_id, address="4 broad street")
    await customers.update_contact(customer_db, customer.customer_id, address="4 broad street")

    entries = await audit.entries(admin_db, customer_id=customer.customer_id)
    assert [(e.before, e.after) for e in entries if e.action == "customer.contact"] == [
        ({"address": "4 Broad Street"}, {"address": "4 broad street"}),
        (
            {"phone_number": None, "email": None},
            {"phone_number": "+2348031234567", "email": "ngozi@example.com"},
        ),
    ]
    text = render_entries(entries, "Changes", clerk_context())
    assert "Phone: — → +2348031234567" in text
    assert "Email: — → ngozi@example.com" in text


async def test_a_customer_s_password_change_is_recorded_without_the_password(
    admin_db: Database, customer_db: Database
) -> None:
    """Activation sets the password, /password changes it, a login that upgrades an older
    hash stores it again: three entries that say so, with no hash anywhere in them; a login
    with an up-to-date hash (which only links Telegram) records nothing."""
    customer = await make_customer(admin_db, meter_number="MTR-61001")
    code = await customers.issue_activation_code(admin_db, customer.customer_id)
    await customers.redeem_activation_code(customer_db, code, "first-pass-1", 7101)
    await customers.set_password(customer_db, customer.customer_id, "second-pass-2")
    await customers.login(customer_db, "MTR-61001", "second-pass-2", 7102)  # nothing to record
    legacy = hashlib.sha256(b"seed-password").hexdigest()
    await customers.set_password_hash(admin_db, customer.customer_id, legacy)  # staff: not here
    await customers.login(customer_db, "MTR-61001", "seed-password", 7103)  # upgraded

    entries = [
        e
        for e in await audit.entries(admin_db, customer_id=customer.customer_id)
        if e.action == "customer.password"
    ]
    assert [e.after for e in entries] == [
        {"password": "stored again in the current format"},
        {"password": "changed"},
        {"password": "set"},
    ]
    assert all(e.by_customer and e.before is None for e in entries)
    rows = await fetch_dicts(admin_db, "SELECT before_data, after_data FROM audit_log")
    stored = await fetch_dicts(admin_db, "SELECT password_hash FROM customers")
    dumped = json.dumps(rows)
    assert "pbkdf2" not in dumped and legacy not in dumped
    assert stored[0]["password_hash"] not in dumped
    assert passwords.verify_password_sync("seed-password", stored[0]["password_hash"])
    text = render_entries(entries, "Changes", clerk_context())
    assert "Password changed" in text and "Password: changed" in text


async def test_a_staff_edit_is_recorded_once_with_the_staff_member_s_name(
    admin_db: Database,
) -> None:
    """/editcustomer writes its own entry naming the clerk; the database's trigger leaves
    the admin account's changes to it (no second entry "by the customer")."""
    clerk = await make_clerk(admin_db)
    customer = await make_customer(admin_db, address="1 Old Road")
    await customers.edit_by_admin(
        admin_db, customer.customer_id, "address", "2 Other Road", admin_id=clerk.admin_id
    )
    await customers.edit_by_admin(
        admin_db, customer.customer_id, "phone_number", "0803 123 4567", admin_id=clerk.admin_id
    )
    entries = await audit.entries(admin_db, customer_id=customer.customer_id)
    assert [(e.action, e.admin_name) for e in entries] == [
        ("customer.edit", clerk.admin_name),
        ("customer.edit", clerk.admin_name),
        ("customer.create", None),
    ]
    text = render_entries(entries, "Changes", clerk_context())
    assert f"by {clerk.admin_name}" in text and "by the customer" not in text
    assert "Phone: — → +2348031234567" in text
    assert "Address: 1 Old Road → 2 Other Road" in text
    assert "phone_number" not in text and "address:" not in text


async def test_audit_shows_a_bill_correction_in_a_clerk_s_words(admin_db: Database) -> None:
    """Issue 14: /audit showed ``rate_per_unit: 68.5000``. A correction shows "Rate",
    "Units", "Total" and "Due date" with money, kWh and dates; ids are left out."""
    clerk = await make_clerk(admin_db)
    customer = await make_customer(admin_db)
    bill = await make_bill(
        admin_db,
        customer,
        month=date(2026, 9, 1),
        units="100",
        rate="68.5",
        due_date=date(2026, 10, 14),
    )
    await bills.update_bill(
        admin_db,
        bill.bill_id,
        billing_month=date(2026, 10, 1),
        rate_per_unit=Decimal("70"),
        issued_on=date(2026, 10, 20),  # due 14 days after the month's end
        admin_id=clerk.admin_id,
    )
    entries = await audit.entries(admin_db, bill_id=bill.bill_id)
    text = render_entries(entries, f"Changes to bill #{bill.bill_id}", clerk_context())
    assert "<b>Bill corrected</b> · bill" in text
    assert "Rate: ₦68.50/kWh → ₦70.00/kWh" in text
    assert "Total: ₦6,850.00 → ₦7,000.00" in text
    assert "Month: Sep 2026 → Oct 2026" in text
    assert "Due date: 14 Oct 2026 → 14 Nov 2026" in text
    assert "<b>Bill issued</b>" in text and "Units: 100 kWh" in text and "Status: unpaid" in text
    for raw in ("rate_per_unit", "68.5000", "total_amount", "billing_month", "customer_id"):
        assert raw not in text, raw


def test_nested_records_and_unknown_fields_still_read_as_words() -> None:
    """A void's bill fields are named after the bill; a field no label is known for is
    spelled out; a value that is not what its field expects is shown as stored."""
    entry = AuditEntry(
        audit_id=1,
        admin_name="Ada Clerk",
        action="payment.void",
        entity_type="payment",
        entity_id="7",
        before={"bill": {"amount_paid": "500.00", "payment_status": "paid"}, "late_fee": 1},
        after={"bill": {"amount_paid": "0.00", "payment_status": "unpaid"}, "reason": "Twice"},
        created_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
    )
    odd = AuditEntry(
        2, None, "something.new", "thing", "3", None, {"due_date": "soon"}, entry.created_at
    )
    text = render_entries([entry, odd], "Changes", clerk_context())
    assert "<b>Payment voided</b> · payment #7" in text
    assert "by Ada Clerk, 24 Nov 2026 10:00" in text
    assert "Bill paid: ₦500.00 → ₦0.00" in text
    assert "Bill status: paid → unpaid" in text
    assert "Reason: Twice" in text and "Late fee was 1" in text
    assert "<b>something.new</b> · thing #3" in text and "by the system" in text
    assert "Due date: soon" in text


def _entry(**changes: Any) -> AuditEntry:
    base: dict[str, Any] = {
        "audit_id": 1,
        "admin_name": None,
        "action": "customer.contact",
        "entity_type": "customer",
        "entity_id": "1",
        "before": None,
        "after": None,
        "created_at": datetime(2026, 11, 24, tzinfo=UTC),
    }
    return AuditEntry(**{**base, **changes})


def test_only_the_database_s_customer_entries_are_said_to_be_the_customer_s() -> None:
    assert _entry().by_customer
    assert not _entry(admin_name="Ada").by_customer
    assert not _entry(action="customer.edit").by_customer


def test_values_are_escaped_for_telegram_html() -> None:
    entry = _entry(before={"address": "<b>1</b> & Co"}, after={"address": "2 Road"})
    text = render_entries([entry], "Changes <all>", clerk_context())
    assert "Address: &lt;b&gt;1&lt;/b&gt; &amp; Co → 2 Road" in text
    assert "Changes &lt;all&gt;" in text


async def test_a_customer_s_own_payments_are_in_the_audit_log_and_office_ones_once(
    admin_db: Database, customer_db: Database
) -> None:
    """Issue 14: the audit log left out customers' own payments. A payment from account
    credit (made on the customer account) and the bill's part of a card charge each leave one
    entry written by the database, by the customer, with amount, method and receipt; an
    office payment is recorded once, by the application, with the clerk's name."""
    from domain import card_payments, payments
    from tests.factories import give_credit, office_payment

    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, units="100", rate="10")  # 1,000.00
    await give_credit(admin_db, bill, "100.00")
    paid = await payments.pay_bill(
        customer_db,
        bill_id=bill.bill_id,
        amount=Decimal("100.00"),
        method="credit",
        idempotency_key="audit-credit-1",
        customer_id=customer.customer_id,
    )
    invoice = await card_payments.create_invoice(
        customer_db,
        customer_id=customer.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal("500.00"),
        currency=NAIRA,
        lifetime=timedelta(minutes=30),
    )
    charge = await card_payments.record_charge(
        admin_db,
        reference=invoice.reference,
        charge=payments.ChargeIds("tg-audit-1", "prov-audit-1"),
        currency_code="NGN",
        total_minor=NAIRA.to_minor(Decimal("500.00")),
        currency=NAIRA,
    )
    assert charge.payment is not None
    office = await office_payment(admin_db, bill, "50.00")

    entries = await audit.entries(admin_db, customer_id=customer.customer_id)
    by_action: dict[str, list[AuditEntry]] = {}
    for entry in entries:
        by_action.setdefault(entry.action, []).append(entry)
    own = sorted(by_action["payment.customer"], key=lambda e: int(e.entity_id))
    assert [e.entity_id for e in own] == [
        str(paid.payment.payment_id),
        str(charge.payment.payment_id),
    ]
    afters = [e.after or {} for e in own]
    assert [(a["payment_method"], Decimal(str(a["amount_paid"]))) for a in afters] == [
        ("credit", Decimal("100.00")),
        ("card", Decimal("500.00")),
    ]
    assert afters[0]["receipt_number"] == paid.payment.receipt_number
    assert all(e.by_customer and e.admin_name is None for e in own)
    # The office payment: the application's entry with the clerk, and no customer entry.
    (recorded,) = by_action["payment.record"]
    assert recorded.entity_id == str(office.payment.payment_id) and recorded.admin_name
    text = render_entries(entries, "Changes", clerk_context())
    assert text.count("Payment by the customer") == 2 and "by the customer" in text
