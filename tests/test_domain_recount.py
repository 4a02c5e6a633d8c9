"""Reports match the rows whoever wrote them (issue 14): what the triggers keep, what drifts,
and the recount that repairs it — from the command line, and while payments land.

The triggers of migration 0005 move the report totals for every INSERT and UPDATE of a bill
or payment, from any account; what they cannot see is a DELETE (there is no DELETE trigger)
or rows loaded with the triggers set aside, the way a bulk load from an old system is done
(``benchmarks.harness.triggers_set_aside``). Those drift until ``run_bot.py recount`` (or the
bot's daily check, ``tests/test_e2e_recount.py``) repairs them.
"""

from __future__ import annotations

import asyncio
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pymysql
import pytest

import run_bot
from domain import audit, payments, report_totals, reports
from domain.bills import default_due_date
from domain.db import Database
from domain.errors import DomainError
from domain.models import Bill, Customer, PaymentMethod
from domain.report_totals import BILL_TOTALS, CUSTOMER_BALANCES, Drift
from tests.conftest import TestDatabase
from tests.factories import (
    give_credit,
    insert_bill,
    load_bill_past_the_triggers,
    make_bill,
    make_clerk,
    make_customer,
)

TODAY = date(2026, 11, 15)


async def outstanding_from_rows(db: Database) -> tuple[Decimal, int]:
    """What the open bills themselves say is owed, and on how many bills."""
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "SELECT COALESCE(SUM(total_amount - amount_paid), 0), COUNT(*) FROM bills"
            " WHERE payment_status <> 'paid'"
        )
        owed, count = await cur.fetchone()
    return Decimal(owed), int(count)


async def outstanding_reported(db: Database) -> tuple[Decimal, int]:
    """What /outstanding says (domain/reports, read from the totals)."""
    report = await reports.outstanding(db, today=TODAY)
    return report.total, report.bills


async def payments_so_far(db: Database) -> int:
    """Payments recorded (void or not): how many landed while a recount ran."""
    async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute("SELECT COUNT(*) FROM payments")
        (count,) = await cur.fetchone()
    return int(count)


async def recount_entries(db: Database) -> list[audit.AuditEntry]:
    return [entry for entry in await audit.entries(db) if entry.action == "totals.recount"]


def due_after_month(month: date) -> date:
    """Due 14 days after the month's end, as tests.factories.insert_bill writes it (a bill
    issued within its own month)."""
    return default_due_date(month, 14, issued_on=month)


async def four_bills(db: Database) -> list[Customer]:
    """The issue's figures: four open bills, ₦181.98 in all, issued through the domain."""
    people = [await make_customer(db, full_name=f"Recount {i}") for i in range(3)]
    for person, month, units in (
        (people[0], date(2026, 8, 1), "50.00"),
        (people[0], date(2026, 9, 1), "40.00"),
        (people[1], date(2026, 9, 1), "60.00"),
        (people[1], date(2026, 10, 1), "31.98"),
    ):
        await make_bill(
            db, person, month=month, units=units, rate="1", due_date=due_after_month(month)
        )
    assert await outstanding_reported(db) == (Decimal("181.98"), 4)
    return people


async def test_a_bill_written_with_plain_sql_reaches_the_reports_through_the_triggers(
    admin_db: Database, admin_conn: pymysql.connections.Connection
) -> None:
    """A bill INSERTed (and corrected) with plain SQL as the admin account, past the domain,
    is in /outstanding and /trend at once: migration 0005's triggers move the totals in the
    statement itself. (Issue 14 saw /outstanding say ₦181.98 on 4 bills with ₦281.98 on 5 in
    the tables; an INSERT can no longer do that, what still can is the next test's.)"""
    people = await four_bills(admin_db)
    bill_id = insert_bill(admin_conn, people[2], "2026-10-01", "90.00")
    with admin_conn.cursor() as cur:
        cur.execute(
            "UPDATE bills SET units_used = 100, total_amount = 100 WHERE bill_id = %s",
            (bill_id,),
        )
    assert await outstanding_reported(admin_db) == (Decimal("281.98"), 5)
    assert await outstanding_from_rows(admin_db) == (Decimal("281.98"), 5)
    (october,) = await reports.usage_trend(admin_db, months=1, until=date(2026, 10, 1))
    assert (october.bills, october.billed) == (2, Decimal("131.98"))
    assert await report_totals.differences(admin_db) == []


