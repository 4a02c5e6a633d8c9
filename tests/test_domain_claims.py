"""Payment claims on the real MariaDB (issue 13): a claim moves no money until staff confirm
it; a transfer reference is claimed once, by anyone; confirming records exactly one payment,
however often and by however many staff it is pressed; rejecting changes nothing but the
claim; the customer account can file a claim but never decide one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from domain import admins, audit, bills, claims, payments, report_totals, reports
from domain.claims import (
    ClaimAlreadyDecided,
    ClaimExceedsOutstanding,
    ClaimNotFound,
    ClaimStatus,
    InvalidReference,
    InvalidRejectReason,
    MethodNotClaimable,
    ReferenceAlreadyClaimed,
)
from domain.db import Database
from domain.errors import BillAlreadyPaid, BillNotFound, ControlCharacters, InvalidAmount
from domain.models import Bill, Customer, PaymentMethod, PaymentStatus
from tests.factories import make_bill, make_customer

# Access denied to a table (1142) or a column (1143); a trigger's SIGNAL (1644).
ACCESS_DENIED = {1142, 1143}
REFUSED_BY_TRIGGER = 1644
DECIDED_AT = datetime(2026, 10, 7, 9, 15, tzinfo=UTC)


async def _admin_id(db: Database, name: str = "Claims Clerk") -> int:
    admin = await admins.create_admin(
        db,
        admin_name=name,
        email=f"{name.split()[-1].lower()}@utility.example",
        password="claims-clerk-1",
    )
    return admin.admin_id


async def _bill(db: Database, **kwargs: Any) -> tuple[Customer, Bill]:
    """A customer with one unpaid bill of 123.45."""
    customer = await make_customer(db, **kwargs)
    return customer, await make_bill(db, customer, units="100", rate="1.2345")


async def _file(
    db: Database,
    customer: Customer,
    bill: Bill,
    reference: str = "TRF-2026-0001",
    amount: str = "100.00",
    method: PaymentMethod = PaymentMethod.BANK_TRANSFER,
) -> claims.Claim:
    return await claims.submit(
        db,
        customer_id=customer.customer_id,
        bill_id=bill.bill_id,
        amount=Decimal(amount),
        method=method,
        reference=reference,
    )


async def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(sql)
        return [tuple(row) for row in await cur.fetchall()]


async def _money_state(db: Database) -> dict[str, object]:
    """Everything a claim must not move: bills, payments, every report total, the reports."""
    revenue = await reports.revenue(db)
    owed = await reports.outstanding(db, today=date(2026, 10, 1))
    return {
        "bills": await _rows(db, "SELECT * FROM bills ORDER BY bill_id"),
        "payments": await _rows(db, "SELECT * FROM payments ORDER BY payment_id"),
        "bill_totals": await _rows(db, "SELECT * FROM bill_totals ORDER BY 1, 2, 3"),
        "payment_totals": await _rows(db, "SELECT * FROM payment_totals ORDER BY 1, 2, 3"),
        "customer_balances": await _rows(db, "SELECT * FROM customer_balances ORDER BY 1"),
        "revenue": (revenue.total, revenue.payments),
        "outstanding": (owed.total, owed.bills),
    }


# ---------------------------------------------------------------------------------------------
# Filing


async def test_a_claim_changes_no_balance_and_no_revenue_total(
    admin_db: Database, customer_db: Database
) -> None:
    """Filing a claim (as the customer account) leaves the bill, the payments, the report
    totals and the revenue and outstanding reports exactly as they were."""
    customer, bill = await _bill(admin_db)
    before = await _money_state(admin_db)

    claim = await _file(customer_db, customer, bill, amount="123.45")

    assert claim.status is ClaimStatus.PENDING and claim.payment_id is None
    assert (claim.amount, claim.payment_method) == (Decimal("123.45"), PaymentMethod.BANK_TRANSFER)
    assert await _money_state(admin_db) == before
    assert (await bills.get(admin_db, bill.bill_id)).payment_status is PaymentStatus.UNPAID
    assert await report_totals.differences(admin_db) == []


async def test_the_same_reference_twice_is_refused_whatever_its_case_or_spaces(
    admin_db: Database, customer_db: Database
) -> None:
    """Once "TRF-AB 1234" is claimed, "trf-ab1234", "  TRF-AB  1234 " and "Trf-Ab 1234" are
    refused with the reference as data, for another customer and for the same one on another
    bill; only the first claim exists."""
    ada, ada_bill = await _bill(admin_db, full_name="Ada")
    ben, ben_bill = await _bill(admin_db, full_name="Ben")
    second_bill = await make_bill(admin_db, ada, month=date(2026, 10, 1))
    first = await _file(customer_db, ada, ada_bill, reference="TRF-AB 1234")
    assert first.reference == "TRF-AB 1234"

    for who, bill, spelling in (
        (ben, ben_bill, "trf-ab1234"),
        (ben, ben_bill, "  TRF-AB  1234 "),
        (ada, second_bill, "Trf-Ab 1234"),
    ):
        with pytest.raises(ReferenceAlreadyClaimed) as refused:
            await _file(customer_db, who, bill, reference=spelling, amount="5.00")
        assert refused.value.reference == " ".join(spelling.split())
    assert await _rows(admin_db, "SELECT claim_id FROM payment_claims") == [(first.claim_id,)]


async def test_filing_the_same_claim_again_returns_the_first(
    admin_db: Database, customer_db: Database
) -> None:
    """A retried request (same customer, bill, amount, method and reference) gets the claim
    it filed the first time, not a refusal and not a second claim."""
    customer, bill = await _bill(admin_db)
    first = await _file(customer_db, customer, bill, reference="MM-778899")
    again = await _file(customer_db, customer, bill, reference="mm-778899")
    assert again == first
    assert len(await claims.customer_claims(customer_db, customer.customer_id)) == 1


async def test_a_claim_is_only_for_an_own_open_bill_and_at_most_what_it_owes(
    admin_db: Database, customer_db: Database
) -> None:
    """Another customer's bill is "not found"; a paid bill, more than the outstanding
    balance (with both amounts as data), nothing, or fractions of a cent are refused; so are
    methods that are not transfers."""
    ada, ada_bill = await _bill(admin_db, full_name="Ada")
    ben, _ = await _bill(admin_db, full_name="Ben")
    paid_bill = await make_bill(admin_db, ada, month=date(2026, 10, 1), units="10", rate="1")
    await payments.pay_bill(
        admin_db, bill_id=paid_bill.bill_id, amount=Decimal("10.00"), method="cash",
        idempotency_key="paid-off", admin_id=await _admin_id(admin_db),
    )  # fmt: skip

    with pytest.raises(BillNotFound):
        await _file(customer_db, ben, ada_bill)
    with pytest.raises(BillAlreadyPaid):
        await _file(customer_db, ada, paid_bill, amount="1.00")
    with pytest.raises(ClaimExceedsOutstanding) as too_much:
        await _file(customer_db, ada, ada_bill, amount="123.46")
    assert (too_much.value.amount, too_much.value.outstanding) == (
        Decimal("123.46"),
        Decimal("123.45"),
    )
    assert too_much.value.claim_id is None and not too_much.value.bill_paid
    for amount in ("0", "-5", "1.005"):
        with pytest.raises(InvalidAmount):
            await _file(customer_db, ada, ada_bill, amount=amount)
    for method in ("card", "cash", "pos", "cheque"):
        with pytest.raises(MethodNotClaimable) as wrong_method:
            await _file(customer_db, ada, ada_bill, method=method)  # type: ignore[arg-type]
        assert wrong_method.value.method == method
    assert await _rows(admin_db, "SELECT COUNT(*) FROM payment_claims") == [(0,)]


@pytest.mark.parametrize(
    "typed",
    ["abc", "x" * 65, "TRF\x00123", "TRF\x1b[31m1", "TRF\u200b1234", "    ", "\u202eTRF1234"],
    ids=["too short", "too long", "NUL", "ESC", "zero-width", "blank", "direction mark"],
)
def test_a_reference_is_four_to_sixty_four_printable_characters(typed: str) -> None:
    """Short, long, blank, control and invisible characters are refused (not dropped), with
    an error that says which field; ordinary references come back trimmed and folded."""
    with pytest.raises((InvalidReference, ControlCharacters)):
        claims.clean_reference(typed)


def test_a_reference_is_kept_as_typed_but_trimmed() -> None:
    """Inner runs of spaces fold to one; letters keep their case; fullwidth digits are read
    as digits (NFKC)."""
    assert claims.clean_reference("  FT 2611  0042\t") == "FT 2611 0042"
    assert claims.clean_reference("Réf-１２３４") == "Réf-1234"
    assert len(claims.clean_reference("R" * 64)) == 64


# ---------------------------------------------------------------------------------------------
# Reading


async def test_pending_claims_are_listed_oldest_first_with_their_customer(
    admin_db: Database, customer_db: Database
) -> None:
    """Three claims: the staff's list pages them oldest first with the customer's name, meter
    and bill month; a decided claim leaves the list; a customer sees only their own."""
    admin_id = await _admin_id(admin_db)
    filed = []
    for number, name in enumerate(("Ada", "Ben", "Chi")):
        customer, bill = await _bill(admin_db, full_name=name)
        filed.append(await _file(customer_db, customer, bill, reference=f"REF-{number:04d}"))
        await asyncio.sleep(0.002)  # distinct created_at, in filing order

    first_page = await claims.pending(admin_db, page=0, page_size=2)
    second_page = await claims.pending(admin_db, page=1, page_size=2)
    assert first_page.total == 3 and first_page.pages == 2 and first_page.has_next
    listed = [*first_page.items, *second_page.items]
    assert [item.claim.claim_id for item in listed] == [c.claim_id for c in filed]
    assert [item.full_name for item in listed] == ["Ada", "Ben", "Chi"]
    assert listed[0].billing_month == date(2026, 9, 1)
    assert listed[0].meter_number.startswith("TST-")

    await claims.reject(admin_db, filed[0].claim_id, admin_id=admin_id, reason="No such transfer")
    assert [i.claim.claim_id for i in (await claims.pending(admin_db)).items] == [
        c.claim_id for c in filed[1:]
    ]
    own = await claims.customer_claims(customer_db, filed[1].customer_id)
    assert [c.claim_id for c in own] == [filed[1].claim_id]
    found = await claims.get(customer_db, filed[1].claim_id, customer_id=filed[1].customer_id)
    assert found.claim == filed[1]
    with pytest.raises(ClaimNotFound):
        await claims.get(customer_db, filed[1].claim_id, customer_id=filed[2].customer_id)
    with pytest.raises(ClaimNotFound):
        await claims.get(admin_db, 10**9)


# ---------------------------------------------------------------------------------------------
# Confirming


async def test_confirm_records_one_payment_and_confirming_again_returns_it(
    admin_db: Database, customer_db: Database
) -> None:
    """Confirming pays the bill by the claim's amount and method, recorded by the admin, and
    marks the claim confirmed with that payment and an audit entry; a second confirm (a double
    press) records nothing and returns the same payment, with ``created`` False."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill, amount="100.00")

    confirmed, result = await claims.confirm(
        admin_db, claim.claim_id, admin_id=admin_id, now=DECIDED_AT
    )
    again, repeat = await claims.confirm(admin_db, claim.claim_id, admin_id=admin_id)

    assert result.created and not repeat.created
    assert repeat.payment == result.payment and again == confirmed
    assert confirmed.status is ClaimStatus.CONFIRMED
    assert confirmed.payment_id == result.payment.payment_id
    assert (confirmed.decided_at, confirmed.decided_by_admin_id) == (DECIDED_AT, admin_id)
    payment = result.payment
    assert (payment.amount_paid, payment.payment_method) == (
        Decimal("100.00"),
        PaymentMethod.BANK_TRANSFER,
    )
    assert payment.idempotency_key == f"claim:{claim.claim_id}"
    assert payment.recorded_by_admin_id == admin_id
    after = await bills.get(admin_db, bill.bill_id)
    assert (after.amount_paid, after.payment_status) == (Decimal("100.00"), PaymentStatus.PARTIAL)
    assert await _rows(admin_db, "SELECT COUNT(*) FROM payments") == [(1,)]
    assert (await reports.revenue(admin_db)).total == Decimal("100.00")
    assert await report_totals.differences(admin_db) == []
    stored = await claims.get(admin_db, claim.claim_id)
    assert stored.claim == confirmed
    entries = await audit.entries(admin_db, bill_id=bill.bill_id)
    confirm_entries = [e for e in entries if e.action == "claim.confirm"]
    assert len(confirm_entries) == 1
    assert confirm_entries[0].after is not None
    assert confirm_entries[0].after["payment_id"] == payment.payment_id
    assert confirm_entries[0].after["reference"] == "TRF-2026-0001"


