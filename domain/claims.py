"""Payment claims: "I paid by bank transfer (or mobile money), reference …", until staff check.

A claim moves no money: filing one changes no bill, balance or report total. Staff confirm a
claim by recording its payment through the ordinary path (:func:`domain.payments.pay_bill`,
with the idempotency key ``claim:<claim_id>``), or reject it with a reason. The database
(migration 0007) keeps each reference to one claim, whoever files it, and lets a claim be
decided once.

Deciding locks the claim's row for the whole decision, so a double press, two staff members
at once, or a confirm racing a reject settle on one outcome: the second waits, then finds the
claim decided. A confirmation records the payment (:func:`domain.payments.record`), marks the
claim and writes the audit entries in one transaction, under the one retry policy. (Before
issue 15 the payment committed first, on its own connection: a reject that finds a claim's
payment without the claim marked — a confirmation cut off between its two steps — finishes
the confirmation instead of contradicting it.)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain import audit, bills, payments, validation
from domain.db import Database, UnitOfWork, error_code
from domain.errors import (
    AmountExceedsBalance,
    BillAlreadyPaid,
    BillNotFound,
    DomainError,
    InvalidInput,
    NotFound,
    PaymentOutcomeUnknown,
)
from domain.models import Page, PaymentMethod, PaymentStatus, db_time, now_utc, utc
from domain.payments import PaymentResult

REFERENCE_MIN, REFERENCE_MAX = 4, 64
REASON_MIN, REASON_MAX = 3, 500
CLAIM_METHODS = (PaymentMethod.BANK_TRANSFER, PaymentMethod.MOBILE_MONEY)


class ClaimStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Claim:
    claim_id: int
    customer_id: int
    bill_id: int
    amount: Decimal
    payment_method: PaymentMethod
    reference: str
    status: ClaimStatus
    created_at: datetime
    decided_at: datetime | None
    decided_by_admin_id: int | None
    reject_reason: str | None
    payment_id: int | None

    @property
    def is_pending(self) -> bool:
        return self.status is ClaimStatus.PENDING

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Claim:
        return cls(
            claim_id=int(row["claim_id"]),
            customer_id=int(row["customer_id"]),
            bill_id=int(row["bill_id"]),
            amount=Decimal(row["amount"]),
            payment_method=PaymentMethod(row["payment_method"]),
            reference=row["reference"],
            status=ClaimStatus(row["status"]),
            created_at=utc(row["created_at"]) or now_utc(),
            decided_at=utc(row["decided_at"]),
            decided_by_admin_id=row["decided_by_admin_id"],
            reject_reason=row["reject_reason"],
            payment_id=None if row["payment_id"] is None else int(row["payment_id"]),
        )


@dataclass(frozen=True)
class ClaimWithCustomer:
    """A claim with what staff need to judge it and to tell its customer."""

    claim: Claim
    full_name: str
    meter_number: str
    billing_month: date
    telegram_user_id: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ClaimWithCustomer:
        return cls(
            Claim.from_row(row),
            row["full_name"],
            row["meter_number"],
            row["billing_month"],
            row["telegram_user_id"],
        )


# ---------------------------------------------------------------------------------------------
# Exceptions (they carry data; handlers choose the words people read)


class ClaimNotFound(NotFound):
    def __init__(self, claim_id: int) -> None:
        super().__init__("That payment claim could not be found.")
        self.claim_id = claim_id


class ReferenceAlreadyClaimed(DomainError):
    """Someone (perhaps the same customer) has already claimed this transfer reference."""

    def __init__(self, reference: str) -> None:
        super().__init__("A payment with that reference has already been claimed.")
        self.reference = reference


class ClaimAlreadyDecided(DomainError):
    """The claim is no longer pending: ``status`` says what became of it."""

    def __init__(self, claim_id: int, status: ClaimStatus) -> None:
        super().__init__(f"That payment claim has already been {status.value}.")
        self.claim_id = claim_id
        self.status = status


class ClaimExceedsOutstanding(DomainError):
    """The claimed ``amount`` is more than the bill's ``outstanding`` (0: the bill is paid).

    Raised when a claim is filed, and when it is confirmed after the bill was paid (in part
    or in full) some other way meanwhile; ``claim_id`` is None for a claim not yet filed.
    """

    def __init__(self, *, claim_id: int | None, amount: Decimal, outstanding: Decimal) -> None:
        super().__init__(
            "That bill is already paid."
            if outstanding <= 0
            else f"The claimed amount is more than the {outstanding:,.2f} still owed on the bill."
        )
        self.claim_id = claim_id
        self.amount = amount
        self.outstanding = outstanding

    @property
    def bill_paid(self) -> bool:
        return self.outstanding <= 0


class InvalidReference(InvalidInput):
    """A transfer reference must be ``minimum``–``maximum`` printable characters."""

    def __init__(self) -> None:
        super().__init__(
            f"A payment reference is {REFERENCE_MIN} to {REFERENCE_MAX} letters, digits or "
            "signs, as your bank or wallet shows it."
        )
        self.minimum = REFERENCE_MIN
        self.maximum = REFERENCE_MAX


class InvalidRejectReason(InvalidInput):
    """A reason for rejecting a claim must be ``minimum``–``maximum`` characters."""

    def __init__(self) -> None:
        super().__init__(f"Please give a reason of {REASON_MIN} to {REASON_MAX} characters.")
        self.minimum = REASON_MIN
        self.maximum = REASON_MAX


class MethodNotClaimable(InvalidInput):
    """Only bank transfers and mobile money are claimed; ``method`` is what was asked for."""

    def __init__(self, method: str) -> None:
        super().__init__("Only bank transfers and mobile money payments can be claimed.")
        self.method = method


# ---------------------------------------------------------------------------------------------
# What people type


def clean_reference(value: str) -> str:
    """A transfer reference as stored: NFKC, inner whitespace folded to one space, trimmed.

    Control characters are refused (not dropped: the reference would no longer be the bank's),
    and so is anything else not printable (zero-width and direction marks). Uniqueness ignores
    case and spaces (the database's ``reference_key``).
    """
    validation.refuse_control_characters(value, "payment reference")
    cleaned = " ".join(unicodedata.normalize("NFKC", value).split())
    if not REFERENCE_MIN <= len(cleaned) <= REFERENCE_MAX or not cleaned.isprintable():
        raise InvalidReference()
    return cleaned


def reject_reason(value: str) -> str:
    """Why staff rejected a claim (the customer is told it): 3–500 characters, no controls."""
    validation.refuse_control_characters(value, "reason")
    cleaned = validation.clean_text(value)
    if not REASON_MIN <= len(cleaned) <= REASON_MAX:
        raise InvalidRejectReason()
    return cleaned


def _claimable_method(method: PaymentMethod | str) -> PaymentMethod:
    try:
        chosen = PaymentMethod(method)
    except ValueError:
        chosen = None
    if chosen not in CLAIM_METHODS:
        raise MethodNotClaimable(str(method))
    assert chosen is not None
    return chosen


def idempotency_key(claim_id: int) -> str:
    """The key of the payment a claim's confirmation records (one payment per claim)."""
    return f"claim:{claim_id}"


# ---------------------------------------------------------------------------------------------
# Filing and reading


async def submit(
    db: Database,
    *,
    customer_id: int,
    bill_id: int,
    amount: Decimal,
    method: PaymentMethod | str,
    reference: str,
) -> Claim:
    """File a claim on one of the customer's own open bills; it moves no money.

    Filing the same claim again (a retried request) returns the first one; a reference that
    another claim holds raises :class:`ReferenceAlreadyClaimed`.
    """
    chosen = _claimable_method(method)
    cleaned = clean_reference(reference)
    claimed = payments.checked_amount(amount)

    async def work(uow: UnitOfWork) -> Claim:
        row = await uow.fetch_one("get_bill", {"bill_id": bill_id})
        if row is None or int(row["customer_id"]) != customer_id:
            raise BillNotFound()
        if row["payment_status"] == PaymentStatus.PAID.value:
            raise BillAlreadyPaid()
        outstanding = Decimal(row["total_amount"]) - Decimal(row["amount_paid"])
        if claimed > outstanding:
            raise ClaimExceedsOutstanding(claim_id=None, amount=claimed, outstanding=outstanding)
        values = {
            "customer_id": customer_id,
            "bill_id": bill_id,
            "amount": claimed,
            "payment_method": chosen.value,
            "reference": cleaned,
        }
        try:
            claim_id = await uow.insert("insert_claim", values)
        except Exception as exc:
            if error_code(exc) != 1062 or "reference_key" not in str(exc):
                raise
            holder = await uow.fetch_one("find_claim_by_reference", {"reference": cleaned})
            if holder is not None:
                first = Claim.from_row(holder)
                if (first.customer_id, first.bill_id, first.amount, first.payment_method) == (
                    customer_id,
                    bill_id,
                    claimed,
                    chosen,
                ):
                    return first  # this very claim, filed by an attempt whose answer was lost
            raise ReferenceAlreadyClaimed(cleaned) from exc
        stored = await uow.fetch_one("get_claim", {"claim_id": claim_id})
        await uow.commit()
        assert stored is not None
        return Claim.from_row(stored)

    return await db.transaction(work)


async def get(db: Database, claim_id: int, *, customer_id: int | None = None) -> ClaimWithCustomer:
    """A claim by id with its customer; with ``customer_id``, only if it is that customer's."""
    row = await db.fetch_one("get_claim_with_customer", {"claim_id": claim_id})
    if row is None or (customer_id is not None and int(row["customer_id"]) != customer_id):
        raise ClaimNotFound(claim_id)
    return ClaimWithCustomer.from_row(row)


async def pending(db: Database, *, page: int = 0, page_size: int = 5) -> Page[ClaimWithCustomer]:
    """The claims waiting for staff, oldest first."""
    page = max(0, page)
    counted, rows = await db.read_batch(
        [
            ("count_pending_claims", {}),
            ("pending_claims", {"limit": page_size, "offset": page * page_size}),
        ]
    )
    total = int(next(iter(counted[0].values())))
    return Page([ClaimWithCustomer.from_row(r) for r in rows], page, page_size, total)


async def customer_claims(db: Database, customer_id: int, *, limit: int = 20) -> list[Claim]:
    """One customer's claims, newest first (what became of each)."""
    rows = await db.fetch_all("customer_claims", {"customer_id": customer_id, "limit": limit})
    return [Claim.from_row(r) for r in rows]


# ---------------------------------------------------------------------------------------------
# Deciding (staff, admin account)


async def _lock_pending(uow: UnitOfWork, claim_id: int) -> Claim:
    """The claim, locked until the transaction ends; not found → ClaimNotFound."""
    row = await uow.fetch_one("lock_claim", {"claim_id": claim_id})
    if row is None:
        raise ClaimNotFound(claim_id)
    return Claim.from_row(row)


async def confirm(
    db: Database, claim_id: int, *, admin_id: int, now: datetime | None = None
) -> tuple[Claim, PaymentResult]:
    """Record the claim's payment (staff checked the money arrived) and mark it confirmed.

    Safe to repeat: a claim already confirmed returns its payment with ``created`` False. In
    the result, ``created`` is True only for the call that confirmed the claim (so the
    customer is told once). A rejected claim raises :class:`ClaimAlreadyDecided`; a claim
    whose bill no longer owes its amount raises :class:`ClaimExceedsOutstanding`.
    """

    async def work(uow: UnitOfWork) -> tuple[Claim, PaymentResult | None]:
        # The claim's lock is held to the end: a concurrent confirm or reject waits here, then
        # finds the claim decided.
        claim = await _lock_pending(uow, claim_id)
        if claim.status is ClaimStatus.REJECTED:
            raise ClaimAlreadyDecided(claim_id, claim.status)
        if claim.status is ClaimStatus.CONFIRMED:
            return claim, None  # a double press or a second member of staff: already done
        try:
            result = await payments.record(
                uow,
                bill_id=claim.bill_id,
                amount=claim.amount,
                method=claim.payment_method,
                idempotency_key=idempotency_key(claim_id),
                admin_id=admin_id,
                now=now,
                commit=False,
            )
        except (BillAlreadyPaid, AmountExceedsBalance) as exc:
            # The bill was paid (in part or in full) some other way since the claim was filed.
            bill = await payments.lock_bill(uow, claim.bill_id)  # locked already: as it is
            assert bill is not None
            raise ClaimExceedsOutstanding(
                claim_id=claim_id, amount=claim.amount, outstanding=bill.outstanding
            ) from exc
        decided = db_time(now or now_utc())
        payment_id = result.payment.payment_id
        await _mark_confirmed(uow, claim, payment_id=payment_id, admin_id=admin_id, at=decided)
        await audit.record(
            uow,
            admin_id=admin_id,
            action="claim.confirm",
            entity_type="claim",
            entity_id=claim_id,
            customer_id=claim.customer_id,
            bill_id=claim.bill_id,
            before={"status": claim.status},
            after={
                "status": ClaimStatus.CONFIRMED,
                "payment_id": payment_id,
                "amount": claim.amount,
                "payment_method": claim.payment_method,
                "reference": claim.reference,
            },
        )
        await uow.commit()
        confirmed = replace(
            claim,
            status=ClaimStatus.CONFIRMED,
            decided_at=utc(decided),
            decided_by_admin_id=admin_id,
            payment_id=payment_id,
        )
        return confirmed, replace(result, created=True)

    claim, result = await db.transaction(work, unknown=PaymentOutcomeUnknown)
    if result is None:
        assert claim.payment_id is not None
        payment = await payments.get(db, claim.payment_id)
        bill = await bills.get(db, claim.bill_id)
        result = PaymentResult(payment, bill, created=False)
    return claim, result


async def _mark_confirmed(
    uow: UnitOfWork, claim: Claim, *, payment_id: int, admin_id: int, at: datetime
) -> None:
    changed = await uow.execute(
        "confirm_claim",
        {
            "claim_id": claim.claim_id,
            "payment_id": payment_id,
            "admin_id": admin_id,
            "decided_at": at,
        },
    )
    if changed != 1:  # the row is locked by this transaction and was pending
        raise RuntimeError(f"claim {claim.claim_id} changed under its lock")


async def reject(
    db: Database, claim_id: int, *, admin_id: int, reason: str, now: datetime | None = None
) -> Claim:
    """Reject a pending claim with the reason its customer is told; nothing else changes."""
    reason = reject_reason(reason)

    async def work(uow: UnitOfWork) -> Claim:
        claim = await _lock_pending(uow, claim_id)
        if not claim.is_pending:
            raise ClaimAlreadyDecided(claim_id, claim.status)
        paid = await uow.fetch_one(
            "get_payment_by_idempotency_key", {"idempotency_key": idempotency_key(claim_id)}
        )
        if paid is not None:
            # A confirmation recorded the payment and was cut off before it marked the claim:
            # the money is on the bill, so the claim is confirmed, not rejected. Finish it.
            await _mark_confirmed(
                uow,
                claim,
                payment_id=int(paid["payment_id"]),
                admin_id=int(paid["recorded_by_admin_id"] or admin_id),
                at=paid["date_of_payment"],
            )
            await uow.commit()
            raise ClaimAlreadyDecided(claim_id, ClaimStatus.CONFIRMED)
        decided = db_time(now or now_utc())
        changed = await uow.execute(
            "reject_claim",
            {"claim_id": claim_id, "admin_id": admin_id, "reason": reason, "decided_at": decided},
        )
        if changed != 1:
            raise RuntimeError(f"claim {claim_id} changed under its lock")
        await audit.record(
            uow,
            admin_id=admin_id,
            action="claim.reject",
            entity_type="claim",
            entity_id=claim_id,
            customer_id=claim.customer_id,
            bill_id=claim.bill_id,
            before={"status": claim.status},
            after={
                "status": ClaimStatus.REJECTED,
                "reason": reason,
                "amount": claim.amount,
                "reference": claim.reference,
            },
        )
        await uow.commit()
        return replace(
            claim,
            status=ClaimStatus.REJECTED,
            decided_at=utc(decided),
            decided_by_admin_id=admin_id,
            reject_reason=reason,
        )

    return await db.transaction(work)
