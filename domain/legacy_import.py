"""Bringing in the original console system's data (``run_bot.py import-legacy``).

The old system kept four MySQL tables under their own names — ``Customer``, ``Bills``,
``Payment``, ``Admin`` — with columns such as ``fullName``, ``User_password``, ``AdminName``
(docs/legacy-import.md lists every column read). An import reads them all, then decides,
without writing anything, what becomes of each old row (:func:`make_plan`, pure): added,
already here from an earlier run, or refused with the reason. A dry run stops there.

A real run writes each customer with its bills and payments in one transaction. Payments go
through the one payment writer (:func:`domain.payments.insert_payment`) on the bill locked
first, so the database's triggers (migrations 0005, 0006) move each bill, its status and the
report totals exactly as for a payment taken today; a bill starts unpaid and is paid only by
its payments. The old payments are recorded by the staff account "Old system", which nobody
can log in as: every payment names who recorded it, and no person here took these.

Running it again adds nothing: customers, bills and staff accounts are remembered by their old
ids (``legacy_ids``, migration 0013), payments by the idempotency key ``legacy:<payment_id>``.
Passwords are kept as the old system stored them (bare sha256 hex), which login accepts once
and replaces with a slow salted hash (:mod:`domain.passwords`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import pymysql

from domain import audit, ledger, passwords, payments, report_totals, validation
from domain.bills import MAX_RATE, MAX_UNITS, default_due_date
from domain.db import Database, Row, UnitOfWork, error_code, refused_by_server
from domain.errors import DomainError, DuplicateBill, InvalidInput, LegacySchemaMismatch
from domain.models import Bill, PaymentMethod, PaymentStatus, Role
from domain.money import MAX_AMOUNT, bill_total

CUSTOMER, BILLS, PAYMENT, ADMIN = "Customer", "Bills", "Payment", "Admin"
TABLES = (CUSTOMER, BILLS, PAYMENT, ADMIN)  # the order of the summary

# Every column read, by table: (required, optional). Names are matched without regard to case.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    CUSTOMER: (
        ("customer_id", "meter_number", "fullName"),
        ("address", "phoneNumber", "email", "User_password"),
    ),
    BILLS: (
        ("bill_id", "customer_id", "billing_month", "units_used", "rate_per_unit"),
        ("total_amount", "amount_paid", "payment_status", "due_date"),
    ),
    PAYMENT: (
        ("payment_id", "bill_id", "date_of_payment", "amount_paid", "payment_method"),
        ("billing_month",),
    ),
    ADMIN: (("admin_id", "AdminName", "admin_password"), ("email", "role")),
}
_ROW_QUERIES = {
    CUSTOMER: "legacy_customer_rows",
    BILLS: "legacy_bill_rows",
    PAYMENT: "legacy_payment_rows",
    ADMIN: "legacy_admin_rows",
}

# Who recorded the old payments: a staff account nobody can log in as (its password is a
# random one, thrown away) and whose role can change nothing.
OLD_SYSTEM_NAME = "Old system"
OLD_SYSTEM_EMAIL = "old-system@legacy-import.invalid"

KEY_PREFIX = "legacy:"
_MAX_LEGACY_ID = 64 - len(KEY_PREFIX)  # the idempotency key is VARCHAR(64)

# The old system's words for how a payment was made. A card there was a card terminal at the
# office: here "card" is money a payment provider took through Telegram, so it is POS.
METHODS: dict[str, PaymentMethod] = {
    "cash": PaymentMethod.CASH,
    "pos": PaymentMethod.POS,
    "pos terminal": PaymentMethod.POS,
    "card": PaymentMethod.POS,
    "credit card": PaymentMethod.POS,
    "debit card": PaymentMethod.POS,
    "bank transfer": PaymentMethod.BANK_TRANSFER,
    "bank": PaymentMethod.BANK_TRANSFER,
    "transfer": PaymentMethod.BANK_TRANSFER,
    "bank deposit": PaymentMethod.BANK_TRANSFER,
    "mobile money": PaymentMethod.MOBILE_MONEY,
    "momo": PaymentMethod.MOBILE_MONEY,
    "mobile": PaymentMethod.MOBILE_MONEY,
}
ROLES: dict[str, Role] = {
    "admin": Role.ADMIN,
    "administrator": Role.ADMIN,
    "superadmin": Role.ADMIN,
    "super admin": Role.ADMIN,
    "viewer": Role.VIEWER,
    "read only": Role.VIEWER,
    "readonly": Role.VIEWER,
}
_STATUSES = {
    "paid": PaymentStatus.PAID,
    "unpaid": PaymentStatus.UNPAID,
    "partial": PaymentStatus.PARTIAL,
    "partially paid": PaymentStatus.PARTIAL,
    "part paid": PaymentStatus.PARTIAL,
}
_MONTH_FORMATS = ("%Y-%m", "%Y-%m-%d", "%B %Y", "%b %Y", "%m/%Y", "%Y/%m", "%m-%Y")
_THOUSANDS_RE = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
# A float read from the old tables is its shortest decimal text; what lies within this of a
# whole cent (or 0.0001 of a rate) is that value, anything further is refused, not rounded.
_FLOAT_NOISE = Decimal("1e-9")
_CHUNK = 2000


# ---------------------------------------------------------------------------------------------
# What happens to each old row


@dataclass(frozen=True)
class RowNote:
    """One old row refused (or taken with a remark), and why."""

    table: str
    legacy_id: str
    text: str

    def __str__(self) -> str:
        return f"{self.table} {self.legacy_id}: {self.text}"


@dataclass
class Tally:
    added: int = 0
    present: int = 0
    refused: int = 0


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, in a dry run, would do), table by table."""

    dry_run: bool
    tallies: dict[str, Tally]
    refused: list[RowNote]
    notes: list[RowNote]
    # The "Old system" staff account: "exists", "created", "would be created" (a dry run)
    # or "none" (nothing to add, none made)
    old_system_account: str
    totals_differences: list[str]  # a real run: report totals against a recount ([] = equal)