async def test_two_staff_confirming_at_once_record_one_payment(
    admin_db: Database, customer_db: Database
) -> None:
    """Two admins press Confirm on the same claim at the same moment, five times over: one
    payment, one confirmation (``created`` once), the same payment returned to both."""
    first_admin = await _admin_id(admin_db, "Clerk One")
    second_admin = await _admin_id(admin_db, "Clerk Two")
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill, amount="20.00")

    results = await asyncio.gather(
        *(
            claims.confirm(admin_db, claim.claim_id, admin_id=admin)
            for _ in range(5)
            for admin in (first_admin, second_admin)
        )
    )

    assert sum(result.created for _, result in results) == 1
    assert len({result.payment.payment_id for _, result in results}) == 1
    assert await _rows(admin_db, "SELECT COUNT(*), SUM(amount_paid) FROM payments") == [
        (1, Decimal("20.00"))
    ]
    assert (await bills.get(admin_db, bill.bill_id)).amount_paid == Decimal("20.00")
    assert await report_totals.differences(admin_db) == []


async def test_a_confirm_and_a_reject_at_once_settle_on_one_outcome(
    admin_db: Database, customer_db: Database
) -> None:
    """Ten claims, each confirmed and rejected at the same moment: every claim ends either
    confirmed with its one payment or rejected with none, and the loser is told which."""
    admin_id = await _admin_id(admin_db)
    filed = []
    for number in range(10):
        customer, bill = await _bill(admin_db)
        filed.append(await _file(customer_db, customer, bill, reference=f"RACE-{number:03d}"))

    async def both(claim: claims.Claim) -> tuple[Any, Any]:
        return await asyncio.gather(
            claims.confirm(admin_db, claim.claim_id, admin_id=admin_id),
            claims.reject(admin_db, claim.claim_id, admin_id=admin_id, reason="Not received"),
            return_exceptions=True,
        )

    outcomes = await asyncio.gather(*(both(claim) for claim in filed))

    for claim, (confirmed, rejected) in zip(filed, outcomes, strict=True):
        stored = (await claims.get(admin_db, claim.claim_id)).claim
        paid = await _rows(
            admin_db, f"SELECT COUNT(*) FROM payments WHERE bill_id = {claim.bill_id}"
        )
        if stored.status is ClaimStatus.CONFIRMED:
            assert isinstance(rejected, ClaimAlreadyDecided), rejected
            assert rejected.status is ClaimStatus.CONFIRMED
            assert paid == [(1,)]
        else:
            assert stored.status is ClaimStatus.REJECTED
            assert isinstance(confirmed, ClaimAlreadyDecided), confirmed
            assert paid == [(0,)]
    assert await report_totals.differences(admin_db) == []


