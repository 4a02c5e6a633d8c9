"""Records the domain hands out: frozen dataclasses, Decimal money, aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from domain.billing import Line

T = TypeVar("T")


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PARTIAL = "partial"
    PAID = "paid"

    @property
    def label(self) -> str:
        """The one name a person reads for this status, in every chat message and file."""
        return {"unpaid": "Unpaid", "partial": "Part-paid", "paid": "Paid"}[self.value]

    @classmethod
    def for_amounts(cls, total_amount: Decimal, amount_paid: Decimal) -> PaymentStatus:
        if amount_paid <= 0:
            return cls.UNPAID
        if amount_paid >= total_amount:
            return cls.PAID
        return cls.PARTIAL


class BillFilter(StrEnum):
    """Which bills a list shows, by the word typed after /bills."""

    OWED = "owed"  # everything still owed: unpaid and part-paid
    UNPAID = "unpaid"  # nothing paid yet
    PARTIAL = "partial"  # part-paid
    PAID = "paid"
    ALL = "all"

    @property
    def statuses(self) -> tuple[PaymentStatus, ...]:
        """The statuses of the bills shown (every status for ``all``)."""
        return {
            "owed": (PaymentStatus.UNPAID, PaymentStatus.PARTIAL),
            "unpaid": (PaymentStatus.UNPAID,),
            "partial": (PaymentStatus.PARTIAL,),
            "paid": (PaymentStatus.PAID,),
            "all": tuple(PaymentStatus),
        }[self.value]

    @classmethod
    def parse(cls, word: str) -> BillFilter | None:
        """The filter a typed word names (``owed``, ``part-paid``, ``open``…), or None."""
        word = word.strip().lower()
        return _FILTER_WORDS.get(word) or next((f for f in cls if f.value == word), None)


class PaymentMethod(StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    MOBILE_MONEY = "mobile_money"
    CASH = "cash"
    POS = "pos"
    CREDIT = "credit"

    @property
    def label(self) -> str:
        return {
            "card": "Card",
            "bank_transfer": "Bank transfer",
            "mobile_money": "Mobile money",
            "cash": "Cash",
            "pos": "POS terminal",
            "credit": "Account credit",
        }[self.value]


# Other words people type for a filter: the old names of the lists, and the status label.
_FILTER_WORDS = {
    "open": BillFilter.OWED,
    "due": BillFilter.OWED,
    "outstanding": BillFilter.OWED,
    "part-paid": BillFilter.PARTIAL,
    "partpaid": BillFilter.PARTIAL,
    "partly": BillFilter.PARTIAL,
}

# Customers pay in the chat by card (an invoice, paid on Telegram's payment screen), by a
# transfer they claim (staff check it), or from their account credit.
CUSTOMER_METHODS = (PaymentMethod.CARD, PaymentMethod.BANK_TRANSFER, PaymentMethod.MOBILE_MONEY)
# What a customer may record by themselves: only money the utility already holds.
SELF_RECORDED_METHODS = (PaymentMethod.CREDIT,)
# What staff record at the office (/recordpayment): money they took or saw arrive. Card
# money arrives through Telegram Payments only (a card at the office is POS).
OFFICE_METHODS = (
    PaymentMethod.CASH,
    PaymentMethod.POS,
    PaymentMethod.BANK_TRANSFER,
    PaymentMethod.MOBILE_MONEY,
)


class Role(StrEnum):
    ADMIN = "admin"
    VIEWER = "viewer"

    @property
    def can_write(self) -> bool:
        return self is Role.ADMIN


def utc(value: datetime | None) -> datetime | None:
    """Make a naive DATETIME read from the database an aware UTC datetime."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_date(text: str | None) -> date | None:
    """A DATE as the server writes it in JSON (``2026-11-01``)."""
    return None if text is None else date.fromisoformat(text)


def json_datetime(text: str | None) -> datetime | None:
    """A DATETIME as the server writes it in JSON (``2026-11-24 07:28:33.181536``)."""
    return None if text is None else datetime.fromisoformat(text)


