"""Late fees and waivers (issue 15 §4): the daily run that charges every bill still owing past
its due date plus its tariff's grace days the fee of its tariff's rule, the notices it owes
the customers, and a staff waiver of a fee.

The money rules are :class:`domain.billing.Charges`' (``late_fee``, ``waive``); the writes
are :mod:`domain.ledger`'s (the run set-based, a waiver through ``add_line``). The run is
safe to repeat and to resume: a bill takes one fee per due date's month (the UNIQUE key of
its lines), each chunk of bills is one transaction, and the day's run record
(``late_fee_runs``) says whether the run has finished. A bill on the flat tariff made from
``DEFAULT_TARIFF`` takes no fee: that tariff has no late-fee rule.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from domain import ledger, validation
from domain.billing import Line, LineKind
from domain.db import Database, UnitOfWork
from domain.errors import BillNotFound, DomainError
from domain.ledger import LateFeeRunRecord
from domain.models import Bill, db_time, now_utc
from domain.payments import lock_bill

# Bill ids per transaction: large enough that a run over a million bills is a few dozen
# transactions, small enough that a chunk holds its bills' locks for a fraction of a second.
WORKERS = 2  # chunks charged at once, on as many connections
CHUNK_BILLS = 50_000
# A fee whose notice could not be claimed on its day (the bot was down) is still told this
# many days later; after that it is left (the customer sees it on their bill).
NOTICE_DAYS = 3
WAIVER_NOTE_LENGTH = 300  # bill_lines.note


class NoLateFee(DomainError):
    """The bill has no late fee (``line_id`` None) or not the one named."""

    def __init__(self, bill_id: int, line_id: int | None = None) -> None:
        super().__init__("That bill has no such late fee.")
        self.bill_id = bill_id
        self.line_id = line_id


class LateFeeAlreadyWaived(DomainError):
    """The late fee ``line_id`` has been waived already."""

    def __init__(self, bill_id: int, line_id: int) -> None:
        super().__init__("That late fee has already been waived.")
        self.bill_id = bill_id
        self.line_id = line_id


# ---------------------------------------------------------------------------------------------
# The daily run


@dataclass(frozen=True)
class RunResult:
    """What one call of :func:`run` did: ``charged`` fees (``amount`` in all) now, and the
    day's run record after it (its totals count every call of the day)."""

    record: LateFeeRunRecord
    charged: int
    already_finished: bool

    @property
    def run_date(self) -> date:
        return self.record.run_date


async def run(db: Database, today: date, *, chunk: int = CHUNK_BILLS) -> RunResult:
    """The late-fee run of ``today`` (the utility's local date): charge every bill that owes
    a fee today, chunk by chunk. A run of a day already finished charges nothing; one left
    unfinished (a restart) goes on where it stopped."""

    async def start(uow: UnitOfWork) -> tuple[LateFeeRunRecord, tuple[int, int]]:
        record = await ledger.start_late_fee_run(uow, today, db_time(now_utc()))
        span = await ledger.bill_id_span(uow)
        await uow.commit()
        return record, span

    record, (first_id, last_id) = await db.transaction(start)
    if record.finished_at is not None:
        return RunResult(record, charged=0, already_finished=True)
    lows = iter(range(first_id, last_id + 1, chunk) if last_id else ())

    async def worker() -> int:
        """Charge chunk after chunk until none is left; how many fees it charged."""
        charged = 0
        for low in lows:

            async def one_chunk(uow: UnitOfWork, low: int = low) -> int:
                count = await ledger.charge_late_fees(
                    uow,
                    run_date=today,
                    first_id=low,
                    last_id=min(low + chunk - 1, last_id),
                    now=db_time(now_utc()),
                )
                await uow.commit()
                return count

            charged += await db.transaction(one_chunk)
        return charged

    # Chunks are disjoint ranges of bills, each its own transaction: WORKERS connections
    # charge them side by side (a deadlock between two is retried whole, as any transaction).
    charged = sum(await asyncio.gather(*(worker() for _ in range(WORKERS))))

    async def finish(uow: UnitOfWork) -> LateFeeRunRecord:
        done = await ledger.finish_late_fee_run(uow, today, db_time(now_utc()))
        await uow.commit()
        return done

    return RunResult(await db.transaction(finish), charged=charged, already_finished=False)