@dataclass(frozen=True)
class NewAdmin:
    legacy_id: str
    admin_name: str
    email: str
    password_hash: str
    role: Role


@dataclass(frozen=True)
class NewCustomer:
    meter_number: str
    full_name: str
    address: str
    phone_number: str | None
    email: str | None
    password_hash: str | None


@dataclass(frozen=True)
class NewBill:
    legacy_id: str
    billing_month: date
    units_used: Decimal
    rate_per_unit: Decimal
    total_amount: Decimal
    due_date: date


@dataclass(frozen=True)
class NewPayment:
    legacy_id: str
    legacy_bill_id: str
    amount: Decimal
    method: PaymentMethod
    moment: datetime  # aware

    @property
    def idempotency_key(self) -> str:
        return KEY_PREFIX + self.legacy_id


@dataclass
class CustomerWork:
    """One old customer's rows to write, in one transaction (``new`` None: brought in
    earlier, as ``customer_id``)."""

    legacy_id: str
    customer_id: int | None
    new: NewCustomer | None
    bills: list[NewBill] = field(default_factory=list)
    payments: list[NewPayment] = field(default_factory=list)


@dataclass
class Plan:
    admins: list[NewAdmin]
    customers: list[CustomerWork]
    tallies: dict[str, Tally]
    refused: list[RowNote]
    notes: list[RowNote]

    @property
    def has_work(self) -> bool:
        return bool(self.admins or self.customers)


# ---------------------------------------------------------------------------------------------
# Reading the old database


@dataclass(frozen=True)
class LegacyRows:
    """The old tables' rows, each keyed by the names of :data:`COLUMNS` (None where the old
    table has no such optional column)."""

    customers: list[Row]
    bills: list[Row]
    payments: list[Row]
    admins: list[Row]


async def read_legacy(legacy: Database) -> LegacyRows:
    """Every row of the four old tables, read in one transaction; a missing table or column
    raises :class:`LegacySchemaMismatch` naming them all."""
    actual: dict[str, dict[str, str]] = {}
    for row in await legacy.fetch_all("legacy_columns", {}):
        actual.setdefault(row["table_name"], {})[row["column_name"].lower()] = row["column_name"]
    problems = []
    for table, (required, _) in COLUMNS.items():
        if table not in actual:
            other = [name for name in actual if name.lower() == table.lower()]
            hint = f" (there is {other[0]}: table names are case-sensitive)" if other else ""
            problems.append(f"no table {table}{hint}")
            continue
        missing = [name for name in required if name.lower() not in actual[table]]
        if missing:
            problems.append(f"table {table} has no column {', '.join(missing)}")
    if problems:
        raise LegacySchemaMismatch(problems)

    async def work(uow: UnitOfWork) -> dict[str, list[Row]]:
        # One snapshot for the four tables (where the old tables are InnoDB), so a payment
        # read is never newer than the bills read before it.
        await uow.execute("legacy_consistent_read", {})
        return {table: await uow.fetch_all(name, {}) for table, name in _ROW_QUERIES.items()}

    raw = await legacy.read(work)

    def keyed(table: str) -> list[Row]:
        required, optional = COLUMNS[table]
        names = {name.lower(): name for name in required + optional}
        rows = []
        for row in raw[table]:
            mine: Row = dict.fromkeys(required + optional)
            for column, value in row.items():
                if column.lower() in names:
                    mine[names[column.lower()]] = value
            rows.append(mine)
        return rows

    return LegacyRows(keyed(CUSTOMER), keyed(BILLS), keyed(PAYMENT), keyed(ADMIN))


# ---------------------------------------------------------------------------------------------
# What is here already


@dataclass(frozen=True)
class Target:
    """What the billing database holds that the plan must know about."""

    ids: dict[tuple[str, str], int]  # (old table, old id) → new id, from earlier runs
    meters: dict[str, int]  # the old meter numbers already in use → their customer's id
    staff: list[Row]  # every staff account: admin_id, admin_name, email
    bills: dict[int, Bill]  # the bills of customers brought in earlier
    payment_keys: frozenset[str]  # the legacy:<id> keys of payments brought in


async def load_target(db: Database, rows: LegacyRows) -> Target:
    """Read what the plan checks the old rows against (one read transaction)."""
    meters = sorted(
        {meter for row in rows.customers if (meter := _meter(row["meter_number"])) is not None}
    )

    async def work(uow: UnitOfWork) -> Target:
        ids = {
            (r["legacy_table"], r["legacy_id"]): int(r["new_id"])
            for r in await uow.fetch_all("legacy_ids", {})
        }
        in_use: dict[str, int] = {}
        for start in range(0, len(meters), _CHUNK):
            found = await uow.fetch_json_in(
                "customers_by_meters", "meters", meters[start : start + _CHUNK]
            )
            in_use.update({c["meter_number"]: int(c["customer_id"]) for c in found})
        staff = await uow.fetch_all("staff_names_and_emails", {})
        bills = {
            int(r["bill_id"]): Bill.from_row(r)
            for r in await uow.fetch_all("legacy_customer_bills", {})
        }
        keys = frozenset(
            r["idempotency_key"] for r in await uow.fetch_all("legacy_payment_keys", {})
        )
        return Target(ids, in_use, staff, bills, keys)

    return await db.read(work)


