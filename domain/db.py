"""Connection pools, the unit of work, named SQL queries and transaction retries.

Every query the application runs lives in ``sql/queries/*.sql`` under a ``-- name:`` header,
with ``:named`` parameters; :func:`query` returns it in PyMySQL's ``%(name)s`` format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import aiomysql
import pymysql

from domain.errors import CommitOutcomeUnknown, DatabaseUnavailable

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

# The one retry policy of a transaction (Database.transaction), money or not. Its work is run
# again, up to five times in all, after:
# - a deadlock, a changed snapshot or a lock wait that timed out: nothing was written. On a
#   Galera cluster a conflict with a transaction committed through another node is a deadlock
#   too, raised by any statement including the COMMIT (docs/scaling.md): the server refused
#   that COMMIT, so it is not a lost one;
RETRYABLE_TRANSACTION_ERRORS = {1213, 1020, 1205}  # deadlock, record changed, lock wait timeout
# - on a Galera node, the same conflict met while the server was loading a table's triggers:
#   MariaDB 10.11 with galera-4 26.4 then answers "Trigger '…' has an error in its body"
#   (1064) instead of 1213 (tests/test_galera_cluster.py sees it when two nodes take payments
#   of the same bills); the statement was refused, so nothing was written. A trigger that
#   really were broken fails every attempt alike, and its error is what the caller hears;
TRIGGER_LOAD_ABORTED = (1064, "has an error in its body")
# - a duplicate (1062) on one of these unique keys: a concurrent run of the same request (a
#   Confirm pressed twice, a charge delivered twice) committed first, or a random receipt
#   number collided; the rerun (UnitOfWork.rerun) looks first for what the winner wrote;
RACE_KEYS = (
    "uq_payments_idempotency_key",
    "uq_payments_receipt_number",
    "uq_payments_telegram_charge",
    "uq_provider_charges_telegram",
)
# - a lost connection. When every attempt failed the caller hears DatabaseUnavailable, or
#   CommitOutcomeUnknown when a COMMIT was sent and its answer lost and no later attempt
#   settled what became of it;
# - a server that refused a new connection because it is full: its max_connections (1040),
#   the account's MAX_USER_CONNECTIONS (1226) or the global max_user_connections (1203), as
#   when more instances' pools share a server than it was sized for. Nothing ran; by the next
#   attempt a busy connection of the pool may be free. When every attempt met it the caller
#   hears DatabaseUnavailable too.
TRANSACTION_ATTEMPTS = 5
# Errors that mean the connection is gone (server restarted, network cut, KILL).
CONNECTION_LOST_ERRORS = {2003, 2006, 2013, 2014, 2055, 1927, 4031}
SERVER_FULL_ERRORS = {1040, 1203, 1226}  # too many connections; a per-user limit reached

Row = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class DatabaseUrl:
    """``mysql://user:password@host:port/database`` taken apart."""

    user: str
    password: str = ""
    host: str = "127.0.0.1"
    port: int = 3306
    database: str = ""

    @classmethod
    def parse(cls, url: str) -> DatabaseUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
            raise ValueError(f"expected a mysql:// URL, got scheme {parts.scheme!r}")
        if not parts.username:
            raise ValueError("the URL names no user (mysql://user:password@host:port/db)")
        return cls(
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            database=unquote(parts.path.lstrip("/")),
        )

    def with_database(self, database: str) -> DatabaseUrl:
        return DatabaseUrl(self.user, self.password, self.host, self.port, database)

    def to_url(self) -> str:
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"mysql://{auth}@{self.host}:{self.port}/{quote(self.database, safe='')}"

    def __repr__(self) -> str:  # never show the password
        return (
            f"DatabaseUrl(user={self.user!r}, host={self.host!r}, port={self.port}, "
            f"database={self.database!r})"
        )

    __str__ = __repr__


# ---------------------------------------------------------------------------------------------
# Named queries


_NAME_RE = re.compile(r"^--\s*name:\s*(\w+)\s*$")
_PARAM_RE = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def _load_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if name is not None:
            body = "\n".join(lines).strip().rstrip(";")
            # PyMySQL formats with %, so literal percent signs are doubled first.
            queries[name] = _PARAM_RE.sub(r"%(\1)s", body.replace("%", "%%"))

    for raw in path.read_text(encoding="utf-8").splitlines():
        match = _NAME_RE.match(raw.strip())
        if match:
            flush()
            name, lines = match.group(1), []
        elif raw.strip().startswith("--"):
            continue  # the query's one-line description
        else:
            lines.append(raw)
    flush()
    return queries


