"""Customers on the real MariaDB: creation, search, activation codes, login and its throttle."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import customers, passwords, throttle
from domain.db import Database
from domain.errors import (
    ActivationCodeExpired,
    ActivationCodeInvalid,
    AuthenticationFailed,
    CustomerNotFound,
    DuplicateMeterNumber,
    InvalidInput,
    TooManyAttempts,
)
from domain.models import Customer
from domain.throttle import ThrottlePolicy
from tests import conftest
from tests.factories import make_customer

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PASSWORD = "right-password-1"


@pytest.fixture(scope="module")
def password_hash() -> str:
    """One real hash of PASSWORD, made once: hashing at full strength takes ~0.2 s."""
    return passwords.hash_password_sync(PASSWORD)


@pytest.fixture(scope="module")
def quick_hash() -> str:
    """A weak hash of PASSWORD, so many wrong guesses are cheap to verify (and the first good
    login upgrades it)."""
    return passwords.hash_password_sync(PASSWORD, iterations=1_000)


async def _rows(db: Database, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def _stored_hash(db: Database, customer_id: int) -> str | None:
    rows = await _rows(
        db, "SELECT password_hash FROM customers WHERE customer_id = %s", customer_id
    )
    return rows[0]["password_hash"]


async def _customer_with_password(db: Database, password_hash: str, meter: str) -> Customer:
    customer = await make_customer(db, meter_number=meter)
    await customers.set_password_hash(db, customer.customer_id, password_hash)
    return customer


# -- creation ---------------------------------------------------------------------------------


async def test_a_new_customer_is_stored_with_clean_values_and_an_audit_entry(
    admin_db: Database,
) -> None:
    """add_customer validates and cleans each field and records who created the customer."""
    created = await customers.add_customer(
        admin_db,
        meter_number=" mtr-20001 ",
        full_name="  Ngozi   Okafor ",
        address=" 4 Broad   Street ",
        phone_number="+2348010000002",
        email="Ngozi@Example.com",
    )
    assert (created.meter_number, created.full_name, created.address) == (
        "MTR-20001",
        "Ngozi Okafor",
        "4 Broad Street",
    )
    assert created.email == "ngozi@example.com" and not created.has_password
    assert await customers.get_by_meter(admin_db, "mtr-20001") == created
    audit = await _rows(admin_db, "SELECT action, customer_id FROM audit_log")
    assert audit == [{"action": "customer.create", "customer_id": created.customer_id}]


async def test_a_meter_number_already_taken_is_refused_as_a_duplicate(admin_db: Database) -> None:
    """The same meter (in any letter case) cannot be given to a second customer."""
    first = await make_customer(admin_db, meter_number="MTR-30001")
    with pytest.raises(DuplicateMeterNumber, match="MTR-30001"):
        await make_customer(admin_db, meter_number="mtr-30001", full_name="Someone Else")
    other = await make_customer(admin_db, meter_number="MTR-30002")
    with pytest.raises(DuplicateMeterNumber):
        await customers.edit_by_admin(
            admin_db, other.customer_id, "meter_number", "MTR-30001", admin_id=0
        )
    rows = await _rows(admin_db, "SELECT customer_id, meter_number FROM customers ORDER BY 1")
    assert rows == [
        {"customer_id": first.customer_id, "meter_number": "MTR-30001"},
        {"customer_id": other.customer_id, "meter_number": "MTR-30002"},
    ]


async def test_an_unknown_or_malformed_meter_number_is_not_found(admin_db: Database) -> None:
    """Looking up a meter nobody has, or one that cannot exist, says 'not found'."""
    with pytest.raises(CustomerNotFound):
        await customers.get_by_meter(admin_db, "MTR-99999")
    with pytest.raises(CustomerNotFound):
        await customers.get_by_meter(admin_db, "no such meter!")


# -- search -----------------------------------------------------------------------------------


async def test_search_pages_through_every_customer_in_name_order_without_repeats(
    admin_db: Database,
) -> None:
    """20 customers at 8 a page: pages of 8, 8, 4 in name order, each customer once."""
    for n in reversed(range(1, 21)):
        await make_customer(admin_db, full_name=f"Paged Customer {n:02d}")
    pages = [await customers.search(admin_db, page=p, page_size=8) for p in range(3)]
    assert [len(p.items) for p in pages] == [8, 8, 4]
    assert all(p.total == 20 and p.pages == 3 for p in pages)
    assert [p.has_previous for p in pages] == [False, True, True]
    assert [p.has_next for p in pages] == [True, True, False]
    names = [c.full_name for p in pages for c in p.items]
    assert names == [f"Paged Customer {n:02d}" for n in range(1, 21)]
    beyond = await customers.search(admin_db, page=3, page_size=8)
    assert beyond.items == [] and beyond.total == 20


async def test_search_finds_a_fragment_of_a_name_or_a_meter_number_in_any_case(
    admin_db: Database,
) -> None:
    """'ada' finds Ada and Adaeze and Canada; '-100' finds the meters that contain it."""
    await make_customer(admin_db, full_name="Ada Obi", meter_number="LAG-1001")
    await make_customer(admin_db, full_name="Adaeze Nwosu", meter_number="LAG-2001")
    await make_customer(admin_db, full_name="Canada Dry Depot", meter_number="ABJ-3001")
    await make_customer(admin_db, full_name="Bola Tinubu", meter_number="ABJ-1002")

    by_name = await customers.search(admin_db, "ADA")
    assert [c.full_name for c in by_name.items] == ["Ada Obi", "Adaeze Nwosu", "Canada Dry Depot"]
    by_meter = await customers.search(admin_db, "-100")
    assert [c.meter_number for c in by_meter.items] == ["LAG-1001", "ABJ-1002"]
    assert (await customers.search(admin_db, "zzz")).total == 0
    assert (await customers.search(admin_db, "")).total == 4
    assert (await customers.search(admin_db, None)).total == 4


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("100%", ["100% Solar"]),
        ("%", ["100% Solar"]),
        ("A_B", ["A_B Traders"]),
        ("_", ["A_B Traders"]),
        ("\\", ["Back\\slash Ltd"]),
        ("%%", []),
    ],
)
async def test_like_wildcards_typed_into_search_are_matched_literally(
    admin_db: Database, text: str, found: list[str]
) -> None:
    """``%``, ``_`` and ``\\`` in the search text match themselves, not any characters."""
    for name in ("100% Solar", "1000 Watts", "A_B Traders", "AxB Traders", "Back\\slash Ltd"):
        await make_customer(admin_db, full_name=name)
    page = await customers.search(admin_db, text)
    assert [c.full_name for c in page.items] == found
    assert page.total == len(found)


OKAFOR = "Ngozi \u1ecckaf\u1ecd\u0301r"  # "Ngozi Ọkafọ́r": Ọ and ọ precomposed, the acute combining


@pytest.mark.parametrize(
    "typed",
    [
        "okafor",  # issue 14: found nothing
        "OKAFOR",
        "Okafor",
        "\u1ecckaf\u1ecd\u0301r",  # as the name is written
        "\u1ecckaf\u1ecd\u0301r".upper(),
        "O\u0323kafo\u0323\u0301r",  # decomposed (NFD), as some keyboards send it
        "ngozi okaf",
        "kafọ",
        "  ngozi   OKAFOR ",
    ],
)
async def test_a_name_is_found_whatever_its_accents_and_case(
    admin_db: Database, typed: str
) -> None:
    """/customers okafor finds "Ngozi Ọkafọ́r": the search ignores case, the dot below and the
    acute, typed or not, precomposed or combining; other names are not found with it."""
    wanted = await make_customer(admin_db, full_name=OKAFOR, meter_number="LAG-7001")
    await make_customer(admin_db, full_name="Ngozi Okeke", meter_number="LAG-7002")
    await make_customer(admin_db, full_name="Okafor Stores", meter_number="LAG-7003")
    page = await customers.search(admin_db, typed)
    names = [c.full_name for c in page.items]
    assert OKAFOR in names and "Ngozi Okeke" not in names, names
    assert wanted.full_name == OKAFOR


async def test_accented_text_finds_plain_names_and_every_writer_s_rows_are_searchable(
    admin_db: Database,
) -> None:
    """The other way round too ("Ọkafọ́r" finds "Okafor"), and a customer inserted by another
    writer (plain SQL, a legacy import) is searchable at once: the database keeps the
    search column itself."""
    await make_customer(admin_db, full_name="Okafor Stores", meter_number="LAG-7101")
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "INSERT INTO customers (meter_number, full_name, address) VALUES (%s, %s, %s)",
            ("LAG-7102", "Adébáyọ̀ Ọlá", "Somewhere"),
        )
        await uow.commit()
    found = await customers.search(admin_db, "\u1ecckaf\u1ecd\u0301r")
    assert [c.full_name for c in found.items] == ["Okafor Stores"]
    for typed in ("adebayo", "ADÉBÁYỌ̀ ọlá", "bayo ola"):
        assert [c.meter_number for c in (await customers.search(admin_db, typed)).items] == [
            "LAG-7102"
        ], typed
    rows = await _rows(admin_db, "SELECT name_search FROM customers WHERE meter_number='LAG-7102'")
    assert rows == [{"name_search": "Adébáyọ Ọlá"}]  # the combining grave over ọ is gone


def test_search_text_loses_its_combining_marks_but_keeps_its_letters() -> None:
    assert customers.without_marks("Ọkafọ́r") == "Okafor"
    assert customers.without_marks("Nguyễn Văn") == "Nguyen Van"
    assert customers.without_marks("김민준") == "김민준"  # Hangul composes back
    assert customers.without_marks("Łódź Øster") == "Łodz Øster"


# -- contact details --------------------------------------------------------------------------


async def test_update_contact_changes_only_the_fields_given(admin_db: Database) -> None:
    """None keeps a field; a bad value is refused and changes nothing."""
    customer = await make_customer(admin_db, address="1 Old Road")
    updated = await customers.update_contact(
        admin_db, customer.customer_id, phone_number="0800 000 0009"
    )
    assert (updated.phone_number, updated.email, updated.address) == (
        "+2348000000009",
        None,
        "1 Old Road",
    )
    with pytest.raises(InvalidInput):
        await customers.update_contact(admin_db, customer.customer_id, email="not-an-email")
    assert await customers.get(admin_db, customer.customer_id) == updated
    with pytest.raises(CustomerNotFound):
        await customers.update_contact(admin_db, customer.customer_id + 999, address="Nowhere 1")


# -- activation codes -------------------------------------------------------------------------


async def test_an_activation_code_sets_the_password_links_telegram_and_works_once(
    admin_db: Database, customer_db: Database
) -> None:
    """Redeeming links the phone and sets the password; the same code is then refused."""
    customer = await make_customer(admin_db)
    code = await customers.issue_activation_code(admin_db, customer.customer_id, now=NOW)
    stored = await _rows(admin_db, "SELECT code_hash FROM activation_codes")
    assert stored == [{"code_hash": hashlib.sha256(code.encode()).hexdigest()}]  # never the code

    assert await customers.check_activation_code(customer_db, code, now=NOW) == customer
    linked = await customers.redeem_activation_code(
        customer_db, code, PASSWORD, 7001, now=NOW + timedelta(hours=1)
    )
    assert linked.telegram_user_id == 7001 and linked.has_password
    assert passwords.verify_password_sync(
        PASSWORD, await _stored_hash(admin_db, customer.customer_id)
    )

    with pytest.raises(ActivationCodeInvalid):
        await customers.redeem_activation_code(customer_db, code, "another-pass-2", 7002, now=NOW)
    with pytest.raises(ActivationCodeInvalid):
        await customers.check_activation_code(customer_db, code, now=NOW)
    after = await customers.get(admin_db, customer.customer_id)
    assert after.telegram_user_id == 7001
    assert passwords.verify_password_sync(
        PASSWORD, await _stored_hash(admin_db, after.customer_id)
    )


async def test_an_expired_activation_code_is_refused_and_changes_nothing(
    admin_db: Database, customer_db: Database
) -> None:
    """A code past its lifetime (72 h by default) is refused as expired, even unused."""
    customer = await make_customer(admin_db)
    code = await customers.issue_activation_code(admin_db, customer.customer_id, now=NOW)
    expired_at = NOW + customers.ACTIVATION_TTL
    assert await customers.check_activation_code(customer_db, code, now=expired_at - timedelta(1))
    with pytest.raises(ActivationCodeExpired):
        await customers.check_activation_code(customer_db, code, now=expired_at)
    with pytest.raises(ActivationCodeExpired):
        await customers.redeem_activation_code(customer_db, code, PASSWORD, 7003, now=expired_at)
    unchanged = await customers.get(admin_db, customer.customer_id)
    assert unchanged.telegram_user_id is None and not unchanged.has_password


async def test_a_wrong_activation_code_is_refused(
    admin_db: Database, customer_db: Database
) -> None:
    """A code that was never issued (or is mistyped by one character) is refused."""
    customer = await make_customer(admin_db)
    code = await customers.issue_activation_code(admin_db, customer.customer_id, now=NOW)
    mistyped = code[:-1] + ("A" if code[-1] != "A" else "B")
    for wrong in (mistyped, "", "not-a-code"):
        with pytest.raises(ActivationCodeInvalid):
            await customers.redeem_activation_code(customer_db, wrong, PASSWORD, 7004, now=NOW)
    assert (await customers.get(admin_db, customer.customer_id)).telegram_user_id is None


async def test_redeeming_with_a_weak_password_is_refused_and_leaves_the_code_usable(
    admin_db: Database, customer_db: Database
) -> None:
    """A too-short password is refused before the code is spent."""
    customer = await make_customer(admin_db)
    code = await customers.issue_activation_code(admin_db, customer.customer_id, now=NOW)
    with pytest.raises(InvalidInput):
        await customers.redeem_activation_code(customer_db, code, "short", 7005, now=NOW)
    assert await customers.check_activation_code(customer_db, code, now=NOW) == customer


# -- login ------------------------------------------------------------------------------------


async def test_login_with_the_right_password_links_this_telegram_account(
    admin_db: Database, customer_db: Database, password_hash: str
) -> None:
    """The meter (any case) and password log in; the phone moves from a previous customer."""
    earlier = await _customer_with_password(admin_db, password_hash, "MTR-40001")
    later = await _customer_with_password(admin_db, password_hash, "MTR-40002")
    await customers.login(customer_db, "MTR-40001", PASSWORD, 8001, now=NOW)
    moved = await customers.login(customer_db, " mtr-40002 ", PASSWORD, 8001, now=NOW)
    assert moved.customer_id == later.customer_id and moved.telegram_user_id == 8001
    assert (await customers.get(admin_db, earlier.customer_id)).telegram_user_id is None
    assert await customers.logout(customer_db, 8001)
    assert not await customers.logout(customer_db, 8001)


async def test_login_with_a_wrong_password_or_unknown_meter_fails_the_same_way(
    admin_db: Database, customer_db: Database, password_hash: str
) -> None:
    """Neither a wrong password nor a meter nobody has logs in, and nothing is linked."""
    customer = await _customer_with_password(admin_db, password_hash, "MTR-41001")
    with pytest.raises(AuthenticationFailed):
        await customers.login(customer_db, "MTR-41001", "wrong-password", 8101, now=NOW)
    with pytest.raises(AuthenticationFailed):
        await customers.login(customer_db, "MTR-49999", PASSWORD, 8102, now=NOW)
    no_password = await make_customer(admin_db, meter_number="MTR-41002")
    with pytest.raises(AuthenticationFailed):
        await customers.login(customer_db, no_password.meter_number, "", 8103, now=NOW)
    assert (await customers.get(admin_db, customer.customer_id)).telegram_user_id is None


async def test_five_wrong_passwords_lock_out_even_the_right_one_across_a_restart(
    admin_db: Database,
    customer_db: Database,
    quick_hash: str,
    test_database: conftest.TestDatabase,
) -> None:
    """Five failures lock out even the right password, through a new pool too, until expiry."""
    customer = await _customer_with_password(admin_db, quick_hash, "MTR-42001")
    for minute in range(5):
        with pytest.raises(AuthenticationFailed):
            await customers.login(
                customer_db, "MTR-42001", "guess", 8201, now=NOW + timedelta(minutes=minute)
            )
    with pytest.raises(TooManyAttempts):
        await customers.login(customer_db, "MTR-42001", PASSWORD, 8201, now=NOW)

    restarted = await Database.connect(test_database.customer, maxsize=2)
    try:
        with pytest.raises(TooManyAttempts):
            await customers.login(
                restarted, "MTR-42001", PASSWORD, 8201, now=NOW + timedelta(minutes=10)
            )
        # The meter itself is locked, whichever phone asks.
        with pytest.raises(TooManyAttempts):
            await customers.login(restarted, "mtr-42001", PASSWORD, 8299, now=NOW)
    finally:
        await restarted.close()
    assert (await customers.get(admin_db, customer.customer_id)).telegram_user_id is None

    stored = await _rows(
        admin_db, "SELECT subject, failures, locked_until FROM login_throttle ORDER BY subject"
    )
    assert [(r["subject"], r["failures"]) for r in stored] == [
        ("meter:mtr-42001", 5),
        ("tg:8201", 5),
    ]
    assert all(r["locked_until"] is not None for r in stored)

    after_lockout = NOW + timedelta(minutes=4) + ThrottlePolicy().lockout + timedelta(seconds=1)
    linked = await customers.login(customer_db, "MTR-42001", PASSWORD, 8201, now=after_lockout)
    assert linked.telegram_user_id == 8201
    reset = await _rows(admin_db, "SELECT failures, locked_until FROM login_throttle")
    assert reset == [{"failures": 0, "locked_until": None}] * 2


async def test_failures_older_than_the_window_do_not_count_towards_a_lockout(
    admin_db: Database, customer_db: Database, quick_hash: str
) -> None:
    """Four failures, then a fifth after the 15-minute window: no lockout."""
    await _customer_with_password(admin_db, quick_hash, "MTR-43001")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            await customers.login(customer_db, "MTR-43001", "guess", 8301, now=NOW)
    later = NOW + timedelta(minutes=20)
    with pytest.raises(AuthenticationFailed):
        await customers.login(customer_db, "MTR-43001", "guess", 8301, now=later)
    linked = await customers.login(customer_db, "MTR-43001", PASSWORD, 8301, now=later)
    assert linked.telegram_user_id == 8301


async def test_stale_throttle_rows_are_forgotten_and_locked_or_recent_ones_kept(
    admin_db: Database, customer_db: Database, quick_hash: str
) -> None:
    """The daily clean-up drops rows whose window is over and that are not locked; a locked
    subject stays locked and a recent failure still counts towards a lockout."""
    await _customer_with_password(admin_db, quick_hash, "MTR-43501")
    for minute in range(5):  # locked from NOW + 4 min for 15 min
        with pytest.raises(AuthenticationFailed):
            await customers.login(
                customer_db, "MTR-43501", "guess", 8351, now=NOW + timedelta(minutes=minute)
            )
    with pytest.raises(AuthenticationFailed):  # one old failure, long over
        await customers.login(customer_db, "MTR-43599", "guess", 8352, now=NOW)
    later = NOW + timedelta(minutes=17)
    with pytest.raises(AuthenticationFailed):  # one recent failure
        await customers.login(customer_db, "MTR-43598", "guess", 8353, now=later)

    assert await throttle.forget_stale(admin_db, now=later) == 2
    kept = await _rows(admin_db, "SELECT subject FROM login_throttle ORDER BY subject")
    assert [r["subject"] for r in kept] == [
        "meter:mtr-43501",
        "meter:mtr-43598",
        "tg:8351",
        "tg:8353",
    ]
    with pytest.raises(TooManyAttempts):  # still locked after the clean-up
        await customers.login(customer_db, "MTR-43501", PASSWORD, 8351, now=later)
    after_lockout = NOW + timedelta(minutes=20)
    assert await throttle.forget_stale(admin_db, now=after_lockout + timedelta(minutes=15)) == 4
    assert await _rows(admin_db, "SELECT subject FROM login_throttle") == []


async def test_a_legacy_sha256_password_logs_in_and_is_replaced_by_a_pbkdf2_hash(
    admin_db: Database, customer_db: Database
) -> None:
    """The seed's plain sha256 hex hash works once, then is stored as pbkdf2_sha256$…"""
    customer = await make_customer(admin_db, meter_number="MTR-44001")
    legacy = hashlib.sha256(b"seed-password").hexdigest()
    await customers.set_password_hash(admin_db, customer.customer_id, legacy)

    await customers.login(customer_db, "MTR-44001", "seed-password", 8401, now=NOW)
    upgraded = await _stored_hash(admin_db, customer.customer_id)
    assert upgraded is not None and upgraded.startswith("pbkdf2_sha256$")
    assert not passwords.needs_upgrade(upgraded)
    assert passwords.verify_password_sync("seed-password", upgraded)

    again = await customers.login(customer_db, "MTR-44001", "seed-password", 8402, now=NOW)
    assert again.telegram_user_id == 8402
    assert await _stored_hash(admin_db, customer.customer_id) == upgraded  # no second upgrade


