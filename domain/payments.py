"""Payments: pay a bill exactly once, void a payment, list payments, build receipts.

The invariants (SPEC §4): a payment locks its bill, checks it, inserts the payment and moves
the bill's ``amount_paid``/``payment_status`` in one transaction; an idempotency key makes a
repeated confirm return the first payment; ``amount_paid`` always equals the sum of the
bill's non-void payments.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from domain import audit, validation
from domain.billing import Balance
from domain.billing import checked_amount as checked_amount  # its callers ask payments
from domain.db import Database, UnitOfWork
from domain.errors import (
    BillNotFound,
    DomainError,
    IdempotencyKeyReused,
    InsufficientCredit,
    InvalidInput,
    PaymentAlreadyVoided,
    PaymentNotFound,
    PaymentNotTaken,
    PaymentOutcomeUnknown,
)
from domain.models import (
    SELF_RECORDED_METHODS,
    Bill,
    Page,
    Payment,
    PaymentMethod,
    db_time,
    now_utc,
)
from domain.money import to_cents

_RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def new_receipt_number(moment: datetime) -> str:
    """``EB-261124-7KQ2M9XA``: the date, then 8 random characters (unique key in the table)."""
    bits = secrets.randbits(40)  # 8 characters of 5 bits each (the alphabet has 32)
    suffix = "".join(_RECEIPT_ALPHABET[(bits >> shift) & 31] for shift in range(0, 40, 5))
    return f"EB-{moment:%y%m%d}-{suffix}"


def new_idempotency_key() -> str:
    """A fresh key for one payment attempt (made when the confirm screen is shown)."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    bill: Bill
    created: bool  # False when the idempotency key had already been used: the first payment
    # A void of a card payment: what is now owed back at the provider (the payment, and what
    # its charge had put into credit that the customer still had).
    refund_owed: Decimal | None = None


def balance_of(bill: Bill) -> Balance:
    """What ``bill`` owes, for the money rules of :mod:`domain.billing`."""
    return Balance(bill.total_amount, bill.amount_paid)


async def lock_bill(uow: UnitOfWork, bill_id: int) -> Bill | None:
    """The bill, locked until the transaction ends (``SELECT … FOR UPDATE``); None if none."""
    data = await uow.fetch_json("lock_bill", {"bill_id": bill_id})
    return None if data is None else Bill.from_json(data)


async def lock_credit(uow: UnitOfWork, customer_id: int) -> Decimal:
    """The customer's account credit, locked until the transaction ends."""
    credit = await uow.fetch_value("lock_customer_credit", {"customer_id": customer_id})
    return to_cents(Decimal(credit))


@dataclass(frozen=True)
class ChargeIds:
    """The two ids Telegram gives a successful payment (``successful_payment``)."""

    telegram_payment_charge_id: str
    provider_payment_charge_id: str


async def insert_payment(
    uow: UnitOfWork,
    bill: Bill,
    *,
    amount: Decimal,
    method: PaymentMethod,
    idempotency_key: str,
    moment: datetime,
    admin_id: int | None = None,
    charge: ChargeIds | None = None,
    commit: bool = False,
) -> PaymentResult:
    """Insert one payment of ``amount`` (checked: 0 < amount ≤ outstanding) on ``bill``,
    locked by the caller's transaction; with ``commit`` the COMMIT rides in the same round
    trip. The database's triggers (migrations 0005, 0006) copy the bill's figures onto the
    payment, move the bill, the report totals and, for a payment from credit, the customer's
    credit, and refuse a payment nobody took: a customer-side one must be from credit or a
    provider charge's, an office one names who recorded it (a column the customer account
    may not write). The one place a payment row is written."""
    paid = balance_of(bill).pay(amount)
    stored = db_time(moment)
    receipt_number = new_receipt_number(moment)
    values: dict[str, object] = {
        "bill_id": bill.bill_id,
        "date_of_payment": stored,
        "amount_paid": amount,
        "payment_method": method.value,
        "billing_month": bill.billing_month,
        "payment_status": paid.status.value,
        "receipt_number": receipt_number,
        "idempotency_key": idempotency_key,
        "bill_total": bill.total_amount,
        "paid_to_date": paid.amount_paid,
        "units_used": bill.units_used,
        "rate_per_unit": bill.rate_per_unit,
    }
    if charge is not None:
        name = "insert_card_payment"
        values["telegram_payment_charge_id"] = charge.telegram_payment_charge_id
        values["provider_payment_charge_id"] = charge.provider_payment_charge_id
    elif admin_id is not None:
        name = "insert_office_payment"
        values["recorded_by_admin_id"] = admin_id
    else:
        name = "insert_payment"
    statements = [(name, values)]
    payment_id = await (uow.commit(statements) if commit else uow.execute_batch(statements))
    payment = Payment(
        payment_id=payment_id,
        bill_id=bill.bill_id,
        date_of_payment=stored.replace(tzinfo=UTC),
        amount_paid=amount,
        payment_method=method,
        billing_month=bill.billing_month,
        payment_status=paid.status,
        receipt_number=receipt_number,
        idempotency_key=idempotency_key,
        recorded_by_admin_id=admin_id,
        voided_at=None,
        void_reason=None,
    )
    after = replace(bill, amount_paid=paid.amount_paid, payment_status=paid.status)
    return PaymentResult(payment, after, created=True)


