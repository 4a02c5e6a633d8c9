"""Bringing in the original system's data (domain.legacy_import, ``run_bot.py import-legacy``).

Each test builds its own old database (``ebb_legacy_<random>``, dropped at the end) with the
original tables and column names — ``Customer``, ``Bills``, ``Payment``, ``Admin``; fullName,
User_password, AdminName, admin_password… — including rows the import must refuse. Proves: a
dry run reports every row and changes nothing; a run takes every good row (payments through
the payment writer, so bills and report totals come out right) and refuses the rest with
reasons; a second run adds nothing; rows added to the old system later are brought in by the
next run; old passwords log in once and are upgraded.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pymysql
import pytest

import run_bot
from domain import admins, bills, customers, legacy_import, payments, report_totals
from domain.db import Database, DatabaseUrl
from domain.errors import AuthenticationFailed, LegacySchemaMismatch
from domain.legacy_import import ADMIN, BILLS, CUSTOMER, PAYMENT, ImportReport
from domain.models import PaymentMethod, Role
from tests.conftest import ROOT_URL, TestDatabase, raw_connection
from tests.factories import make_bill, make_clerk, make_customer

LAGOS = ZoneInfo("Africa/Lagos")


def sha(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


# The original console system's tables, as it made them: no foreign keys, no unique meter,
# money in DOUBLE where it was careless and DECIMAL where it was not.
LEGACY_SCHEMA = (
    """CREATE TABLE Customer (
        customer_id INT AUTO_INCREMENT PRIMARY KEY,
        fullName VARCHAR(100) NOT NULL,
        address VARCHAR(255),
        phoneNumber VARCHAR(20),
        email VARCHAR(100),
        meter_number VARCHAR(20),
        User_password VARCHAR(64))""",
    """CREATE TABLE Admin (
        admin_id INT AUTO_INCREMENT PRIMARY KEY,
        AdminName VARCHAR(100) NOT NULL,
        email VARCHAR(100),
        admin_password VARCHAR(64) NOT NULL,
        role VARCHAR(50) DEFAULT 'admin')""",
    """CREATE TABLE Bills (
        bill_id INT AUTO_INCREMENT PRIMARY KEY,
        customer_id INT,
        billing_month VARCHAR(20),
        units_used DOUBLE,
        rate_per_unit DOUBLE,
        total_amount DOUBLE,
        amount_paid DOUBLE DEFAULT 0,
        payment_status VARCHAR(20) DEFAULT 'Unpaid',
        due_date DATE)""",
    """CREATE TABLE Payment (
        payment_id INT AUTO_INCREMENT PRIMARY KEY,
        bill_id INT,
        customer_id INT,
        billing_month VARCHAR(20),
        amount_paid DECIMAL(10,2),
        payment_method VARCHAR(30),
        payment_status VARCHAR(20),
        date_of_payment DATETIME)""",
)

CUSTOMERS = [
    # customer_id, meter_number, fullName, address, phoneNumber, email, User_password
    (1, "MTR-1001", "Amina Bello", "12 Marina Road", "+2348010000001", "amina@example.com",
     sha("amina-old-pw")),
    (2, "MTR-1002", "Bayo Ade", "", "call me", None, None),  # a phone that is no phone
    (3, "mtr-1001", "Copy Cat", "1 Copy Street", None, None, None),  # duplicate meter
    (4, None, "No Meter", "2 Nowhere", None, None, None),
    (5, "MTR-1005", "Chidi Obi", "5 Allen Avenue", None, None, "plaintext"),
    (6, "MTR-9999", "Taken Meter", "9 Taken Road", None, None, None),  # meter in use here
    (7, "MTR-1007", "X", "7 Short Name Street", None, None, None),
]  # fmt: skip
BILLS_ROWS = [
    # bill_id, customer_id, billing_month, units, rate, total, amount_paid, status, due_date
    (1, 1, "2024-01", 100, 68.5, 6850, 6850, "Paid", "2024-02-14"),
    (2, 1, "2024-02", 120, 68.5, 8220, 8220, "Paid", "2024-03-14"),  # says paid; is not
    (3, 1, "January 2024", 10, 68.5, 685, 0, "Unpaid", None),  # a second 2024-01
    (4, 2, "2024-01-01", 50, 70, 3500, 0, "Unpaid", "2024-02-14"),
    (5, 3, "2024-01", 10, 70, 700, 0, "Unpaid", None),  # its customer is refused
    (6, 42, "2024-01", 10, 70, 700, 0, "Unpaid", None),  # no such customer
    (7, 5, "2024-13", 10, 70, 700, 0, "Unpaid", None),
    (8, 5, "2024-02", 10, 10, 150, 0, "Unpaid", None),  # total is not units × rate
    (9, 5, "2024-03", -5, 70, -350, 0, "Unpaid", None),
    (10, 5, "March 2024", 200, 68.5, 13700, None, None, None),
]
PAYMENTS = [
    # payment_id, bill_id, amount_paid, payment_method, date_of_payment, billing_month
    (1, 1, "3000.00", "Cash", "2024-02-10 09:00:00", "2024-01"),
    (2, 1, "3850.00", "Bank Transfer", "2024-02-12 15:30:00", "2024-01"),
    (3, 2, "5000.00", "mobile money", "2024-03-01 10:00:00", "2024-02"),
    (4, 4, "4000.00", "cash", "2024-02-05 10:00:00", "2024-01"),  # more than the bill
    (5, 4, "1000.00", "Card", "2024-02-06 10:00:00", "2024-01"),
    (6, 99, "100.00", "cash", "2024-02-06 10:00:00", None),  # unknown bill
    (7, 3, "100.00", "cash", "2024-02-06 10:00:00", None),  # its bill is refused
    (8, 1, "100.00", "cash", "2024-03-01 10:00:00", "2024-01"),  # bill already paid
    (9, 2, "50.00", "Cheque", "2024-03-02 10:00:00", "2024-02"),
    (10, 2, "0.00", "cash", "2024-03-02 10:00:00", "2024-02"),
    (11, 2, "10.00", "cash", None, "2024-02"),
    (12, 2, "20.00", "cash", "2024-03-05 10:00:00", "2024-01"),  # month is not its bill's
]
ADMINS = [
    # admin_id, AdminName, email, admin_password, role
    (1, "Grace Admin", "grace@old.example", sha("grace-old-pw"), "admin"),
    (2, "Viewer Vic", "vic@old.example", sha("vic-old-pw"), "viewer"),
    (3, "No Mail", None, sha("x"), "admin"),
    (4, "Plain Pat", "pat@old.example", "letmein", "admin"),
    (5, "grace admin", "g2@old.example", sha("y"), "admin"),  # the same name
    (6, "Odd Role", "odd@old.example", sha("z"), "clerk"),
]

EXPECTED = {  # table: (added, already here, refused)
    CUSTOMER: (3, 0, 4),
    BILLS: (4, 0, 6),
    PAYMENT: (5, 0, 7),
    ADMIN: (3, 0, 3),
}
EXPECTED_REFUSED = {
    (CUSTOMER, "3"): "duplicate meter: MTR-1001 is already Customer 1's",
    (CUSTOMER, "4"): "has no meter_number",
    (CUSTOMER, "6"): "duplicate meter: MTR-9999 is already used by a customer who did not",
    (CUSTOMER, "7"): "fullName",
    (BILLS, "3"): "Customer 1 already has a bill for 2024-01: Bills 1",
    (BILLS, "5"): "its customer (Customer 3) is refused",
    (BILLS, "6"): "no customer 42",
    (BILLS, "7"): "billing_month '2024-13' is not a month",
    (BILLS, "8"): "total_amount 150.0 is not units × rate (10.00 × 10.0000 = 100.00)",
    (BILLS, "9"): "units_used -5.0 is not above 0",
    (PAYMENT, "4"): "payment larger than its bill: 4,000.00 is more than the 3,500.00 still owed",
    (PAYMENT, "6"): "no bill 99 (unknown bill)",
    (PAYMENT, "7"): "its bill (Bills 3) is refused",
    (PAYMENT, "8"): "its bill (Bills 1) is already paid in full",
    (PAYMENT, "9"): "payment_method 'Cheque' is none of",
    (PAYMENT, "10"): "amount_paid 0.00 is not above 0",
    (PAYMENT, "11"): "date_of_payment NULL is not a date",
    (ADMIN, "3"): "has no email address",
    (ADMIN, "4"): "admin_password is not a sha256 hash",
    (ADMIN, "5"): "the name 'grace admin' is already Admin 1's",
}


def fill_legacy(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur:
        for statement in LEGACY_SCHEMA:
            cur.execute(statement)
        cur.executemany(
            "INSERT INTO Customer (customer_id, meter_number, fullName, address, phoneNumber,"
            " email, User_password) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            CUSTOMERS,
        )
        cur.executemany(
            "INSERT INTO Bills (bill_id, customer_id, billing_month, units_used, rate_per_unit,"
            " total_amount, amount_paid, payment_status, due_date)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            BILLS_ROWS,
        )
        cur.executemany(
            "INSERT INTO Payment (payment_id, bill_id, amount_paid, payment_method,"
            " date_of_payment, billing_month) VALUES (%s, %s, %s, %s, %s, %s)",
            PAYMENTS,
        )
        cur.executemany(
            "INSERT INTO Admin (admin_id, AdminName, email, admin_password, role)"
            " VALUES (%s, %s, %s, %s, %s)",
            ADMINS,
        )


@pytest.fixture
def legacy_url() -> Iterator[DatabaseUrl]:
    """An empty old database of its own, dropped at the end."""
    name = f"ebb_legacy_{secrets.token_hex(4)}"
    conn = raw_connection(ROOT_URL, database="")
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield ROOT_URL.with_database(name)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def old_conn(legacy_url: DatabaseUrl) -> Iterator[pymysql.connections.Connection]:
    """The old database, filled with the original system's rows (good and bad)."""
    conn = raw_connection(legacy_url)
    try:
        fill_legacy(conn)
        yield conn
    finally:
        conn.close()


