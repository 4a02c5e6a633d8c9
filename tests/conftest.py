"""Fixtures: a throw-away billing database with its own two accounts, and pools on it.

Each test run creates ``ebb_test_<random>`` with fresh accounts through ``init-db``'s own code
and drops them at the end. Tests that use the database get empty tables. A MariaDB that
cannot be reached is an error, never a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pymysql
import pytest

from domain import schema
from domain.db import Database, DatabaseUrl

ROOT_URL = DatabaseUrl.parse(
    os.environ.get("TEST_DATABASE_ROOT_URL", "mysql://root@127.0.0.1:3306")
)
TABLES_CHILD_FIRST = (
    "legacy_ids",
    "processed_updates",
    "job_runs",
    "bill_runs",
    "payment_claims",
    "bill_totals",
    "payment_totals",
    "customer_balances",
    "audit_log",
    "credit_entries",
    "provider_refunds",
    "provider_charges",
    "payment_receipts",
    "payments",
    "invoices",
    "activation_codes",
    "login_throttle",
    "chat_states",
    "late_fee_charges",
    "late_fee_runs",
    "bill_lines",  # newest first: a waiver names the late fee before it
    "bills",
    "meter_readings",
    "customers",
    "tariff_bands",
    "tariff_versions",
    "tariffs",
    "admins",
)


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # not a test class, whatever its name says

    root: DatabaseUrl
    admin: DatabaseUrl
    customer: DatabaseUrl


def make_test_database() -> TestDatabase:
    """Create a fresh database and two accounts through the same code as ``init-db``."""
    tag = secrets.token_hex(4)
    name = f"ebb_test_{tag}"
    admin = DatabaseUrl(
        f"ebbt_{tag}_a", secrets.token_urlsafe(12), ROOT_URL.host, ROOT_URL.port, name
    )
    customer = DatabaseUrl(
        f"ebbt_{tag}_c", secrets.token_urlsafe(12), ROOT_URL.host, ROOT_URL.port, name
    )
    schema.init_db(ROOT_URL, admin, customer)
    return TestDatabase(ROOT_URL, admin, customer)


@pytest.fixture(scope="session")
def test_database() -> Iterator[TestDatabase]:
    created = make_test_database()
    try:
        yield created
    finally:
        schema.drop_db(created.root, created.admin, created.customer)


@dataclass(frozen=True)
class Pools:
    admin: Database
    customer: Database


@pytest.fixture(scope="session")
async def pools(test_database: TestDatabase) -> AsyncIterator[Pools]:
    admin = await Database.connect(test_database.admin, maxsize=40, local_infile=True)
    customer = await Database.connect(test_database.customer, maxsize=40)
    try:
        yield Pools(admin, customer)
    finally:
        await admin.close()
        await customer.close()


async def empty_tables(db: Database) -> None:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            for table in TABLES_CHILD_FIRST:
                order = " ORDER BY line_id DESC" if table == "bill_lines" else ""
                await cur.execute(f"DELETE FROM {table}{order}")
        await uow.commit()


@pytest.fixture
async def admin_db(pools: Pools) -> Database:
    """The admin account's pool over empty tables."""
    await empty_tables(pools.admin)
    return pools.admin


@pytest.fixture
async def customer_db(pools: Pools, admin_db: Database) -> Database:
    """The customer account's pool over empty tables."""
    return pools.customer


def raw_connection(
    url: DatabaseUrl, database: str | None = None
) -> pymysql.connections.Connection:
    """A plain PyMySQL connection as ``url``'s account, outside the domain layer."""
    return pymysql.connect(
        host=url.host,
        port=url.port,
        user=url.user,
        password=url.password,
        database=url.database if database is None else database,
        autocommit=True,
        charset="utf8mb4",
    )


@pytest.fixture
def customer_conn(test_database: TestDatabase) -> Iterator[pymysql.connections.Connection]:
    """A raw connection as the customer account, outside the domain layer."""
    conn = raw_connection(test_database.customer)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def admin_conn(test_database: TestDatabase) -> Iterator[pymysql.connections.Connection]:
    """A raw connection as the admin account, outside the domain layer."""
    conn = raw_connection(test_database.admin)
    try:
        yield conn
    finally:
        conn.close()
