"""The one retry policy of a transaction (domain/db.py, issue 15): what is run again, what is
not, and when the caller is told a COMMIT's outcome is unknown. On the real MariaDB pool;
the failures are raised by the work itself, as the server or the network would."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import pymysql
import pytest

from domain.db import Database, DatabaseUrl, UnitOfWork
from domain.errors import CommitOutcomeUnknown, DatabaseUnavailable, PaymentOutcomeUnknown
from tests.conftest import TestDatabase, raw_connection

DEADLOCK = pymysql.err.OperationalError(1213, "Deadlock found when trying to get lock")
LOST = pymysql.err.OperationalError(2013, "Lost connection to server during query")


# What a Galera node answered when a conflict aborted a payment while its triggers loaded.
TRIGGER_LOAD_ABORTED = pymysql.err.ProgrammingError(
    1064,
    "Trigger 'payments_after_update_credit' has an error in its body: 'You have an error in "
    "your SQL syntax; check the manual that corresponds to your MariaDB server version for "
    "the right syntax to use near 'INSERT INTO customer_balances' at line 60'",
)
SYNTAX = pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax")


def duplicate(key: str) -> pymysql.err.IntegrityError:
    return pymysql.err.IntegrityError(1062, f"Duplicate entry 'k-1' for key '{key}'")


class Script:
    """A transaction's work that fails as told, attempt by attempt, then returns."""

    def __init__(self, *failures: BaseException, commit_lost_on: set[int] | None = None) -> None:
        self.failures = list(failures)
        self.commit_lost_on = commit_lost_on or set()
        self.seen: list[tuple[bool, bool]] = []  # (rerun, earlier_commit_lost) per attempt

    async def __call__(self, uow: UnitOfWork) -> str:
        self.seen.append((uow.rerun, uow.earlier_commit_lost))
        if len(self.seen) in self.commit_lost_on:
            uow.commit_lost = True  # as UnitOfWork.commit marks a COMMIT with no answer
        if self.failures:
            raise self.failures.pop(0)
        return "done"


async def test_a_lost_race_on_a_payment_key_is_run_again_and_the_rerun_knows_it(
    admin_db: Database,
) -> None:
    work = Script(duplicate("uq_payments_idempotency_key"), DEADLOCK)
    assert await admin_db.transaction(work) == "done"
    assert work.seen == [(False, False), (True, False), (True, False)]


async def test_a_duplicate_on_any_other_key_is_not_run_again(admin_db: Database) -> None:
    work = Script(duplicate("uq_customers_meter_number"))
    with pytest.raises(pymysql.err.IntegrityError):
        await admin_db.transaction(work)
    assert len(work.seen) == 1


async def test_five_attempts_at_most_then_the_last_error(admin_db: Database) -> None:
    work = Script(*[duplicate("uq_payments_receipt_number")] * 6)
    with pytest.raises(pymysql.err.IntegrityError):
        await admin_db.transaction(work)
    assert len(work.seen) == 5


async def test_a_lost_connection_alone_is_unavailable_not_unknown(admin_db: Database) -> None:
    work = Script(*[LOST] * 5)
    with pytest.raises(DatabaseUnavailable) as failed:
        await admin_db.transaction(work)
    assert not isinstance(failed.value, CommitOutcomeUnknown)


async def test_a_lost_commit_answer_nobody_could_settle_is_an_unknown_outcome(
    admin_db: Database,
) -> None:
    work = Script(*[LOST] * 5, commit_lost_on={1})
    with pytest.raises(PaymentOutcomeUnknown):
        await admin_db.transaction(work, unknown=PaymentOutcomeUnknown)
    assert work.seen[1:] == [(True, True)] * 4


async def test_a_later_attempt_that_runs_to_its_end_settles_a_lost_commit(
    admin_db: Database,
) -> None:
    work = Script(LOST, commit_lost_on={1})
    assert await admin_db.transaction(work) == "done"
    assert work.seen == [(False, False), (True, True)]


