"""Card and wallet payments through Telegram Payments, and account credit (issue 13).

The flow: the customer asks to pay an amount of a bill by card → :func:`create_invoice` writes
an invoice row whose random reference is all the Telegram invoice carries → Telegram asks
the bot before it charges (the pre-checkout query) → :func:`check_pre_checkout` → Telegram
charges and reports the successful payment → :func:`record_charge` records it once per
``telegram_payment_charge_id``. Money a provider has taken is never refused: the part the
bill cannot take (it was paid meanwhile, or the invoice was paid twice) becomes account
credit, which pays later bills (:func:`domain.payments.apply_credit`) or is refunded by staff
(:func:`refund_credit`). The database keeps every total: credit = received − applied −
refunded (migration 0006's triggers).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain import audit, payments, validation
from domain.db import Database, Row, UnitOfWork
from domain.errors import (
    AmountExceedsBalance,
    BillAlreadyPaid,
    BillNotFound,
    CardAmountOutOfBounds,
    CreditRefundRefused,
    DomainError,
    InvoiceRefused,
    RefundExceedsCredit,
)
from domain.models import Bill, Payment, PaymentMethod, db_time, now_utc, utc
from domain.money import Currency, to_cents

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Invoice:
    invoice_id: int
    reference: str
    customer_id: int
    bill_id: int
    amount: Decimal
    currency: str
    status: str
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Row) -> Invoice:
        expires = utc(row["expires_at"])
        assert expires is not None
        return cls(
            invoice_id=int(row["invoice_id"]),
            reference=str(row["reference"]),
            customer_id=int(row["customer_id"]),
            bill_id=int(row["bill_id"]),
            amount=Decimal(row["amount"]),
            currency=str(row["currency"]),
            status=str(row["status"]),
            expires_at=expires,
        )


@dataclass(frozen=True)
class ChargeResult:
    """A provider charge as recorded: what went to the bill, what became credit."""

    charge_id: int
    invoice: Invoice
    amount: Decimal
    payment: Payment | None  # the bill's part, if the bill could take any
    bill: Bill  # the bill after the charge
    credited: Decimal  # the part that became account credit
    credit_balance: Decimal  # the customer's credit afterwards
    created: bool  # False: this charge id was recorded before (a re-delivered update)


def card_bounds(currency: Currency) -> tuple[Decimal, Decimal] | None:
    """The smallest and largest amount one invoice may carry (None: no card payments)."""
    limits = currency.card_limits
    if limits is None:
        return None
    return currency.from_minor(limits.min_minor), currency.from_minor(limits.max_minor)


def check_card_amount(amount: Decimal, currency: Currency) -> None:
    """Refuse an amount Telegram would refuse in one invoice (CURRENCY_TOTAL_AMOUNT_INVALID)."""
    bounds = card_bounds(currency)
    if bounds is None:
        raise CardAmountOutOfBounds(None, None)
    low, high = bounds
    if not low <= amount <= high:
        raise CardAmountOutOfBounds(low, high)


async def create_invoice(
    db: Database,
    *,
    customer_id: int,
    bill_id: int,
    amount: Decimal,
    currency: Currency,
    lifetime: timedelta,
    now: datetime | None = None,
) -> Invoice:
    """An invoice for ``amount`` of the customer's own open bill (customer account)."""
    amount = payments.checked_amount(amount)
    check_card_amount(amount, currency)
    moment = now or now_utc()

    async def work(uow: UnitOfWork) -> Invoice:
        bill = await payments.lock_bill(uow, bill_id)
        if bill is None or bill.customer_id != customer_id:
            raise BillNotFound()
        if bill.outstanding <= 0:
            raise BillAlreadyPaid()
        if amount > bill.outstanding:
            raise AmountExceedsBalance(bill.outstanding)
        values = {
            "reference": secrets.token_hex(16),
            "customer_id": customer_id,
            "bill_id": bill_id,
            "amount": amount,
            "currency": currency.code,
            "expires_at": db_time(moment + lifetime),
        }
        invoice_id = await uow.insert("insert_invoice", values)
        await uow.commit()
        return Invoice.from_row({**values, "invoice_id": invoice_id, "status": "pending"})

    return await db.transaction(work)


