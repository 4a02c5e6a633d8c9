"""The two MySQL accounts (SPEC §3), made real by ``init-db``'s grants, and the money
invariants (SPEC §4) the database enforces for every writer (the triggers of migrations 0005
to 0007: bills and their payments, account credit, money taken rather than declared).

The customer account is refused everything customer flows do not need (deletes, drops, changing
a bill's figures or a payment, anything on admins or the audit log) and can still run every
customer flow of the domain. The admin account is confined to the billing database and cannot
pass privileges on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from domain import (
    bills,
    card_payments,
    claims,
    customers,
    payments,
    receipts,
    report_totals,
    schema,
)
from domain.db import Database
from domain.errors import AuthenticationFailed
from domain.models import PaymentMethod, PaymentStatus
from domain.money import Currency
from tests import conftest
from tests.factories import give_credit, make_bill, make_customer, office_payment

# Access denied: to a table (1142), to a column (1143), to a database (1044).
ACCESS_DENIED = {1142, 1143, 1044}
# Dollars: Telegram takes invoices from 1.00, so a small test bill can be invoiced.
DOLLARS = Currency("USD", "$")


@dataclass(frozen=True)
class Seeded:
    customer_id: int
    bill_id: int
    payment_id: int


# The seeded customer's account credit: more than the bill owes, so that a payment from
# credit refused below is refused for what it is, not for want of credit.
SEEDED_CREDIT = Decimal("200.00")


@pytest.fixture
async def seeded(admin_db: Database) -> Seeded:
    """One customer with a bill of 123.45 partly paid at the office (10.00) and 200.00 of
    account credit, two admins, audit rows and a throttle row."""
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer)
    paid = await office_payment(admin_db, bill, "10.00", key="s")
    await give_credit(admin_db, bill, SEEDED_CREDIT)
    async with admin_db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "INSERT INTO admins (admin_name, email, password_hash) "
                "VALUES ('Grant Tester', 'grants@example.com', 'x')"
            )
            await cur.execute(
                "INSERT INTO login_throttle (subject, failures, window_started_at) "
                "VALUES ('tg:1', 1, NOW())"
            )
        await uow.commit()
    return Seeded(customer.customer_id, bill.bill_id, paid.payment.payment_id)


def _snapshot(conn: pymysql.connections.Connection) -> dict[str, object]:
    """Every row of every table, as the admin account sees them."""
    found: dict[str, object] = {}
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT * FROM `{table}`")
            found[table] = sorted(map(repr, cur.fetchall()))
    return found


REFUSED_TO_CUSTOMER = {
    "delete a customer": "DELETE FROM customers WHERE customer_id = {customer_id}",
    "delete a bill": "DELETE FROM bills WHERE bill_id = {bill_id}",
    "delete a payment": "DELETE FROM payments WHERE payment_id = {payment_id}",
    "delete throttle rows": "DELETE FROM login_throttle",
    "delete activation codes": "DELETE FROM activation_codes",
    "truncate payments": "TRUNCATE TABLE payments",
    "drop payments": "DROP TABLE payments",
    "drop bills": "DROP TABLE bills",
    "alter bills": "ALTER TABLE bills ADD COLUMN sneaky INT",
    "create a table": "CREATE TABLE sneaky (id INT)",
    "raise a bill total": "UPDATE bills SET total_amount = 1.00 WHERE bill_id = {bill_id}",
    "change bill units": "UPDATE bills SET units_used = 1 WHERE bill_id = {bill_id}",
    "change bill rate": "UPDATE bills SET rate_per_unit = 0.0001 WHERE bill_id = {bill_id}",
    "move a due date": "UPDATE bills SET due_date = '2099-01-01' WHERE bill_id = {bill_id}",
    "issue a bill": (
        "INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount,"
        " due_date) VALUES ({customer_id}, '2030-01-01', 1, 1, 1, '2030-02-14')"
    ),
    "change a payment amount": (
        "UPDATE payments SET amount_paid = 1.00 WHERE payment_id = {payment_id}"
    ),
    "void a payment": (
        "UPDATE payments SET voided_at = NOW(), void_reason = 'x' WHERE payment_id = {payment_id}"
    ),
    "change a meter number": (
        "UPDATE customers SET meter_number = 'HACKED' WHERE customer_id = {customer_id}"
    ),
    "change a name": "UPDATE customers SET full_name = 'Hacked' WHERE customer_id = {customer_id}",
    "add a customer": (
        "INSERT INTO customers (meter_number, full_name, address) VALUES ('NEW-1', 'New', 'Addr')"
    ),
    "read admins": "SELECT * FROM admins",
    "read admin emails": "SELECT email FROM admins",
    "count admins": "SELECT COUNT(*) FROM admins",
    "add an admin": (
        "INSERT INTO admins (admin_name, email, password_hash) VALUES ('Evil', 'e@e.io', 'x')"
    ),
    "promote an admin": "UPDATE admins SET role = 'admin'",
    "delete admins": "DELETE FROM admins",
    "read the audit log": "SELECT * FROM audit_log",
    "count the audit log": "SELECT COUNT(*) FROM audit_log",
    "write the audit log": (
        "INSERT INTO audit_log (action, entity_type, entity_id) VALUES ('x', 'y', 'z')"
    ),
    "erase the audit log": "DELETE FROM audit_log",
    "read another database": "SELECT * FROM mysql.user",
    "grant itself more": "GRANT DELETE ON {db}.bills TO CURRENT_USER",
    # Meter readings (migration 0019): a customer submits one, pending; only staff decide.
    "accept a meter reading": "UPDATE meter_readings SET status = 'accepted'",
    "change a meter reading": "UPDATE meter_readings SET reading = 1",
    "delete a meter reading": "DELETE FROM meter_readings",
    "record a reading as staff": (
        "INSERT INTO meter_readings (customer_id, billing_month, reading, source, status) "
        "VALUES ({customer_id}, '2026-11-01', 1, 'staff', 'accepted')"
    ),
    "submit a reading already reviewed": (
        "INSERT INTO meter_readings (customer_id, billing_month, reading, reviewed_by_admin_id)"
        " VALUES ({customer_id}, '2026-11-01', 1, 1)"
    ),
    # Update ids and daily job runs (migration 0024): the bot's admin account alone claims
    # them; the customer account could otherwise drop an update or skip a day's late fees.
    "read the handled update ids": "SELECT * FROM processed_updates",
    "claim an update id": (
        "INSERT INTO processed_updates (update_id, claimed_at, claimed_by) "
        "VALUES (1, NOW(), 'customer')"
    ),
    "claim a day's job run": (
        "INSERT INTO job_runs (job_name, period, claimed_by, claimed_at, lease_until) "
        "VALUES ('late_fees', CURDATE(), 'customer', NOW(), NOW() + INTERVAL 1 DAY)"
    ),
    "finish a job run": "UPDATE job_runs SET finished_at = NOW()",
}


@pytest.mark.parametrize("statement", REFUSED_TO_CUSTOMER.values(), ids=REFUSED_TO_CUSTOMER.keys())
async def test_the_customer_account_is_refused_what_customer_flows_do_not_need(
    seeded: Seeded,
    customer_conn: pymysql.connections.Connection,
    admin_conn: pymysql.connections.Connection,
    test_database: conftest.TestDatabase,
    statement: str,
) -> None:
    """Each statement fails with an access-denied error and leaves every table as it was."""
    sql = statement.format(
        customer_id=seeded.customer_id,
        bill_id=seeded.bill_id,
        payment_id=seeded.payment_id,
        db=test_database.customer.database,
    )
    before = _snapshot(admin_conn)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        with customer_conn.cursor() as cur:
            cur.execute(sql)
    assert refused.value.args[0] in ACCESS_DENIED, refused.value
    assert _snapshot(admin_conn) == before


def test_the_customer_account_holds_no_delete_and_nothing_on_admins_or_the_audit_log(
    customer_conn: pymysql.connections.Connection,
) -> None:
    """Its own SHOW GRANTS lists no DELETE, no database-wide grant and no admins/audit_log."""
    with customer_conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = [row[0] for row in cur.fetchall()]
    text = "\n".join(grants)
    assert "DELETE" not in text
    assert "ALL PRIVILEGES" not in text
    assert "GRANT OPTION" not in text
    assert "`admins`" not in text and "`audit_log`" not in text
    assert not any(".* TO" in g and "USAGE" not in g for g in grants), grants


async def test_the_customer_account_can_run_every_customer_flow_of_the_domain(
    customer_db: Database, admin_db: Database
) -> None:
    """Activation, login, profile, password, bills, a card invoice and its pre-checkout, a
    transfer claim, paying from credit, receipts and logout all succeed."""
    first = await make_customer(admin_db, full_name="Flow Customer")
    bill = await make_bill(admin_db, first)
    code = await customers.issue_activation_code(admin_db, first.customer_id)

    assert (await customers.check_activation_code(customer_db, code)).customer_id == (
        first.customer_id
    )
    redeemed = await customers.redeem_activation_code(customer_db, code, "first-pass-1", 501)
    assert redeemed.telegram_user_id == 501 and redeemed.has_password
    found = await customers.find_by_telegram(customer_db, 501)
    assert found is not None and found.customer_id == first.customer_id

    updated = await customers.update_contact(
        customer_db, first.customer_id, phone_number="+2348000000001", email="Flow@Example.com"
    )
    assert (updated.phone_number, updated.email) == ("+2348000000001", "flow@example.com")

    await customers.check_password(customer_db, first.customer_id, "first-pass-1")
    await customers.set_password(customer_db, first.customer_id, "second-pass-2")

    board = await customers.dashboard(customer_db, first.customer_id)
    assert board.balance_due == bill.total_amount
    assert [b.bill_id for b in await bills.pending_bills(customer_db, first.customer_id)] == [
        bill.bill_id
    ]
    assert (await bills.customer_bills(customer_db, first.customer_id)).total == 1
    assert (await bills.get(customer_db, bill.bill_id, customer_id=first.customer_id)) == bill

    # A card invoice and its pre-checkout answer; a transfer claim, which moves nothing.
    invoice = await card_payments.create_invoice(
        customer_db,
        customer_id=first.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal("23.45"),
        currency=DOLLARS,
        lifetime=timedelta(minutes=30),
    )
    checked = await card_payments.check_pre_checkout(
        customer_db,
        reference=invoice.reference,
        telegram_user_id=501,
        currency_code="USD",
        total_minor=2345,
        currency=DOLLARS,
    )
    assert checked.invoice_id == invoice.invoice_id
    claim = await claims.submit(
        customer_db,
        customer_id=first.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal("1.00"),
        method=PaymentMethod.BANK_TRANSFER,
        reference="FLOW-TRF-0001",
    )
    assert [c.claim_id for c in await claims.customer_claims(customer_db, first.customer_id)] == [
        claim.claim_id
    ]
    assert (await bills.get(customer_db, bill.bill_id)).amount_paid == 0

    # Paying from the account credit a provider charge left (the only payment a customer
    # records by themselves).
    await give_credit(admin_db, bill, bill.total_amount)
    assert await card_payments.credit_balance(customer_db, first.customer_id) == (
        bill.total_amount
    )
    paid = await payments.pay_bill(
        customer_db,
        bill_id=bill.bill_id,
        amount=bill.total_amount,
        method=PaymentMethod.CREDIT,
        idempotency_key="flow-key",
        customer_id=first.customer_id,
    )
    assert paid.bill.payment_status is PaymentStatus.PAID
    assert await card_payments.credit_balance(customer_db, first.customer_id) == 0
    again = await payments.find_by_key(customer_db, "flow-key", customer_id=first.customer_id)
    assert again is not None and again.payment_id == paid.payment.payment_id
    receipt = await receipts.receipt(
        customer_db, paid.payment.payment_id, customer_id=first.customer_id
    )
    assert receipt.balance == 0
    assert (await payments.customer_payments(customer_db, first.customer_id)).total == 1

    assert await customers.logout(customer_db, 501)
    assert await customers.find_by_telegram(customer_db, 501) is None

    # A second customer, imported with the seed's sha256 hash, logs in on another phone after
    # one wrong try: the failure is recorded, the hash upgraded, the phone linked.
    second = await make_customer(admin_db, full_name="Imported Customer")
    legacy = hashlib.sha256(b"seed-pass-3").hexdigest()
    await customers.set_password_hash(admin_db, second.customer_id, legacy)
    with pytest.raises(AuthenticationFailed):
        await customers.login(customer_db, second.meter_number, "wrong-pass", 502)
    logged_in = await customers.login(customer_db, second.meter_number, "seed-pass-3", 502)
    assert logged_in.telegram_user_id == 502
    relogged = await customers.login(customer_db, first.meter_number, "second-pass-2", 503)
    assert relogged.customer_id == first.customer_id


def test_the_admin_account_cannot_touch_any_other_database(
    admin_conn: pymysql.connections.Connection,
) -> None:
    """CREATE TABLE in ``mysql``, reading ``mysql.user`` or creating a database is refused."""
    for sql in (
        "CREATE TABLE mysql.ebb_sneaky (id INT)",
        "SELECT user FROM mysql.user",
        "CREATE DATABASE ebb_sneaky_db",
        "DROP DATABASE mysql",
    ):
        with pytest.raises(pymysql.err.MySQLError) as refused:
            with admin_conn.cursor() as cur:
                cur.execute(sql)
        assert refused.value.args[0] in ACCESS_DENIED, (sql, refused.value)


def test_the_admin_account_has_no_grant_option(
    admin_conn: pymysql.connections.Connection, test_database: conftest.TestDatabase
) -> None:
    """It holds ALL PRIVILEGES on the billing database only, and cannot hand privileges on."""
    db = test_database.admin.database
    with admin_conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = [row[0] for row in cur.fetchall()]
    assert any(f"ALL PRIVILEGES ON `{db}`.*" in g for g in grants), grants
    assert not any("GRANT OPTION" in g for g in grants), grants
    assert not any("ON *.*" in g and "USAGE" not in g for g in grants), grants

    customer_user = test_database.customer.user
    (host,) = schema.account_hosts(test_database.root, customer_user)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        with admin_conn.cursor() as cur:
            cur.execute(f"GRANT DELETE ON `{db}`.bills TO '{customer_user}'@'{host}'")
    assert refused.value.args[0] in ACCESS_DENIED, refused.value


# ---------------------------------------------------------------------------------------------
# The money invariants, enforced by the database itself (migration 0005, issue 17)

PAYMENT_COLUMNS = (
    "bill_id, date_of_payment, amount_paid, payment_method, billing_month, payment_status, "
    "receipt_number, idempotency_key, bill_total, paid_to_date, units_used, rate_per_unit"
)
# A payment from credit: the one kind the customer account may insert by itself.
PAYMENT_VALUES = (
    "{bill_id}, UTC_TIMESTAMP(), {amount}, '{method}', '2026-10-01', 'paid', '{receipt}', "
    "'{receipt}', 1.00, 1.00, 1.00, 1.0000"
)


def _payment_values(bill_id: str, amount: str, receipt: str, method: str = "credit") -> str:
    return PAYMENT_VALUES.format(bill_id=bill_id, amount=amount, receipt=receipt, method=method)


# Each would commit a falsified balance or report on the seed's grants alone.
FALSIFYING_AS_CUSTOMER = {
    "mark a bill paid with no payment": (
        "UPDATE bills SET amount_paid = total_amount, payment_status = 'paid' "
        "WHERE bill_id = {bill_id}"
    ),
    "zero a bill that has payments": (
        "UPDATE bills SET amount_paid = 0, payment_status = 'unpaid' WHERE bill_id = {bill_id}"
    ),
    "claim a payment recorded by staff": (
        f"INSERT INTO payments ({PAYMENT_COLUMNS}, recorded_by_admin_id) VALUES "
        f"({_payment_values('{bill_id}', '5.00', 'FAKE-1')}, "
        "{admin_id})"
    ),
    "insert a payment already void": (
        f"INSERT INTO payments ({PAYMENT_COLUMNS}, voided_at, void_reason) VALUES "
        f"({_payment_values('{bill_id}', '5.00', 'FAKE-2')}, "
        "UTC_TIMESTAMP(), 'void')"
    ),
    # One cent more than the 113.45 owed, from credit the customer has (200.00).
    "pay more than the bill owes": (
        f"INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES "
        f"({_payment_values('{bill_id}', '113.46', 'FAKE-3')})"
    ),
    "raise its own credit": "UPDATE customers SET credit = credit + 1000",
    "write a credit entry": (
        "INSERT INTO credit_entries (customer_id, kind, amount, charge_id) "
        "SELECT customer_id, 'received', 1000, charge_id FROM provider_charges"
    ),
    "record a provider charge": (
        "INSERT INTO provider_charges (telegram_payment_charge_id, provider_payment_charge_id,"
        " invoice_id, customer_id, amount, currency, credited, received_at)"
        " SELECT 'fake-charge', 'fake-provider', invoice_id, customer_id, 1000, currency, 1000,"
        " UTC_TIMESTAMP() FROM invoices"
    ),
    "mark an invoice paid": "UPDATE invoices SET status = 'paid', paid_at = UTC_TIMESTAMP()",
    "inflate the revenue totals": (
        "INSERT INTO payment_totals (payment_date, payment_method, shard, payments, amount) "
        "VALUES ('2026-11-01', 'card', 1, 1, 99999999) "
        "ON DUPLICATE KEY UPDATE amount = amount + 99999999"
    ),
    "clear the debtors' balances": "UPDATE customer_balances SET owed = 0",
    "mark the billed months collected": "UPDATE bill_totals SET collected = billed, owed = 0",
}
# The database's own refusal (SIGNAL from a trigger), besides access denied.
REFUSED_BY_TRIGGER = 1644


@pytest.mark.parametrize(
    "statement", FALSIFYING_AS_CUSTOMER.values(), ids=FALSIFYING_AS_CUSTOMER.keys()
)
async def test_the_customer_account_cannot_falsify_a_balance_or_a_report(
    seeded: Seeded,
    customer_conn: pymysql.connections.Connection,
    admin_conn: pymysql.connections.Connection,
    statement: str,
) -> None:
    """Each statement is refused (by a grant or by the database's triggers), and every table,
    the bill and the report totals included, is left as it was."""
    with admin_conn.cursor() as cur:
        cur.execute("SELECT admin_id FROM admins")
        (admin_id,) = _one_row(cur)
    sql = statement.format(bill_id=seeded.bill_id, admin_id=admin_id)
    before = _snapshot(admin_conn)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        with customer_conn.cursor() as cur:
            cur.execute(sql)
    assert refused.value.args[0] in ACCESS_DENIED | {REFUSED_BY_TRIGGER}, refused.value
    assert _snapshot(admin_conn) == before


def _one_row(cur: pymysql.cursors.Cursor) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None
    return tuple(row)


FALSIFYING_AS_ANYONE = {
    "set a bill's paid amount by hand": "UPDATE bills SET amount_paid = 20.00, "
    "payment_status = 'partial' WHERE bill_id = {bill_id}",
    "issue a bill already paid": (
        "INSERT INTO bills (customer_id, billing_month, units_used, rate_per_unit, total_amount,"
        " amount_paid, payment_status, due_date) "
        "VALUES ({customer_id}, '2030-01-01', 1, 1, 1, 1, 'paid', '2030-02-14')"
    ),
    "change a payment's amount": (
        "UPDATE payments SET amount_paid = 1.00 WHERE payment_id = {payment_id}"
    ),
    "move a payment to another bill": (
        "UPDATE payments SET bill_id = bill_id + 1000 WHERE payment_id = {payment_id}"
    ),
    "move a bill to another customer": (
        "UPDATE bills SET customer_id = customer_id + 1000 WHERE bill_id = {bill_id}"
    ),
    "set a customer's credit by hand": (
        "UPDATE customers SET credit = credit + 100 WHERE customer_id = {customer_id}"
    ),
    "change a credit entry": (
        "UPDATE credit_entries SET amount = amount + 100 WHERE customer_id = {customer_id}"
    ),
    "change what a provider charge credited": (
        "UPDATE provider_charges SET credited = 0 WHERE customer_id = {customer_id}"
    ),
}


@pytest.mark.parametrize(
    "statement", FALSIFYING_AS_ANYONE.values(), ids=FALSIFYING_AS_ANYONE.keys()
)
async def test_the_admin_account_too_is_refused_a_bill_that_disagrees_with_its_payments(
    seeded: Seeded, admin_conn: pymysql.connections.Connection, statement: str
) -> None:
    """The bill invariant holds for every writer, not only the customer account: the triggers
    refuse these from the account that owns the tables, and nothing changes."""
    sql = statement.format(
        bill_id=seeded.bill_id, customer_id=seeded.customer_id, payment_id=seeded.payment_id
    )
    before = _snapshot(admin_conn)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        with admin_conn.cursor() as cur:
            cur.execute(sql)
    assert refused.value.args[0] == REFUSED_BY_TRIGGER, refused.value
    assert _snapshot(admin_conn) == before


async def test_a_void_is_final_and_moves_the_bill_and_the_totals_by_itself(
    seeded: Seeded, admin_conn: pymysql.connections.Connection, admin_db: Database
) -> None:
    """A void sent as bare SQL takes the payment off its bill and off the revenue; taking the
    void back is refused."""
    with admin_conn.cursor() as cur:
        cur.execute(
            "UPDATE payments SET voided_at = UTC_TIMESTAMP(), void_reason = 'test' "
            f"WHERE payment_id = {seeded.payment_id}"
        )
        cur.execute(
            f"SELECT amount_paid, payment_status FROM bills WHERE bill_id = {seeded.bill_id}"
        )
        assert _one_row(cur) == (Decimal("0.00"), "unpaid")
        with pytest.raises(pymysql.err.MySQLError) as refused:
            cur.execute(
                "UPDATE payments SET voided_at = NULL, void_reason = NULL "
                f"WHERE payment_id = {seeded.payment_id}"
            )
    assert refused.value.args[0] == REFUSED_BY_TRIGGER
    assert await report_totals.differences(admin_db) == []


async def test_a_bare_payment_by_the_customer_account_moves_its_bill_and_every_total(
    seeded: Seeded, customer_conn: pymysql.connections.Connection, admin_db: Database
) -> None:
    """A payment from credit inserted with nothing else (no bill update, no totals, no credit
    entry, figures made up) is added to its bill and to the report totals and taken off the
    customer's credit by the database, and carries the bill's real figures for its receipt."""
    with customer_conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(
            f"INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES "
            f"({_payment_values(str(seeded.bill_id), '5.00', 'BARE-1')})"
        )
        cur.execute("COMMIT")
        cur.execute(
            "SELECT amount_paid, payment_status, total_amount, billing_month FROM bills "
            f"WHERE bill_id = {seeded.bill_id}"
        )
        paid, status, total, month = _one_row(cur)
        cur.execute(
            "SELECT paid_to_date, bill_total, payment_status, billing_month FROM payments "
            "WHERE receipt_number = 'BARE-1'"
        )
        receipt = _one_row(cur)
    assert (paid, status) == (Decimal("15.00"), "partial")
    assert receipt == (Decimal("15.00"), total, "partial", month)
    assert await report_totals.differences(admin_db) == []
    credit = await card_payments.credit_balance(admin_db, seeded.customer_id)
    assert credit == SEEDED_CREDIT - Decimal("5.00")


@pytest.mark.parametrize("method", ["card", "bank_transfer"])
async def test_the_customer_account_cannot_insert_a_payment_nobody_took(
    seeded: Seeded,
    customer_conn: pymysql.connections.Connection,
    admin_conn: pymysql.connections.Connection,
    method: str,
) -> None:
    """A card or transfer payment the customer account inserts by itself (no provider charge,
    no staff member recording it), of an amount the bill owes, is refused by the database's
    trigger (1644) and nothing changes. The domain's own refusal (PaymentNotTaken), mobile
    money, and a payment from credit the customer does not hold are in
    tests/test_domain_card_payments.py
    (test_a_customer_cannot_record_a_card_or_transfer_payment_by_saying_so)."""
    before = _snapshot(admin_conn)
    with pytest.raises(pymysql.err.MySQLError) as refused:
        with customer_conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES "
                f"({_payment_values(str(seeded.bill_id), '5.00', 'DECLARED-1', method)})"
            )
    assert refused.value.args[0] == REFUSED_BY_TRIGGER, refused.value
    # A card payment must be a provider charge's part; any other is taken by staff.
    assert "provider" in refused.value.args[1]
    assert _snapshot(admin_conn) == before