async def test_check_password_is_throttled_per_customer(
    admin_db: Database, customer_db: Database, quick_hash: str
) -> None:
    """Guessing the current password in /password is limited like a login."""
    customer = await _customer_with_password(admin_db, quick_hash, "MTR-45001")
    await customers.check_password(customer_db, customer.customer_id, PASSWORD, now=NOW)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await customers.check_password(customer_db, customer.customer_id, "guess", now=NOW)
    with pytest.raises(TooManyAttempts):
        await customers.check_password(customer_db, customer.customer_id, PASSWORD, now=NOW)


async def test_the_dashboard_shows_the_customer_balance_newest_bill_and_last_valid_payment(
    admin_db: Database, customer_db: Database
) -> None:
    """Every figure of the dashboard, read in one JSON value, equals what the other reads
    give: the customer as stored (password or not), the open bills' balance, count and next
    due date, the newest bill, and the newest payment that is not voided (with its time)."""
    from datetime import date
    from decimal import Decimal

    from domain import admins, bills, payments
    from domain.models import PaymentMethod
    from tests.factories import give_credit, make_bill

    clerk = await admins.create_admin(
        admin_db, admin_name="Board Clerk", email="board@utility.example", password="clerk-1-x"
    )
    person = await make_customer(admin_db, full_name="Ngozi <b>Board</b> Ọkafọr")
    empty = await customers.dashboard(customer_db, person.customer_id)
    assert empty == customers.Dashboard(person, Decimal("0"), 0, None, None, None)

    old = await make_bill(admin_db, person, month=date(2026, 8, 1), units="10", rate="2.5")
    mid = await make_bill(admin_db, person, month=date(2026, 9, 1), units="100.25", rate="1.2345")
    new = await make_bill(admin_db, person, month=date(2026, 10, 1), units="7", rate="3")
    await payments.pay_bill(
        admin_db, bill_id=old.bill_id, amount=old.total_amount, method="cash",
        idempotency_key="board-1", admin_id=clerk.admin_id, now=NOW - timedelta(days=3),
    )  # fmt: skip
    # The customer pays from credit they hold (money a provider took for them earlier).
    await give_credit(admin_db, mid, "10.05")
    kept = await payments.pay_bill(
        customer_db, bill_id=mid.bill_id, amount=Decimal("10.05"), method=PaymentMethod.CREDIT,
        idempotency_key="board-2", customer_id=person.customer_id,
        now=NOW - timedelta(days=2, microseconds=-123456),
    )  # fmt: skip
    voided = await payments.pay_bill(
        admin_db, bill_id=new.bill_id, amount=Decimal("1"), method="cash",
        idempotency_key="board-3", admin_id=clerk.admin_id, now=NOW - timedelta(days=1),
    )  # fmt: skip
    await payments.void_payment(
        admin_db, voided.payment.payment_id, admin_id=clerk.admin_id, reason="wrong bill"
    )
    code = await customers.issue_activation_code(admin_db, person.customer_id)
    await customers.redeem_activation_code(customer_db, code, PASSWORD, 7_000_001)

    board = await customers.dashboard(customer_db, person.customer_id)
    stored = await customers.get(admin_db, person.customer_id)
    assert stored.has_password and board.customer == stored
    assert stored.credit == 0  # the 10.05 of credit went to the bill
    open_bills = [await bills.get(admin_db, b.bill_id) for b in (mid, new)]
    assert board.balance_due == sum((b.total_amount - b.amount_paid for b in open_bills), 0)
    assert board.balance_due == mid.total_amount - Decimal("10.05") + new.total_amount
    assert (board.open_bills, board.next_due_date) == (2, mid.due_date)
    assert board.last_bill == await bills.get(admin_db, new.bill_id)
    assert board.last_payment == kept.payment
    assert board.last_payment is not None
    assert board.last_payment.date_of_payment.microsecond == 123456

    # The same dashboard for the Telegram account linked to the customer; none for others.
    linked = await customers.linked_dashboard(customer_db, 7_000_001)
    assert linked is not None and linked.customer.telegram_user_id == 7_000_001
    assert (linked.balance_due, linked.last_bill, linked.last_payment) == (
        board.balance_due, board.last_bill, board.last_payment,
    )  # fmt: skip
    assert await customers.linked_dashboard(customer_db, 7_000_002) is None
    with pytest.raises(CustomerNotFound):
        await customers.dashboard(customer_db, person.customer_id + 10_000)


