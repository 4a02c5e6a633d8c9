"""Payments: the domain's ``pay_bill`` vs the bare SQL transaction, same pool, same harness.

Both run on the customer account's pool (as the chat does) with 1, 4 and 16 concurrent
payers, first each on its own bills and then all on one bill. What a customer records by
themselves is a payment from their account credit (issue 13: money is taken, not declared),
so before anything is timed every benchmark bill's customer is given ample credit, as money a
provider took that no bill could take (an invoice and a provider charge credited in full,
inserted in bulk). The bare transaction is the least a payment from credit can be: lock the
bill and the customer's credit, insert the payment, commit (the database's triggers,
migrations 0005 and 0006, move the bill, the report totals and the customer's credit in the
INSERT, for both sides). Every payment is 0.01, so open bills stay open and both sides do the
same work.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from benchmarks.harness import Context, Figure, percentile
from domain import payments
from domain.db import Database, UnitOfWork
from domain.models import PaymentMethod, PaymentStatus

AMOUNT = Decimal("0.01")
# Each benchmark customer's credit: far more than the 0.01 payments of a full run take.
CREDIT = Decimal("100000.00")
WORKERS = (1, 4, 16)
TARGET_RATIO = 0.7

BARE_LOCK = (
    "SELECT bill_id, customer_id, billing_month, units_used, rate_per_unit, total_amount, "
    "amount_paid, payment_status FROM bills WHERE bill_id = %s FOR UPDATE"
)
# The customer's credit, locked after the bill: what pay_bill does for a payment from credit.
BARE_LOCK_CREDIT = "SELECT credit FROM customers WHERE customer_id = %s FOR UPDATE"
BARE_INSERT = (
    "INSERT INTO payments (bill_id, date_of_payment, amount_paid, payment_method, "
    "billing_month, payment_status, receipt_number, idempotency_key, bill_total, paid_to_date, "
    "units_used, rate_per_unit) VALUES (%s, %s, %s, 'credit', %s, %s, %s, %s, %s, %s, %s, %s)"
)

Pay = Callable[[int], Awaitable[None]]


async def _bare_payment(db: Database, bill_id: int) -> None:
    """Lock the bill and the credit, insert, commit: the reference transaction."""
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(BARE_LOCK, (bill_id,))
            row = await cur.fetchone()
            _, customer_id, month, units, rate, total, paid, _ = row
            await cur.execute(BARE_LOCK_CREDIT, (customer_id,))
            paid_to_date = paid + AMOUNT
            status = PaymentStatus.for_amounts(total, paid_to_date).value
            now = datetime.now(UTC).replace(tzinfo=None)
            await cur.execute(
                BARE_INSERT,
                (
                    bill_id,
                    now,
                    AMOUNT,
                    month,
                    status,
                    f"BR-{secrets.token_hex(6)}",
                    secrets.token_urlsafe(24),
                    total,
                    paid_to_date,
                    units,
                    rate,
                ),
            )
        await uow.commit()


async def _measure(
    pay: Pay, bills: list[int], workers: int, seconds: float, *, one_bill: bool
) -> tuple[float, list[float]]:
    """Payments per second and each payment's latency, ``workers`` payers for ``seconds``."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def payer(index: int) -> None:
        own = bills[:1] if one_bill else bills[index::workers]
        for bill_id in itertools.cycle(own):
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            await pay(bill_id)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(payer(i) for i in range(workers)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def open_bills(db: Database, count: int) -> list[int]:
    """Open bills with room for many 0.01 payments, spread over customers."""

    async def work(uow: UnitOfWork) -> list[int]:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "SELECT bill_id, customer_id FROM bills "
                "WHERE payment_status IN ('unpaid', 'partial') "
                "AND total_amount - amount_paid >= 100 ORDER BY bill_id DESC LIMIT %s",
                (count,),
            )
            return [int(r[0]) for r in await cur.fetchall()]

    return await db.read(work)


