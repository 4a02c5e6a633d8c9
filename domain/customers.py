"""Customers: creation, lookup, contact details, activation, login and Telegram links."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from domain import audit, passwords, throttle, validation
from domain.billing import Line
from domain.db import Database, Row, UnitOfWork, error_code
from domain.errors import (
    ActivationCodeExpired,
    ActivationCodeInvalid,
    CustomerNotFound,
    DuplicateMeterNumber,
    InvalidInput,
)
from domain.ledger import line_from_json
from domain.models import Bill, Customer, Page, Payment, db_time, json_date, now_utc, utc

ACTIVATION_TTL = timedelta(hours=72)


async def add_customer(
    db: Database,
    *,
    meter_number: str,
    full_name: str,
    address: str,
    phone_number: str | None = None,
    email: str | None = None,
    admin_id: int | None = None,
    phone_region: str | None = validation.DEFAULT_PHONE_REGION,
) -> Customer:
    """Create a customer; the meter number must be new. A phone number is stored in E.164,
    read as one of ``phone_region`` when typed without its country code."""
    values = {
        "meter_number": validation.meter_number(meter_number),
        "full_name": validation.full_name(full_name),
        "address": validation.address(address),
        "phone_number": validation.phone_number(phone_number, phone_region)
        if phone_number
        else None,
        "email": validation.email(email) if email else None,
    }

    async def work(uow: UnitOfWork) -> Customer:
        try:
            customer_id = await uow.insert("insert_customer", values)
        except Exception as exc:
            if error_code(exc) == 1062:
                raise DuplicateMeterNumber(values["meter_number"] or "") from exc
            raise
        row = await uow.fetch_one("get_customer", {"customer_id": customer_id})
        assert row is not None
        customer = Customer.from_row(row)
        await audit.record(
            uow,
            admin_id=admin_id,
            action="customer.create",
            entity_type="customer",
            entity_id=customer_id,
            customer_id=customer_id,
            after=values,
        )
        await uow.commit()
        return customer

    return await db.transaction(work)


async def get_by_meter(db: Database, meter_number: str) -> Customer:
    try:
        meter = validation.meter_number(meter_number)
    except InvalidInput as exc:
        raise CustomerNotFound(meter_number) from exc
    row = await db.fetch_one("get_customer_by_meter", {"meter_number": meter})
    if row is None:
        raise CustomerNotFound(meter_number)
    return Customer.from_row(row)


async def get(db: Database, customer_id: int) -> Customer:
    row = await db.fetch_one("get_customer", {"customer_id": customer_id})
    if row is None:
        raise CustomerNotFound()
    return Customer.from_row(row)


async def find_by_telegram(db: Database, telegram_user_id: int) -> Customer | None:
    row = await db.fetch_one("get_customer_by_telegram", {"telegram_user_id": telegram_user_id})
    return Customer.from_row(row) if row else None


async def search(
    db: Database, text: str | None = None, *, page: int = 0, page_size: int = 8
) -> Page[Customer]:
    """Customers whose name or meter number contains ``text`` (all when empty), by name.

    Names match whatever their case and accents: ``okafor`` finds "Ngozi Ọkafọ́r", and so
    does ``ỌKAFỌ́R`` (the text without its combining marks, against ``name_search``, the
    name without its own, compared in the column's case- and accent-blind collation)."""
    cleaned = validation.clean_text(text or "")[:100]
    pattern = _contains(cleaned) if cleaned else None
    name_pattern = _contains(without_marks(cleaned)) if cleaned else None
    page = max(0, page)

    async def work(uow: UnitOfWork) -> Page[Customer]:
        which = {"pattern": pattern, "name_pattern": name_pattern}
        total = int(await uow.fetch_value("count_customers", which))
        rows = await uow.fetch_all(
            "search_customers", {**which, "limit": page_size, "offset": page * page_size}
        )
        return Page([Customer.from_row(r) for r in rows], page, page_size, total)

    return await db.read(work)


def without_marks(text: str) -> str:
    """``text`` without combining marks (tone marks, the dot below, accents), as migration
    0012's ``customers.name_search`` keeps a name: "Ọkafọ́r" → "Okafor"; composed again
    afterwards, so scripts whose letters decompose into others (Hangul) stay as typed."""
    kept = "".join(
        ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn"
    )
    return unicodedata.normalize("NFC", kept)


def _contains(text: str) -> str:
    """A LIKE pattern for values that contain ``text`` literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def update_contact(
    db: Database,
    customer_id: int,
    *,
    phone_number: str | None = None,
    email: str | None = None,
    address: str | None = None,
    phone_region: str | None = validation.DEFAULT_PHONE_REGION,
) -> Customer:
    """A customer changes their own phone, email or address (None keeps the current value).

    Run on the customer account, the change is audited by the database itself (migration
    0012's trigger on customers: the customer account holds nothing on the audit log)."""

    async def work(uow: UnitOfWork) -> Customer:
        row = await uow.fetch_one("lock_customer", {"customer_id": customer_id})
        if row is None:
            raise CustomerNotFound()
        await uow.execute(
            "update_customer_contact",
            {
                "customer_id": customer_id,
                "phone_number": validation.phone_number(phone_number, phone_region)
                if phone_number is not None
                else row["phone_number"],
                "email": validation.email(email) if email is not None else row["email"],
                "address": validation.address(address) if address is not None else row["address"],
            },
        )
        fresh = await uow.fetch_one("get_customer", {"customer_id": customer_id})
        await uow.commit()
        assert fresh is not None
        return Customer.from_row(fresh)

    return await db.transaction(work)


EDITABLE_FIELDS = ("full_name", "meter_number", "phone_number", "email", "address")
_VALIDATORS = {
    "full_name": validation.full_name,
    "meter_number": validation.meter_number,
    "email": validation.email,
    "address": validation.address,
}


async def edit_by_admin(
    db: Database,
    customer_id: int,
    field: str,
    value: str,
    *,
    admin_id: int,
    phone_region: str | None = validation.DEFAULT_PHONE_REGION,
) -> Customer:
    """An admin changes one of a customer's details; the change is audited."""
    if field not in EDITABLE_FIELDS:
        raise InvalidInput("That field cannot be changed.")
    clean = (
        validation.phone_number(value, phone_region)
        if field == "phone_number"
        else _VALIDATORS[field](value)
    )

    async def work(uow: UnitOfWork) -> Customer:
        row = await uow.fetch_one("lock_customer", {"customer_id": customer_id})
        if row is None:
            raise CustomerNotFound()
        before = {name: row[name] for name in EDITABLE_FIELDS}
        after = {**before, field: clean}
        try:
            await uow.execute("update_customer_by_admin", {"customer_id": customer_id, **after})
        except Exception as exc:
            if error_code(exc) == 1062:
                raise DuplicateMeterNumber(clean) from exc
            raise
        await audit.record(
            uow,
            admin_id=admin_id,
            action="customer.edit",
            entity_type="customer",
            entity_id=customer_id,
            customer_id=customer_id,
            before={field: before[field]},
            after={field: clean},
        )
        fresh = await uow.fetch_one("get_customer", {"customer_id": customer_id})
        await uow.commit()
        assert fresh is not None
        return Customer.from_row(fresh)

    return await db.transaction(work)


# ---------------------------------------------------------------------------------------------
# Activation codes


def activation_code_hash(code: str) -> str:
    """What is stored (and what a conversation may keep) instead of the code itself."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


async def issue_activation_code(
    db: Database,
    customer_id: int,
    *,
    admin_id: int | None = None,
    ttl: timedelta = ACTIVATION_TTL,
    now: datetime | None = None,
) -> str:
    """Create a single-use code for the deep link ``?start=<code>``; only its hash is stored."""
    code = secrets.token_urlsafe(18)  # 24 characters of [A-Za-z0-9_-], fits a deep link
    moment = now or now_utc()

    async def work(uow: UnitOfWork) -> str:
        if await uow.fetch_one("get_customer", {"customer_id": customer_id}) is None:
            raise CustomerNotFound()
        await uow.execute(
            "insert_activation_code",
            {
                "code_hash": activation_code_hash(code),
                "customer_id": customer_id,
                "expires_at": db_time(moment + ttl),
                "admin_id": admin_id,
            },
        )
        await uow.commit()
        return code

    return await db.transaction(work)


async def check_activation_code(
    db: Database, code: str, *, now: datetime | None = None
) -> Customer:
    """The customer an unused, unexpired code belongs to (nothing is changed)."""
    row = await db.fetch_one("lock_activation_code", {"code_hash": activation_code_hash(code)})
    _ensure_code_usable(row, now or now_utc())
    assert row is not None
    return await get(db, int(row["customer_id"]))


def _ensure_code_usable(row: Row | None, now: datetime) -> None:
    if row is None or row["used_at"] is not None:
        raise ActivationCodeInvalid()
    expires_at = row["expires_at"]
    assert isinstance(expires_at, datetime)
    if (utc(expires_at) or now) <= now:
        raise ActivationCodeExpired()


async def redeem_activation_code(
    db: Database, code: str, password: str, telegram_user_id: int, *, now: datetime | None = None
) -> Customer:
    """Spend the code: set the customer's password and link this Telegram account."""
    return await redeem_activation_code_hash(
        db, activation_code_hash(code), password, telegram_user_id, now=now
    )


async def redeem_activation_code_hash(
    db: Database,
    code_hash: str,
    password: str,
    telegram_user_id: int,
    *,
    now: datetime | None = None,
) -> Customer:
    """Like :func:`redeem_activation_code`, given the code's hash."""
    problem = passwords.validate_new_password(password)
    if problem:
        raise InvalidInput(problem)
    password_hash = await passwords.hash_password(password)
    moment = now or now_utc()

    async def work(uow: UnitOfWork) -> Customer:
        row = await uow.fetch_one("lock_activation_code", {"code_hash": code_hash})
        _ensure_code_usable(row, moment)
        assert row is not None
        customer_id = int(row["customer_id"])
        await uow.execute(
            "mark_activation_code_used", {"code_hash": row["code_hash"], "now": db_time(moment)}
        )
        await uow.execute(
            "set_customer_password", {"customer_id": customer_id, "password_hash": password_hash}
        )
        customer = await _link(uow, customer_id, telegram_user_id)
        await uow.commit()
        return customer

    return await db.transaction(work)


async def link_telegram(db: Database, customer_id: int, telegram_user_id: int) -> Customer:
    """Link a Telegram account to a customer without a password (the sandbox's demo chat);
    the account is first freed from any other customer."""

    async def work(uow: UnitOfWork) -> Customer:
        customer = await _link(uow, customer_id, telegram_user_id)
        await uow.commit()
        return customer

    return await db.transaction(work)


async def _link(uow: UnitOfWork, customer_id: int, telegram_user_id: int) -> Customer:
    await uow.execute("unlink_telegram_from_customers", {"telegram_user_id": telegram_user_id})
    await uow.execute(
        "link_customer_telegram",
        {"customer_id": customer_id, "telegram_user_id": telegram_user_id},
    )
    row = await uow.fetch_one("get_customer", {"customer_id": customer_id})
    assert row is not None
    return Customer.from_row(row)


# ---------------------------------------------------------------------------------------------
# Login, logout, password


async def login(
    db: Database,
    meter_number: str,
    password: str,
    telegram_user_id: int,
    *,
    policy: throttle.ThrottlePolicy | None = None,
    now: datetime | None = None,
) -> Customer:
    """Check meter number + password (throttled) and link this Telegram account."""
    typed_meter = validation.clean_text(unicodedata.normalize("NFKC", meter_number)).upper()[:64]
    keys = throttle.subjects(telegram_user_id, meter=typed_meter)

    async def load(uow: UnitOfWork) -> Row | None:
        return await uow.fetch_one("get_customer_by_meter", {"meter_number": typed_meter})

    verified = await throttle.verify_login(db, keys, password, load, policy=policy, now=now)
    customer_id = int(verified.row["customer_id"])

    async def succeed(uow: UnitOfWork) -> Customer:
        await throttle.reset(uow, keys)
        if verified.upgraded_hash:
            await uow.execute(
                "set_customer_password",
                {"customer_id": customer_id, "password_hash": verified.upgraded_hash},
            )
        customer = await _link(uow, customer_id, telegram_user_id)
        await uow.commit()
        return customer

    return await db.transaction(succeed)


async def set_password_hash(db: Database, customer_id: int, password_hash: str) -> None:
    """Store an already-hashed password (imports and demo data)."""

    async def work(uow: UnitOfWork) -> None:
        await uow.execute(
            "set_customer_password", {"customer_id": customer_id, "password_hash": password_hash}
        )
        await uow.commit()

    await db.transaction(work)


async def logout(db: Database, telegram_user_id: int) -> bool:
    """Unlink this Telegram account; True if it was linked."""

    async def work(uow: UnitOfWork) -> bool:
        changed = await uow.execute(
            "unlink_telegram_from_customers", {"telegram_user_id": telegram_user_id}
        )
        await uow.commit()
        return changed > 0

    return await db.transaction(work)


async def check_password(
    db: Database,
    customer_id: int,
    password: str,
    *,
    policy: throttle.ThrottlePolicy | None = None,
    now: datetime | None = None,
) -> None:
    """Check a linked customer's current password (wrong guesses are throttled)."""
    keys = (f"customer:{customer_id}",)

    async def load(uow: UnitOfWork) -> Row | None:
        row = await uow.fetch_one("get_customer", {"customer_id": customer_id})
        if row is None:
            raise CustomerNotFound()
        return row

    await throttle.verify_login(db, keys, password, load, policy=policy, now=now)

    async def succeed(uow: UnitOfWork) -> None:
        await throttle.reset(uow, keys)
        await uow.commit()

    await db.transaction(succeed)


async def set_password(db: Database, customer_id: int, password: str) -> None:
    """Store a new password (validated, hashed off the event loop)."""
    problem = passwords.validate_new_password(password)
    if problem:
        raise InvalidInput(problem)
    await set_password_hash(db, customer_id, await passwords.hash_password(password))


# ---------------------------------------------------------------------------------------------
# Dashboard


@dataclass(frozen=True)
class Dashboard:
    customer: Customer
    balance_due: Decimal
    open_bills: int
    next_due_date: date | None
    last_bill: Bill | None
    last_payment: Payment | None
    # Owed on bills whose due date had passed on the day asked about (the utility's today).
    overdue: Decimal = Decimal("0.00")
    overdue_bills: int = 0
    last_bill_lines: tuple[Line, ...] = ()


async def dashboard(db: Database, customer_id: int, *, today: date | None = None) -> Dashboard:
    """Name, meter, balance due (and how much of it is overdue on ``today``, the utility's
    local date; UTC's if not given), last bill, last payment and next due date."""
    board = await _dashboard(db, {"customer_id": customer_id, "telegram_user_id": None}, today)
    if board is None:
        raise CustomerNotFound()
    return board


async def linked_dashboard(
    db: Database, telegram_user_id: int, *, today: date | None = None
) -> Dashboard | None:
    """The dashboard of the customer linked to this Telegram account; None if none is.

    One round trip in all: the customer is found by the statements themselves."""
    return await _dashboard(db, {"customer_id": None, "telegram_user_id": telegram_user_id}, today)


async def _dashboard(
    db: Database, who: dict[str, int | None], today: date | None
) -> Dashboard | None:
    # One round trip: one JSON value, and the end of the read transaction.
    on = today if today is not None else now_utc().date()
    board = await db.read_json("get_dashboard", {**who, "today": on})
    if board is None:
        return None
    summary, bill, payment = board["summary"], board["last_bill"], board["last_payment"]
    return Dashboard(
        customer=Customer.from_json(board["customer"]),
        balance_due=Decimal(summary["balance_due"]),
        open_bills=int(summary["open_bills"]),
        next_due_date=json_date(summary["next_due_date"]),
        last_bill=Bill.from_json(bill) if bill else None,
        last_payment=Payment.from_json(payment) if payment else None,
        overdue=Decimal(summary["overdue"]),
        overdue_bills=int(summary["overdue_bills"]),
        last_bill_lines=tuple(line_from_json(line) for line in board.get("last_bill_lines") or ()),
    )