async def test_a_claim_whose_bill_was_paid_meanwhile_is_refused_with_the_figures(
    admin_db: Database, customer_db: Database
) -> None:
    """The customer claims 100.00, then pays 50.00 at the office: confirming is refused with
    the claim, its amount and the 73.45 still owed as data; once the bill is paid off, with
    nothing owed. The claim stays pending and no payment is recorded for it."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill, amount="100.00")
    await payments.pay_bill(
        admin_db, bill_id=bill.bill_id, amount=Decimal("50.00"), method="cash",
        idempotency_key="office-1", admin_id=admin_id,
    )  # fmt: skip

    with pytest.raises(ClaimExceedsOutstanding) as refused:
        await claims.confirm(admin_db, claim.claim_id, admin_id=admin_id)
    assert (refused.value.claim_id, refused.value.amount, refused.value.outstanding) == (
        claim.claim_id,
        Decimal("100.00"),
        Decimal("73.45"),
    )
    await payments.pay_bill(
        admin_db, bill_id=bill.bill_id, amount=Decimal("73.45"), method="cash",
        idempotency_key="office-2", admin_id=admin_id,
    )  # fmt: skip
    with pytest.raises(ClaimExceedsOutstanding) as paid_off:
        await claims.confirm(admin_db, claim.claim_id, admin_id=admin_id)
    assert paid_off.value.bill_paid and paid_off.value.outstanding == 0
    assert (await claims.get(admin_db, claim.claim_id)).claim.is_pending
    assert await payments.find_by_key(admin_db, claims.idempotency_key(claim.claim_id)) is None


async def test_a_confirmation_cut_off_after_its_payment_is_finished_not_rejected(
    admin_db: Database, customer_db: Database
) -> None:
    """If the payment of a confirmation was committed but the claim never marked (the
    connection died in between), a reject finishes the confirmation with that payment and
    says so, and a confirm returns the same payment: the money is never contradicted."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill, amount="30.00")
    cut_off = await payments.pay_bill(
        admin_db, bill_id=bill.bill_id, amount=claim.amount, method=claim.payment_method,
        idempotency_key=claims.idempotency_key(claim.claim_id), admin_id=admin_id,
    )  # fmt: skip

    with pytest.raises(ClaimAlreadyDecided) as refused:
        await claims.reject(admin_db, claim.claim_id, admin_id=admin_id, reason="Not seen")
    assert refused.value.status is ClaimStatus.CONFIRMED
    stored = (await claims.get(admin_db, claim.claim_id)).claim
    assert (stored.status, stored.payment_id) == (
        ClaimStatus.CONFIRMED,
        cut_off.payment.payment_id,
    )
    _, again = await claims.confirm(admin_db, claim.claim_id, admin_id=admin_id)
    assert again.payment.payment_id == cut_off.payment.payment_id and not again.created
    assert await _rows(admin_db, "SELECT COUNT(*) FROM payments") == [(1,)]