async def apply_credit(
    uow: UnitOfWork, bill: Bill, *, moment: datetime | None = None
) -> PaymentResult | None:
    """Pay as much of ``bill`` (locked or just issued in this transaction) as the customer's
    credit covers, as a payment from credit; None when there is no credit or nothing owed."""
    if bill.outstanding <= 0:
        return None
    amount = balance_of(bill).credit_to_apply(await lock_credit(uow, bill.customer_id))
    if amount <= 0:
        return None
    return await insert_payment(
        uow,
        bill,
        amount=amount,
        method=PaymentMethod.CREDIT,
        idempotency_key=f"credit:{bill.bill_id}:{bill.amount_paid}",
        moment=moment or now_utc(),
    )


async def pay_bill(
    db: Database,
    *,
    bill_id: int,
    amount: Decimal,
    method: PaymentMethod | str,
    idempotency_key: str,
    customer_id: int | None = None,
    admin_id: int | None = None,
    now: datetime | None = None,
) -> PaymentResult:
    """Record a payment on a bill, once per ``idempotency_key``: :func:`record` in one
    transaction under the one retry policy (:meth:`Database.transaction`).

    ``customer_id`` restricts the bill to that customer's own (a customer paying in the chat:
    only from their account credit — card money arrives through :mod:`domain.card_payments`,
    transfers as claims); ``admin_id`` marks a payment recorded by staff. A COMMIT whose
    answer was lost, with no later attempt able to look, is PaymentOutcomeUnknown: the
    payment may have been recorded, and the same confirm later finds it.
    """
    work = functools.partial(
        record,
        bill_id=bill_id,
        amount=amount,
        method=method,
        idempotency_key=idempotency_key,
        customer_id=customer_id,
        admin_id=admin_id,
        now=now,
    )
    return await db.transaction(work, unknown=PaymentOutcomeUnknown)


async def record(
    uow: UnitOfWork,
    *,
    bill_id: int,
    amount: Decimal,
    method: PaymentMethod | str,
    idempotency_key: str,
    customer_id: int | None = None,
    admin_id: int | None = None,
    now: datetime | None = None,
    commit: bool = True,
) -> PaymentResult:
    """One attempt of :func:`pay_bill`, in the caller's transaction (``commit`` False: the
    caller commits, after what it writes with the payment — a claim's confirmation)."""
    payment_method = _method_taken(method, idempotency_key, admin_id=admin_id)
    # A rerun — after a deadlock, a lost connection, or a concurrent confirm with the same
    # key that committed first — looks for the key's payment before anything else.
    if uow.rerun and (found := await _made_with_key(uow, idempotency_key, bill_id, customer_id)):
        return found
    bill = await lock_bill(uow, bill_id)
    if bill is None or (customer_id is not None and bill.customer_id != customer_id):
        raise BillNotFound()
    try:
        balance_of(bill).pay(amount)  # not paid yet, whole cents, at most what is owed
        if payment_method is PaymentMethod.CREDIT:
            credit = await lock_credit(uow, bill.customer_id)
            if amount > credit:
                raise InsufficientCredit(credit)
    except DomainError:
        # A repeated confirm (a double tap, a retried request, a re-delivered update) of a
        # payment that paid the bill off is answered with that first payment.
        found = await _made_with_key(uow, idempotency_key, bill_id, customer_id)
        if found:
            return found
        raise
    # A repeat whose first payment left the bill open fails at the INSERT, on the key's
    # unique index: the rerun finds it. A customer's payment commits in the INSERT's round
    # trip; a payment recorded by staff after its audit entry.
    result = await insert_payment(
        uow,
        bill,
        amount=to_cents(amount),
        method=payment_method,
        idempotency_key=idempotency_key,
        moment=now or now_utc(),
        admin_id=admin_id,
        commit=commit and admin_id is None,
    )
    if admin_id is not None:
        await audit.record(
            uow,
            admin_id=admin_id,
            action="payment.record",
            entity_type="payment",
            entity_id=result.payment.payment_id,
            customer_id=bill.customer_id,
            bill_id=bill.bill_id,
            after={
                "amount_paid": result.payment.amount_paid,
                "payment_method": payment_method.value,
                "receipt_number": result.payment.receipt_number,
            },
        )
        if commit:
            await uow.commit()
    return result


