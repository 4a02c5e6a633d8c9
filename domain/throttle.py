"""Failed-login throttling kept in the database, so a restart does not reset it."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain import passwords
from domain.db import Database, Row, UnitOfWork
from domain.errors import AuthenticationFailed, TooManyAttempts
from domain.models import db_time, now_utc, utc


@dataclass(frozen=True)
class ThrottlePolicy:
    """``max_failures`` wrong passwords within ``window`` lock the subject for ``lockout``."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


def subjects(telegram_user_id: int | None, **keys: str) -> tuple[str, ...]:
    """Throttle subjects for a login attempt: the Telegram user and what was typed."""
    found = [f"tg:{telegram_user_id}"] if telegram_user_id is not None else []
    found += [f"{kind}:{value.lower()[:280]}" for kind, value in keys.items()]
    return tuple(found)


async def ensure_allowed(uow: UnitOfWork, keys: tuple[str, ...], now: datetime) -> None:
    """Raise :class:`TooManyAttempts` if any subject is locked at ``now``."""
    # One query per subject: PyMySQL 1.2 no longer expands a tuple parameter for ``IN``.
    rows = [
        row
        for key in keys
        for row in await uow.fetch_all("locked_subject", {"subject": key, "now": db_time(now)})
    ]
    if rows:
        until = max(utc(r["locked_until"]) or now for r in rows)
        raise TooManyAttempts(max(1, math.ceil((until - now).total_seconds() / 60)))


async def record_failure(
    uow: UnitOfWork, keys: tuple[str, ...], now: datetime, policy: ThrottlePolicy
) -> None:
    for key in keys:
        await uow.execute(
            "record_login_failure",
            {
                "subject": key,
                "now": db_time(now),
                "window_start": db_time(now - policy.window),
                "max_failures": policy.max_failures,
                "locked_until": db_time(now + policy.lockout),
            },
        )


async def reset(uow: UnitOfWork, keys: tuple[str, ...]) -> None:
    for key in keys:
        await uow.execute("reset_login_failures", {"subject": key})


async def forget_stale(
    db: Database, *, policy: ThrottlePolicy | None = None, now: datetime | None = None
) -> int:
    """Delete the throttle rows that no longer count (their window is over and they are not
    locked), so the table holds only recent failures; returns how many went. ``db`` is the
    admin account's pool."""
    policy = policy or ThrottlePolicy()
    moment = now or now_utc()

    async def work(uow: UnitOfWork) -> int:
        gone = await uow.execute(
            "forget_stale_login_failures",
            {"window_start": db_time(moment - policy.window), "now": db_time(moment)},
        )
        await uow.commit()
        return gone

    return await db.transaction(work)


@dataclass(frozen=True)
class VerifiedLogin:
    """A row whose password matched, and its new hash when the stored one must be upgraded."""

    row: Row
    upgraded_hash: str | None


async def verify_login(
    db: Database,
    keys: tuple[str, ...],
    password: str,
    load: Callable[[UnitOfWork], Awaitable[Row | None]],
    *,
    policy: ThrottlePolicy | None = None,
    now: datetime | None = None,
) -> VerifiedLogin:
    """Check a password against the row ``load`` finds, throttled on ``keys``.

    A locked subject raises TooManyAttempts; a wrong password (or no row: the same work is
    done against a dummy hash, so timing does not tell which accounts exist) is counted and
    raises AuthenticationFailed. The caller resets ``keys`` in its success transaction.
    """
    policy = policy or ThrottlePolicy()
    moment = now or now_utc()

    async def check(uow: UnitOfWork) -> Row | None:
        await ensure_allowed(uow, keys, moment)
        return await load(uow)

    row = await db.read(check)
    stored = str(row["password_hash"]) if row and row["password_hash"] else None
    matched = await passwords.verify_password(password, stored or passwords.dummy_hash())
    if not matched or row is None or stored is None:

        async def fail(uow: UnitOfWork) -> None:
            await record_failure(uow, keys, moment, policy)
            await uow.commit()

        await db.transaction(fail)
        raise AuthenticationFailed()
    upgraded = await passwords.hash_password(password) if passwords.needs_upgrade(stored) else None
    return VerifiedLogin(row, upgraded)
