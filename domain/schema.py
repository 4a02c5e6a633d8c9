"""The billing database itself: creating it, its two accounts and their grants, migrations.

Runs synchronously (PyMySQL) from the command line; the bot never calls it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pymysql
from yoyo import get_backend, read_migrations

from domain.db import SQL_DIR, DatabaseUrl

MIGRATIONS_DIR = SQL_DIR / "migrations"
GRANTS_FILE = SQL_DIR / "grants.sql"
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# An account's host: a name or address, optionally with the % and _ wildcards of MySQL.
_HOST = re.compile(r"^[A-Za-z0-9_.:%-]{1,255}$")
# Each account's connection limit: the bot's two pools hold 20 each; room for a second
# instance, the command line and a DBA.
DEFAULT_MAX_USER_CONNECTIONS = 100


class SetupError(Exception):
    """Set-up could not be done; the message says what to fix."""


def _identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise SetupError(f"{what} {value!r} may only use letters, digits and _ (max 64).")
    return value


def connect(url: DatabaseUrl, *, database: str | None = None) -> pymysql.connections.Connection:
    """A PyMySQL connection; a failure becomes a one-line :class:`SetupError`."""
    try:
        return pymysql.connect(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
        )
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else None
        if code == 1045:
            raise SetupError(
                f"MySQL refused the password of user {url.user!r} at {url.host}:{url.port}: "
                "check the URL in your .env."
            ) from exc
        if code == 1049:
            raise SetupError(
                f"Database {database!r} does not exist: run `python run_bot.py init-db` first."
            ) from exc
        raise SetupError(
            f"Cannot reach MySQL at {url.host}:{url.port} ({exc.args[-1]}): is it running?"
        ) from exc


@dataclass(frozen=True)
class InitReport:
    created_database: bool
    applied_migrations: list[str]


def _account_host(value: str) -> str:
    if not _HOST.match(value):
        raise SetupError(
            f"DATABASE_ACCOUNT_HOST {value!r} is not a host name, address or MySQL host pattern."
        )
    return value


def _client_host(cur: pymysql.cursors.Cursor) -> str:
    """The host the server sees this connection come from (the bot runs where init-db does)."""
    cur.execute("SELECT SUBSTRING_INDEX(USER(), '@', -1)")
    row = cur.fetchone()
    return str(row[0]) if row and row[0] else "%"


def _hosts_of(cur: pymysql.cursors.Cursor, user: str) -> list[str]:
    cur.execute("SELECT Host FROM mysql.user WHERE User = %s", (user,))
    return [str(host) for (host,) in cur.fetchall()]


def init_db(
    root: DatabaseUrl,
    admin: DatabaseUrl,
    customer: DatabaseUrl,
    *,
    account_host: str | None = None,
    max_user_connections: int = DEFAULT_MAX_USER_CONNECTIONS,
) -> InitReport:
    """Create the database and both accounts, migrate, grant. Safe to run again.

    The accounts are created for ``account_host`` (a MySQL host pattern), by default the host
    the server sees this process connect from, not for any host; an account of the same name
    for another host (an older install's ``'%'``) is dropped. Each account may hold at most
    ``max_user_connections`` connections. Both accounts lose every privilege before the grants
    of sql/grants.sql are given again, so the grants are exactly what that file says.
    """
    if admin.database != customer.database:
        raise SetupError("DATABASE_URL and CUSTOMER_DATABASE_URL must name the same database.")
    db = _identifier(admin.database, "Database name")
    admin_user = _identifier(admin.user, "Admin account name")
    customer_user = _identifier(customer.user, "Customer account name")
    if admin_user == customer_user:
        raise SetupError("The admin and customer accounts must be different MySQL users.")
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", (db,))
            created = cur.fetchone() is None
            cur.execute(
                f"CREATE DATABASE IF NOT EXISTS `{db}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
            host = _account_host(account_host or _client_host(cur))
            quoted = host.replace("%", "%%")  # PyMySQL formats these with %s
            limit = int(max_user_connections)
            for user, password in (
                (admin_user, admin.password),
                (customer_user, customer.password),
            ):
                for other in _hosts_of(cur, user):
                    if other != host:
                        cur.execute(f"DROP USER '{user}'@'{_account_host(other)}'")
                cur.execute(
                    f"CREATE USER IF NOT EXISTS '{user}'@'{quoted}' IDENTIFIED BY %s",
                    (password,),
                )
                cur.execute(
                    f"ALTER USER '{user}'@'{quoted}' IDENTIFIED BY %s "
                    f"WITH MAX_USER_CONNECTIONS {limit}",
                    (password,),
                )
                cur.execute(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{user}'@'{host}'")
            # The admin account runs the migrations, so it needs its grant first.
            cur.execute(f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{admin_user}'@'{host}'")
        applied = migrate(admin)
        with conn.cursor() as cur:
            for statement in _grant_statements(db, admin_user, customer_user, host):
                cur.execute(statement)
    except pymysql.err.MySQLError as exc:
        raise SetupError(f"MySQL refused a set-up step: {exc.args[-1]}") from exc
    finally:
        conn.close()
    return InitReport(created, applied)


def _grant_statements(db: str, admin_user: str, customer_user: str, host: str) -> list[str]:
    text = GRANTS_FILE.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [
        stmt.strip().format(db=db, admin_user=admin_user, customer_user=customer_user, host=host)
        for stmt in body.split(";")
        if stmt.strip()
    ]


def migrate(admin: DatabaseUrl, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations (yoyo records what ran); return the ids applied now."""
    connect(admin, database=admin.database).close()  # one clear line if it cannot connect
    backend = get_backend(admin.to_url())
    try:
        migrations = read_migrations(str(migrations_dir))
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def account_hosts(root: DatabaseUrl, user: str) -> list[str]:
    """The hosts an account of this name exists for."""
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            return _hosts_of(cur, user)
    finally:
        conn.close()


def drop_db(root: DatabaseUrl, admin: DatabaseUrl, customer: DatabaseUrl) -> None:
    """Remove the database and both accounts (used by the tests to clean up)."""
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{_identifier(admin.database, 'Database')}`")
            for user in (admin.user, customer.user):
                for host in _hosts_of(cur, _identifier(user, "User")):
                    cur.execute(f"DROP USER '{user}'@'{_account_host(host)}'")
    finally:
        conn.close()