@pytest.fixture
async def legacy(
    legacy_url: DatabaseUrl, old_conn: pymysql.connections.Connection
) -> AsyncIterator[Database]:
    old = await Database.connect(legacy_url, maxsize=2)
    try:
        yield old
    finally:
        await old.close()


async def run_import(db: Database, old: Database, *, dry_run: bool = False) -> ImportReport:
    return await legacy_import.import_legacy(db, old, dry_run=dry_run, due_days=14, timezone=LAGOS)


def tallies(report: ImportReport) -> dict[str, tuple[int, int, int]]:
    return {table: (t.added, t.present, t.refused) for table, t in report.tallies.items()}


def refused(report: ImportReport) -> dict[tuple[str, str], str]:
    return {(note.table, note.legacy_id): note.text for note in report.refused}


def snapshot(conn: pymysql.connections.Connection) -> dict[str, list[str]]:
    """Every row of every table of the billing database."""
    found: dict[str, list[str]] = {}
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        for (table,) in cur.fetchall():
            cur.execute(f"SELECT * FROM `{table}`")
            found[table] = sorted(map(repr, cur.fetchall()))
    return found


def rows(conn: pymysql.connections.Connection, sql: str) -> list[dict[str, object]]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql)
        return list(cur.fetchall())


async def test_a_dry_run_reports_every_row_and_changes_nothing(
    admin_db: Database, legacy: Database, admin_conn: pymysql.connections.Connection
) -> None:
    await make_customer(admin_db, meter_number="MTR-9999", full_name="Already Here")
    before = snapshot(admin_conn)
    report = await run_import(admin_db, legacy, dry_run=True)
    assert snapshot(admin_conn) == before
    assert tallies(report) == EXPECTED
    found = refused(report)
    assert found.keys() == EXPECTED_REFUSED.keys()
    for key, reason in EXPECTED_REFUSED.items():
        assert reason in found[key], key
    assert report.old_system_account == "would be created"
    text = "\n".join(legacy_import.summary(report))
    assert "Dry run: nothing was changed." in text
    assert "Payment 6: no bill 99 (unknown bill)" in text