async def test_a_commit_whose_answer_is_lost_is_marked_and_a_refused_one_is_not(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with admin_db.unit_of_work() as uow:
        conn = uow.connection

        async def lost() -> None:
            raise LOST

        monkeypatch.setattr(conn, "commit", lost)
        with pytest.raises(pymysql.err.OperationalError):
            await uow.commit()
        assert uow.commit_lost
        monkeypatch.undo()
    async with admin_db.unit_of_work() as uow:
        # A statement the server refuses stops the round trip before its COMMIT.
        with pytest.raises(pymysql.err.MySQLError):
            await uow.commit(
                [("insert_legacy_id", {"legacy_table": None, "legacy_id": "x", "new_id": 1})]
            )
        assert not uow.commit_lost


async def test_deadlocks_after_a_lost_commit_answer_leave_the_outcome_unknown(
    admin_db: Database,
) -> None:
    """A rerun that dies of a deadlock (on Galera: a certification conflict, at any statement)
    settled nothing: the caller must not hear a plain error ("nothing was charged")."""
    work = Script(LOST, *[DEADLOCK] * 4, commit_lost_on={1})
    with pytest.raises(PaymentOutcomeUnknown):
        await admin_db.transaction(work, unknown=PaymentOutcomeUnknown)
    assert work.seen[1:] == [(True, True)] * 4


async def test_deadlocks_alone_end_in_the_deadlock_not_an_unknown_outcome(
    admin_db: Database,
) -> None:
    work = Script(*[DEADLOCK] * 5)
    with pytest.raises(pymysql.err.OperationalError) as failed:
        await admin_db.transaction(work, unknown=PaymentOutcomeUnknown)
    assert failed.value.args[0] == 1213
    assert len(work.seen) == 5


async def test_a_deadlock_at_commit_was_refused_so_the_rerun_is_not_told_it_may_have_committed(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Galera refuses a COMMIT that lost certification with 1213: the transaction was rolled
    back, nothing is unknown, and the work runs again."""
    seen: list[tuple[bool, bool, bool]] = []

    async def work(uow: UnitOfWork) -> str:
        seen.append((uow.rerun, uow.earlier_commit_lost, uow.commit_lost))
        if len(seen) == 1:

            async def certification_failed() -> None:
                raise DEADLOCK

            monkeypatch.setattr(uow.connection, "commit", certification_failed)
            try:
                await uow.commit()
            finally:
                assert not uow.commit_lost
                monkeypatch.undo()
        await uow.commit()
        return "done"

    assert await admin_db.transaction(work) == "done"
    assert seen == [(False, False, False), (True, False, False)]


async def test_a_trigger_load_cut_short_by_a_galera_conflict_is_run_again(
    admin_db: Database,
) -> None:
    work = Script(TRIGGER_LOAD_ABORTED, TRIGGER_LOAD_ABORTED)
    assert await admin_db.transaction(work) == "done"
    assert work.seen == [(False, False), (True, False), (True, False)]


async def test_a_plain_syntax_error_is_not_run_again(admin_db: Database) -> None:
    work = Script(SYNTAX)
    with pytest.raises(pymysql.err.ProgrammingError):
        await admin_db.transaction(work)
    assert len(work.seen) == 1


@pytest.fixture
def one_connection_account(test_database: TestDatabase) -> Iterator[DatabaseUrl]:
    """An account of its own the server lets hold one connection at a time."""
    url = DatabaseUrl(
        f"ebbt_{secrets.token_hex(4)}_1",
        secrets.token_urlsafe(12),
        test_database.admin.host,
        test_database.admin.port,
        test_database.admin.database,
    )
    root = raw_connection(test_database.root, database="")
    with root.cursor() as cur:
        cur.execute("SELECT SUBSTRING_INDEX(USER(), '@', -1)")
        host = str(cur.fetchone()[0])  # type: ignore[index]
    try:
        with root.cursor() as cur:
            cur.execute(
                "CREATE USER %s@%s IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS 1",
                (url.user, host, url.password),
            )
            cur.execute(f"GRANT SELECT ON `{url.database}`.* TO %s@%s", (url.user, host))
        yield url
    finally:
        with root.cursor() as cur:
            cur.execute("DROP USER IF EXISTS %s@%s", (url.user, host))
        root.close()


@pytest.fixture
async def pool_of_one_allowed(one_connection_account: DatabaseUrl) -> AsyncIterator[Database]:
    """A pool that may open two connections of an account the server allows one."""
    pool = await Database.connect(one_connection_account, minsize=0, maxsize=2)
    try:
        yield pool
    finally:
        await pool.close()


async def select_one(uow: UnitOfWork) -> int:
    async with uow.connection.cursor() as cur:
        await cur.execute("SELECT 1")
        (one,) = await cur.fetchone()
    return int(one)


async def test_a_server_full_of_connections_is_waited_for_not_reported_as_a_fault(
    pool_of_one_allowed: Database,
) -> None:
    """The pool's only connection is busy for 0.3 s, and the server refuses it a second: the
    transaction runs again until the first is free (before, the refusal reached the user as
    "something went wrong"). So do several instances' pools on a server sized for fewer."""
    holding = asyncio.Event()

    async def hold_the_only_connection() -> None:
        async with pool_of_one_allowed.unit_of_work():
            holding.set()
            await asyncio.sleep(0.3)

    other = asyncio.create_task(hold_the_only_connection())
    await holding.wait()
    assert await pool_of_one_allowed.transaction(select_one) == 1
    await other


async def test_a_server_that_stays_full_is_unavailable_and_nothing_is_unknown(
    pool_of_one_allowed: Database,
) -> None:
    async with pool_of_one_allowed.unit_of_work():
        with pytest.raises(DatabaseUnavailable) as failed:
            await pool_of_one_allowed.transaction(select_one)
    assert not isinstance(failed.value, CommitOutcomeUnknown)
    assert isinstance(failed.value.__cause__, pymysql.err.OperationalError)
    assert failed.value.__cause__.args[0] == 1226
