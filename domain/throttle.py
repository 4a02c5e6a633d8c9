"""Failed-login throttling kept in the database, so a restart does not reset it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.db import UnitOfWork
from domain.errors import TooManyAttempts
from domain.models import db_time, utc


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