async def test_the_dashboard_counts_what_is_overdue_on_the_day_asked_about(
    admin_db: Database, customer_db: Database
) -> None:
    """Overdue: owed on open bills whose due date is before ``today``; the due date itself is
    still in time, and a paid bill is never overdue."""
    from datetime import date
    from decimal import Decimal

    from tests.factories import make_bill, office_payment

    person = await make_customer(admin_db)
    first = await make_bill(
        admin_db, person, month=date(2026, 9, 1), units="10", rate="2", due_date=date(2026, 10, 14)
    )
    second = await make_bill(
        admin_db, person, month=date(2026, 10, 1), units="5", rate="2", due_date=date(2026, 11, 14)
    )
    paid = await make_bill(
        admin_db, person, month=date(2026, 8, 1), units="1", rate="2", due_date=date(2026, 9, 14)
    )
    await office_payment(admin_db, first, "5.00", key="overdue-1")
    await office_payment(admin_db, paid, "2.00", key="overdue-2")

    def overdue_on(board: customers.Dashboard) -> tuple[Decimal, int]:
        return board.overdue, board.overdue_bills

    on_time = await customers.dashboard(customer_db, person.customer_id, today=date(2026, 10, 14))
    assert overdue_on(on_time) == (Decimal("0"), 0)
    one = await customers.dashboard(customer_db, person.customer_id, today=date(2026, 10, 15))
    assert overdue_on(one) == (Decimal("15.00"), 1)  # 20.00 less the 5.00 paid
    both = await customers.dashboard(customer_db, person.customer_id, today=date(2026, 12, 3))
    assert overdue_on(both) == (Decimal("25.00"), 2) and both.balance_due == Decimal("25.00")
    assert both.next_due_date == first.due_date < second.due_date
