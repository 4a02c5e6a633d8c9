"""Database faults: the connection to MariaDB cut under a payment load, a connection killed
between a payment's INSERT and its COMMIT, and pooled connections the server timed out."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from domain import payments
from domain.db import Database, UnitOfWork
from domain.errors import PaymentOutcomeUnknown
from tests.conftest import TestDatabase
from tests.e2e_support import Harness, harness, running_bot
from tests.factories import give_credit, make_bill, make_customer
from tests.reliability_support import (
    UNAVAILABLE,
    LogRecords,
    Payer,
    Stopwatch,
    TcpProxy,
    fetch_deferred_receipts,
    invariant_violations,
    link_telegram,
    record_figures,
    sql_execute,
    sql_rows,
    until,
)

__all__ = ["harness"]

PAYERS = 16
HOLDING = 4  # payers whose Confirm is pressed during the cut
OUTAGE_SECONDS = 3.0


@pytest.mark.timeout(90)
async def test_customers_paying_through_a_database_outage_are_told_plainly_and_lose_nothing(
    harness: Harness,
) -> None:
    """Cut the bot's database connections for 3 s while 16 customers keep paying.

    Everyone whose request failed is told the service is temporarily unavailable, that
    nothing was charged and to try again; after the cut the bot recovers without a restart;
    every bill keeps SPEC §4's invariants; every payment whose receipt was sent is recorded
    exactly once; a payment the customer was told had not been charged does not exist.
    """
    url = harness.config.database
    proxy = TcpProxy(url.host, url.port)
    await proxy.start()
    proxied = harness.with_config(
        database=replace(harness.config.database, port=proxy.port),
        customer_database=replace(harness.config.customer_database, port=proxy.port),
    )
    users = [harness.server.user(71000 + i, f"Payer{i}") for i in range(PAYERS)]
    bill_ids = []
    for user in users:
        customer = await make_customer(harness.admin_db, full_name=f"Payer {user.id}")
        await link_telegram(harness.admin_db, customer.customer_id, user.id)
        bill = await make_bill(harness.admin_db, customer, units="1000", rate="10")
        await give_credit(harness.admin_db, bill, bill.total_amount)
        bill_ids.append(bill.bill_id)

    told_not_charged: list[tuple[str, int]] = []

    async def check_not_charged(key: str, text: str) -> None:
        # The bot has given up on the database by now: whatever it sent has landed or not.
        if "Nothing was charged" in text:
            rows = await sql_rows(
                harness.admin_db,
                "SELECT COUNT(*) FROM payments WHERE idempotency_key = %s",
                (key,),
            )
            told_not_charged.append((key, int(rows[0][0])))

    # A few customers hold their Confirm until the cut, so some payments meet the outage.
    outage = asyncio.Event()
    payers = [
        Payer(
            user,
            Decimal("1.25"),
            on_confirm_failed=check_not_charged,
            hold_confirm=outage if i < HOLDING else None,
        )
        for i, user in enumerate(users)
    ]
    stop = asyncio.Event()

    async def keep_paying(payer: Payer) -> None:
        while not stop.is_set():
            if not await payer.pay_once():
                await asyncio.sleep(0.3)  # a person reads the reply, then tries again

    clock = Stopwatch()
    with LogRecords(logging.ERROR) as errors:
        async with running_bot(proxied):
            tasks = [asyncio.create_task(keep_paying(p)) for p in payers]
            try:
                await until(
                    lambda: (
                        sum(len(p.log.acknowledged) for p in payers) >= PAYERS // 2
                        and all(p.at_confirm.is_set() for p in payers[:HOLDING])
                    ),
                    what="the first payments",
                )
                cut_at = clock()
                dropped = await proxy.cut()
                outage.set()
                await asyncio.sleep(OUTAGE_SECONDS)
                await proxy.restore()
                restored_at = clock()
                restored_mono = clock.started + restored_at

                def recovered() -> list[float]:
                    return [
                        min((t for t in p.log.acknowledged_at if t > restored_mono), default=0)
                        for p in payers
                    ]

                await until(lambda: all(recovered()), what="every customer paying again")
                first_ack = min(recovered()) - restored_mono
                all_recovered = max(recovered()) - restored_mono
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
            # The bot still answers after the outage, without a restart.
            await users[0].send("/dashboard")
            board = await users[0].wait_for_reply(10)
            # A payment recorded while its receipt could not be made is fetched with /receipt.
            fetched = await fetch_deferred_receipts(harness.admin_db, payers)
    await proxy.close()

    logs = [p.log for p in payers]
    failures = [text for log in logs for _, text in log.unavailable]
    unexpected = [item for log in logs for item in log.other]
    assert failures, "the outage should have failed some requests"
    assert not unexpected, unexpected[:5]
    for text in failures:
        assert UNAVAILABLE in text, text
        # "…Nothing was charged; please try again", or (when a COMMIT's answer was lost)
        # "…could not confirm whether this payment went through. Please press Confirm again".
        plain = "Nothing was charged" in text and "try again" in text
        unknown = "could not confirm" in text and "Confirm again" in text
        assert plain or unknown, text
    assert all(count == 0 for _, count in told_not_charged), told_not_charged
    assert not errors.records, [r.getMessage() for r in errors.records]
    assert "Balance due" in board.body
    deferred = [n for log in logs for n in log.deferred]
    assert fetched == [f"receipt-{n}.pdf" for n in deferred]

    assert await invariant_violations(harness.admin_db) == []
    recorded = await sql_rows(
        harness.admin_db,
        "SELECT idempotency_key, receipt_number FROM payments WHERE bill_id IN ("
        + ",".join(str(b) for b in bill_ids)
        + ")",
    )
    recorded_keys = [str(key) for key, _ in recorded]
    recorded_receipts = {str(number) for _, number in recorded}
    acknowledged = [number for log in logs for number in log.acknowledged]
    acknowledged_keys = {key for log in logs for key in log.acknowledged_keys}
    attempted_keys = {key for log in logs for key in log.keys}
    assert len(recorded_keys) == len(set(recorded_keys))
    assert set(acknowledged) <= recorded_receipts  # no acknowledged payment is missing
    assert len(acknowledged) == len(set(acknowledged))
    assert set(recorded_keys) <= attempted_keys
    # A payment recorded but never acknowledged would be one the customer does not know of.
    unacknowledged = set(recorded_keys) - acknowledged_keys
    assert not unacknowledged

    record_figures(
        "database_outage",
        {
            "customers_paying": PAYERS,
            "outage_seconds": OUTAGE_SECONDS,
            "connections_cut": dropped,
            "cut_at_s": cut_at,
            "payments_attempted": sum(log.attempted for log in logs),
            "payments_acknowledged": len(acknowledged),
            "payments_recorded": len(recorded_keys),
            "requests_failed_unavailable": len(failures),
            "failed_at_step": {
                step: sum(1 for log in logs for s, _ in log.unavailable if s == step)
                for step in sorted({s for log in logs for s, _ in log.unavailable})
            },
            "confirms_told_nothing_charged": len(told_not_charged),
            "confirms_outcome_unknown": sum(1 for text in failures if "could not confirm" in text),
            "first_payment_after_outage_s": round(first_ack, 3),
            "every_customer_paid_again_after_s": round(all_recovered, 3),
            "receipts_deferred_to_slash_receipt": len(deferred),
            "unhandled_errors": len(errors.records),
            "invariant_violations": 0,
        },
    )


# ---------------------------------------------------------------------------------------------
# A connection killed between INSERT and COMMIT


async def _root_pool(test_database: TestDatabase) -> Database:
    return await Database.connect(
        test_database.root.with_database(test_database.admin.database), maxsize=1
    )


async def _connection_id(uow: UnitOfWork) -> int:
    async with uow.connection.cursor() as cur:
        await cur.execute("SELECT CONNECTION_ID()")
        row = await cur.fetchone()
        return int(row[0])


@pytest.mark.timeout(30)
async def test_a_connection_killed_between_insert_and_commit_leaves_no_trace(
    test_database: TestDatabase,
    admin_db: Database,
    customer_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KILL the payment's connection after its INSERT, before its COMMIT: the killed
    transaction's payment row is gone, and the retry records the payment exactly once."""
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, units="100", rate="2")
    await give_credit(admin_db, bill, bill.total_amount)
    root = await _root_pool(test_database)
    killed: dict[str, Any] = {}
    real_batch = UnitOfWork.execute_batch
    real_commit = UnitOfWork.commit

    # pay_bill sends its statements and the COMMIT in one round trip; here they are split
    # so the connection can be killed after the server ran the INSERT and before the COMMIT.
    async def batch_then_kill(
        self: UnitOfWork,
        statements: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        commit: bool = False,
    ) -> int:
        if not (commit and not killed):
            return await real_batch(self, statements, commit=commit)
        last_id = await real_batch(self, statements)
        async with self.connection.cursor() as cur:
            await cur.execute(
                "SELECT payment_id, receipt_number FROM payments WHERE idempotency_key = %s",
                ("kill-between-insert-and-commit",),
            )
            row = await cur.fetchone()  # our own uncommitted insert
        killed.update(
            connection_id=await _connection_id(self),
            payment_id=int(row[0]),
            receipt_number=str(row[1]),
        )
        await sql_execute(root, f"KILL {killed['connection_id']:d}")
        await real_commit(self)
        return last_id

    monkeypatch.setattr(UnitOfWork, "execute_batch", batch_then_kill)
    try:
        result = await payments.pay_bill(
            customer_db,
            bill_id=bill.bill_id,
            amount=Decimal("50.00"),
            method="credit",
            idempotency_key="kill-between-insert-and-commit",
            customer_id=customer.customer_id,
        )
    finally:
        monkeypatch.undo()
        await root.close()

    assert killed, "the hook between INSERT and COMMIT never ran"
    ghost = await sql_rows(
        admin_db,
        "SELECT COUNT(*) FROM payments WHERE payment_id = %s OR receipt_number = %s",
        (killed["payment_id"], killed["receipt_number"]),
    )
    assert ghost[0][0] == 0
    rows = await sql_rows(
        admin_db,
        "SELECT payment_id, amount_paid FROM payments WHERE bill_id = %s",
        (bill.bill_id,),
    )
    assert rows == [(result.payment.payment_id, Decimal("50.00"))]
    assert result.created and result.bill.amount_paid == Decimal("50.00")
    assert await invariant_violations(admin_db) == []
    record_figures(
        "kill_between_insert_and_commit",
        {
            "killed_connection_id": killed["connection_id"],
            "killed_payment_id": killed["payment_id"],
            "rows_left_by_killed_transaction": 0,
            "payments_recorded_after_retry": len(rows),
        },
    )