async def check_pre_checkout(
    db: Database,
    *,
    reference: str,
    telegram_user_id: int,
    currency_code: str,
    total_minor: int,
    currency: Currency,
    now: datetime | None = None,
) -> Invoice:
    """Whether Telegram may charge: the invoice is pending and not expired, the payer is its
    customer, the bill still owes at least the invoice, amount and currency match. Raises
    :class:`InvoiceRefused` naming the check that failed. One indexed read."""
    row = await db.fetch_one("invoice_for_checkout", {"reference": reference[:64]})
    if row is None:
        raise InvoiceRefused("unknown")
    invoice = Invoice.from_row(row)
    if row["telegram_user_id"] is None or int(row["telegram_user_id"]) != telegram_user_id:
        raise InvoiceRefused("not_yours")
    if invoice.status != "pending":
        raise InvoiceRefused("already_paid" if invoice.status == "paid" else invoice.status)
    if invoice.expires_at <= (now or now_utc()):
        raise InvoiceRefused("expired")
    outstanding = Decimal(row["outstanding"])
    if outstanding <= 0:
        raise InvoiceRefused("bill_paid")
    if outstanding < invoice.amount:
        raise InvoiceRefused("balance_changed", outstanding=outstanding)
    if currency_code != invoice.currency or total_minor != currency.to_minor(invoice.amount):
        raise InvoiceRefused("amount_mismatch")
    return invoice


async def record_charge(
    db: Database,
    *,
    reference: str,
    charge: payments.ChargeIds,
    currency_code: str,
    total_minor: int,
    currency: Currency,
    now: datetime | None = None,
) -> ChargeResult:
    """Record a successful payment once per Telegram charge id (admin account: money the
    provider took is a fact to record, not a customer's request).

    In one transaction: the charge; the bill's part of it (up to what the bill still owes) as
    a card payment carrying both charge ids; the rest as credit (by the charge's trigger); the
    invoice marked paid. A charge id seen before returns what was recorded then, with
    ``created`` False, and changes nothing.
    """
    moment = now or now_utc()

    async def work(uow: UnitOfWork) -> ChargeResult:
        # Recorded already: by a concurrent delivery of the same charge (which won the race on
        # the charge id: this is a rerun), or by this call, when an earlier attempt's COMMIT
        # answer was lost — then its receipt is still to be sent.
        found = await _recorded(
            uow, charge.telegram_payment_charge_id, created=uow.earlier_commit_lost
        )
        if found is not None:
            return found
        invoice_row = await uow.fetch_one("lock_invoice", {"reference": reference[:64]})
        if invoice_row is None or currency_code != invoice_row["currency"]:
            # Telegram charged for an invoice this bot did not make: nothing to attribute it
            # to. The handler tells the payer to contact the utility with the charge id.
            raise InvoiceRefused("unknown")
        invoice = Invoice.from_row(invoice_row)
        amount = currency.from_minor(total_minor)
        bill = await payments.lock_bill(uow, invoice.bill_id)
        assert bill is not None  # an invoice's bill is never deleted (foreign key)
        to_bill = payments.balance_of(bill).credit_to_apply(amount)  # the rest is credit
        credited = amount - to_bill
        # A concurrent delivery of the same charge that committed first makes this INSERT
        # fail on the charge id's unique key: the transaction's rerun finds it above.
        charge_id = await uow.insert(
            "insert_provider_charge",
            {
                "telegram_payment_charge_id": charge.telegram_payment_charge_id,
                "provider_payment_charge_id": charge.provider_payment_charge_id,
                "invoice_id": invoice.invoice_id,
                "customer_id": invoice.customer_id,
                "amount": amount,
                "currency": currency_code,
                "credited": credited,
                "received_at": db_time(moment),
            },
        )
        payment: Payment | None = None
        after = bill
        if to_bill > 0:
            paid = await payments.insert_payment(
                uow,
                bill,
                amount=to_bill,
                method=PaymentMethod.CARD,
                idempotency_key=f"charge:{charge_id}",
                moment=moment,
                charge=charge,
            )
            payment, after = paid.payment, paid.bill
        await uow.execute(
            "mark_invoice_paid", {"invoice_id": invoice.invoice_id, "now": db_time(moment)}
        )
        balance = to_cents(
            Decimal(await uow.fetch_value("customer_credit", {"customer_id": invoice.customer_id}))
        )
        await uow.commit()
        return ChargeResult(
            charge_id, invoice, amount, payment, after, credited, balance, created=True
        )

    return await db.transaction(work)