def _method_taken(
    method: PaymentMethod | str, idempotency_key: str, *, admin_id: int | None
) -> PaymentMethod:
    """The payment method, if this payer may record a payment by it with this key."""
    try:
        payment_method = PaymentMethod(method)
    except ValueError as exc:
        raise InvalidInput("Please choose a payment method from the list.") from exc
    if not idempotency_key or len(idempotency_key) > 64:
        raise InvalidInput("This payment request is not valid. Please start again.")
    if payment_method is PaymentMethod.CARD or (
        admin_id is None and payment_method not in SELF_RECORDED_METHODS
    ):
        # Card money arrives only as a provider charge (domain.card_payments.record_charge).
        raise PaymentNotTaken(payment_method.value)
    return payment_method


async def _made_with_key(
    uow: UnitOfWork, idempotency_key: str, bill_id: int, customer_id: int | None
) -> PaymentResult | None:
    """The payment already made with ``idempotency_key`` on this bill (``created`` False),
    or None; the key used on another bill, or on another customer's, is refused."""
    probe = await uow.fetch_one(
        "find_payment_by_idempotency_key", {"idempotency_key": idempotency_key}
    )
    if probe is None:
        return None
    if int(probe["bill_id"]) != bill_id:
        raise IdempotencyKeyReused()
    row = await uow.fetch_one("get_payment", {"payment_id": probe["payment_id"]})
    bill_row = await uow.fetch_one("get_bill", {"bill_id": bill_id})
    assert row is not None and bill_row is not None
    if customer_id is not None and int(bill_row["customer_id"]) != customer_id:
        raise BillNotFound()
    return PaymentResult(Payment.from_row(row), Bill.from_row(bill_row), created=False)


async def void_payment(
    db: Database, payment_id: int, *, admin_id: int, reason: str, now: datetime | None = None
) -> PaymentResult:
    """Void a payment: it stays on record, the bill's paid amount and status are recomputed."""
    reason = validation.void_reason(reason)

    async def work(uow: UnitOfWork) -> PaymentResult:
        # Lock order is bill, then payment, as in pay_bill, so the two cannot deadlock.
        probe = await uow.fetch_one("get_payment", {"payment_id": payment_id})
        if probe is None:
            raise PaymentNotFound()
        before = await lock_bill(uow, int(probe["bill_id"]))
        row = await uow.fetch_one("lock_payment", {"payment_id": payment_id})
        assert before is not None and row is not None
        if row["voided_at"] is not None:
            raise PaymentAlreadyVoided()
        await uow.execute(
            "void_payment",
            {
                "payment_id": payment_id,
                "now": db_time(now or now_utc()),
                "admin_id": admin_id,
                "reason": reason,
            },
        )
        # The database's triggers (migration 0005) take the payment off its bill and its
        # day's revenue and move the report totals, in the UPDATE itself.
        payment_row = await uow.fetch_one("get_payment", {"payment_id": payment_id})
        fresh = await uow.fetch_one("get_bill", {"bill_id": before.bill_id})
        assert payment_row is not None and fresh is not None
        after = Bill.from_row(fresh)
        refund = None
        if row["payment_method"] == PaymentMethod.CARD.value:
            refund = await _refund_owed(
                uow, payment_id, before.customer_id, Decimal(row["amount_paid"]), admin_id, reason
            )
        await audit.record(
            uow,
            admin_id=admin_id,
            action="payment.void",
            entity_type="payment",
            entity_id=payment_id,
            customer_id=before.customer_id,
            bill_id=before.bill_id,
            before={"bill": before, "payment_amount": row["amount_paid"]},
            after={"bill": after, "reason": reason, "refund_owed": refund},
        )
        await uow.commit()
        return PaymentResult(Payment.from_row(payment_row), after, True, refund)

    return await db.transaction(work)