async def test_a_confirmation_that_fails_after_its_payment_leaves_neither(
    admin_db: Database, customer_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payment, the claim's mark and the audit entries commit together (issue 15: one
    transaction under the one retry policy): a failure after the payment's INSERT leaves no
    payment, the bill and the totals as they were, and the claim pending to confirm again."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill, amount="30.00")
    before = await _money_state(admin_db)

    async def cut_off(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the claim could not be marked")

    monkeypatch.setattr(claims, "_mark_confirmed", cut_off)
    with pytest.raises(RuntimeError):
        await claims.confirm(admin_db, claim.claim_id, admin_id=admin_id)
    monkeypatch.undo()
    assert await _rows(admin_db, "SELECT COUNT(*) FROM payments") == [(0,)]
    assert await _money_state(admin_db) == before
    assert (await claims.get(admin_db, claim.claim_id)).claim.is_pending
    confirmed, result = await claims.confirm(admin_db, claim.claim_id, admin_id=admin_id)
    assert confirmed.status is ClaimStatus.CONFIRMED and result.created
    assert result.bill.amount_paid == Decimal("30.00")


# ---------------------------------------------------------------------------------------------
# Rejecting


async def test_reject_records_the_reason_and_changes_nothing_else(
    admin_db: Database, customer_db: Database
) -> None:
    """Rejecting stores the reason, who and when, writes an audit entry, and leaves bills,
    payments and every total as they were; the claim cannot then be confirmed or rejected
    again (with its status as data)."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill)
    before = await _money_state(admin_db)

    rejected = await claims.reject(
        admin_db,
        claim.claim_id,
        admin_id=admin_id,
        reason="  No transfer with this\nreference reached our account ",
        now=DECIDED_AT,
    )

    assert rejected.status is ClaimStatus.REJECTED
    assert rejected.reject_reason == "No transfer with this reference reached our account"
    assert (rejected.decided_at, rejected.decided_by_admin_id) == (DECIDED_AT, admin_id)
    assert (await claims.get(admin_db, claim.claim_id)).claim == rejected
    assert await _money_state(admin_db) == before
    entries = [
        e for e in await audit.entries(admin_db, bill_id=bill.bill_id) if e.entity_type == "claim"
    ]
    assert [e.action for e in entries] == ["claim.reject"]
    assert entries[0].after is not None and entries[0].after["reason"].startswith("No transfer")
    for decide in (
        claims.confirm(admin_db, claim.claim_id, admin_id=admin_id),
        claims.reject(admin_db, claim.claim_id, admin_id=admin_id, reason="Again"),
    ):
        with pytest.raises(ClaimAlreadyDecided) as decided:
            await decide
        assert (decided.value.claim_id, decided.value.status) == (
            claim.claim_id,
            ClaimStatus.REJECTED,
        )
    assert await _money_state(admin_db) == before


@pytest.mark.parametrize(
    "reason", ["no", "   ", "x" * 501, "bad\x00reason", "bad\x1b[2Jreason"],
    ids=["too short", "blank", "too long", "NUL", "ESC"],
)  # fmt: skip
async def test_a_reject_reason_is_three_to_five_hundred_characters_without_controls(
    admin_db: Database, customer_db: Database, reason: str
) -> None:
    """A reason too short, too long or with control characters is refused before anything is
    read or written; the claim stays pending."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill)
    with pytest.raises((InvalidRejectReason, ControlCharacters)):
        await claims.reject(admin_db, claim.claim_id, admin_id=admin_id, reason=reason)
    assert (await claims.get(admin_db, claim.claim_id)).claim.is_pending


# ---------------------------------------------------------------------------------------------
# The database's own rules (raw SQL, as in test_domain_grants)


CLAIM_COLUMNS = "customer_id, bill_id, amount, payment_method, reference"


def _insert_claim(reference: str, *, extra: str = "", values: str = "", whose: str = "") -> str:
    """A bare claim INSERT (``{customer_id}``-style fields filled in by the test), with the
    ``extra`` columns and their ``values``."""
    customer = whose or "{customer_id}"
    return (
        f"INSERT INTO payment_claims ({CLAIM_COLUMNS}{extra}) VALUES "
        f"({customer}, {{bill_id}}, 10.00, 'bank_transfer', '{reference}'{values})"
    )


REFUSED_TO_CUSTOMER = {
    "file a claim already confirmed": _insert_claim(
        "RAW-1", extra=", status", values=", 'confirmed'"
    ),
    "file a claim with its payment": _insert_claim(
        "RAW-2", extra=", payment_id", values=", {payment_id}"
    ),
    "file a claim decided by an admin": _insert_claim(
        "RAW-3",
        extra=", decided_by_admin_id, decided_at",
        values=", {admin_id}, UTC_TIMESTAMP()",
    ),
    "confirm a claim": (
        "UPDATE payment_claims SET status = 'confirmed', payment_id = {payment_id}, "
        "decided_by_admin_id = {admin_id}, decided_at = UTC_TIMESTAMP() "
        "WHERE claim_id = {claim_id}"
    ),
    "change a claim's amount": (
        "UPDATE payment_claims SET amount = 1.00 WHERE claim_id = {claim_id}"
    ),
    "delete a claim": "DELETE FROM payment_claims WHERE claim_id = {claim_id}",
    "file a claim on another customer's bill": _insert_claim("RAW-4", whose="{other_customer_id}"),
}


@pytest.mark.parametrize("statement", REFUSED_TO_CUSTOMER.values(), ids=REFUSED_TO_CUSTOMER.keys())
async def test_the_customer_account_cannot_file_a_decided_claim_or_decide_one(
    admin_db: Database,
    customer_db: Database,
    customer_conn: pymysql.connections.Connection,
    statement: str,
) -> None:
    """Each statement, sent as bare SQL by the customer account, is refused (by its grants or
    by the table's trigger), and the claims, bills and payments are left as they were."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    other, _ = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill, amount="10.00")
    paid = await payments.pay_bill(
        admin_db, bill_id=bill.bill_id, amount=Decimal("10.00"), method="bank_transfer",
        idempotency_key="raw-paid", admin_id=admin_id,
    )  # fmt: skip
    sql = statement.format(
        customer_id=customer.customer_id,
        other_customer_id=other.customer_id,
        bill_id=bill.bill_id,
        claim_id=claim.claim_id,
        payment_id=paid.payment.payment_id,
        admin_id=admin_id,
    )
    tables = "SELECT * FROM payment_claims ORDER BY 1"
    before = [await _rows(admin_db, tables), await _money_state(admin_db)]

    with pytest.raises(pymysql.err.MySQLError) as refused:
        with customer_conn.cursor() as cur:
            cur.execute(sql)

    assert refused.value.args[0] in ACCESS_DENIED | {REFUSED_BY_TRIGGER}, refused.value
    assert [await _rows(admin_db, tables), await _money_state(admin_db)] == before


async def test_any_writer_is_refused_a_claim_filed_decided_or_decided_twice(
    admin_db: Database,
    customer_db: Database,
    admin_conn: pymysql.connections.Connection,
) -> None:
    """Even the admin account (which owns the table) cannot insert a claim already confirmed,
    confirm one with a payment that is not its own, change a claim's amount, or turn a
    rejected claim into a confirmed one: the triggers refuse each."""
    admin_id = await _admin_id(admin_db)
    customer, bill = await _bill(admin_db)
    claim = await _file(customer_db, customer, bill, amount="10.00")
    other = await _file(customer_db, customer, bill, amount="10.00", reference="OTHER-1")
    wrong = await payments.pay_bill(
        admin_db, bill_id=bill.bill_id, amount=Decimal("7.00"), method="bank_transfer",
        idempotency_key="wrong-amount", admin_id=admin_id,
    )  # fmt: skip
    await claims.reject(admin_db, other.claim_id, admin_id=admin_id, reason="Duplicate")
    statements = [
        f"INSERT INTO payment_claims ({CLAIM_COLUMNS}, status, decided_at, decided_by_admin_id,"
        f" payment_id) VALUES ({customer.customer_id}, {bill.bill_id}, 7.00, 'bank_transfer', "
        f"'RAW-9', 'confirmed', UTC_TIMESTAMP(), {admin_id}, {wrong.payment.payment_id})",
        f"UPDATE payment_claims SET status = 'confirmed', decided_at = UTC_TIMESTAMP(), "
        f"decided_by_admin_id = {admin_id}, payment_id = {wrong.payment.payment_id} "
        f"WHERE claim_id = {claim.claim_id}",
        f"UPDATE payment_claims SET amount = 7.00 WHERE claim_id = {claim.claim_id}",
        f"UPDATE payment_claims SET reference = 'NEW-REF' WHERE claim_id = {claim.claim_id}",
        f"UPDATE payment_claims SET status = 'pending', decided_at = NULL, "
        f"decided_by_admin_id = NULL, reject_reason = NULL WHERE claim_id = {other.claim_id}",
    ]
    before = await _rows(admin_db, "SELECT * FROM payment_claims ORDER BY 1")
    for sql in statements:
        with pytest.raises(pymysql.err.MySQLError) as refused:
            with admin_conn.cursor() as cur:
                cur.execute(sql)
        assert refused.value.args[0] == REFUSED_BY_TRIGGER, (sql, refused.value)
    assert await _rows(admin_db, "SELECT * FROM payment_claims ORDER BY 1") == before