async def give_credit(db: Database, customer_ids: list[int], amount: Decimal) -> None:
    """Give each customer ``amount`` of account credit (admin account), in two statements: an
    invoice per customer on one of their bills, and a provider charge of it that became
    credit in full (its trigger writes the credit entry and moves the customer's credit)."""
    # CHAR(32) references, unique to this call: "bc", 8 hex digits, the customer id.
    prefix = f"bc{secrets.token_hex(4)}"
    marks = ", ".join(["%s"] * len(customer_ids))

    async def work(uow: UnitOfWork) -> None:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "INSERT INTO invoices (reference, customer_id, bill_id, amount, currency,"
                " expires_at) SELECT CONCAT(%s, LPAD(customer_id, 22, '0')), customer_id,"
                " MIN(bill_id), %s, 'NGN', '2100-01-01' FROM bills"
                f" WHERE customer_id IN ({marks}) GROUP BY customer_id",
                (prefix, amount, *customer_ids),
            )
            await cur.execute(
                "INSERT INTO provider_charges (telegram_payment_charge_id,"
                " provider_payment_charge_id, invoice_id, customer_id, amount, currency,"
                " credited, received_at) SELECT CONCAT('bench-', reference),"
                " CONCAT('bench-provider-', reference), invoice_id, customer_id, amount,"
                " currency, amount, UTC_TIMESTAMP(6) FROM invoices WHERE reference LIKE %s",
                (f"{prefix}%",),
            )
        await uow.commit()

    await db.transaction(work)


async def run(ctx: Context) -> None:
    print("\n== payments: domain pay_bill vs the bare SQL transaction", flush=True)
    seconds = ctx.seconds(4.0, 1.0)
    db = await Database.connect(ctx.database.customer, minsize=16, maxsize=20)
    admin = await Database.connect(ctx.database.admin, minsize=1, maxsize=2)
    try:
        bills = await open_bills(admin, 4000)
        owners = await _owners(admin, bills)
        await give_credit(admin, sorted({owners[bill_id] for bill_id in bills}), CREDIT)

        async def bare(bill_id: int) -> None:
            await _bare_payment(db, bill_id)

        async def domain(bill_id: int) -> None:
            await payments.pay_bill(
                db,
                bill_id=bill_id,
                amount=AMOUNT,
                method=PaymentMethod.CREDIT,
                idempotency_key=secrets.token_urlsafe(24),
                customer_id=owners[bill_id],
            )

        await _measure(domain, bills, 4, 0.3, one_bill=False)  # warm the pool and caches
        for one_bill in (False, True):
            for workers in WORKERS:
                shape = "one bill" if one_bill else "distinct bills"
                # Interleaved, best of two: the machine is shared, a burst elsewhere should
                # not decide the ratio.
                bare_rates, domain_rates, domain_latency = [], [], []
                for _ in range(2):
                    rate, _ = await _measure(bare, bills, workers, seconds / 2, one_bill=one_bill)
                    bare_rates.append(rate)
                    rate, lat = await _measure(
                        domain, bills, workers, seconds / 2, one_bill=one_bill
                    )
                    domain_rates.append(rate)
                    domain_latency += lat
                bills = bills[1:] + bills[:1]  # the next one-bill run uses another bill
                ratio_target = f"≥ {TARGET_RATIO}× bare"
                figure = Figure(
                    "payments",
                    f"pay_bill, {workers} payer{'s' if workers > 1 else ''}, {shape}",
                    max(domain_rates),
                    "payments/s",
                    reference="bare SQL transaction",
                    reference_value=max(bare_rates),
                    target=ratio_target,
                    note=(
                        f"p50 {percentile(domain_latency, 50) * 1000:.1f} ms, "
                        f"p95 {percentile(domain_latency, 95) * 1000:.1f} ms"
                    ),
                )
                figure.met = (figure.ratio or 0) >= TARGET_RATIO
                ctx.results.add(figure)
    finally:
        await db.close()
        await admin.close()


async def _owners(db: Database, bills: list[int]) -> dict[int, int]:
    async def work(uow: UnitOfWork) -> dict[int, int]:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "SELECT bill_id, customer_id FROM bills WHERE bill_id BETWEEN %s AND %s",
                (min(bills), max(bills)),
            )
            return {int(b): int(c) for b, c in await cur.fetchall()}

    return await db.read(work)
