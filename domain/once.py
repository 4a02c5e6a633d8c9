"""Once across bot instances (issue 16): each Telegram update handled by one instance, each
daily job run by one instance per period, and a job whose instance died half-way finished by
another (migration 0024, docs/scaling.md).

Both are claims made in the database, which every instance shares: a row whose key is the
update id, or the job and its period, inserted by whoever comes first — the database's unique
key refuses the others. On a Galera cluster two nodes may each write the row (or take over
the same run) before seeing the other's write: the later COMMIT fails certification (1213)
and :meth:`Database.transaction` runs the claim again, which then sees the winner's row. No
node-local lock is relied on. Times of leases are the database's clock (``UTC_TIMESTAMP``),
not each instance's.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from domain.db import Database, UnitOfWork
from domain.models import db_time, now_utc

log = logging.getLogger(__name__)

# This process, as named in the claims it makes (host, process id, and a few random bytes:
# a restarted process with the same pid is another instance).
INSTANCE = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"

# An update's claim holds it this long without a word from its instance (renewed every third
# of it while the handlers run): a redelivery within it is told to retry later, one after it
# takes the update over (the instance died holding it).
UPDATE_LEASE = timedelta(seconds=15)
# Telegram stops redelivering an update long before this: its id is forgotten after it.
UPDATE_MEMORY = timedelta(days=2)
# Past job runs are kept this long (what ran, where, how often), then forgotten.
JOB_RUN_MEMORY = timedelta(days=60)
# A job run's lease: renewed every third of it while the job runs, so it runs out only when
# its instance stops (died, or cut off from the database) — then another may take it over.
JOB_LEASE = timedelta(minutes=3)
# Runs of one job in one period at most: the first and two take-overs (a job that fails on
# every instance is not retried all day).
JOB_ATTEMPTS = 3


def _claimer(instance: str) -> str:
    """A name for one claim: the instance and a nonce (unique even within one instance)."""
    return f"{instance}/{secrets.token_hex(4)}"


def _micros(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


async def _write(db: Database, name: str, params: dict[str, object]) -> int:
    """Run the named statement in a transaction of its own; the rows it changed."""

    async def work(uow: UnitOfWork) -> int:
        changed = await uow.execute(name, params)
        await uow.commit()
        return changed

    return await db.transaction(work)


# ---------------------------------------------------------------------------------------------
# Updates


class Redelivery(enum.Enum):
    """What to do with a delivery of an update whose claim another delivery holds."""

    FINISHED = "finished"  # handled already: drop it, answer 2xx
    HELD = "held"  # its holder is still at it: answer so that the sender retries later


@dataclass(frozen=True)
class UpdateClaim:
    """The claim of update ``update_id`` this instance holds, as ``claimed_by``;
    ``taken_over`` when it was taken from an instance that let its lease run out."""

    update_id: int
    claimed_by: str
    lease: timedelta
    taken_over: bool = False

    def params(self, **more: object) -> dict[str, object]:
        return {
            "update_id": self.update_id,
            "claimed_by": self.claimed_by,
            "lease_us": _micros(self.lease),
            **more,
        }


async def claim_update(
    db: Database, update_id: int, *, instance: str = INSTANCE, lease: timedelta = UPDATE_LEASE
) -> UpdateClaim | Redelivery:
    """Take update ``update_id`` to handle, leased for ``lease``: the first claim of it, or
    one whose holder left it unfinished past its lease (the instance died) — taken over by
    one UPDATE guarded on that holder, so of many claimants one gets it. Otherwise the
    :class:`Redelivery` it is: finished (drop it) or held by a live claim (retry later).

    Raises what :meth:`Database.transaction` raises when the database cannot be reached
    (``DatabaseUnavailable``, or ``CommitOutcomeUnknown`` when the claim may have been
    committed): the caller decides whether to handle the update then. A claim whose COMMIT
    answer was lost and that is retried finds its own row, and is still this update's claim.
    """
    claim = UpdateClaim(update_id, _claimer(instance), lease)

    async def work(uow: UnitOfWork) -> UpdateClaim | Redelivery:
        # The first delivery, by far the most common: one INSERT, then the COMMIT.
        if await uow.execute("claim_update", claim.params()):
            await uow.commit()
            return claim
        # Claimed already. End this transaction before looking: the INSERT's duplicate check
        # left a shared lock on the row, which two claimants could not both turn into the
        # take-over's exclusive one (a deadlock each time).
        await uow.commit()
        row = await uow.fetch_one("update_claim", claim.params())
        if row is None:
            return Redelivery.HELD  # its claim was forgotten a moment ago: let it come again
        if row["claimed_by"] == claim.claimed_by:  # this claim, its COMMIT's answer lost
            return claim
        if row["finished"]:
            return Redelivery.FINISHED
        if not row["lapsed"]:
            return Redelivery.HELD
        if await uow.execute("take_over_update", claim.params(old_holder=row["claimed_by"])):
            await uow.commit()
            return replace(claim, taken_over=True)
        return Redelivery.HELD  # another claimant took it over first

    return await db.transaction(work)


async def renew_update(db: Database, claim: UpdateClaim) -> bool:
    """Extend ``claim``'s lease; False when it was taken over (or is finished)."""
    return await _write(db, "renew_update", claim.params()) > 0


async def finish_update(db: Database, claim: UpdateClaim) -> bool:
    """Mark ``claim``'s update handled: its redeliveries are dropped from now on. False when
    another instance took it over meanwhile (this one was cut off past its lease)."""
    return await _write(db, "finish_update", claim.params()) > 0