async def test_an_import_takes_every_good_row_and_refuses_the_rest_with_reasons(
    admin_db: Database, legacy: Database, admin_conn: pymysql.connections.Connection
) -> None:
    await make_customer(admin_db, meter_number="MTR-9999", full_name="Already Here")
    report = await run_import(admin_db, legacy)
    assert tallies(report) == EXPECTED
    assert refused(report).keys() == EXPECTED_REFUSED.keys()
    assert report.totals_differences == []
    assert await report_totals.differences(admin_db) == []
    notes = {(n.table, n.legacy_id): n.text for n in report.notes}
    assert "phoneNumber 'call me' is not a phone number" in notes[(CUSTOMER, "2")]
    assert "User_password is not a sha256 hash" in notes[(CUSTOMER, "5")]
    assert (
        "said 8,220.00 was paid; the payments brought in add up to 5,020.00"
        in (notes[(BILLS, "2")])
    )
    assert "billing_month 2024-01 is not its bill's (2024-02)" in notes[(PAYMENT, "12")]
    assert "taken as viewer" in notes[(ADMIN, "6")]

    people = {
        r["meter_number"]: r
        for r in rows(admin_conn, "SELECT * FROM customers ORDER BY customer_id")
    }
    assert set(people) == {"MTR-9999", "MTR-1001", "MTR-1002", "MTR-1005"}
    assert people["MTR-1001"]["password_hash"] == sha("amina-old-pw")
    assert people["MTR-1001"]["full_name"] == "Amina Bello"
    assert people["MTR-1001"]["phone_number"] == "+2348010000001"
    assert people["MTR-1002"]["phone_number"] is None
    assert people["MTR-1002"]["address"] == ""
    assert people["MTR-1005"]["password_hash"] is None

    issued = {
        (r["meter_number"], r["billing_month"]): r
        for r in rows(
            admin_conn,
            "SELECT c.meter_number, b.* FROM bills b JOIN customers c USING (customer_id)",
        )
    }
    assert {k: (b["total_amount"], b["amount_paid"], b["payment_status"]) for k, b in
            issued.items()} == {
        ("MTR-1001", date(2024, 1, 1)): (Decimal("6850.00"), Decimal("6850.00"), "paid"),
        ("MTR-1001", date(2024, 2, 1)): (Decimal("8220.00"), Decimal("5020.00"), "partial"),
        ("MTR-1002", date(2024, 1, 1)): (Decimal("3500.00"), Decimal("1000.00"), "partial"),
        ("MTR-1005", date(2024, 3, 1)): (Decimal("13700.00"), Decimal("0.00"), "unpaid"),
    }  # fmt: skip
    assert issued[("MTR-1001", date(2024, 1, 1))]["due_date"] == date(2024, 2, 14)
    assert issued[("MTR-1005", date(2024, 3, 1))]["due_date"] == date(2024, 4, 14)

    old_system = rows(admin_conn, "SELECT * FROM admins WHERE admin_name = 'Old system'")[0]
    assert old_system["role"] == Role.VIEWER.value
    paid = {
        r["idempotency_key"]: r
        for r in rows(admin_conn, "SELECT * FROM payments ORDER BY payment_id")
    }
    assert set(paid) == {f"legacy:{n}" for n in (1, 2, 3, 5, 12)}
    assert {r["recorded_by_admin_id"] for r in paid.values()} == {old_system["admin_id"]}
    assert paid["legacy:5"]["payment_method"] == PaymentMethod.POS.value  # a card at the office
    assert paid["legacy:2"]["payment_method"] == PaymentMethod.BANK_TRANSFER.value
    # 09:00 in Lagos (UTC+1) is 08:00 UTC; the receipt's copy of the bill is the bill's.
    assert paid["legacy:1"]["date_of_payment"] == datetime(2024, 2, 10, 8, 0)
    assert paid["legacy:1"]["paid_to_date"] == Decimal("3000.00")
    assert paid["legacy:2"]["payment_status"] == "paid"
    assert paid["legacy:12"]["billing_month"] == date(2024, 2, 1)

    staff = {r["email"]: r for r in rows(admin_conn, "SELECT * FROM admins")}
    assert staff["grace@old.example"]["password_hash"] == sha("grace-old-pw")
    assert staff["grace@old.example"]["role"] == "admin"
    assert staff["vic@old.example"]["role"] == "viewer"
    assert staff["odd@old.example"]["role"] == "viewer"

    # Every imported bill names the run's audit entry; every new customer has its own.
    [run] = rows(admin_conn, "SELECT * FROM audit_log WHERE action = 'legacy.import'")
    assert {b["import_audit_id"] for b in issued.values()} == {run["audit_id"]}
    assert len(rows(admin_conn, "SELECT * FROM audit_log WHERE action = 'customer.import'")) == 3


