"""Once across instances (issue 16, domain/once.py): an update id claimed by one of many
claimants; a daily job's run for a period run by one of many instances racing for it, taken
over and finished when its instance stopped half-way, never run again once finished.

Each "instance" is a distinct instance name on the same database, the claims made at once
(asyncio.gather), as N bot processes would."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest

from domain import once
from domain.db import Database
from tests.factories import fetch_dicts
from tests.reliability_support import sql_execute

pytestmark = pytest.mark.timeout(60)

PERIOD = date(2026, 12, 4)
RACERS = 24  # concurrent instances (the test pool has 40 connections)
SHORT = timedelta(milliseconds=150)  # a lease that runs out within the test


async def nothing() -> None:
    """A job with nothing to do."""


async def job_row(db: Database, job_name: str = "daily") -> dict[str, Any]:
    (row,) = await fetch_dicts(
        db,
        "SELECT claimed_by, finished_at, attempts FROM job_runs "
        "WHERE job_name = %s AND period = %s",
        job_name,
        PERIOD,
    )
    return row


def taken(claims: list[once.UpdateClaim | once.Redelivery]) -> list[once.UpdateClaim]:
    return [claim for claim in claims if isinstance(claim, once.UpdateClaim)]


async def update_row(db: Database, update_id: int) -> dict[str, Any]:
    (row,) = await fetch_dicts(
        db,
        "SELECT claimed_by, lease_until, finished_at FROM processed_updates WHERE update_id = %s",
        update_id,
    )
    return row


async def test_one_of_many_claimants_of_an_update_id_gets_it(admin_db: Database) -> None:
    """The same update id claimed by many instances at once: exactly one is told to handle
    it, the others that its holder is still at it (retry later); once the holder finished
    it, a redelivery (to any of them) is a finished one, dropped; another id is a new claim."""
    claims = await asyncio.gather(
        *(once.claim_update(admin_db, 5001, instance=f"bot-{n}") for n in range(RACERS))
    )
    (claim,) = taken(claims)
    assert not claim.taken_over
    assert claims.count(once.Redelivery.HELD) == RACERS - 1
    assert await once.claim_update(admin_db, 5001, instance="bot-0") is once.Redelivery.HELD
    assert await once.finish_update(admin_db, claim)
    assert (await update_row(admin_db, 5001))["finished_at"] is not None
    assert await once.claim_update(admin_db, 5001, instance="bot-0") is once.Redelivery.FINISHED
    assert isinstance(await once.claim_update(admin_db, 5002, instance="bot-0"), once.UpdateClaim)
    rows = await fetch_dicts(admin_db, "SELECT update_id FROM processed_updates ORDER BY 1")
    assert [row["update_id"] for row in rows] == [5001, 5002]


async def test_an_update_left_unfinished_past_its_lease_is_taken_over_by_one(
    admin_db: Database,
) -> None:
    """The holder of update 5003 died (its lease ran out, unfinished): of many claimants at
    once exactly one takes it over (one UPDATE guarded on the old holder), the others are
    told to retry; the dead holder can no longer finish it, the new holder does."""
    (dead,) = taken([await once.claim_update(admin_db, 5003, instance="dead", lease=SHORT)])
    await asyncio.sleep(SHORT.total_seconds() * 2)
    claims = await asyncio.gather(
        *(once.claim_update(admin_db, 5003, instance=f"bot-{n}") for n in range(RACERS))
    )
    (claim,) = taken(claims)
    assert claim.taken_over
    assert claims.count(once.Redelivery.HELD) == RACERS - 1
    assert (await update_row(admin_db, 5003))["claimed_by"] == claim.claimed_by
    assert not await once.finish_update(admin_db, dead)
    assert not await once.renew_update(admin_db, dead)
    assert await once.finish_update(admin_db, claim)
    assert await once.claim_update(admin_db, 5003, instance="late") is once.Redelivery.FINISHED


async def test_a_renewed_lease_is_not_taken_over(admin_db: Database) -> None:
    """A holder still at work renews its lease (every third of it, while the handlers run):
    past the first lease's end a redelivery is still told to retry, not taken over."""
    (claim,) = taken([await once.claim_update(admin_db, 5004, instance="slow", lease=SHORT)])
    renewing = asyncio.create_task(once.keep_update_lease(admin_db, claim))
    try:
        await asyncio.sleep(SHORT.total_seconds() * 3)
        assert await once.claim_update(admin_db, 5004, instance="other") is once.Redelivery.HELD
    finally:
        renewing.cancel()
    assert (await update_row(admin_db, 5004))["claimed_by"] == claim.claimed_by