async def keep_update_lease(db: Database, claim: UpdateClaim) -> None:
    """Renew ``claim``'s lease every third of it until cancelled (an update whose handlers
    run longer than the lease is not taken over while they run)."""
    await _keep_lease(lambda: renew_update(db, claim), claim.lease, f"update {claim.update_id}")


async def forget_old_updates(db: Database, *, now: datetime | None = None) -> int:
    """Delete the ids of updates claimed more than :data:`UPDATE_MEMORY` ago; return how
    many went. ``db`` is the admin account's pool."""
    return await _write(
        db, "forget_old_updates", {"before": db_time((now or now_utc()) - UPDATE_MEMORY)}
    )


# ---------------------------------------------------------------------------------------------
# Jobs


@dataclass(frozen=True)
class JobRun:
    """The run of ``job_name`` for ``period`` this instance holds, as ``claimed_by``."""

    job_name: str
    period: date
    claimed_by: str
    lease: timedelta

    def params(self, **more: object) -> dict[str, object]:
        return {
            "job_name": self.job_name,
            "period": self.period,
            "claimed_by": self.claimed_by,
            "lease_us": _micros(self.lease),
            **more,
        }


async def claim_job(
    db: Database,
    job_name: str,
    period: date,
    *,
    instance: str = INSTANCE,
    lease: timedelta = JOB_LEASE,
    max_attempts: int = JOB_ATTEMPTS,
) -> JobRun | None:
    """Take the run of ``job_name`` for ``period``: the first claim of the period, or one
    whose holder let its lease run out unfinished (it died half-way) with fewer than
    ``max_attempts`` runs. None when the run is finished or another instance holds it."""
    run = JobRun(job_name, period, _claimer(instance), lease)
    params = run.params(max_attempts=max_attempts)

    async def work(uow: UnitOfWork) -> JobRun | None:
        # The take-over first: an INSERT that finds the row holds a shared lock on it, which
        # two claimers could not both turn into the UPDATE's exclusive one (a deadlock).
        if await uow.execute("take_over_job_run", params) or await uow.execute(
            "claim_job_run", params
        ):
            await uow.commit()
            return run
        # A retried claim whose COMMIT's answer was lost finds its own row.
        holder = await uow.fetch_one("job_run_claimed_by", params)
        if holder and holder["claimed_by"] == run.claimed_by and holder["finished_at"] is None:
            return run
        return None

    return await db.transaction(work)


async def _update_run(db: Database, name: str, run: JobRun) -> bool:
    """Run the named UPDATE of ``run``'s row; True when it changed the row."""
    return await _write(db, name, run.params()) > 0


async def finish_job(db: Database, run: JobRun) -> bool:
    """Mark ``run`` finished; False when another instance took it over meanwhile (this one
    was cut off from the database past its lease)."""
    return await _update_run(db, "finish_job_run", run)


async def _keep_lease(renew: Callable[[], Awaitable[bool]], lease: timedelta, what: str) -> None:
    """Call ``renew`` every third of ``lease`` until cancelled, or until it says the lease
    was taken over."""
    while True:
        await asyncio.sleep(lease.total_seconds() / 3)
        try:
            if not await renew():
                log.warning("%s was taken over while it ran", what)
                return
        except Exception:  # the database is away: try again at the next beat
            log.warning("could not renew the lease of %s", what, exc_info=True)


async def run_once(
    db: Database,
    job_name: str,
    period: date,
    work: Callable[[], Awaitable[object]],
    *,
    instance: str = INSTANCE,
    lease: timedelta = JOB_LEASE,
) -> bool:
    """Run ``work`` as ``job_name``'s run for ``period`` if this instance can claim it
    (:func:`claim_job`), renewing the lease while it runs, and mark it finished; False (and
    ``work`` not called) when the run is finished or held by another instance.

    ``work`` must be safe to run again after a run that stopped half-way: a run that raises
    is left unfinished with its lease ended (raised again here), so the next check for
    abandoned runs (:func:`abandoned_jobs`) takes it up, as it does one whose instance died.
    """
    run = await claim_job(db, job_name, period, instance=instance, lease=lease)
    if run is None:
        return False
    heartbeat = asyncio.create_task(
        _keep_lease(
            lambda: _update_run(db, "renew_job_run", run), run.lease, f"job {job_name} of {period}"
        )
    )
    try:
        await work()
    except BaseException:
        with contextlib.suppress(Exception):  # unreachable: its lease runs out by itself
            await _update_run(db, "release_job_run", run)
        raise
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    if not await finish_job(db, run):
        log.warning("job %s of %s finished after another instance took it over", job_name, period)
    return True


async def abandoned_jobs(
    db: Database, period: date, *, max_attempts: int = JOB_ATTEMPTS
) -> list[str]:
    """Names of the jobs whose run for ``period`` was left unfinished with its lease run out
    (the instance died, or the job failed) and may be taken over."""
    rows = await db.fetch_all(
        "abandoned_job_runs", {"period": period, "max_attempts": max_attempts}
    )
    return [str(row["job_name"]) for row in rows]


async def forget_old_job_runs(db: Database, *, today: date) -> int:
    """Delete the job runs of periods more than :data:`JOB_RUN_MEMORY` before ``today``."""
    return await _write(db, "forget_old_job_runs", {"before": today - JOB_RUN_MEMORY})