async def test_a_second_run_adds_nothing(
    admin_db: Database, legacy: Database, admin_conn: pymysql.connections.Connection
) -> None:
    await make_customer(admin_db, meter_number="MTR-9999", full_name="Already Here")
    await run_import(admin_db, legacy)
    after_first = snapshot(admin_conn)
    again = await run_import(admin_db, legacy)
    assert snapshot(admin_conn) == after_first
    assert tallies(again) == {
        table: (0, added, refused_) for table, (added, _, refused_) in EXPECTED.items()
    }
    assert refused(again).keys() == EXPECTED_REFUSED.keys()
    assert again.totals_differences == []
    assert again.old_system_account == "exists"


async def test_rows_added_to_the_old_system_later_come_in_with_the_next_run(
    admin_db: Database,
    legacy: Database,
    old_conn: pymysql.connections.Connection,
    admin_conn: pymysql.connections.Connection,
) -> None:
    await make_customer(admin_db, meter_number="MTR-9999", full_name="Already Here")
    await run_import(admin_db, legacy)
    # Meanwhile, here: staff change an imported customer's meter number and bill another one
    # for April; in the old system: a payment, a bill, and a bill for that same April.
    amina = await customers.get_by_meter(admin_db, "MTR-1001")
    clerk = await admins.find_by_email(admin_db, "grace@old.example")
    assert clerk is not None
    await customers.edit_by_admin(
        admin_db, amina.customer_id, "meter_number", "MTR-2001", admin_id=clerk.admin_id
    )
    chidi = await customers.get_by_meter(admin_db, "MTR-1005")
    await make_bill(admin_db, chidi, month=date(2024, 4, 1))
    with old_conn.cursor() as cur:
        cur.execute(
            "INSERT INTO Payment (payment_id, bill_id, amount_paid, payment_method,"
            " date_of_payment) VALUES (13, 2, 100.00, 'Cash', '2024-03-20 11:00:00')"
        )
        cur.execute(
            "INSERT INTO Bills (bill_id, customer_id, billing_month, units_used, rate_per_unit,"
            " total_amount) VALUES (11, 2, '2024-02', 10, 70, 700), (12, 5, '2024-04', 1, 1, 1)"
        )
        cur.execute(
            "INSERT INTO Payment (payment_id, bill_id, amount_paid, payment_method,"
            " date_of_payment) VALUES (14, 11, 700.00, 'POS', '2024-03-21')"
        )
    report = await run_import(admin_db, legacy)
    assert tallies(report) == {
        CUSTOMER: (0, 3, 4),
        BILLS: (1, 4, 7),
        PAYMENT: (2, 5, 7),
        ADMIN: (0, 3, 3),
    }
    assert refused(report)[(BILLS, "12")].startswith(
        "Customer 5 already has a bill for 2024-04: bill "
    )
    assert refused(report)[(BILLS, "12")].endswith("of this system, not from the old one")
    amina_bills = rows(
        admin_conn,
        f"SELECT amount_paid FROM bills WHERE customer_id = {amina.customer_id}"
        " AND billing_month = '2024-02-01'",
    )
    assert amina_bills == [{"amount_paid": Decimal("5120.00")}]
    [pos] = rows(admin_conn, "SELECT * FROM payments WHERE idempotency_key = 'legacy:14'")
    assert pos["payment_status"] == "paid"
    # A date alone is noon in Lagos, so the day is the same one in UTC.
    assert pos["date_of_payment"] == datetime(2024, 3, 21, 11, 0)
    assert report.totals_differences == []