async def test_rows_written_past_the_triggers_reach_the_reports_after_run_bot_recount(
    admin_db: Database,
    admin_conn: pymysql.connections.Connection,
    test_database: TestDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A bill loaded with the triggers set aside is missing from /outstanding, and a bill
    DELETEd by hand is still in it, until `run_bot.py recount`: then the report equals the
    rows, the repair is in the audit log, and a second recount finds nothing."""
    people = await four_bills(admin_db)
    load_bill_past_the_triggers(admin_conn, people[2], "2026-10-01", "100.00")
    gone = insert_bill(admin_conn, people[2], "2026-11-01", "7.50")  # kept by the triggers
    with admin_conn.cursor() as cur:
        cur.execute("DELETE FROM bills WHERE bill_id = %s", (gone,))
    assert await outstanding_reported(admin_db) == (Decimal("189.48"), 5)
    assert await outstanding_from_rows(admin_db) == (Decimal("281.98"), 5)
    assert len(await report_totals.differences(admin_db)) == 3  # Oct, Nov, people[2]

    monkeypatch.chdir(tmp_path)  # no .env here: the settings below are all there is
    monkeypatch.setenv("DATABASE_URL", test_database.admin.to_url())
    monkeypatch.setenv("CUSTOMER_DATABASE_URL", test_database.customer.to_url())
    capsys.readouterr()
    assert await asyncio.to_thread(run_bot.main, ["recount"]) == 0
    printed = capsys.readouterr().out
    assert "3 differed from the bills and payments and were repaired" in printed, printed
    assert "bill totals 2026-10-01 2026-11-14: kept bills 1," in printed, printed

    assert await outstanding_reported(admin_db) == (Decimal("281.98"), 5)
    (october,) = await reports.usage_trend(admin_db, months=1, until=date(2026, 10, 1))
    assert (october.bills, october.billed) == (2, Decimal("131.98"))
    assert await report_totals.differences(admin_db) == []
    (entry,) = await recount_entries(admin_db)
    assert entry.entity_id == "run_bot.py recount" and entry.admin_name is None
    assert entry.after is not None and entry.before is not None
    assert entry.after["totals repaired"] == 3
    key = "bill totals 2026-10-01 2026-11-14"
    assert (entry.before[key]["owed"], entry.after[key]["owed"]) == ("31.98", "131.98")

    assert await asyncio.to_thread(run_bot.main, ["recount"]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    assert len(await recount_entries(admin_db)) == 1  # nothing found: no entry


def _drift_of_one_loaded_bill(
    admin_conn: pymysql.connections.Connection, customer: Customer, month: date
) -> list[str]:
    """Load a ₦100.00 bill past the triggers; return the totals it leaves wrong (labels)."""
    load_bill_past_the_triggers(admin_conn, customer, str(month), "100.00")
    due = due_after_month(month)
    return [f"{BILL_TOTALS} {month} {due}", f"{CUSTOMER_BALANCES} {customer.customer_id}"]


async def test_recounts_at_once_repair_the_drift_once(
    admin_db: Database, admin_conn: pymysql.connections.Connection
) -> None:
    """The command line and the daily check (and another bot's) at the same moment: the
    others wait for the first's COMMIT and find nothing left (were each to add the
    difference it counted, it would be added three times). Five rounds of three."""
    customer = await make_customer(admin_db)
    await make_bill(admin_db, customer, units="10", rate="1")
    for round_ in range(5):
        planted = _drift_of_one_loaded_bill(admin_conn, customer, date(2027, round_ + 1, 1))
        found = await asyncio.gather(
            *(report_totals.rebuild(admin_db, source=f"test {n}") for n in range(3))
        )
        assert sorted([d.label for d in drift] for drift in found) == [[], [], planted]
        assert await report_totals.differences(admin_db) == []
    assert await outstanding_reported(admin_db) == (Decimal("510.00"), 6)


async def test_a_recount_while_payments_land_repairs_the_drift_and_counts_each_payment_once(
    admin_db: Database, customer_db: Database, admin_conn: pymysql.connections.Connection
) -> None:
    """Forty payers on ten bills pay from credit, and the office voids every other payment as
    it lands, while recounts run one after another. The first recount repairs the bill loaded
    past the triggers; no recount finds anything else (a payment half-seen would show as a
    difference, and its repair would leave the totals wrong); afterwards the totals equal a
    recount and the reports equal the rows."""
    admin_id = (await make_clerk(admin_db)).admin_id
    loaded_for = await make_customer(admin_db, full_name="Loaded From The Old System")
    people = [await make_customer(admin_db, full_name=f"Payer {i}") for i in range(5)]
    open_bills: list[Bill] = []
    for index, person in enumerate(people):
        for month in (date(2026, 9, 1), date(2026, 10, 1)):
            open_bills.append(
                await make_bill(admin_db, person, month=month, units=str(80 + index))
            )
    for bill in open_bills[::2]:
        await give_credit(admin_db, bill, "2000.00")
    planted = _drift_of_one_loaded_bill(admin_conn, loaded_for, date(2026, 12, 1))

    rng = random.Random(14)
    landed: asyncio.Queue[int] = asyncio.Queue()
    paying = asyncio.Event()
    paying.set()
    recounts: list[list[Drift]] = []
    landed_during_recounts = 0

    async def payer(n: int) -> None:
        bill = open_bills[n % len(open_bills)]
        for attempt in range(4):
            try:
                result = await payments.pay_bill(
                    customer_db,
                    bill_id=bill.bill_id,
                    amount=Decimal(rng.choice(["1.00", "2.50", "7.25", "20.00"])),
                    method=PaymentMethod.CREDIT,
                    idempotency_key=f"recount-{n}-{attempt}",
                    customer_id=bill.customer_id,
                )
                await landed.put(result.payment.payment_id)
            except DomainError:
                pass  # too much, or already paid: refused, nothing written

    async def voider() -> None:
        while (payment_id := await landed.get()) != 0:
            if payment_id % 2:
                await payments.void_payment(
                    admin_db, payment_id, admin_id=admin_id, reason="recount race"
                )

    async def payers() -> None:
        await asyncio.gather(*(payer(n) for n in range(40)))
        paying.clear()
        await landed.put(0)

    async def recounter() -> None:
        nonlocal landed_during_recounts
        while paying.is_set():
            before = await payments_so_far(admin_db)
            recounts.append(await report_totals.rebuild(admin_db, source="race"))
            landed_during_recounts += await payments_so_far(admin_db) - before

    async with asyncio.TaskGroup() as race:
        race.create_task(payers())
        race.create_task(voider())
        race.create_task(recounter())

    assert len(recounts) >= 3 and landed_during_recounts > 0, (
        len(recounts),
        landed_during_recounts,
    )
    assert [d.label for d in recounts[0]] == planted
    assert [found for later in recounts[1:] for found in later] == []
    assert await report_totals.differences(admin_db) == []
    assert await outstanding_reported(admin_db) == await outstanding_from_rows(admin_db)
    income = await reports.revenue(admin_db)
    async with admin_db.unit_of_work() as uow, uow.connection.cursor() as cur:
        await cur.execute(
            "SELECT SUM(amount_paid), COUNT(*) FROM payments WHERE voided_at IS NULL"
        )
        revenue, paid_count = await cur.fetchone()
    assert (income.total, income.payments) == (revenue, paid_count)


def test_setting_the_triggers_aside_puts_back_exactly_the_ones_the_migrations_left(
    admin_conn: pymysql.connections.Connection,
) -> None:
    """The load-past-the-triggers helper (benchmarks and the tests above) drops every money
    trigger and makes them again: the same triggers, in the same order per table and event,
    including one a later migration remade (0016's receipt trigger), made as that migration
    made it (its credit column)."""
    from benchmarks.harness import triggers_set_aside

    def triggers() -> list[tuple[str, ...]]:
        with admin_conn.cursor() as cur:
            cur.execute(
                "SELECT event_object_table, action_timing, event_manipulation, action_order,"
                " trigger_name FROM information_schema.triggers"
                " WHERE trigger_schema = DATABASE() ORDER BY 1, 2, 3, 4"
            )
            return [tuple(str(v) for v in row) for row in cur.fetchall()]

    def receipt_trigger_body() -> str:
        with admin_conn.cursor() as cur:
            cur.execute(
                "SELECT action_statement FROM information_schema.triggers"
                " WHERE trigger_schema = DATABASE()"
                " AND trigger_name = 'payments_after_insert_receipt'"
            )
            row = cur.fetchone()
            assert row is not None
            return str(row[0])

    before = triggers()
    assert any(row[4] == "payments_after_insert_receipt" for row in before)
    assert "credit_after" in receipt_trigger_body()
    with triggers_set_aside(admin_conn):
        assert triggers() == []
    assert triggers() == before
    assert "credit_after" in receipt_trigger_body()