@dataclass(frozen=True)
class FeeNotice:
    """A fee to tell a linked customer of: the bill after it, the fee and what it was on."""

    telegram_user_id: int
    bill: Bill
    fee: Decimal
    overdue: Decimal


async def claim_notices(db: Database, today: date) -> list[FeeNotice]:
    """The fees charged on linked customers' bills in the last NOTICE_DAYS days whose notice
    has not been claimed yet, claimed now: each is told at most once, however often (or by
    however many bots) this is called."""
    claimed_at = db_time(now_utc())
    window = {"since": today - timedelta(days=NOTICE_DAYS), "today": today, "now": claimed_at}

    async def work(uow: UnitOfWork) -> list[FeeNotice]:
        await uow.execute("late_fee_claim_notices", window)
        rows = await uow.fetch_all("late_fee_claimed_notices", window)
        await uow.commit()
        return [
            FeeNotice(
                telegram_user_id=int(row["telegram_user_id"]),
                bill=Bill.from_row(row),
                fee=Decimal(row["fee"]),
                overdue=Decimal(row["overdue"]),
            )
            for row in rows
        ]

    return await db.transaction(work)


# ---------------------------------------------------------------------------------------------
# Waivers


@dataclass(frozen=True)
class BillFees:
    """A bill and its late fees, with which of them have been waived."""

    bill: Bill
    fees: tuple[Line, ...]
    waived: frozenset[int]  # line ids of the fees taken back

    @property
    def to_waive(self) -> tuple[Line, ...]:
        return tuple(fee for fee in self.fees if fee.line_id not in self.waived)


async def fees_of(db: Database, bill_id: int) -> BillFees:
    """A bill's late fees (BillNotFound when there is no such bill)."""

    async def work(uow: UnitOfWork) -> BillFees:
        row = await uow.fetch_one("get_bill", {"bill_id": bill_id})
        if row is None:
            raise BillNotFound()
        lines = await ledger.lines(uow, bill_id)
        await uow.commit()
        return BillFees(
            Bill.from_row(row),
            tuple(line for line in lines if line.kind is LineKind.LATE_FEE),
            frozenset(line.waives_line_id for line in lines if line.waives_line_id is not None),
        )

    return await db.read(work)


def waiver_reason(text: str) -> str:
    """Why staff waive a fee (kept on the waiver line and in the audit log)."""
    return validation.void_reason(text)[:WAIVER_NOTE_LENGTH]


async def waive(
    db: Database, bill_id: int, line_id: int, *, reason: str, admin_id: int
) -> tuple[Bill, Line]:
    """Take back the late fee ``line_id`` of bill ``bill_id``: a waiver line through the
    ledger (the bill's total, status and the report totals follow; audited). Refused with
    NoLateFee, LateFeeAlreadyWaived, or TotalBelowPaid when the bill would then be less than
    what is already paid on it. Returns the bill after it and the waiver line."""
    note = waiver_reason(reason)

    async def work(uow: UnitOfWork) -> tuple[Bill, Line]:
        bill = await lock_bill(uow, bill_id)
        if bill is None:
            raise BillNotFound()
        current = await ledger.charges(uow, bill)
        fee = next(
            (
                line
                for line in current.lines
                if line.line_id == line_id and line.kind is LineKind.LATE_FEE
            ),
            None,
        )
        if fee is None:
            raise NoLateFee(bill_id, line_id)
        if fee not in current.fees_to_waive():
            raise LateFeeAlreadyWaived(bill_id, line_id)
        waiver = current.waive(fee, note=note)  # TotalBelowPaid when it would go below paid
        after, written = await ledger.add_line(
            uow, bill, waiver, admin_id=admin_id, action="bill.waive"
        )
        await uow.commit()
        return after, written

    return await db.transaction(work)