async def test_a_claim_written_before_the_lease_is_a_finished_one(admin_db: Database) -> None:
    """Migration 0029 marks the claims made under the old rule (claimed = done) finished;
    a row without a lease and unfinished (written by hand) may be taken over at once."""
    await sql_execute(
        admin_db,
        "INSERT INTO processed_updates (update_id, claimed_at, claimed_by) VALUES "
        "(5005, UTC_TIMESTAMP(6), 'by hand')",
    )
    claim = await once.claim_update(admin_db, 5005, instance="bot-0")
    assert isinstance(claim, once.UpdateClaim) and claim.taken_over


async def test_update_ids_older_than_two_days_are_forgotten(admin_db: Database) -> None:
    await sql_execute(
        admin_db,
        "INSERT INTO processed_updates (update_id, claimed_at, claimed_by) VALUES "
        "(1, UTC_TIMESTAMP(6) - INTERVAL 49 HOUR, 'old'), "
        "(2, UTC_TIMESTAMP(6) - INTERVAL 47 HOUR, 'recent')",
    )
    assert await once.forget_old_updates(admin_db) == 1
    rows = await fetch_dicts(admin_db, "SELECT update_id FROM processed_updates")
    assert rows == [{"update_id": 2}]


async def test_many_instances_racing_for_a_job_run_it_exactly_once(admin_db: Database) -> None:
    """RACERS instances start the same daily job for one period at the same moment, then
    again: the work runs once, and the run is recorded finished by the one that ran it."""
    ran: list[str] = []

    async def attempt(instance: str) -> bool:
        async def work() -> None:
            ran.append(instance)
            await asyncio.sleep(0.05)  # still running while the others try

        return await once.run_once(admin_db, "daily", PERIOD, work, instance=instance)

    first = await asyncio.gather(*(attempt(f"bot-{n}") for n in range(RACERS)))
    again = await asyncio.gather(*(attempt(f"bot-{n}") for n in range(RACERS)))
    assert len(ran) == 1 and sum(first) == 1 and not any(again)
    row = await job_row(admin_db)
    assert row["claimed_by"].startswith(f"{ran[0]}/")
    assert row["finished_at"] is not None and row["attempts"] == 1
    # Another period is another run.
    assert await attempt("bot-0") is False
    assert await once.run_once(admin_db, "daily", PERIOD + timedelta(1), nothing, instance="x")


async def test_a_run_whose_instance_died_half_way_is_taken_over_and_finished(
    admin_db: Database,
) -> None:
    """An instance claims the run and dies (never renews, never finishes): while its lease
    runs the others skip the job; once it has run out the run is listed as abandoned, taken
    over by one instance (of several trying at once) and finished."""
    dead = await once.claim_job(admin_db, "daily", PERIOD, instance="dead", lease=SHORT)
    assert dead is not None
    ran: list[str] = []

    async def attempt(instance: str) -> bool:
        async def work() -> None:
            ran.append(instance)

        return await once.run_once(admin_db, "daily", PERIOD, work, instance=instance)

    assert not await attempt("early")  # the dead instance's lease still runs
    assert await once.abandoned_jobs(admin_db, PERIOD) == []
    await asyncio.sleep(SHORT.total_seconds() * 2)
    assert await once.abandoned_jobs(admin_db, PERIOD) == ["daily"]
    taken = await asyncio.gather(*(attempt(f"bot-{n}") for n in range(8)))
    assert sum(taken) == 1 and len(ran) == 1
    row = await job_row(admin_db)
    assert row["claimed_by"].startswith(f"{ran[0]}/")
    assert row["finished_at"] is not None and row["attempts"] == 2
    assert await once.abandoned_jobs(admin_db, PERIOD) == []
    # The dead instance, come back, cannot mark the run its own finished.
    assert not await once.finish_job(admin_db, dead)