# ---------------------------------------------------------------------------------------------
# Connections the server timed out


@pytest.mark.timeout(30)
async def test_pooled_connections_the_server_timed_out_are_replaced_transparently(
    test_database: TestDatabase, admin_db: Database, customer_db: Database
) -> None:
    """A pool whose connections the server closes after 1 idle second (``wait_timeout=1``)
    keeps working: reads and a payment after the timeout succeed on fresh connections."""
    # The bot's own pool, with no help from recycling: it must notice on its own.
    db = await Database.connect(test_database.customer, minsize=4, maxsize=4, pool_recycle=-1)
    try:
        customer = await make_customer(admin_db)
        bill = await make_bill(admin_db, customer, units="100", rate="2")
        await give_credit(admin_db, bill, bill.total_amount)

        async def connection_id(*, idle_timeout: int | None = None) -> int:
            async with db.unit_of_work() as uow:
                found = await _connection_id(uow)
                if idle_timeout is not None:  # the server closes it after this idle time
                    async with uow.connection.cursor() as cur:
                        await cur.execute("SET SESSION wait_timeout = %s", (idle_timeout,))
                await asyncio.sleep(0.05)  # hold it, so four calls use four connections
                return found

        before = set(await asyncio.gather(*(connection_id(idle_timeout=1) for _ in range(4))))
        await asyncio.sleep(2.5)
        alive = await sql_rows(
            admin_db,
            "SELECT COUNT(*) FROM information_schema.processlist WHERE id IN ("
            + ",".join(str(i) for i in before)
            + ")",
        )
        assert alive[0][0] == 0, "the server should have closed the idle connections"

        found = await payments.customer_payments(db, customer.customer_id)
        result = await payments.pay_bill(
            db,
            bill_id=bill.bill_id,
            amount=Decimal("20.00"),
            method="credit",
            idempotency_key="after-wait-timeout",
            customer_id=customer.customer_id,
        )
        after = set(await asyncio.gather(*(connection_id() for _ in range(4))))
    finally:
        await db.close()
    assert found.total == 0 and result.created
    assert before.isdisjoint(after)
    assert await invariant_violations(admin_db) == []
    record_figures(
        "wait_timeout",
        {
            "pooled_connections_timed_out_by_server": len(before),
            "operations_after_timeout_succeeded": 2,
            "fresh_connections_used": len(after),
        },
    )