async def _recorded(
    uow: UnitOfWork, telegram_charge_id: str, *, created: bool
) -> ChargeResult | None:
    """The charge recorded with this Telegram charge id, as it stands now (None: none)."""
    row = await uow.fetch_one(
        "charge_by_telegram_id", {"telegram_payment_charge_id": telegram_charge_id}
    )
    if row is None:
        return None
    invoice_row = await uow.fetch_one("invoice_by_id", {"invoice_id": row["invoice_id"]})
    assert invoice_row is not None
    invoice = Invoice.from_row(invoice_row)
    payment = None
    if row["payment_id"] is not None:
        payment_row = await uow.fetch_one("get_payment", {"payment_id": row["payment_id"]})
        assert payment_row is not None
        payment = Payment.from_row(payment_row)
    bill_row = await uow.fetch_one("get_bill", {"bill_id": invoice.bill_id})
    assert bill_row is not None
    credit = await uow.fetch_value("customer_credit", {"customer_id": invoice.customer_id})
    return ChargeResult(
        int(row["charge_id"]),
        invoice,
        Decimal(row["amount"]),
        payment,
        Bill.from_row(bill_row),
        Decimal(row["credited"]),
        to_cents(Decimal(credit)),
        created=created,
    )


async def credit_balance(db: Database, customer_id: int) -> Decimal:
    """The customer's account credit."""
    row = await db.fetch_one("customer_credit", {"customer_id": customer_id})
    return to_cents(Decimal(row["credit"])) if row else ZERO


async def refund_credit(
    db: Database, customer_id: int, *, amount: Decimal, admin_id: int, reason: str
) -> Decimal:
    """Staff paid ``amount`` of the customer's credit back (outside the bot: a bank transfer,
    cash); recorded with its reason and audited. Returns the credit left."""
    amount = payments.checked_amount(amount)
    try:
        reason = validation.void_reason(reason)
    except DomainError as exc:
        raise CreditRefundRefused(str(exc)) from exc

    async def work(uow: UnitOfWork) -> Decimal:
        credit = await payments.lock_credit(uow, customer_id)
        if amount > credit:
            raise RefundExceedsCredit(credit)
        await uow.execute(
            "refund_credit",
            {"customer_id": customer_id, "amount": amount, "admin_id": admin_id, "reason": reason},
        )
        await audit.record(
            uow,
            admin_id=admin_id,
            action="credit.refund",
            entity_type="customer",
            entity_id=customer_id,
            customer_id=customer_id,
            before={"credit": credit},
            after={"credit": credit - amount, "refunded": amount, "reason": reason},
        )
        await uow.commit()
        return credit - amount

    return await db.transaction(work)


@dataclass(frozen=True)
class ProviderRefund:
    refund_id: int
    payment_id: int
    amount: Decimal
    status: str  # owed | made
    reason: str
    telegram_payment_charge_id: str
    provider_payment_charge_id: str
    provider_reference: str | None


async def refunds(db: Database, *, status: str | None = None) -> list[ProviderRefund]:
    """Refunds recorded for voided card payments (``status``: owed or made), oldest first."""
    rows = await db.fetch_all("refunds", {"status": status})
    return [
        ProviderRefund(
            int(r["refund_id"]),
            int(r["payment_id"]),
            Decimal(r["amount"]),
            str(r["status"]),
            str(r["reason"]),
            str(r["telegram_payment_charge_id"]),
            str(r["provider_payment_charge_id"]),
            r["provider_reference"],
        )
        for r in rows
    ]


async def mark_refund_made(
    db: Database,
    refund_id: int,
    *,
    admin_id: int,
    provider_reference: str,
    now: datetime | None = None,
) -> bool:
    """Staff refunded the money in the provider's dashboard; False if it was not owed."""
    reference = validation.clean_text(provider_reference)[:255]

    async def work(uow: UnitOfWork) -> bool:
        changed = await uow.execute(
            "mark_refund_made",
            {
                "refund_id": refund_id,
                "now": db_time(now or now_utc()),
                "admin_id": admin_id,
                "provider_reference": reference or None,
            },
        )
        if changed:
            await audit.record(
                uow,
                admin_id=admin_id,
                action="refund.made",
                entity_type="refund",
                entity_id=refund_id,
                after={"provider_reference": reference},
            )
        await uow.commit()
        return bool(changed)

    return await db.transaction(work)