async def test_a_payment_taken_here_while_an_import_runs_is_checked_again_when_written(
    admin_db: Database,
    legacy: Database,
    old_conn: pymysql.connections.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The plan is made from what was read; the bill is locked and checked again before each
    old payment is written, so staff taking a payment meanwhile never lets it overpay."""
    await run_import(admin_db, legacy)
    with old_conn.cursor() as cur:
        cur.execute(
            "INSERT INTO Payment (payment_id, bill_id, amount_paid, payment_method,"
            " date_of_payment) VALUES (13, 10, 13700.00, 'Cash', '2024-04-02 10:00:00')"
        )
    chidi = await customers.get_by_meter(admin_db, "MTR-1005")
    [bill] = (await bills.customer_bills(admin_db, chidi.customer_id)).items
    clerk = await make_clerk(admin_db)
    planned = legacy_import._old_system_account  # called once the plan is made

    async def staff_take_a_payment_first(db: Database) -> int:
        await payments.pay_bill(
            db,
            bill_id=bill.bill_id,
            amount=Decimal("100.00"),
            method=PaymentMethod.CASH,
            idempotency_key="office-1",
            admin_id=clerk.admin_id,
        )
        return await planned(db)

    monkeypatch.setattr(legacy_import, "_old_system_account", staff_take_a_payment_first)
    report = await run_import(admin_db, legacy)
    assert tallies(report)[PAYMENT] == (0, 5, 8)
    assert refused(report)[(PAYMENT, "13")] == (
        "payment larger than its bill: 13,700.00 is more than the 13,600.00 now owed on Bills 10"
    )
    assert report.totals_differences == []


async def test_old_passwords_log_in_once_and_are_upgraded(
    admin_db: Database, customer_db: Database, legacy: Database
) -> None:
    await run_import(admin_db, legacy)
    amina = await customers.login(customer_db, "MTR-1001", "amina-old-pw", 5551)
    assert amina.telegram_user_id == 5551
    grace = await admins.authenticate(admin_db, "grace@old.example", "grace-old-pw", None)
    assert grace.role is Role.ADMIN
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "SELECT password_hash FROM customers WHERE meter_number = 'MTR-1001'"
            " UNION ALL SELECT password_hash FROM admins WHERE email = 'grace@old.example'"
        )
        hashes = [row[0] for row in await cur.fetchall()]
    assert all(h.startswith("pbkdf2_sha256$") for h in hashes)


async def test_nobody_can_log_in_as_the_old_system(admin_db: Database, legacy: Database) -> None:
    await run_import(admin_db, legacy)
    with pytest.raises(AuthenticationFailed):
        await admins.authenticate(admin_db, legacy_import.OLD_SYSTEM_EMAIL, "", None)


async def test_a_database_without_the_original_tables_is_refused_with_what_is_missing(
    admin_db: Database, legacy_url: DatabaseUrl
) -> None:
    conn = raw_connection(legacy_url)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE customer (customer_id INT, meter_number VARCHAR(20))")
            cur.execute("CREATE TABLE Bills (bill_id INT, customer_id INT)")
    finally:
        conn.close()
    old = await Database.connect(legacy_url, maxsize=1)
    try:
        with pytest.raises(LegacySchemaMismatch) as caught:
            await run_import(admin_db, old, dry_run=True)
    finally:
        await old.close()
    assert caught.value.missing == [
        "no table Customer (there is customer: table names are case-sensitive)",
        "table Bills has no column billing_month, units_used, rate_per_unit",
        "no table Payment",
        "no table Admin",
    ]


async def test_the_command_line_prints_the_summary(
    admin_db: Database,
    test_database: TestDatabase,
    legacy: Database,
    legacy_url: DatabaseUrl,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """``run_bot.py import-legacy --from … --dry-run`` prints the table and every refused row;
    a --from that is no mysql:// URL ends with one line."""
    monkeypatch.chdir(tmp_path)  # no .env: the environment says everything
    monkeypatch.setenv("DATABASE_URL", test_database.admin.to_url())
    monkeypatch.setenv("CUSTOMER_DATABASE_URL", test_database.customer.to_url())
    monkeypatch.setenv("TIMEZONE", "Africa/Lagos")
    # main() runs its own event loop (asyncio.run): in a thread, beside this test's.
    command = ["import-legacy", "--from", legacy_url.to_url(), "--dry-run"]
    status = await asyncio.to_thread(run_bot.main, command)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Dry run: nothing was changed." in out
    assert "customers          4             0        3" in out
    assert "Customer 3: duplicate meter: MTR-1001 is already Customer 1's" in out
    assert "Payment 4: payment larger than its bill" in out

    command = ["import-legacy", "--from", "http://nowhere/x", "--dry-run"]
    status = await asyncio.to_thread(run_bot.main, command)
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "--from" in err


# ---------------------------------------------------------------------------------------------
# Reading old values (no database)


def test_old_numbers_are_read_exactly_or_not_at_all() -> None:
    read = legacy_import.decimal_value
    assert read(68.5, 4) == Decimal("68.5000")
    assert read(0.1 + 0.2, 2) == Decimal("0.30")  # binary noise, not a third decimal
    assert read("1,500.50", 2) == Decimal("1500.50")
    assert read(Decimal("12.345"), 2) is None  # a third decimal is refused, not rounded
    assert read("52,4", 2) is None  # a decimal comma is not guessed
    assert read("NaN", 2) is None
    assert read(None, 2) is None
    assert read(True, 2) is None


def test_old_months_dates_and_methods_are_read_in_their_usual_spellings() -> None:
    month = legacy_import.month_value
    for spelling in ("2024-01", "2024-01-15", "January 2024", "Jan 2024", "01/2024"):
        assert month(spelling) == date(2024, 1, 1), spelling
    assert month(date(2024, 1, 31)) == date(2024, 1, 1)
    assert month("2024-13") is None and month("soon") is None
    moment = legacy_import.moment_value
    assert moment("2024-02-10 09:00:00", LAGOS) == datetime(2024, 2, 10, 8, tzinfo=UTC)
    assert moment(date(2024, 2, 10), LAGOS) == datetime(2024, 2, 10, 11, tzinfo=UTC)
    assert moment("0000-00-00 00:00:00", LAGOS) is None
    method = legacy_import.payment_method
    assert method("Bank_Transfer") is PaymentMethod.BANK_TRANSFER
    assert method(" Mobile-Money ") is PaymentMethod.MOBILE_MONEY
    assert method("Credit Card") is PaymentMethod.POS
    assert method("Cheque") is None
