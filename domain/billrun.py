"""The monthly bill run (issue 15 §3, /billrun): every customer without a bill for a month
gets one, from that month's meter reading, set-based, a chunk of customers at a time.

For each customer with no bill for the month:

* an accepted reading for the month: units = reading − the previous reading (the latest
  accepted reading of an earlier month, else the last bill's ``current_reading``), with the
  register's rollover as :func:`domain.readings.consumption` allows it;
* no reading at all: an estimated one is stored (source ``estimate``) — the previous reading
  plus the average units of their last three bills — and the bill says ``estimated``; the
  next actual reading corrects it, since its units are counted from the estimate; an actual
  reading below the estimate (too much estimated) corrects the estimated bill down to end at
  it instead, and the month counts from there;
* the bill is computed on the customer's tariff version in force for the month (none: the
  flat ``DEFAULT_TARIFF``) exactly as :meth:`domain.billing.Tariff.charges` does, its lines
  written with it (:func:`domain.ledger.issue_run_chunk`), and the customer's account credit
  pays what it can of it at once (:func:`domain.payments.apply_credit`);
* anyone left without a bill is reported with the reason (:class:`SkipReason`).

One audit entry stands for the run and each of its bills names it (``import_audit_id``).
Each chunk is its own transaction, so a run that stops half-way keeps what it issued, and
running it again issues only what is missing. Two runs of one month take turns
(``bill_runs``, migration 0020); the unique (customer, month) key of bills has the last word.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from domain import audit, ledger, payments, validation
from domain.bills import default_due_date
from domain.db import Database, UnitOfWork, error_code
from domain.errors import BillRunInProgress, BillRunTurnLost, TotalBelowPaid
from domain.models import Bill, db_time, now_utc, utc

ZERO = Decimal("0.00")
CHUNK_CUSTOMERS = 25_000  # customer ids per transaction (and per progress report)
# A run that has committed nothing for this long is taken for dead: its turn may be taken.
STALE_AFTER = timedelta(minutes=10)
RUN_ACTION = "bill.run"


class SkipReason(StrEnum):
    """Why a customer got no bill from a run (the words are the handlers')."""

    PENDING = "pending"  # their reading for the month awaits staff review
    REJECTED = "rejected"  # their reading for the month was rejected
    NO_READING = "no_reading"  # no reading, and nothing to estimate one from
    NO_PREVIOUS = "no_previous"  # a reading, but no earlier one to count units from
    BELOW_PREVIOUS = "below_previous"  # lower than the previous reading, and no rollover
    NOT_BILLABLE = "not_billable"  # figures that make no bill (0.00, or too large)


@dataclass(frozen=True)
class Skipped:
    """The customers a run left without a bill for one reason: how many, the first meters."""

    reason: SkipReason
    customers: int
    meters: tuple[str, ...]


@dataclass(frozen=True)
class LinkedBill:
    """A bill the run issued to a customer with a Telegram account (to be told of it)."""

    bill: Bill
    telegram_user_id: int
    full_name: str
    meter_number: str


@dataclass(frozen=True)
class Progress:
    """How far a run has got: customer ids up to ``done_through`` of ``last_customer``."""

    billing_month: date
    done_through: int
    first_customer: int
    last_customer: int
    issued: int
    estimated: int
    skipped: int

    @property
    def fraction(self) -> float:
        span = self.last_customer - self.first_customer + 1
        done = self.done_through - self.first_customer + 1
        return 1.0 if span <= 0 else max(0.0, min(1.0, done / span))


@dataclass
class BillRunResult:
    """What a run did."""

    billing_month: date
    run_id: int
    issued: int = 0
    estimated: int = 0
    corrected: int = 0  # estimated bills of the month before corrected down (over-estimates)
    total_billed: Decimal = ZERO
    credit_applied: Decimal = ZERO
    already_billed: int = 0  # bills of the month there before the run (or issued meanwhile)
    skipped: dict[SkipReason, Skipped] = field(default_factory=dict)
    linked: list[LinkedBill] = field(default_factory=list)
    # The estimated bills corrected down whose customers have a Telegram account, as corrected.
    corrected_linked: list[LinkedBill] = field(default_factory=list)

    @property
    def skipped_count(self) -> int:
        return sum(item.customers for item in self.skipped.values())

    def summary(self) -> dict[str, object]:
        """What the run's audit entry keeps."""
        return {
            "billing_month": self.billing_month,
            "issued": self.issued,
            "estimated": self.estimated,
            "corrected_estimates": self.corrected,
            "total_billed": self.total_billed,
            "credit_applied": self.credit_applied,
            "already_billed": self.already_billed,
            "skipped": {
                reason.value: {"customers": item.customers, "meters": list(item.meters)}
                for reason, item in self.skipped.items()
            },
        }


ProgressCallback = Callable[[Progress], Awaitable[None]]


async def run(
    db: Database,
    *,
    billing_month: date,
    default_rate: Decimal,
    due_days: int = 14,
    issued_on: date | None = None,
    admin_id: int | None = None,
    chunk_customers: int = CHUNK_CUSTOMERS,
    progress: ProgressCallback | None = None,
) -> BillRunResult:
    """Issue every missing bill of ``billing_month`` (see the module's docstring).

    Due dates follow :func:`domain.bills.default_due_date` from ``issued_on`` (the utility's
    local date; UTC's today if not given). ``progress`` is awaited after each chunk.
    Raises BillRunInProgress when another run of the month is working.
    """
    month = validation.billing_month(billing_month)
    issue_day = issued_on or now_utc().date()
    due_date = default_due_date(month, due_days, issued_on=issue_day)
    run_id, first_customer, last_customer = await _take_turn(db, month, admin_id)
    result = BillRunResult(month, run_id)
    try:
        start = first_customer
        while start <= last_customer:
            chunk = ledger.RunChunk(
                run_id=run_id,
                admin_id=admin_id,
                billing_month=month,
                due_date=due_date,
                default_rate=default_rate,
                first_customer=start,
                last_customer=min(start + chunk_customers - 1, last_customer),
            )
            await _run_chunk(db, chunk, result)
            start = chunk.last_customer + 1
            if progress is not None:
                await progress(
                    Progress(
                        month,
                        chunk.last_customer,
                        first_customer,
                        last_customer,
                        result.issued,
                        result.estimated,
                        result.skipped_count,
                    )
                )
    finally:
        await _finish(db, result)
    return result


async def _take_turn(db: Database, month: date, admin_id: int | None) -> tuple[int, int, int]:
    """Take the month's turn (refused while another run holds it and is alive) and write the
    run's audit entry; the run's id and the span of customer ids to walk."""

    async def work(uow: UnitOfWork) -> tuple[int, int, int]:
        await uow.execute("billrun_take_turn", {"billing_month": month})
        turn = await uow.fetch_one("billrun_turn", {"billing_month": month})
        assert turn is not None
        now = now_utc()
        heartbeat = utc(turn["heartbeat_at"])
        running = turn["run_audit_id"] is not None and turn["finished_at"] is None
        if running and heartbeat is not None and heartbeat > now - STALE_AFTER:
            raise BillRunInProgress(billing_month=month, started_at=utc(turn["started_at"]))
        run_id = await audit.record(
            uow,
            admin_id=admin_id,
            action=RUN_ACTION,
            entity_type="bill_run",
            entity_id="",
            before={"billing_month": month},
        )
        await uow.execute(
            "billrun_claim_turn",
            {"billing_month": month, "run_id": run_id, "admin_id": admin_id, "now": db_time(now)},
        )
        span = await uow.fetch_one("billrun_customer_span")
        assert span is not None
        await uow.commit()
        return run_id, int(span["first_customer"]), int(span["last_customer"])

    return await db.transaction(work)


async def _run_chunk(db: Database, chunk: ledger.RunChunk, result: BillRunResult) -> None:
    """One chunk of customers in one transaction: estimates, bills and lines, credit, and
    what is reported. A bill issued meanwhile by someone else (the unique key) makes the
    chunk start again, and then it is simply not missing any more."""
    customers = {
        "billing_month": chunk.billing_month,
        "first_customer": chunk.first_customer,
        "last_customer": chunk.last_customer,
    }

    async def work(uow: UnitOfWork) -> _ChunkOutcome:
        turn = await uow.fetch_one("billrun_turn", {"billing_month": chunk.billing_month})
        if turn is None or turn["run_audit_id"] != chunk.run_id:
            raise BillRunTurnLost(billing_month=chunk.billing_month)
        await uow.execute("billrun_estimate_readings", customers)
        first_bill_id = await ledger.issue_run_chunk(uow, chunk)
        outcome = _ChunkOutcome(skipped=await _skipped(uow, customers))
        if any(item.reason is SkipReason.BELOW_PREVIOUS for item in outcome.skipped):
            corrected = await _settle_over_estimates(uow, chunk, customers)
            outcome.corrected = len(corrected)
            outcome.corrected_linked = [item for item in corrected if item.telegram_user_id]
            if corrected:  # their bills now count from the actual reading
                again = await ledger.issue_run_chunk(uow, chunk)
                first_bill_id = first_bill_id if first_bill_id is not None else again
                outcome.skipped = await _skipped(uow, customers)
        if first_bill_id is not None:
            which = {"first_bill_id": first_bill_id, "run_id": chunk.run_id}
            outcome.credit = await _apply_credit(uow, which)
            issued = await uow.fetch_one("billrun_chunk_issued", which)
            assert issued is not None
            outcome.issued = int(issued["bills"])
            outcome.estimated = int(issued["estimated"])
            outcome.total = Decimal(issued["total"])
            outcome.linked = [
                LinkedBill(
                    Bill.from_row(row),
                    int(row["telegram_user_id"]),
                    row["full_name"],
                    row["meter_number"],
                )
                for row in await uow.fetch_all("billrun_linked_bills", which)
            ]
        await uow.execute(
            "billrun_heartbeat",
            {
                "billing_month": chunk.billing_month,
                "run_id": chunk.run_id,
                "now": db_time(now_utc()),
            },
        )
        await uow.commit()
        return outcome

    for attempt in range(3):
        try:
            outcome = await db.transaction(work)
            break
        except Exception as exc:
            if error_code(exc) != 1062 or attempt == 2:
                raise
    result.issued += outcome.issued
    result.estimated += outcome.estimated
    result.corrected += outcome.corrected
    result.corrected_linked.extend(outcome.corrected_linked)
    result.total_billed += outcome.total
    result.credit_applied += outcome.credit
    result.linked.extend(outcome.linked)
    for item in outcome.skipped:
        before = result.skipped.get(item.reason)
        if before is None:
            result.skipped[item.reason] = item
        else:
            meters = (before.meters + item.meters)[:5]
            result.skipped[item.reason] = Skipped(
                item.reason, before.customers + item.customers, meters
            )


async def _skipped(uow: UnitOfWork, customers: dict[str, object]) -> list[Skipped]:
    """Who in the chunk still has no bill for the month, by reason."""
    return [
        Skipped(
            SkipReason(row["reason"]),
            int(row["customers"]),
            tuple((row["meters"] or "").split(",")) if row["meters"] else (),
        )
        for row in await uow.fetch_all("billrun_skipped", customers)
    ]


async def _settle_over_estimates(
    uow: UnitOfWork, chunk: ledger.RunChunk, customers: dict[str, object]
) -> list[LinkedBill]:
    """An actual reading below the estimate of the month before: too much was estimated. The
    estimated bill is corrected to end at the actual reading and the estimate brought down to
    it, so this month counts from there; the bills corrected, as corrected (with a Telegram id
    of 0 for a customer who has none). One paid beyond its corrected total is left as it is
    (the customer stays skipped, below the previous reading, for staff)."""
    settled: list[LinkedBill] = []
    for row in await uow.fetch_all("billrun_over_estimates", customers):
        bill = await payments.lock_bill(uow, int(row["bill_id"]))
        assert bill is not None
        reading = Decimal(row["reading"])
        try:
            after = await ledger.settle_estimate(
                uow, bill, units=Decimal(row["units"]), reading=reading, admin_id=chunk.admin_id
            )
        except TotalBelowPaid:
            continue
        await uow.execute(
            "billrun_lower_estimate", {"estimate_id": int(row["estimate_id"]), "reading": reading}
        )
        settled.append(
            LinkedBill(
                after, int(row["telegram_user_id"] or 0), row["full_name"], row["meter_number"]
            )
        )
    return settled


@dataclass
class _ChunkOutcome:
    issued: int = 0
    estimated: int = 0
    corrected: int = 0
    corrected_linked: list[LinkedBill] = field(default_factory=list)
    total: Decimal = ZERO
    credit: Decimal = ZERO
    linked: list[LinkedBill] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


async def _apply_credit(uow: UnitOfWork, which: dict[str, int]) -> Decimal:
    """Let each new bill's customer credit pay what it can of it (few customers have any):
    payments from credit, written as every other (domain.payments)."""
    applied = ZERO
    for row in await uow.fetch_all("billrun_bills_with_credit", which):
        bill = await payments.lock_bill(uow, int(row["bill_id"]))
        assert bill is not None
        paid = await payments.apply_credit(uow, bill)
        if paid is not None:
            applied += paid.payment.amount_paid
    return applied


async def _finish(db: Database, result: BillRunResult) -> None:
    """Free the month's turn and complete the run's audit entry with what it did."""

    async def work(uow: UnitOfWork) -> None:
        await uow.fetch_one("billrun_turn", {"billing_month": result.billing_month})
        result.already_billed = int(
            await uow.fetch_value(
                "billrun_month_bills",
                {"billing_month": result.billing_month, "run_id": result.run_id},
            )
        )
        await audit.finish(uow, result.run_id, after=result.summary())
        await uow.execute(
            "billrun_finish_turn",
            {
                "billing_month": result.billing_month,
                "run_id": result.run_id,
                "now": db_time(now_utc()),
            },
        )
        await uow.commit()

    await db.transaction(work)
