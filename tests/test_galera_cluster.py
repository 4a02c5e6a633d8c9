"""Payments on a real three-node MariaDB Galera cluster (issue 16), written through two nodes
at once: the multi-primary case, where a row lock is local to a node and a conflict with a
transaction committed through another node surfaces as deadlock 1213 — at COMMIT, when the
write-set fails certification. Every payment must still be recorded exactly once, on every
node, and the kept totals must match a recount everywhere.

The module starts its own cluster with ``scripts/cluster.sh`` on its own ports and directory
(beside the MariaDB on 3306 and beside a cluster on the default ports), and takes it down at
the end whatever happened. It needs root (the nodes run as user ``mysql``) and the packages
``galera-4`` and ``haproxy``; a cluster that cannot start fails the module, it is not skipped.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pymysql
import pytest

from benchmarks.harness import RetryLog, cluster_command, counting_retries
from domain import payments, report_totals
from domain.db import TRIGGER_LOAD_ABORTED, Database, DatabaseUrl, UnitOfWork, error_code
from domain.errors import AmountExceedsBalance, BillAlreadyPaid, DomainError
from domain.models import Bill, Customer, PaymentMethod
from tests.factories import give_credit, make_bill, make_clerk, make_customer

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_SCRIPT = ROOT / "scripts" / "cluster.sh"
# Its own base port and directory: SQL on 4441-4443, HAProxy on 4440, Galera on 4707-4729.
BASE_PORT = 4440
CLUSTER_DIR = str(Path(tempfile.gettempdir()) / "ebb-cluster-galera-test")
NODES = (1, 2, 3)

BILLS = 8  # each of 123.45: twelve payments of 10.00 fit, the thirteenth does not
CREDIT = Decimal("500.00")  # each customer's credit: the bill is the limit, never the credit
PAYMENT = Decimal("10.00")
CREDIT_PAYMENTS = 16  # per bill, by the customer, alternating between nodes 1 and 2
OFFICE_PAYMENTS = 4  # per bill, by a clerk, alternating between nodes 1 and 2
DOUBLE_CONFIRMS = 2  # per bill: one key sent through node 1 and node 2 at the same moment


def run_cluster(command: str) -> subprocess.CompletedProcess[str]:
    return cluster_command(command, port=BASE_PORT, directory=CLUSTER_DIR)


@dataclass(frozen=True)
class Cluster:
    admin: DatabaseUrl  # through HAProxy, as the bot would be configured
    customer: DatabaseUrl

    @staticmethod
    def node_root(node: int) -> DatabaseUrl:
        return DatabaseUrl("root", "", "127.0.0.1", BASE_PORT + node)

    def on_node(self, url: DatabaseUrl, node: int) -> DatabaseUrl:
        """``url``'s account connected straight to ``node``, past HAProxy."""
        return DatabaseUrl(url.user, url.password, url.host, BASE_PORT + node, url.database)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    run_cluster("down")  # what an interrupted run of this module may have left
    try:
        up = run_cluster("up")
        if up.returncode != 0:
            pytest.fail(f"the Galera cluster did not start:\n{up.stdout}\n{up.stderr}")
        tag = secrets.token_hex(4)
        database = f"ebb_galera_{tag}"
        admin = DatabaseUrl(
            f"ebbg_{tag}_a", secrets.token_urlsafe(12), "127.0.0.1", BASE_PORT, database
        )
        customer = DatabaseUrl(
            f"ebbg_{tag}_c", secrets.token_urlsafe(12), "127.0.0.1", BASE_PORT, database
        )
        env = {
            **os.environ,
            "DATABASE_ROOT_URL": f"mysql://root@127.0.0.1:{BASE_PORT}",
            "DATABASE_URL": admin.to_url(),
            "CUSTOMER_DATABASE_URL": customer.to_url(),
        }
        init = subprocess.run(  # noqa: S603 - the project's own command line
            [sys.executable, str(ROOT / "run_bot.py"), "init-db"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert init.returncode == 0, init.stdout + init.stderr
        yield Cluster(admin, customer)
    finally:
        down = run_cluster("down")
        assert down.returncode == 0, down.stdout + down.stderr


@dataclass(frozen=True)
class NodePools:
    admin: dict[int, Database]
    customer: dict[int, Database]


@pytest.fixture(scope="module")
async def node_pools(cluster: Cluster) -> AsyncIterator[NodePools]:
    opened: list[Database] = []
    admin: dict[int, Database] = {}
    customer: dict[int, Database] = {}
    try:
        for node in NODES:
            admin[node] = await Database.connect(cluster.on_node(cluster.admin, node), maxsize=30)
            opened.append(admin[node])
            customer[node] = await Database.connect(
                cluster.on_node(cluster.customer, node), maxsize=30
            )
            opened.append(customer[node])
        yield NodePools(admin, customer)
    finally:
        for db in opened:
            await db.close()


def node_query(
    node: int, database: str, sql: str, args: tuple[object, ...] = ()
) -> list[tuple[object, ...]]:
    """Rows read as root on ``node`` after it applied every write-set the cluster committed
    before the read (``wsrep_sync_wait``: a read on one node of what another just wrote)."""
    url = Cluster.node_root(node)
    conn = pymysql.connect(
        host=url.host, port=url.port, user=url.user, database=database, autocommit=True
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION wsrep_sync_wait = 1")
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def conflicts_counted(database: str) -> dict[str, int]:
    """Galera's own counters, summed over the nodes: write-sets of this node that failed
    certification (1213 at COMMIT) and local transactions aborted by a replicated one."""
    totals: Counter[str] = Counter()
    for node in NODES:
        for name, value in node_query(
            node,
            database,
            "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
            "WHERE VARIABLE_NAME IN ('WSREP_LOCAL_CERT_FAILURES', 'WSREP_LOCAL_BF_ABORTS')",
        ):
            totals[str(name).lower()] += int(str(value))
    return dict(totals)


@pytest.fixture
def failed_commits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int | None, bool]]:
    """Each COMMIT that raised, as (its error code, whether it was taken as lost)."""
    seen: list[tuple[int | None, bool]] = []
    commit = UnitOfWork.commit

    async def recorded(self: UnitOfWork, statements: Sequence[Any] = ()) -> int:
        try:
            return await commit(self, statements)
        except BaseException as exc:
            seen.append((error_code(exc), self.commit_lost))
            raise

    monkeypatch.setattr(UnitOfWork, "commit", recorded)
    return seen


@pytest.fixture
def retries() -> Iterator[RetryLog]:
    with counting_retries() as log:
        yield log


async def bills_with_credit(db: Database, count: int) -> list[tuple[Customer, Bill]]:
    """``count`` customers, each with a bill of 123.45 and ``CREDIT`` of account credit."""
    owners: list[tuple[Customer, Bill]] = []
    for _ in range(count):
        customer = await make_customer(db)
        bill = await make_bill(db, customer, units="100", rate="1.2345")
        await give_credit(db, bill, CREDIT)
        owners.append((customer, bill))
    assert all(bill.total_amount == Decimal("123.45") for _, bill in owners)
    return owners


async def pay_once(
    db: Database,
    bill: Bill,
    key: str,
    *,
    customer: Customer | None = None,
    admin_id: int | None = None,
) -> object:
    """A payment of ``PAYMENT``, from credit by ``customer`` or in cash by the clerk
    ``admin_id``: its result, or what refused it."""
    try:
        return await payments.pay_bill(
            db,
            bill_id=bill.bill_id,
            amount=PAYMENT,
            method=PaymentMethod.CASH if customer is None else PaymentMethod.CREDIT,
            idempotency_key=key,
            customer_id=None if customer is None else customer.customer_id,
            admin_id=admin_id,
        )
    except (DomainError, pymysql.err.MySQLError) as exc:
        return exc


async def test_cluster_is_three_synced_nodes_and_ids_step_by_the_node_count(
    cluster: Cluster,
) -> None:
    for node in NODES:
        ((size, state, step),) = node_query(
            node,
            cluster.admin.database,
            "SELECT (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
            "        WHERE VARIABLE_NAME = 'WSREP_CLUSTER_SIZE'), "
            "       (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
            "        WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT'), "
            "       @@auto_increment_increment",
        )
        assert (size, state, step) == ("3", "Synced", 3)


async def test_payments_of_the_same_bills_through_two_nodes_at_once_are_each_recorded_once(
    cluster: Cluster,
    node_pools: NodePools,
    retries: RetryLog,
    failed_commits: list[tuple[int | None, bool]],
) -> None:
    database = cluster.admin.database
    setup = node_pools.admin[1]
    clerk = await make_clerk(setup)
    owners = await bills_with_credit(setup, BILLS)
    before = conflicts_counted(database)

    async def pay(node: int, customer: Customer, bill: Bill, key: str, office: bool) -> object:
        if office:
            return await pay_once(node_pools.admin[node], bill, key, admin_id=clerk.admin_id)
        return await pay_once(node_pools.customer[node], bill, key, customer=customer)

    attempts: list[tuple[str, int]] = []  # (idempotency key, node), in the order sent
    calls = []
    for customer, bill in owners:
        b = bill.bill_id
        for i in range(CREDIT_PAYMENTS):
            node = 1 + i % 2
            attempts.append((f"b{b}-credit-{i}", node))
            calls.append(pay(node, customer, bill, f"b{b}-credit-{i}", office=False))
        for i in range(OFFICE_PAYMENTS):
            node = 1 + i % 2
            attempts.append((f"b{b}-office-{i}", node))
            calls.append(pay(node, customer, bill, f"b{b}-office-{i}", office=True))
        for i in range(DOUBLE_CONFIRMS):
            for node in (1, 2):  # the same confirm delivered to instances on two nodes
                attempts.append((f"b{b}-twice-{i}", node))
                calls.append(pay(node, customer, bill, f"b{b}-twice-{i}", office=False))
    assert len(calls) >= 150
    results = await asyncio.gather(*calls)

    answered: dict[str, set[int]] = {}  # key → the payment ids its answers named
    refused: Counter[str] = Counter()
    for (key, _), result in zip(attempts, results, strict=True):
        if isinstance(result, payments.PaymentResult):
            answered.setdefault(key, set()).add(result.payment.payment_id)
        elif isinstance(result, AmountExceedsBalance | BillAlreadyPaid):
            refused[type(result).__name__] += 1
        else:  # refused by the cluster on all five attempts is the only other honest answer:
            # a deadlock, or the node's abort while it loads a trigger (TRIGGER_LOAD_ABORTED,
            # a 1064 that names a trigger), both retried by the policy and both writing nothing
            assert isinstance(result, pymysql.err.MySQLError), repr(result)
            aborted = error_code(result) == TRIGGER_LOAD_ABORTED[0] and (
                TRIGGER_LOAD_ABORTED[1] in str(result)
            )
            assert error_code(result) == 1213 or aborted, repr(result)
            refused["refused five times"] += 1
    # Both deliveries of one confirm that succeeded name the same payment.
    assert all(len(ids) == 1 for ids in answered.values()), answered
    acknowledged = {key: next(iter(ids)) for key, ids in answered.items()}
    assert len(acknowledged) >= BILLS * 10, (len(acknowledged), refused)

    # Conflicts really happened, and the retry policy ran the work again after them.
    after = conflicts_counted(database)
    certification_failures = after.get("wsrep_local_cert_failures", 0) - before.get(
        "wsrep_local_cert_failures", 0
    )
    brute_force_aborts = after.get("wsrep_local_bf_aborts", 0) - before.get(
        "wsrep_local_bf_aborts", 0
    )
    summary = (
        f"retried after {dict(retries.codes)}; certification failures {certification_failures}, "
        f"brute-force aborts {brute_force_aborts}; refused {dict(refused)}; "
        f"acknowledged {len(acknowledged)}"
    )
    print(summary)  # pytest -s shows what the run met
    # Write-sets that failed certification: 1213 raised by the COMMIT itself.
    assert certification_failures > 0, summary
    assert retries.codes[1213] > 0, summary
    # A COMMIT refused with 1213 was refused, not lost: no "outcome unknown" for it.
    assert (1213, False) in failed_commits, failed_commits
    assert all(not lost for _, lost in failed_commits), failed_commits

    bill_ids = tuple(bill.bill_id for _, bill in owners)
    marks = ", ".join(["%s"] * len(bill_ids))
    for node in NODES:
        rows = node_query(
            node,
            database,
            f"SELECT payment_id, idempotency_key, amount_paid FROM payments "
            f"WHERE bill_id IN ({marks})",
            bill_ids,
        )
        # Every acknowledged payment is there once, under its key; nothing else is.
        assert {str(key): int(str(pid)) for pid, key, _ in rows} == acknowledged
        assert len(rows) == len(acknowledged)
        for _, bill in owners:
            ((total, paid, recount, credit, spent),) = node_query(
                node,
                database,
                "SELECT b.total_amount, b.amount_paid, "
                "  (SELECT COALESCE(SUM(p.amount_paid), 0) FROM payments p "
                "   WHERE p.bill_id = b.bill_id AND p.voided_at IS NULL), "
                "  c.credit, "
                "  (SELECT COALESCE(SUM(p.amount_paid), 0) FROM payments p "
                "   WHERE p.bill_id = b.bill_id AND p.payment_method = 'credit') "
                "FROM bills b JOIN customers c ON c.customer_id = b.customer_id "
                "WHERE b.bill_id = %s",
                (bill.bill_id,),
            )
            # Never overpaid, nothing lost or doubled.
            assert Decimal(str(paid)) == Decimal(str(recount)) <= Decimal(str(total))
            assert credit == CREDIT - Decimal(str(spent))
        # The kept report totals match a recount of the bills and payments on this node
        # (it applied everything above before the first read: wsrep_sync_wait).
        assert await report_totals.differences(node_pools.admin[node]) == []


async def test_through_haproxy_two_instances_pay_on_one_writer_without_conflicts(
    cluster: Cluster, node_pools: NodePools, retries: RetryLog
) -> None:
    """The chosen topology (docs/scaling.md): every connection of every instance goes to the
    one writer HAProxy picks, so the same contended payments meet no certification at all."""
    database = cluster.admin.database
    setup = node_pools.admin[1]
    owners = await bills_with_credit(setup, 4)
    instances = [await Database.connect(cluster.customer, maxsize=20) for _ in range(2)]
    try:
        for db in instances:
            async with db.unit_of_work() as uow, uow.connection.cursor() as cur:
                await cur.execute("SELECT @@wsrep_node_name")
                assert await cur.fetchone() == ("node1",)
        before = conflicts_counted(database)
        results = await asyncio.gather(
            *(
                pay_once(instances[i % 2], bill, f"haproxy-{bill.bill_id}-{i}", customer=customer)
                for customer, bill in owners
                for i in range(20)
            )
        )
        after = conflicts_counted(database)
    finally:
        for db in instances:
            await db.close()
    paid = [r for r in results if isinstance(r, payments.PaymentResult)]
    assert len(paid) == 12 * len(owners)  # every bill paid up to what fits, nothing failed
    assert all(
        isinstance(r, AmountExceedsBalance | BillAlreadyPaid | payments.PaymentResult)
        for r in results
    )
    assert after == before  # no certification failure, no brute-force abort
    assert retries.codes[1213] == 0


async def test_payments_of_distinct_bills_through_three_nodes_meet_no_conflict(
    cluster: Cluster, node_pools: NodePools, retries: RetryLog
) -> None:
    """Nothing shared between payments of different bills: the report totals' shard rows are
    kept apart per node (migration 0026; before it, connection ids numbered per node sent
    connections on two nodes to the same rows, and they failed certification)."""
    database = cluster.admin.database
    owners = await bills_with_credit(node_pools.admin[1], 18)
    before = conflicts_counted(database)

    async def payer(index: int, customer: Customer, bill: Bill) -> list[object]:
        db = node_pools.customer[1 + index % 3]
        return [
            await pay_once(db, bill, f"own-{bill.bill_id}-{n}", customer=customer)
            for n in range(8)
        ]

    results = await asyncio.gather(
        *(payer(index, customer, bill) for index, (customer, bill) in enumerate(owners))
    )
    after = conflicts_counted(database)
    failed = [r for rs in results for r in rs if not isinstance(r, payments.PaymentResult)]
    assert not failed, failed
    assert after == before  # no certification failure, no brute-force abort
    assert retries.codes[1213] == 0


def writer_through_haproxy(cluster: Cluster) -> str:
    """The node a new connection through HAProxy lands on."""
    conn = pymysql.connect(
        host=cluster.admin.host,
        port=cluster.admin.port,
        user=cluster.admin.user,
        password=cluster.admin.password,
        database=cluster.admin.database,
        connect_timeout=2,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@wsrep_node_name")
            return str(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def until_writer_is(cluster: Cluster, node: str, seconds: float = 15.0) -> str:
    """The writer once it is ``node``, or the last one seen when ``seconds`` ran out."""
    deadline = time.monotonic() + seconds
    seen = writer_through_haproxy(cluster)
    while seen != node and time.monotonic() < deadline:
        time.sleep(0.25)
        seen = writer_through_haproxy(cluster)
    return seen


def test_haproxy_sends_nothing_to_a_node_that_is_not_synced(cluster: Cluster) -> None:
    """A node that is not Synced (here desynced by hand; a joiner or a donor is not Synced
    either) still accepts logins, so a login check kept it the writer; the Synced check
    (scripts/galera_synced_check.sh) hands the writes to the next node until it is Synced."""
    database = cluster.admin.database
    assert writer_through_haproxy(cluster) == "node1"
    node_query(1, database, "SET GLOBAL wsrep_desync = ON")
    try:
        ((_, state),) = node_query(1, database, "SHOW STATUS LIKE 'wsrep_local_state_comment'")
        assert state != "Synced"
        assert until_writer_is(cluster, "node2") == "node2"
    finally:
        node_query(1, database, "SET GLOBAL wsrep_desync = OFF")
    assert until_writer_is(cluster, "node1") == "node1"