# ---------------------------------------------------------------------------------------------
# Reading old values (pure)


def legacy_id(value: Any) -> str | None:
    """An old row's id as text (``17``), or None when it has none that can be kept."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    text = _text(value)
    if text is None or len(text) > _MAX_LEGACY_ID or not text.isprintable():
        return None
    return text


def _id_order(key: str) -> tuple[int, int, str]:
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    text = str(value).strip()
    return text or None


def decimal_value(value: Any, places: int) -> Decimal | None:
    """An old number with at most ``places`` decimals (a float's binary noise removed), or
    None when it is not one: ``150``, ``68.5``, ``"1,500.00"``, a DECIMAL, a DOUBLE."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, int | Decimal):
            number = Decimal(value)
        else:
            text = _text(value)
            if text is None:
                return None
            if "," in text:
                if not _THOUSANDS_RE.match(text):
                    return None  # "52,4" may be a decimal comma: not guessed
                text = text.replace(",", "")
            number = Decimal(text)
        if not number.is_finite():
            return None
        rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None
    return rounded if abs(number - rounded) <= _FLOAT_NOISE else None


def month_value(value: Any) -> date | None:
    """An old billing month as the first day of that month: a DATE, ``2024-01``,
    ``2024-01-01``, ``January 2024``, ``Jan 2024``, ``01/2024``…; None if it is none."""
    if isinstance(value, datetime):
        return value.date().replace(day=1)
    if isinstance(value, date):
        return value.replace(day=1)
    text = _text(value)
    if text is None:
        return None
    for fmt in _MONTH_FORMATS:
        try:
            return datetime.strptime(text, fmt).date().replace(day=1)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date().replace(day=1)
    except ValueError:
        return None


def day_value(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    try:
        return None if text is None else datetime.fromisoformat(text).date()
    except ValueError:
        return None


def moment_value(value: Any, timezone: tzinfo) -> datetime | None:
    """When an old payment was made, as an aware UTC datetime. The old system's times are
    the utility's local time. A date alone (a DATE, or a time of exactly midnight: a date
    stored in a DATETIME) is taken as noon, so the payment stays on that day in UTC too."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        if moment.time() == time():
            moment = moment.replace(hour=12)
        moment = moment.replace(tzinfo=timezone)
    return moment.astimezone(UTC)


def payment_method(value: Any) -> PaymentMethod | None:
    text = _text(value)
    if text is None:
        return None
    return METHODS.get(" ".join(text.lower().replace("_", " ").replace("-", " ").split()))


def _meter(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return validation.meter_number(text)
    except InvalidInput:
        return None


def _word(value: Any) -> str:
    """An old value as it reads in a reason: ``'2024-13'``, ``NULL``."""
    if value is None:
        return "NULL"
    if isinstance(value, float | int | Decimal):
        return str(value)
    return repr(_text(value) or "")


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _in_order(notes: list[RowNote]) -> list[RowNote]:
    """Table by table (customers, bills, payments, admins), each in old-id order."""
    return sorted(notes, key=lambda n: (TABLES.index(n.table), _id_order(n.legacy_id)))


# ---------------------------------------------------------------------------------------------
# The plan (pure)


@dataclass
class _BillState:
    """An old bill that is (or will be) here: its customer and what is still owed on it."""

    customer: str  # the old customer id
    billing_month: date
    outstanding: Decimal
    new: bool
    taken: Decimal = Decimal("0.00")
    old_paid: Decimal | None = None
    old_status: PaymentStatus | None = None
    old_status_text: str | None = None


@dataclass
class _Planner:
    target: Target
    due_days: int
    timezone: tzinfo
    tallies: dict[str, Tally] = field(default_factory=lambda: {t: Tally() for t in TABLES})
    refused: list[RowNote] = field(default_factory=list)
    notes: list[RowNote] = field(default_factory=list)
    admins: list[NewAdmin] = field(default_factory=list)
    works: dict[str, CustomerWork] = field(default_factory=dict)
    # old customer id → the customer's id here (None: to be added by this run)
    customers: dict[str, int | None] = field(default_factory=dict)
    refused_customers: set[str] = field(default_factory=set)
    bills: dict[str, _BillState] = field(default_factory=dict)
    refused_bills: set[str] = field(default_factory=set)

    def refuse(self, table: str, key: str, text: str) -> None:
        self.tallies[table].refused += 1
        self.refused.append(RowNote(table, key, text))

    def note(self, table: str, key: str, text: str) -> None:
        self.notes.append(RowNote(table, key, text))

    def reverse(self, table: str) -> dict[int, str]:
        return {new: old for (name, old), new in self.target.ids.items() if name == table}

    def work_of(self, customer: str) -> CustomerWork:
        if customer not in self.works:
            self.works[customer] = CustomerWork(customer, self.customers[customer], None)
        return self.works[customer]

    def rows(self, table: str, rows: Iterable[Row], id_column: str) -> list[tuple[str, Row]]:
        """The rows in old-id order; a row without an id is refused (by its position)."""
        keyed = []
        for position, row in enumerate(rows, start=1):
            key = legacy_id(row[id_column])
            if key is None:
                self.refuse(table, f"(row {position})", f"has no usable {id_column}")
            else:
                keyed.append((key, row))
        return sorted(keyed, key=lambda item: _id_order(item[0]))


def make_plan(rows: LegacyRows, target: Target, *, due_days: int, timezone: tzinfo) -> Plan:
    """Decide what becomes of every old row: added, already here, or refused and why."""
    planner = _Planner(target, due_days, timezone)
    _plan_admins(planner, rows.admins)
    _plan_customers(planner, rows.customers)
    _plan_bills(planner, rows.bills)
    _plan_payments(planner, rows.payments)
    _note_old_balances(planner)
    return Plan(
        planner.admins,
        [w for w in planner.works.values() if w.new or w.bills or w.payments],
        planner.tallies,
        planner.refused,
        planner.notes,
    )


def _plan_admins(planner: _Planner, rows: list[Row]) -> None:
    mapped = planner.reverse(ADMIN)
    names: dict[str, str] = {OLD_SYSTEM_NAME.casefold(): "the import's own account"}
    emails: dict[str, str] = {OLD_SYSTEM_EMAIL: "the import's own account"}
    for staff in planner.target.staff:
        owner = (
            f"Admin {mapped[int(staff['admin_id'])]}'s, brought in earlier"
            if int(staff["admin_id"]) in mapped
            else "a staff account of this system"
        )
        names[str(staff["admin_name"]).casefold()] = owner
        emails[str(staff["email"]).lower()] = owner
    ordered = planner.rows(ADMIN, rows, "admin_id")
    for key, row in ordered:
        # An old row brought in earlier keeps its old name and email even if they were
        # changed here since: a row refused as their duplicate stays refused.
        if (ADMIN, key) in planner.target.ids:
            names.setdefault((_text(row["AdminName"]) or "").casefold(), f"Admin {key}'s")
            emails.setdefault((_text(row["email"]) or "").lower(), f"Admin {key}'s")
    for key, row in ordered:
        if (ADMIN, key) in planner.target.ids:
            planner.tallies[ADMIN].present += 1
            continue
        try:
            name = validation.admin_name(_text(row["AdminName"]) or "")
        except InvalidInput as exc:
            planner.refuse(ADMIN, key, f"AdminName {_word(row['AdminName'])}: {exc}")
            continue
        raw_email = _text(row["email"])
        if raw_email is None:
            planner.refuse(ADMIN, key, "has no email address, which staff log in with")
            continue
        try:
            email = validation.email(raw_email)
        except InvalidInput as exc:
            planner.refuse(ADMIN, key, f"email {_word(raw_email)}: {exc}")
            continue
        password_hash = _text(row["admin_password"])
        if not passwords.is_legacy_sha256(password_hash):
            planner.refuse(
                ADMIN,
                key,
                "admin_password is not a sha256 hash; "
                "give this person an account with run_bot.py create-admin",
            )
            continue
        assert password_hash is not None
        role_text = _text(row["role"])
        role = (
            Role.ADMIN
            if role_text is None
            else ROLES.get(" ".join(role_text.lower().replace("_", " ").split()))
        )
        if role is None:
            role = Role.VIEWER
            planner.note(
                ADMIN, key, f"role {role_text!r} is neither admin nor viewer: taken as viewer"
            )
        if name.casefold() in names:
            planner.refuse(ADMIN, key, f"the name {name!r} is already {names[name.casefold()]}")
            continue
        if email in emails:
            planner.refuse(ADMIN, key, f"the email {email} is already {emails[email]}")
            continue
        names[name.casefold()] = f"Admin {key}'s"
        emails[email] = f"Admin {key}'s"
        planner.admins.append(NewAdmin(key, name, email, password_hash, role))
        planner.tallies[ADMIN].added += 1


def _plan_customers(planner: _Planner, rows: list[Row]) -> None:
    mapped = planner.reverse(CUSTOMER)
    meters: dict[str, str] = {
        meter: (
            f"Customer {mapped[customer_id]}'s, brought in earlier"
            if customer_id in mapped
            else "used by a customer who did not come from the old system"
        )
        for meter, customer_id in planner.target.meters.items()
    }
    ordered = planner.rows(CUSTOMER, rows, "customer_id")
    for key, row in ordered:
        # Its old meter number stays its own, even if staff changed the meter here since.
        meter = _meter(row["meter_number"])
        if (CUSTOMER, key) in planner.target.ids and meter is not None:
            meters.setdefault(meter, f"Customer {key}'s")
    for key, row in ordered:
        if (CUSTOMER, key) in planner.target.ids:
            planner.customers[key] = planner.target.ids[(CUSTOMER, key)]
            planner.tallies[CUSTOMER].present += 1
            continue
        new = _new_customer(planner, key, row)
        if new is None:
            planner.refused_customers.add(key)
            continue
        if new.meter_number in meters:
            planner.refuse(
                CUSTOMER,
                key,
                f"duplicate meter: {new.meter_number} is already {meters[new.meter_number]}",
            )
            planner.refused_customers.add(key)
            continue
        meters[new.meter_number] = f"Customer {key}'s"
        planner.customers[key] = None
        planner.works[key] = CustomerWork(key, None, new)
        planner.tallies[CUSTOMER].added += 1


def _new_customer(planner: _Planner, key: str, row: Row) -> NewCustomer | None:
    """The customer an old row makes, or None (refused). Contact details that are not
    usable are left empty, with a note: the customer is still this meter's."""
    raw_meter = _text(row["meter_number"])
    if raw_meter is None:
        planner.refuse(CUSTOMER, key, "has no meter_number")
        return None
    try:
        meter = validation.meter_number(raw_meter)
        name = validation.full_name(_text(row["fullName"]) or "")
    except InvalidInput as exc:
        which = (
            f"fullName {_word(row['fullName'])}"
            if _meter(raw_meter)
            else f"meter_number {_word(raw_meter)}"
        )
        planner.refuse(CUSTOMER, key, f"{which}: {exc}")
        return None

    def optional(column: str, check: Any, what: str) -> str | None:
        raw = _text(row[column])
        if raw is None:
            return None
        try:
            return str(check(raw))
        except InvalidInput:
            planner.note(CUSTOMER, key, f"{column} {_word(raw)} is not {what}; left empty")
            return None

    password_hash = _text(row["User_password"])
    if password_hash is not None and not passwords.is_legacy_sha256(password_hash):
        planner.note(
            CUSTOMER,
            key,
            "User_password is not a sha256 hash; no password kept "
            "(the customer sets one through an activation link)",
        )
        password_hash = None
    return NewCustomer(
        meter_number=meter,
        full_name=name,
        address=optional("address", validation.address, "an address") or "",
        phone_number=optional("phoneNumber", validation.phone_number, "a phone number"),
        email=optional("email", validation.email, "an email address"),
        password_hash=password_hash,
    )


def _plan_bills(planner: _Planner, rows: list[Row]) -> None:
    mapped = planner.reverse(BILLS)
    customers = planner.reverse(CUSTOMER)
    months: dict[tuple[str, date], str] = {}  # (old customer id, month) → who has it
    for bill in planner.target.bills.values():  # all of customers brought in earlier
        months[(customers[bill.customer_id], bill.billing_month)] = (
            f"Bills {mapped[bill.bill_id]}"
            if bill.bill_id in mapped
            else f"bill {bill.bill_id} of this system, not from the old one"
        )
    ordered = planner.rows(BILLS, rows, "bill_id")
    for key, row in ordered:
        # Its old month stays its own, even if staff moved the bill here since.
        customer, month = legacy_id(row["customer_id"]), month_value(row["billing_month"])
        if (BILLS, key) in planner.target.ids and customer is not None and month is not None:
            months.setdefault((customer, month), f"Bills {key}")
    for key, row in ordered:
        if (BILLS, key) in planner.target.ids:
            here = planner.target.bills[planner.target.ids[(BILLS, key)]]
            # Its customer as brought in, whatever the old row says now.
            owner = customers[here.customer_id]
            planner.customers.setdefault(owner, here.customer_id)
            planner.bills[key] = _BillState(owner, here.billing_month, here.outstanding, new=False)
            planner.tallies[BILLS].present += 1
            continue
        customer = legacy_id(row["customer_id"])
        if customer is None or customer not in planner.customers:
            planner.refused_bills.add(key)
            if customer in planner.refused_customers:
                planner.refuse(BILLS, key, f"its customer (Customer {customer}) is refused")
            else:
                planner.refuse(BILLS, key, f"no customer {_word(row['customer_id'])}")
            continue
        new = _new_bill(planner, key, row)
        if new is None:
            planner.refused_bills.add(key)
            continue
        taken = months.get((customer, new.billing_month))
        if taken is not None:
            planner.refuse(
                BILLS,
                key,
                f"Customer {customer} already has a bill for {new.billing_month:%Y-%m}: {taken}",
            )
            planner.refused_bills.add(key)
            continue
        months[(customer, new.billing_month)] = f"Bills {key}"
        planner.work_of(customer).bills.append(new)
        status_text = _text(row["payment_status"])
        planner.bills[key] = _BillState(
            customer,
            new.billing_month,
            new.total_amount,
            new=True,
            old_paid=decimal_value(row["amount_paid"], 2),
            old_status=_STATUSES.get((status_text or "").lower()),
            old_status_text=status_text,
        )
        planner.tallies[BILLS].added += 1


def _new_bill(planner: _Planner, key: str, row: Row) -> NewBill | None:
    month = month_value(row["billing_month"])
    if month is None:
        planner.refuse(BILLS, key, f"billing_month {_word(row['billing_month'])} is not a month")
        return None
    units = decimal_value(row["units_used"], 2)
    if units is None or not 0 < units <= MAX_UNITS:
        planner.refuse(
            BILLS,
            key,
            f"units_used {_word(row['units_used'])} is not above 0 with at most two decimals",
        )
        return None
    rate = decimal_value(row["rate_per_unit"], 4)
    if rate is None or not 0 < rate <= MAX_RATE:
        planner.refuse(
            BILLS,
            key,
            f"rate_per_unit {_word(row['rate_per_unit'])} is not above 0 "
            "with at most four decimals",
        )
        return None
    total = bill_total(units, rate)
    if not 0 < total <= MAX_AMOUNT:
        planner.refuse(BILLS, key, f"units × rate makes a bill of {_money(total)}")
        return None
    if row["total_amount"] is not None and decimal_value(row["total_amount"], 2) != total:
        planner.refuse(
            BILLS,
            key,
            f"total_amount {_word(row['total_amount'])} is not units × rate "
            f"({units} × {rate} = {_money(total)})",
        )
        return None
    # The old system issued a bill in its own month: due after the month, as it was then.
    due = day_value(row["due_date"]) or default_due_date(month, planner.due_days, issued_on=month)
    return NewBill(key, month, units, rate, total, due)


def _plan_payments(planner: _Planner, rows: list[Row]) -> None:
    ready: list[tuple[datetime, tuple[int, int, str], NewPayment, _BillState]] = []
    for key, row in planner.rows(PAYMENT, rows, "payment_id"):
        if KEY_PREFIX + key in planner.target.payment_keys:
            planner.tallies[PAYMENT].present += 1
            continue
        bill_key = legacy_id(row["bill_id"])
        state = planner.bills.get(bill_key) if bill_key is not None else None
        if state is None:
            if bill_key in planner.refused_bills:
                planner.refuse(PAYMENT, key, f"its bill (Bills {bill_key}) is refused")
            else:
                planner.refuse(PAYMENT, key, f"no bill {_word(row['bill_id'])} (unknown bill)")
            continue
        assert bill_key is not None
        amount = decimal_value(row["amount_paid"], 2)
        if amount is None or amount <= 0:
            planner.refuse(
                PAYMENT,
                key,
                f"amount_paid {_word(row['amount_paid'])} is not above 0 "
                "with at most two decimals",
            )
            continue
        method = payment_method(row["payment_method"])
        if method is None:
            planner.refuse(
                PAYMENT,
                key,
                f"payment_method {_word(row['payment_method'])} is none of cash, card "
                "(taken as POS), POS, bank transfer, mobile money",
            )
            continue
        moment = moment_value(row["date_of_payment"], planner.timezone)
        if moment is None:
            planner.refuse(
                PAYMENT, key, f"date_of_payment {_word(row['date_of_payment'])} is not a date"
            )
            continue
        month = month_value(row["billing_month"])
        if month is not None and month != state.billing_month:
            planner.note(
                PAYMENT,
                key,
                f"billing_month {month:%Y-%m} is not its bill's ({state.billing_month:%Y-%m}); "
                "it is filed under the bill's",
            )
        payment = NewPayment(key, bill_key, amount, method, moment)
        ready.append((moment, _id_order(key), payment, state))
    # Each bill's payments in the order they were made: a later one is refused if the bill
    # cannot take it, never an earlier one.
    for _, _, payment, state in sorted(ready, key=lambda item: item[:2]):
        if state.outstanding <= 0:
            planner.refuse(
                PAYMENT,
                payment.legacy_id,
                f"its bill (Bills {payment.legacy_bill_id}) is already paid in full",
            )
            continue
        if payment.amount > state.outstanding:
            planner.refuse(
                PAYMENT,
                payment.legacy_id,
                f"payment larger than its bill: {_money(payment.amount)} is more than the "
                f"{_money(state.outstanding)} still owed on Bills {payment.legacy_bill_id}",
            )
            continue
        state.outstanding -= payment.amount
        state.taken += payment.amount
        planner.work_of(state.customer).payments.append(payment)
        planner.tallies[PAYMENT].added += 1


def _note_old_balances(planner: _Planner) -> None:
    """Where the old system said more (or less) was paid on a bill than its payments add up
    to: the bill shows what its payments add up to, and the difference is pointed out."""
    for key, state in sorted(planner.bills.items(), key=lambda item: _id_order(item[0])):
        if not state.new:
            continue
        status = PaymentStatus.for_amounts(state.outstanding + state.taken, state.taken)
        if state.old_paid is not None and state.old_paid != state.taken:
            planner.note(
                BILLS,
                key,
                f"the old system said {_money(state.old_paid)} was paid; the payments brought "
                f"in add up to {_money(state.taken)}, which is what the bill shows",
            )
        elif state.old_status_text is not None and state.old_status != status:
            planner.note(
                BILLS,
                key,
                f"the old system said {state.old_status_text!r}; by its payments the bill is "
                f"{status.value}",
            )


# ---------------------------------------------------------------------------------------------
# Writing


async def import_legacy(
    db: Database,
    legacy: Database,
    *,
    dry_run: bool,
    due_days: int,
    timezone: tzinfo,
) -> ImportReport:
    """Bring in every row of the old database ``legacy`` that can be taken (``db``: the admin
    account). A dry run reads both databases and writes nothing."""
    rows = await read_legacy(legacy)
    target = await load_target(db, rows)
    plan = make_plan(rows, target, due_days=due_days, timezone=timezone)
    account_exists = any(s["email"] == OLD_SYSTEM_EMAIL for s in target.staff)
    if dry_run or not plan.has_work:
        return ImportReport(
            dry_run=dry_run,
            tallies=plan.tallies,
            refused=_in_order(plan.refused),
            notes=_in_order(plan.notes),
            old_system_account=(
                "exists" if account_exists else "would be created" if plan.has_work else "none"
            ),
            totals_differences=[] if dry_run else await report_totals.differences(db),
        )
    clerk_id = await _old_system_account(db)
    run = _Run(
        clerk_id=clerk_id,
        import_id=await _open_run(db, clerk_id),
        target=target,
        tallies={t: Tally(0, plan.tallies[t].present, plan.tallies[t].refused) for t in TABLES},
        refused=list(plan.refused),
        notes=list(plan.notes),
    )
    for admin in plan.admins:
        run.merge(await _write_admin(db, admin))
    for work in plan.customers:
        run.merge(await _write_customer(db, work, run))
    await _close_run(db, run)
    return ImportReport(
        dry_run=False,
        tallies=run.tallies,
        refused=_in_order(run.refused),
        notes=_in_order(run.notes),
        old_system_account="exists" if account_exists else "created",
        totals_differences=await report_totals.differences(db),
    )


@dataclass
class _Outcome:
    """What one transaction did; thrown away with it if it is run again."""

    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    present: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    refused: list[RowNote] = field(default_factory=list)

    def refuse(self, table: str, key: str, text: str) -> None:
        self.refused.append(RowNote(table, key, text))


@dataclass
class _Run:
    clerk_id: int
    import_id: int
    target: Target
    tallies: dict[str, Tally]
    refused: list[RowNote]
    notes: list[RowNote]

    def merge(self, outcome: _Outcome) -> None:
        for table in TABLES:
            self.tallies[table].added += outcome.added[table]
            self.tallies[table].present += outcome.present[table]
        for note in outcome.refused:
            self.tallies[note.table].refused += 1
        self.refused += outcome.refused


async def _old_system_account(db: Database) -> int:
    """The staff account that records the old payments, made on first use."""
    row = await db.fetch_one("get_admin_by_email", {"email": OLD_SYSTEM_EMAIL})
    if row is not None:
        return int(row["admin_id"])
    unknowable = await passwords.hash_password(secrets.token_urlsafe(32))

    async def work(uow: UnitOfWork) -> int:
        try:
            admin_id = await uow.insert(
                "insert_admin",
                {
                    "admin_name": OLD_SYSTEM_NAME,
                    "email": OLD_SYSTEM_EMAIL,
                    "password_hash": unknowable,
                    "role": Role.VIEWER.value,
                    "telegram_user_id": None,
                },
            )
        except pymysql.err.IntegrityError as exc:
            found = await uow.fetch_one("get_admin_by_email", {"email": OLD_SYSTEM_EMAIL})
            if found is not None:  # another import made it meanwhile
                return int(found["admin_id"])
            raise DomainError(
                f"A staff account is already named {OLD_SYSTEM_NAME!r}: the import records "
                "the old payments under that name. Rename that account first."
            ) from exc
        await uow.commit()
        return admin_id

    return await db.transaction(work)


async def _open_run(db: Database, clerk_id: int) -> int:
    """The run's audit entry, which each bill it brings in names (migration 0004)."""

    async def work(uow: UnitOfWork) -> int:
        import_id = await audit.record(
            uow, admin_id=clerk_id, action="legacy.import", entity_type="import", entity_id=""
        )
        await uow.commit()
        return import_id

    return await db.transaction(work)


async def _close_run(db: Database, run: _Run) -> None:
    async def work(uow: UnitOfWork) -> None:
        await audit.finish(
            uow,
            run.import_id,
            after={
                table: {"added": t.added, "present": t.present, "refused": t.refused}
                for table, t in run.tallies.items()
            },
        )
        await uow.commit()

    await db.transaction(work)


async def _write_admin(db: Database, admin: NewAdmin) -> _Outcome:
    async def work(uow: UnitOfWork) -> _Outcome:
        outcome = _Outcome()
        try:
            admin_id = await uow.insert(
                "insert_admin",
                {
                    "admin_name": admin.admin_name,
                    "email": admin.email,
                    "password_hash": admin.password_hash,
                    "role": admin.role.value,
                    "telegram_user_id": None,
                },
            )
        except pymysql.err.IntegrityError as exc:
            if error_code(exc) != 1062:
                raise
            outcome.refuse(
                ADMIN,
                admin.legacy_id,
                "a staff account with this name or email was made meanwhile",
            )
            return outcome
        await _remember(uow, ADMIN, admin.legacy_id, admin_id)
        await uow.commit()
        outcome.added[ADMIN] += 1
        return outcome

    return await db.transaction(work)


async def _write_customer(db: Database, work: CustomerWork, run: _Run) -> _Outcome:
    """One old customer's rows in one transaction. A row the database refuses (another
    writer got there first) is reported; anything else it refuses undoes the customer's
    rows, which are all reported refused with its reason."""

    async def write(uow: UnitOfWork) -> _Outcome:
        outcome = _Outcome()
        await _write_rows(uow, work, run, outcome)
        await uow.commit()
        return outcome

    try:
        return await db.transaction(write)
    except pymysql.err.MySQLError as exc:
        if not refused_by_server(exc):
            raise
        reason = f"the database refused it: {exc.args[1] if len(exc.args) > 1 else exc}"
        outcome = _Outcome()
        if work.new is not None:
            outcome.refuse(CUSTOMER, work.legacy_id, reason)
        for bill in work.bills:
            outcome.refuse(BILLS, bill.legacy_id, reason)
        for payment in work.payments:
            outcome.refuse(PAYMENT, payment.legacy_id, reason)
        return outcome


async def _write_rows(uow: UnitOfWork, work: CustomerWork, run: _Run, outcome: _Outcome) -> None:
    customer_id = work.customer_id
    if work.new is not None:
        new = work.new
        try:
            customer_id = await uow.insert(
                "insert_legacy_customer",
                {
                    "meter_number": new.meter_number,
                    "full_name": new.full_name,
                    "address": new.address,
                    "phone_number": new.phone_number,
                    "email": new.email,
                    "password_hash": new.password_hash,
                },
            )
        except pymysql.err.IntegrityError as exc:
            if error_code(exc) != 1062:
                raise
            why = f"meter {new.meter_number} was given to another customer meanwhile"
            outcome.refuse(CUSTOMER, work.legacy_id, why)
            for bill in work.bills:
                outcome.refuse(BILLS, bill.legacy_id, f"its customer: {why}")
            for payment in work.payments:
                outcome.refuse(PAYMENT, payment.legacy_id, f"its customer: {why}")
            return
        await _remember(uow, CUSTOMER, work.legacy_id, customer_id)
        await audit.record(
            uow,
            admin_id=run.clerk_id,
            action="customer.import",
            entity_type="customer",
            entity_id=customer_id,
            customer_id=customer_id,
            after={"from": f"{CUSTOMER} {work.legacy_id}", "meter_number": new.meter_number},
        )
        outcome.added[CUSTOMER] += 1
    assert customer_id is not None
    bill_ids: dict[str, int] = {}
    for bill in work.bills:
        try:
            bill_ids[bill.legacy_id] = await ledger.issue_imported(
                uow,
                customer_id=customer_id,
                billing_month=bill.billing_month,
                units=bill.units_used,
                rate=bill.rate_per_unit,
                total=bill.total_amount,
                due_date=bill.due_date,
                import_id=run.import_id,
            )
        except DuplicateBill:
            outcome.refuse(
                BILLS,
                bill.legacy_id,
                f"a bill for {bill.billing_month:%Y-%m} was issued to this customer meanwhile",
            )
            continue
        await _remember(uow, BILLS, bill.legacy_id, bill_ids[bill.legacy_id])
        outcome.added[BILLS] += 1
    if bill_ids:  # their one energy line each (units x rate as the old system billed)
        await ledger.lines_for_import(
            uow, import_id=run.import_id, first_id=min(bill_ids.values())
        )
    for payment in work.payments:
        bill_id = bill_ids.get(payment.legacy_bill_id) or run.target.ids.get(
            (BILLS, payment.legacy_bill_id)
        )
        if bill_id is None:
            outcome.refuse(
                PAYMENT, payment.legacy_id, f"its bill (Bills {payment.legacy_bill_id}) is refused"
            )
            continue
        await _write_payment(uow, payment, bill_id, run, outcome)


async def _write_payment(
    uow: UnitOfWork, payment: NewPayment, bill_id: int, run: _Run, outcome: _Outcome
) -> None:
    """An old payment, through the one payment writer, on its bill locked first; checked
    again against the bill as it is now (staff may have taken a payment since the plan)."""
    bill = await payments.lock_bill(uow, bill_id)
    assert bill is not None
    key = {"idempotency_key": payment.idempotency_key}
    if await uow.fetch_one("find_payment_by_idempotency_key", key) is not None:
        outcome.present[PAYMENT] += 1
        return
    if payment.amount > bill.outstanding:
        outcome.refuse(
            PAYMENT,
            payment.legacy_id,
            f"payment larger than its bill: {_money(payment.amount)} is more than the "
            f"{_money(bill.outstanding)} now owed on Bills {payment.legacy_bill_id}",
        )
        return
    for attempt in range(3):
        try:
            await payments.insert_payment(
                uow,
                bill,
                amount=payment.amount,
                method=payment.method,
                idempotency_key=payment.idempotency_key,
                moment=payment.moment,
                admin_id=run.clerk_id,
            )
            break
        except pymysql.err.IntegrityError as exc:
            # A random receipt number that is taken already: draw another.
            if error_code(exc) != 1062 or "receipt_number" not in str(exc) or attempt == 2:
                raise
    outcome.added[PAYMENT] += 1


async def _remember(uow: UnitOfWork, table: str, key: str, new_id: int) -> None:
    await uow.execute(
        "insert_legacy_id", {"legacy_table": table, "legacy_id": key, "new_id": new_id}
    )


# ---------------------------------------------------------------------------------------------
# The summary an operator reads


_LABELS = {CUSTOMER: "customers", BILLS: "bills", PAYMENT: "payments", ADMIN: "admins"}


def summary(report: ImportReport) -> list[str]:
    """The report as lines of text: a table of counts, then every refused row and every
    remark, each with its old table, id and reason."""
    added = "would add" if report.dry_run else "added"
    lines = [
        "Dry run: nothing was changed." if report.dry_run else "Import done.",
        f"{'':<10}{added:>10}{'already here':>14}{'refused':>9}",
    ]
    for table in TABLES:
        t = report.tallies[table]
        lines.append(f"{_LABELS[table]:<10}{t.added:>10}{t.present:>14}{t.refused:>9}")
    if report.old_system_account in ("created", "would be created"):
        lines.append(
            f"The old payments are recorded by the staff account {OLD_SYSTEM_NAME!r} "
            f"<{OLD_SYSTEM_EMAIL}>, which nobody can log in as "
            f"({report.old_system_account})."
        )
    if report.refused:
        lines.append(f"Refused ({len(report.refused)}):")
        lines += [f"  {note}" for note in report.refused]
    if report.notes:
        lines.append(f"Taken, with a remark ({len(report.notes)}):")
        lines += [f"  {note}" for note in report.notes]
    if not report.dry_run:
        if report.totals_differences:
            lines.append("Report totals differ from a recount (run `run_bot.py recount`):")
            lines += [f"  {line}" for line in report.totals_differences]
        else:
            lines.append("Report totals equal a recount of the bills and payments.")
    return lines
