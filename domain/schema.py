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
ACCOUNT_HOST = "%"


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


def init_db(root: DatabaseUrl, admin: DatabaseUrl, customer: DatabaseUrl) -> InitReport:
    """Create the database and both accounts, migrate, grant. Safe to run again."""
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
            host = ACCOUNT_HOST.replace("%", "%%")  # PyMySQL formats these with %s
            for user, password in (
                (admin_user, admin.password),
                (customer_user, customer.password),
            ):
                cur.execute(
                    f"CREATE USER IF NOT EXISTS '{user}'@'{host}' IDENTIFIED BY %s",
                    (password,),
                )
                cur.execute(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY %s", (password,))
            # The admin account runs the migrations, so it needs its grant first.
            cur.execute(f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{admin_user}'@'{ACCOUNT_HOST}'")
        applied = migrate(admin)
        with conn.cursor() as cur:
            for statement in _grant_statements(db, admin_user, customer_user):
                cur.execute(statement)
    except pymysql.err.MySQLError as exc:
        raise SetupError(f"MySQL refused a set-up step: {exc.args[-1]}") from exc
    finally:
        conn.close()
    return InitReport(created, applied)


def _grant_statements(db: str, admin_user: str, customer_user: str) -> list[str]:
    text = GRANTS_FILE.read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
    return [
        stmt.strip().format(
            db=db, admin_user=admin_user, customer_user=customer_user, host=ACCOUNT_HOST
        )
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


def drop_db(root: DatabaseUrl, admin: DatabaseUrl, customer: DatabaseUrl) -> None:
    """Remove the database and both accounts (used by the tests to clean up)."""
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{_identifier(admin.database, 'Database')}`")
            for user in (admin.user, customer.user):
                cur.execute(f"DROP USER IF EXISTS '{_identifier(user, 'User')}'@'{ACCOUNT_HOST}'")
    finally:
        conn.close()