async def _refund_owed(
    uow: UnitOfWork,
    payment_id: int,
    customer_id: int,
    amount: Decimal,
    admin_id: int,
    reason: str,
) -> Decimal:
    """A voided card payment's money is still with the provider (the Bot API cannot refund
    fiat): record it as a refund owed there, with what its charge put into credit that the
    customer still has (taken back from the credit: that money goes back too)."""
    charge = await uow.fetch_one("charge_of_payment", {"payment_id": payment_id})
    assert charge is not None  # a card payment always has its charge (migration 0006)
    credit = await lock_credit(uow, customer_id)
    from_credit = min(Decimal(charge["credited"]), credit)
    if from_credit > 0:
        await uow.execute(
            "refund_credit",
            {
                "customer_id": customer_id,
                "amount": from_credit,
                "admin_id": admin_id,
                "reason": f"card payment {payment_id} voided: {reason}"[:500],
            },
        )
    owed = amount + from_credit
    await uow.execute(
        "insert_provider_refund",
        {
            "charge_id": charge["charge_id"],
            "payment_id": payment_id,
            "amount": owed,
            "reason": reason,
            "admin_id": admin_id,
        },
    )
    return owed


async def get(db: Database, payment_id: int) -> Payment:
    row = await db.fetch_one("get_payment", {"payment_id": payment_id})
    if row is None:
        raise PaymentNotFound()
    return Payment.from_row(row)


@dataclass(frozen=True)
class PaymentWithCustomer:
    payment: Payment
    meter_number: str
    full_name: str


async def customer_payments(
    db: Database, customer_id: int, *, page: int = 0, page_size: int = 5
) -> Page[Payment]:
    """One customer's payments, newest first."""
    page = max(0, page)

    async def work(uow: UnitOfWork) -> Page[Payment]:
        total = int(await uow.fetch_value("count_customer_payments", {"customer_id": customer_id}))
        rows = await uow.fetch_all(
            "customer_payments",
            {"customer_id": customer_id, "limit": page_size, "offset": page * page_size},
        )
        return Page([Payment.from_row(r) for r in rows], page, page_size, total)

    return await db.read(work)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[first instant, first instant of next month) of a calendar month, UTC-naive."""
    start = datetime(month.year, month.month, 1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


async def list_payments(
    db: Database,
    *,
    month: date | None = None,
    customer_id: int | None = None,
    page: int = 0,
    page_size: int = 8,
) -> Page[PaymentWithCustomer]:
    """Payments, newest first, optionally those made in one month or by one customer."""
    start, end = month_bounds(month) if month else (None, None)
    page = max(0, page)

    async def work(uow: UnitOfWork) -> Page[PaymentWithCustomer]:
        params = {"start": start, "end": end, "customer_id": customer_id}
        total = int(await uow.fetch_value("count_payments", params))
        rows = await uow.fetch_all(
            "list_payments", {**params, "limit": page_size, "offset": page * page_size}
        )
        items = [
            PaymentWithCustomer(Payment.from_row(r), r["meter_number"], r["full_name"])
            for r in rows
        ]
        return Page(items, page, page_size, total)

    return await db.read(work)


async def find_by_key(
    db: Database, idempotency_key: str, *, customer_id: int | None = None
) -> Payment | None:
    """The payment made with this idempotency key (with ``customer_id``: only if theirs)."""
    row = await db.fetch_one(
        "get_payment_by_idempotency_key", {"idempotency_key": idempotency_key}
    )
    if row is None:
        return None
    payment = Payment.from_row(row)
    if customer_id is not None:
        bill = await db.fetch_one("get_bill", {"bill_id": payment.bill_id})
        if bill is None or int(bill["customer_id"]) != customer_id:
            return None
    return payment