def db_time(value: datetime) -> datetime:
    """An aware datetime as the naive UTC value stored in DATETIME columns."""
    return value.astimezone(UTC).replace(tzinfo=None)


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Customer:
    customer_id: int
    meter_number: str
    full_name: str
    address: str
    phone_number: str | None
    email: str | None
    telegram_user_id: int | None
    has_password: bool
    created_at: datetime
    # Money received that no bill has taken yet (migration 0006); pays the next bills.
    credit: Decimal = Decimal("0.00")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Customer:
        return cls(
            customer_id=int(row["customer_id"]),
            meter_number=row["meter_number"],
            full_name=row["full_name"],
            address=row["address"],
            phone_number=row["phone_number"],
            email=row["email"],
            telegram_user_id=row["telegram_user_id"],
            has_password=bool(row.get("password_hash")),
            created_at=utc(row["created_at"]) or now_utc(),
            credit=Decimal(row.get("credit", "0.00")),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Customer:
        """A customer from a JSON object of its columns, with ``has_password`` (a boolean)
        instead of the password's hash."""
        customer = cls.from_row({**data, "created_at": json_datetime(data["created_at"])})
        return replace(customer, has_password=bool(data["has_password"]))


@dataclass(frozen=True)
class Admin:
    admin_id: int
    admin_name: str
    email: str
    role: Role
    telegram_user_id: int | None
    notify_payments: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Admin:
        return cls(
            admin_id=int(row["admin_id"]),
            admin_name=row["admin_name"],
            email=row["email"],
            role=Role(row["role"]),
            telegram_user_id=row["telegram_user_id"],
            notify_payments=bool(row["notify_payments"]),
        )


@dataclass(frozen=True)
class Bill:
    bill_id: int
    customer_id: int
    billing_month: date
    units_used: Decimal
    rate_per_unit: Decimal
    total_amount: Decimal
    amount_paid: Decimal
    payment_status: PaymentStatus
    due_date: date

    @property
    def outstanding(self) -> Decimal:
        return self.total_amount - self.amount_paid

    def is_overdue(self, today: date) -> bool:
        """Money is still owed on it and its due date has passed (``today`` is local)."""
        return self.outstanding > 0 and self.due_date < today

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Bill:
        return cls(
            bill_id=int(row["bill_id"]),
            customer_id=int(row["customer_id"]),
            billing_month=row["billing_month"],
            units_used=Decimal(row["units_used"]),
            rate_per_unit=Decimal(row["rate_per_unit"]),
            total_amount=Decimal(row["total_amount"]),
            amount_paid=Decimal(row["amount_paid"]),
            payment_status=PaymentStatus(row["payment_status"]),
            due_date=row["due_date"],
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bill:
        """A bill from a JSON object of its columns (dates as ISO text, numbers Decimal)."""
        return cls.from_row(
            {
                **data,
                "billing_month": json_date(data["billing_month"]),
                "due_date": json_date(data["due_date"]),
            }
        )


@dataclass(frozen=True)
class Payment:
    payment_id: int
    bill_id: int
    date_of_payment: datetime
    amount_paid: Decimal
    payment_method: PaymentMethod
    billing_month: date
    payment_status: PaymentStatus
    receipt_number: str
    idempotency_key: str
    recorded_by_admin_id: int | None
    voided_at: datetime | None
    void_reason: str | None

    @property
    def is_void(self) -> bool:
        return self.voided_at is not None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Payment:
        return cls(
            payment_id=int(row["payment_id"]),
            bill_id=int(row["bill_id"]),
            date_of_payment=utc(row["date_of_payment"]) or now_utc(),
            amount_paid=Decimal(row["amount_paid"]),
            payment_method=PaymentMethod(row["payment_method"]),
            billing_month=row["billing_month"],
            payment_status=PaymentStatus(row["payment_status"]),
            receipt_number=row["receipt_number"],
            idempotency_key=row["idempotency_key"],
            recorded_by_admin_id=row["recorded_by_admin_id"],
            voided_at=utc(row["voided_at"]),
            void_reason=row["void_reason"],
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Payment:
        """A payment from a JSON object of its columns (dates as text, numbers Decimal)."""
        return cls.from_row(
            {
                **data,
                "date_of_payment": json_datetime(data["date_of_payment"]),
                "billing_month": json_date(data["billing_month"]),
                "voided_at": json_datetime(data["voided_at"]),
            }
        )


@dataclass(frozen=True)
class Receipt:
    """Everything a receipt shows, as it was when the payment was made (the payment's own
    figures, and the details migration 0012 keeps with it: ``domain.receipts``)."""

    receipt_number: str
    payment_id: int
    date_of_payment: datetime
    customer_name: str
    meter_number: str
    address: str
    billing_month: date
    units_used: Decimal
    rate_per_unit: Decimal
    bill_total: Decimal
    amount_paid: Decimal
    paid_to_date: Decimal
    balance: Decimal
    payment_method: PaymentMethod
    payment_status: PaymentStatus
    voided: bool
    # When the bill fell due (None: not known to the caller that built this receipt).
    due_date: date | None = None
    # The staff member who recorded an office payment; None for a customer's own payment.
    recorded_by: str | None = None
    # The customer's account credit right after this payment (None: not kept, e.g. loaded).
    credit_after: Decimal | None = None
    # The bill's lines as they were when it was paid (empty: not known, or changed since).
    bill_lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with what is needed to draw ◀ ▶."""

    items: list[T]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_previous(self) -> bool:
        return self.page > 0

    @property
    def has_next(self) -> bool:
        return (self.page + 1) * self.page_size < self.total