@pytest.mark.timeout(30)
async def test_a_payment_whose_commit_answer_was_lost_is_never_called_uncharged(
    test_database: TestDatabase,
    admin_db: Database,
    customer_db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The COMMIT reaches the server but its answer is lost and the database stays away: the
    customer is told the outcome is unknown (not "nothing was charged"); the same confirm
    later returns that payment instead of recording a second one."""
    customer = await make_customer(admin_db)
    bill = await make_bill(admin_db, customer, units="100", rate="2")
    await give_credit(admin_db, bill, bill.total_amount)
    url = test_database.customer
    proxy = TcpProxy(url.host, url.port)
    await proxy.start()
    db = await Database.connect(replace(url, port=proxy.port), maxsize=2)
    real_batch = UnitOfWork.execute_batch
    lost: list[int] = []

    # pay_bill's last round trip carries its COMMIT (execute_batch(..., commit=True)).
    async def commit_then_lose_the_answer(
        self: UnitOfWork,
        statements: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        commit: bool = False,
    ) -> int:
        last_id = await real_batch(self, statements, commit=commit)
        if commit and not lost:
            lost.append(await proxy.cut())
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
        return last_id

    monkeypatch.setattr(UnitOfWork, "execute_batch", commit_then_lose_the_answer)
    pay = functools.partial(
        payments.pay_bill,
        db,
        bill_id=bill.bill_id,
        amount=Decimal("30.00"),
        method="credit",
        idempotency_key="commit-answer-lost",
        customer_id=customer.customer_id,
    )
    try:
        with pytest.raises(PaymentOutcomeUnknown) as unknown:
            await pay()
        await proxy.restore()
        again = await pay()
    finally:
        monkeypatch.undo()
        await db.close()
        await proxy.close()
    assert "Nothing was charged" not in str(unknown.value)
    assert not again.created and again.bill.amount_paid == Decimal("30.00")
    rows = await sql_rows(
        admin_db, "SELECT COUNT(*) FROM payments WHERE bill_id = %s", (bill.bill_id,)
    )
    assert rows[0][0] == 1
    assert await invariant_violations(admin_db) == []
