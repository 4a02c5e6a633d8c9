"""``init-db`` is idempotent: running it on a set-up database changes nothing (SPEC §7)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest

from domain import schema
from domain.db import DatabaseUrl
from tests import conftest


@dataclass(frozen=True)
class SchemaState:
    create_tables: dict[str, str]
    grants: dict[str, list[str]]
    migrations: int
    migration_log: int


def _root_connection(root: DatabaseUrl) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=root.host, port=root.port, user=root.user, password=root.password, autocommit=True
    )


def _one(cur: pymysql.cursors.Cursor) -> tuple[Any, ...]:
    row = cur.fetchone()
    assert row is not None
    return tuple(row)


def _state(created: conftest.TestDatabase) -> SchemaState:
    """What init-db decides: every table's definition, both accounts' grants, yoyo's records."""
    db = created.admin.database
    conn = _root_connection(created.root)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW TABLES FROM `{db}`")
            tables = sorted(row[0] for row in cur.fetchall())
            create_tables = {}
            for table in tables:
                cur.execute(f"SHOW CREATE TABLE `{db}`.`{table}`")
                create_tables[table] = _one(cur)[1]
            grants = {}
            for account in (created.admin, created.customer):
                (host,) = schema.account_hosts(created.root, account.user)
                cur.execute(f"SHOW GRANTS FOR '{account.user}'@'{host}'")
                grants[account.user] = sorted(row[0] for row in cur.fetchall())
            cur.execute(f"SELECT COUNT(*) FROM `{db}`.`_yoyo_migration`")
            migrations = int(_one(cur)[0])
            cur.execute(f"SELECT COUNT(*) FROM `{db}`.`_yoyo_log`")
            migration_log = int(_one(cur)[0])
    finally:
        conn.close()
    return SchemaState(create_tables, grants, migrations, migration_log)


@pytest.fixture
def fresh_database() -> Iterator[conftest.TestDatabase]:
    """A database and two accounts of its own, made by init-db, dropped afterwards."""
    created = conftest.make_test_database()
    try:
        yield created
    finally:
        schema.drop_db(created.root, created.admin, created.customer)


def test_running_init_db_a_second_time_applies_nothing_and_changes_nothing(
    fresh_database: conftest.TestDatabase,
) -> None:
    """Same tables, same grants, same yoyo records; the second run reports no new work."""
    before = _state(fresh_database)
    assert {"customers", "bills", "payments", "admins", "audit_log"} <= set(before.create_tables)
    migration_files = sorted(schema.MIGRATIONS_DIR.glob("*.sql"))
    assert before.migrations == len(migration_files) > 0

    report = schema.init_db(fresh_database.root, fresh_database.admin, fresh_database.customer)

    assert report.applied_migrations == []
    assert report.created_database is False
    after = _state(fresh_database)
    assert after.create_tables == before.create_tables
    assert after.grants == before.grants
    assert after.migrations == before.migrations
    assert after.migration_log == before.migration_log


def test_the_accounts_keep_working_after_a_second_init_db(
    fresh_database: conftest.TestDatabase,
) -> None:
    """Re-running init-db does not lock out either account (same passwords, same access)."""
    schema.init_db(fresh_database.root, fresh_database.admin, fresh_database.customer)
    for account, table in ((fresh_database.admin, "admins"), (fresh_database.customer, "bills")):
        conn = pymysql.connect(
            host=account.host,
            port=account.port,
            user=account.user,
            password=account.password,
            database=account.database,
        )
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                assert cur.fetchone() == (0,)
        finally:
            conn.close()


def test_a_first_init_db_reports_the_database_it_created_and_every_migration() -> None:
    """On a new database name, init-db says it created it and lists each migration it ran."""
    tag = secrets.token_hex(4)
    root = conftest.ROOT_URL
    name = f"ebb_test_{tag}"
    admin = DatabaseUrl(f"ebbt_{tag}_a", secrets.token_urlsafe(12), root.host, root.port, name)
    customer = DatabaseUrl(f"ebbt_{tag}_c", secrets.token_urlsafe(12), root.host, root.port, name)
    try:
        report = schema.init_db(root, admin, customer)
        assert report.created_database is True
        assert report.applied_migrations == [
            path.stem for path in sorted(schema.MIGRATIONS_DIR.glob("*.sql"))
        ]
    finally:
        schema.drop_db(root, admin, customer)


def test_the_accounts_are_made_for_this_host_only_with_a_connection_limit(
    fresh_database: conftest.TestDatabase,
) -> None:
    """Both accounts exist for the host the server sees init-db (and so the bot) connect
    from, not for any host ('%'), and each may hold at most the configured connections."""
    conn = _root_connection(fresh_database.root)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT SUBSTRING_INDEX(USER(), '@', -1)")
            (here,) = _one(cur)
            for account in (fresh_database.admin, fresh_database.customer):
                cur.execute(
                    "SELECT Host, max_user_connections FROM mysql.user WHERE User = %s",
                    (account.user,),
                )
                assert cur.fetchall() == ((here, schema.DEFAULT_MAX_USER_CONNECTIONS),), (
                    account.user
                )
    finally:
        conn.close()
    assert here != "%"


def test_init_db_takes_back_what_an_older_install_granted(
    fresh_database: conftest.TestDatabase,
) -> None:
    """An install made before issue 17 (accounts for any host; the customer account allowed to
    write the report totals) is brought to today's grants by running init-db again: the '%'
    accounts are gone and the customer account holds nothing on the totals."""
    db, customer = fresh_database.admin.database, fresh_database.customer
    conn = _root_connection(fresh_database.root)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE USER '{customer.user}'@'%%' IDENTIFIED BY %s", (customer.password,)
            )
            (host,) = [
                h for h in schema.account_hosts(fresh_database.root, customer.user) if h != "%"
            ]
            for table in ("payment_totals", "bill_totals", "customer_balances"):
                cur.execute(
                    f"GRANT INSERT, UPDATE ON `{db}`.{table} TO '{customer.user}'@'{host}'"
                )
    finally:
        conn.close()

    schema.init_db(fresh_database.root, fresh_database.admin, fresh_database.customer)

    assert schema.account_hosts(fresh_database.root, customer.user) == [host]
    grants = "\n".join(_state(fresh_database).grants[customer.user])
    assert "_totals" not in grants and "customer_balances" not in grants
    assert "INSERT (" in grants  # payments: named columns only