@cache
def _all_queries() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted((SQL_DIR / "queries").glob("*.sql")):
        for name, sql in _load_queries(path).items():
            if name in queries:
                raise RuntimeError(f"query {name} is defined twice ({path.name})")
            queries[name] = sql
    return queries


def query(name: str) -> str:
    """Return the SQL of the named query, ready for PyMySQL's ``%(name)s`` parameters."""
    return _all_queries()[name]


_PLACEHOLDER_RE = re.compile(r"(?<!%)%\((\w+)\)s")


@cache
def _batch_sql(names: tuple[str, ...]) -> str:
    """Named statements joined by ``;``, the i-th one's parameters renamed ``s<i>_<name>``."""

    def renamed(index: int, sql: str) -> str:
        return _PLACEHOLDER_RE.sub(lambda m: f"%(s{index}_{m.group(1)})s", sql)

    return ";\n".join(renamed(index, query(name)) for index, name in enumerate(names))


def _batch(statements: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """Named statements as one text for one round trip, with their parameters renamed apart."""
    params: dict[str, Any] = {}
    for index, (_, values) in enumerate(statements):
        params.update({f"s{index}_{key}": value for key, value in values.items()})
    return _batch_sql(tuple(name for name, _ in statements)), params


# The longest JSON aggregate a statement may build (fetch_json_in), below max_allowed_packet.
_JSON_AGGREGATE_MAX = 8 * 1024 * 1024


def parsed_json(text: str) -> Any:
    """A JSON value from the server, its numbers with decimals read as Decimals (money)."""
    return json.loads(text, parse_float=Decimal)


class ValuesList(str):
    """The text of a VALUES list made by :func:`values_list` (typed values only)."""


def values_list(rows: Iterable[Sequence[int | Decimal | date]]) -> ValuesList:
    """``(1,'2026-09-01',100.00),(…)`` for a multi-row INSERT of typed values.

    Only integers, finite Decimals and dates are accepted — nothing anyone typed — so there
    is nothing to escape; PyMySQL's escaping of every value is most of the client's time in
    a 100,000-row insert.
    """

    try:
        return ValuesList(
            ",".join(
                "(" + ",".join([_LITERALS[type(value)](value) for value in row]) + ")"
                for row in rows
            )
        )
    except KeyError as exc:  # exact types: a bool (or any other subclass) is refused
        kind = exc.args[0]
        name = getattr(kind, "__name__", repr(kind))
        raise TypeError(f"values_list cannot write a {name}") from None


def _decimal_literal(number: Decimal) -> str:
    if not number.is_finite():
        raise TypeError(f"values_list cannot write {number!r}")
    return format(number, "f")


@lru_cache(maxsize=1024)  # a file's bills share a few dates: each is written once
def _date_literal(day: date) -> str:
    return f"'{day.isoformat()}'"


_LITERALS: dict[type, Callable[[Any], str]] = {
    int: int.__repr__,
    Decimal: _decimal_literal,
    date: _date_literal,
}


# ---------------------------------------------------------------------------------------------
# Pools and units of work


class Database:
    """One aiomysql pool (one database account) with an explicit lifecycle."""

    def __init__(self, pool: aiomysql.Pool, url: DatabaseUrl) -> None:
        self._pool = pool
        self.url = url

    @classmethod
    async def connect(
        cls,
        url: DatabaseUrl,
        *,
        minsize: int = 1,
        maxsize: int = 10,
        pool_recycle: int = 600,
        local_infile: bool = False,
    ) -> Database:
        """A pool of ``url``'s account. ``local_infile`` lets its connections send files the
        application names in LOAD DATA LOCAL (the bulk import's staging table; the admin
        account's pool only: the server may then ask for any file the process can read)."""
        pool = await aiomysql.create_pool(
            host=url.host,
            port=url.port,
            user=url.user,
            password=url.password,
            db=url.database,
            minsize=minsize,
            maxsize=maxsize,
            autocommit=False,
            charset="utf8mb4",
            local_infile=local_infile,
            # Below the server's wait_timeout, so idle connections are replaced, not found dead.
            pool_recycle=pool_recycle,
            # Locking reads decide; plain reads see the latest committed rows (no stale
            # snapshot when a second confirm of the same payment arrives).
            init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        )
        return cls(pool, url)

    @classmethod
    async def connect_when_reachable(
        cls, url: DatabaseUrl, *, within: float, **pool: Any
    ) -> Database:
        """:meth:`connect`, trying again for up to ``within`` seconds while the server cannot
        be reached or is full: an instance started during a failover (HAProxy still sending
        to the node that died) or before the database. A refused password, a missing
        database or anything else is raised at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        pause = 0.25
        while True:
            try:
                return await cls.connect(url, **pool)
            except pymysql.err.OperationalError as exc:
                if not _unavailable(exc) or loop.time() + pause > deadline:
                    raise
                log.warning(
                    "the database at %s:%s cannot be used yet (%s); trying again",
                    url.host,
                    url.port,
                    error_code(exc),
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 4.0)

    @property
    def closed(self) -> bool:
        return bool(self._pool.closed)

    @property
    def max_connections(self) -> int:
        return int(self._pool.maxsize)

    async def close(self) -> None:
        if not self._pool.closed:
            self._pool.close()
            await self._pool.wait_closed()

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._pool)

    async def transaction(
        self,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        attempts: int = TRANSACTION_ATTEMPTS,
        unknown: type[CommitOutcomeUnknown] = CommitOutcomeUnknown,
    ) -> T:
        """Run ``work`` in a unit of work under the one retry policy (``RACE_KEYS`` above).

        ``work`` must commit itself and be safe to repeat: every write it makes is either
        rolled back with the failed attempt or found again through a unique key — a rerun
        (``uow.rerun``) looks first for what an earlier attempt, or the concurrent one that
        won a race on a key, committed. Any attempt that runs to its end (a result or a refusal)
        settles the outcome; when none did and a COMMIT's answer was lost, ``unknown`` is
        raised: the work may have been committed.
        """
        commit_lost = False
        for attempt in range(1, attempts + 1):
            uow = self.unit_of_work()
            uow.rerun, uow.earlier_commit_lost = attempt > 1, commit_lost
            try:
                async with uow:
                    return await work(uow)
            except (
                pymysql.err.MySQLError,
                ConnectionError,
                OSError,
                asyncio.IncompleteReadError,
            ) as exc:
                commit_lost = commit_lost or uow.commit_lost
                pause = _retry_pause(exc, attempt)
                if pause is None or attempt == attempts:
                    # An attempt cut short by a retryable error (a deadlock: on Galera any
                    # certification conflict, at COMMIT too) settled nothing either.
                    if commit_lost and (pause is not None or _lost(exc)):
                        raise unknown() from exc
                    if not _unavailable(exc):
                        raise
                    raise DatabaseUnavailable() from exc
                log.info(
                    "transaction attempt %d failed with %s; retrying", attempt, error_code(exc)
                )
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run read-only ``work``; a lost connection is retried (reads are idempotent)."""
        return await self.transaction(work, attempts=3)

    async def read_batch(
        self, statements: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[list[Row]]:
        """Each named SELECT's rows, all sent in one round trip that also ends the read."""

        async def work(uow: UnitOfWork) -> list[list[Row]]:
            return await uow.fetch_batch(statements, end_read=True)

        return await self.read(work)

    async def fetch_all(self, name: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return (await self.read_batch([(name, params or {})]))[0]

    async def read_json(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        """A named SELECT of one JSON value (one row at most), parsed as
        :meth:`UnitOfWork.fetch_json` does, in one round trip that also ends the read; None
        when there is no row."""
        row = await self.fetch_one(name, params)
        value = next(iter(row.values())) if row else None
        return None if value is None else parsed_json(value)

    async def fetch_one(self, name: str, params: Mapping[str, Any] | None = None) -> Row | None:
        rows = (await self.read_batch([(name, params or {})]))[0]
        return rows[0] if rows else None


class UnitOfWork:
    """A connection inside one transaction; rolls back unless :meth:`commit` was called."""

    def __init__(self, pool: aiomysql.Pool) -> None:
        self._pool = pool
        self._conn: aiomysql.Connection | None = None
        # True right after a COMMIT (or a batched ROLLBACK): no transaction is open.
        self._no_transaction = False
        # Set by Database.transaction: this is not the first run of its work (look first for
        # what an earlier run or a concurrent winner committed), and an earlier run's COMMIT
        # was sent and its answer lost (it may have been committed).
        self.rerun = False
        self.earlier_commit_lost = False
        # A COMMIT sent here got no answer: nobody knows whether it was committed.
        self.commit_lost = False

    async def __aenter__(self) -> UnitOfWork:
        self._conn = await self._pool.acquire()
        self._no_transaction = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            # Right after a COMMIT no transaction is open: a ROLLBACK would be a wasted round
            # trip (a failed statement may leave one open, so only a COMMIT skips it).
            if not conn.closed and not self._no_transaction:
                await conn.rollback()
        except Exception:  # the connection is broken: do not give it back to the pool
            conn.close()
        finally:
            self._pool.release(conn)

    @property
    def connection(self) -> aiomysql.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside 'async with'")
        self._no_transaction = False  # whatever runs next may open a transaction again
        return self._conn

    async def commit(self, statements: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> int:
        """Commit; ``statements`` first, in the COMMIT's round trip (:meth:`execute_batch`),
        returning the first one's LAST_INSERT_ID(). A COMMIT whose answer was lost (not
        refused by the server) sets :attr:`commit_lost`: nobody knows whether it committed."""
        try:
            if statements:
                return await self.execute_batch(statements, commit=True)
            await self.connection.commit()
        except BaseException as exc:
            self.commit_lost = not refused_by_server(exc)
            raise
        self._no_transaction = True
        return 0

    async def execute(self, name: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a named statement; return the affected row count."""
        async with self.connection.cursor() as cur:
            return int(await cur.execute(query(name), params))

    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run a named ``INSERT … VALUES (…)`` once per row (an ``ON DUPLICATE KEY UPDATE``
        may follow, written with ``VALUES(column)``): aiomysql sends them as multi-row
        INSERTs of up to ~1 MB each. Returns the affected row count."""
        if not rows:
            return 0
        async with self.connection.cursor() as cur:
            return int(await cur.executemany(query(name), rows))

    async def insert(self, name: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a named INSERT; return LAST_INSERT_ID()."""
        async with self.connection.cursor() as cur:
            await cur.execute(query(name), params)
            return int(cur.lastrowid)

    async def execute_batch(
        self, statements: Sequence[tuple[str, Mapping[str, Any]]], *, commit: bool = False
    ) -> int:
        """Run several named statements, in order, in one round trip to the server.

        aiomysql always allows multi-statement text; each statement's parameters are renamed
        apart and still escaped by PyMySQL. The first statement that fails stops the rest
        and its error is raised here. Returns the first statement's LAST_INSERT_ID().

        With ``commit`` a COMMIT follows in the same round trip; it runs only if every
        statement succeeded (a failure stops the rest, and the transaction stays open to be
        rolled back). If the connection is lost before the answer, the caller cannot know
        whether it committed: writers send it as :meth:`commit` (``statements``), which
        remembers that for the transaction's retry policy.
        """
        sql, params = _batch(statements)
        async with self.connection.cursor() as cur:
            await cur.execute(sql + ";\nCOMMIT" if commit else sql, params)
            last_id = int(cur.lastrowid or 0)
        self._no_transaction = commit
        return last_id

    async def fetch_batch(
        self, statements: Sequence[tuple[str, Mapping[str, Any]]], *, end_read: bool = False
    ) -> list[list[Row]]:
        """Each named SELECT's rows, all sent in one round trip.

        With ``end_read`` a ROLLBACK goes in the same round trip and ends the transaction
        (for reads: nothing to undo, one round trip fewer than rolling back afterwards).
        """
        sql, params = _batch(statements)
        results: list[list[Row]] = []
        async with self.connection.cursor(aiomysql.DictCursor) as cur:
            await cur.execute(sql + ";\nROLLBACK" if end_read else sql, params)
            results.append(list(await cur.fetchall()))
            while len(results) < len(statements) and await cur.nextset():
                results.append(list(await cur.fetchall()))
        self._no_transaction = end_read  # after the ROLLBACK no transaction is open
        return results

    async def insert_values(self, name: str, values: ValuesList) -> int:
        """Run a named ``INSERT … VALUES`` followed by ``values`` (made by
        :func:`values_list`); return LAST_INSERT_ID(), the first row's id."""
        if not isinstance(values, ValuesList):
            raise TypeError("insert_values takes a values_list() only")
        async with self.connection.cursor() as cur:
            # No parameters: the statement is sent as it is, not %-formatted.
            await cur.execute(query(name) + "\n" + values)
            return int(cur.lastrowid or 0)

    async def fetch_json_in(self, name: str, key: str, values: Sequence[Any]) -> Any:
        """A named SELECT of one JSON aggregate with ``IN (:key)`` (one escaped parameter per
        value), parsed: many rows as one value, read in C instead of row by row in Python
        (NULL, when no row matched, as ``[]``).

        MariaDB caps JSON_ARRAYAGG at the session's ``group_concat_max_len`` (1 MiB by
        default): it is raised in the same round trip first.
        """
        names = [f"{key}_{index}" for index in range(len(values))]
        sql = query(name).replace(
            f"%({key})s", ", ".join(f"%({n})s" for n in names) if names else "NULL"
        )
        async with self.connection.cursor() as cur:
            await cur.execute(
                f"SET SESSION group_concat_max_len = {_JSON_AGGREGATE_MAX};\n{sql}",
                dict(zip(names, values, strict=True)),
            )
            await cur.nextset()
            row = await cur.fetchone()
        return parsed_json(row[0]) if row and row[0] is not None else []

    async def fetch_all(self, name: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        async with self.connection.cursor(aiomysql.DictCursor) as cur:
            await cur.execute(query(name), params)
            return list(await cur.fetchall())

    async def fetch_one(self, name: str, params: Mapping[str, Any] | None = None) -> Row | None:
        async with self.connection.cursor(aiomysql.DictCursor) as cur:
            await cur.execute(query(name), params)
            row = await cur.fetchone()
            return dict(row) if row else None

    async def fetch_json(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        """A named SELECT of one JSON value (one row at most), parsed, with numbers as
        Decimals; None when there is no row."""
        value = await self.fetch_value(name, params)
        return None if value is None else parsed_json(value)

    async def fetch_value(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        async with self.connection.cursor() as cur:
            await cur.execute(query(name), params)
            row = await cur.fetchone()
            return row[0] if row else None


def error_code(exc: BaseException) -> int | None:
    """The MySQL error number of a PyMySQL exception, if any."""
    if isinstance(exc, pymysql.err.MySQLError) and exc.args and isinstance(exc.args[0], int):
        return int(exc.args[0])
    return None


def connection_lost(exc: BaseException) -> bool:
    """True when a PyMySQL error means the connection is gone (the answer may be lost)."""
    return error_code(exc) in CONNECTION_LOST_ERRORS or isinstance(exc, pymysql.err.InterfaceError)


def refused_by_server(exc: BaseException) -> bool:
    """True when the server answered a statement with this error (so it ran no further
    statement of that round trip), False when the answer may have been lost on the way."""
    return error_code(exc) is not None and not connection_lost(exc)


def _lost(exc: BaseException) -> bool:
    """True when ``exc`` means the connection (and perhaps an answer) was lost."""
    return connection_lost(exc) or not isinstance(exc, pymysql.err.MySQLError)


def _unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the server could not be used (the connection lost, or a new
    one refused as the server is full): nothing ran, and a later attempt may get through."""
    return _lost(exc) or error_code(exc) in SERVER_FULL_ERRORS


def _retry_pause(exc: BaseException, attempt: int) -> float | None:
    """How long to wait before running a transaction's work again after ``exc`` (the policy
    above), or None when it must not be run again."""
    code = error_code(exc)
    if code in RETRYABLE_TRANSACTION_ERRORS or (
        code == TRIGGER_LOAD_ABORTED[0] and TRIGGER_LOAD_ABORTED[1] in str(exc)
    ):
        return 0.01 * attempt
    if code == 1062 and any(key in str(exc) for key in RACE_KEYS):
        return 0.0  # the winner has committed: the rerun finds it at once
    if _unavailable(exc):
        return 0.2 * attempt
    return None