async def test_a_finished_run_is_never_run_again(admin_db: Database) -> None:
    """Finished, even with its lease long over, a run is neither abandoned nor claimable."""
    assert await once.run_once(admin_db, "daily", PERIOD, nothing, instance="a", lease=SHORT)
    await asyncio.sleep(SHORT.total_seconds() * 2)
    assert await once.abandoned_jobs(admin_db, PERIOD) == []
    assert await once.claim_job(admin_db, "daily", PERIOD, instance="b") is None
    called: list[str] = []

    async def work() -> None:
        called.append("b")

    assert not await once.run_once(admin_db, "daily", PERIOD, work, instance="b")
    assert called == [] and (await job_row(admin_db))["attempts"] == 1


async def test_a_long_run_keeps_its_lease_and_is_not_taken_over(admin_db: Database) -> None:
    """A job running for several leases renews its own: nobody takes it over meanwhile."""
    started = asyncio.Event()

    async def long_work() -> None:
        started.set()
        await asyncio.sleep(SHORT.total_seconds() * 5)

    runner = asyncio.create_task(
        once.run_once(admin_db, "daily", PERIOD, long_work, instance="slow", lease=SHORT * 2)
    )
    await started.wait()
    for _ in range(4):
        await asyncio.sleep(SHORT.total_seconds())
        assert await once.abandoned_jobs(admin_db, PERIOD) == []
        assert await once.claim_job(admin_db, "daily", PERIOD, instance="other") is None
    assert await runner
    assert (await job_row(admin_db))["attempts"] == 1


async def test_a_failed_run_is_retried_a_few_times_then_left(admin_db: Database) -> None:
    """A job that raises leaves its run unfinished and its lease ended: the next look for
    abandoned runs takes it up; after JOB_ATTEMPTS runs it is left for the day."""
    calls: list[int] = []

    async def failing() -> None:
        calls.append(1)
        raise RuntimeError("the job failed")

    for attempt in range(1, once.JOB_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            await once.run_once(admin_db, "daily", PERIOD, failing, instance=f"bot-{attempt}")
        assert (await job_row(admin_db))["finished_at"] is None
    assert len(calls) == once.JOB_ATTEMPTS
    assert await once.abandoned_jobs(admin_db, PERIOD) == []
    assert not await once.run_once(admin_db, "daily", PERIOD, failing, instance="bot-last")
    assert len(calls) == once.JOB_ATTEMPTS


async def test_old_job_runs_are_forgotten(admin_db: Database) -> None:
    for period in (PERIOD - once.JOB_RUN_MEMORY - timedelta(1), PERIOD - once.JOB_RUN_MEMORY):
        assert await once.run_once(admin_db, "daily", period, nothing, instance="a")
    assert await once.forget_old_job_runs(admin_db, today=PERIOD) == 1
    rows = await fetch_dicts(admin_db, "SELECT period FROM job_runs")
    assert rows == [{"period": PERIOD - once.JOB_RUN_MEMORY}]


async def test_a_claim_retried_after_its_commit_answer_was_lost_is_still_its_own(
    admin_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Database.transaction runs a claim again when its COMMIT got no answer; if the first
    attempt did commit, the rerun finds the row under its own name (the same claim, made
    once per call) and keeps it: the update is handled, the job run. Another claimer's row
    is not taken for its own."""
    monkeypatch.setattr(once, "_claimer", lambda instance: f"{instance}/same-claim")
    first = await once.claim_update(admin_db, 9001, instance="a")
    assert isinstance(first, once.UpdateClaim)
    assert await once.claim_update(admin_db, 9001, instance="a") == first  # the rerun
    assert await once.claim_update(admin_db, 9001, instance="b") is once.Redelivery.HELD
    assert await once.claim_job(admin_db, "daily", PERIOD, instance="a") is not None
    assert await once.claim_job(admin_db, "daily", PERIOD, instance="a") is not None
    assert await once.claim_job(admin_db, "daily", PERIOD, instance="b") is None
