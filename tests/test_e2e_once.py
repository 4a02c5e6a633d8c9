"""Several bot instances on one database (issue 16), end to end: two real Applications built
by ``build_application`` on the test database, in webhook mode (``bot.webhook_server`` with
``webhook_options``, as ``run_bot.py run --webhook`` starts them), each on its own port;
updates POSTed over HTTP with the secret token, answers read from the fake Bot API server.

- The same update delivered to both (Telegram's redelivery, through a load balancer) is
  handled once: one reply, and PTB never reads the persisted state for a redelivery.
  Without the claim the same deliveries get a reply each.
- The webhook is answered after the update is handled; a redelivery while the first
  delivery is still handled is answered 503 (retry later) and not handled.
- An update whose claim cannot be made (the database is away) is still handled.
- The daily clean-up forgets old update ids; both instances' daily job fired at once runs
  once; a run an instance left half-way is finished by the other's minute check.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram.ext import PersistenceInput

from bot.application import build_application
from bot.context import BillingApplication, BillingContext
from bot.once_updates import OnceUpdateProcessor
from bot.persistence import AtomicPicklePersistence
from domain import once
from domain.errors import DatabaseUnavailable
from fake_telegram import FakeUser
from handlers import notifications
from handlers.notifications import (
    BULK_CONCURRENCY,
    RECOUNT_JOB,
    REMINDER_JOB,
    TAKEOVER_JOB,
    THROTTLE_CLEANUP_JOB,
)
from tests.e2e_support import (
    Harness,
    command_update,
    free_port,
    harness,
    running_webhook_bot,
)
from tests.factories import fetch_dicts, make_bill, make_customer
from tests.reliability_support import sql_execute, until

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(90)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
USER_ID = 76100


class Instance:
    """One bot process's Application, serving its webhook on its own port."""

    def __init__(self, application: BillingApplication, url: str, secret: str) -> None:
        self.application = application
        self.url = url
        self.secret = secret

    async def deliver(self, http: aiohttp.ClientSession, update: dict[str, Any]) -> int:
        """POST ``update`` as Telegram does; the HTTP status."""
        headers = {SECRET_HEADER: self.secret}
        async with http.post(self.url, json=update, headers=headers) as response:
            return response.status

    def job(self, name: str) -> Any:
        assert self.application.job_queue is not None
        (job,) = self.application.job_queue.get_jobs_by_name(name)
        return job


@asynccontextmanager
async def instance(harness: Harness, number: int, **build: Any) -> AsyncIterator[Instance]:
    """Bot instance ``number`` (its own persistence file) in webhook mode until the block
    ends, started and stopped as ``run_bot.py run --webhook`` does."""
    state = harness.config.persistence_file.with_name(f"bot-{number}.pickle")
    config = harness.with_config(persistence_file=state).config
    url = f"http://127.0.0.1:{free_port()}/hook"
    async with running_webhook_bot(config, url, **build) as (application, options):
        yield Instance(application, url, options.secret_token)


@asynccontextmanager
async def instances(harness: Harness, count: int, **build: Any) -> AsyncIterator[list[Instance]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(instance(harness, n, **build)) for n in range(count)
        ]


def help_update(update_id: int, user: FakeUser) -> dict[str, Any]:
    return command_update(update_id, user.id, "/help")


async def replies_to_redeliveries(harness: Harness, *, dedupe_updates: bool) -> int:
    """Update 700001 delivered to two instances at once, then again to each: how many
    replies the user got."""
    user = harness.server.user(USER_ID, "Hook")
    update = help_update(700_001, user)
    async with instances(harness, 2, dedupe_updates=dedupe_updates) as (one, two):
        async with aiohttp.ClientSession() as http:
            at_once = list(
                await asyncio.gather(one.deliver(http, update), two.deliver(http, update))
            )
            await user.wait_for_reply(10)
            later = [await one.deliver(http, update), await two.deliver(http, update)]
            await replies_settled(user)
    # One of the two at once is answered 200 once handled; the other 200 too when it came
    # after that (dropped), or 503 while the first was at it (Telegram sends it again later).
    # A redelivery once it was handled is answered 2xx, or Telegram would send it again.
    assert 200 in at_once and set(at_once) <= {200, 503}, at_once
    assert later == [200, 200]
    return len(user.messages())


async def replies_settled(user: FakeUser, quiet: float = 0.5) -> None:
    """Wait until the bot has sent ``user`` nothing new for ``quiet`` seconds (10 s at most)."""
    seen = -1
    for _ in range(int(10 / quiet)):
        if len(user.messages()) == seen:
            return
        seen = len(user.messages())
        await asyncio.sleep(quiet)


async def test_one_update_delivered_to_two_instances_is_handled_once(harness: Harness) -> None:
    """The webhook's update processor (on with ``--webhook``) claims the update id in the
    shared database: of four deliveries of one update to two instances (two at once), one
    reply."""
    assert await replies_to_redeliveries(harness, dedupe_updates=True) == 1
    rows = await fetch_dicts(harness.admin_db, "SELECT update_id FROM processed_updates")
    assert rows == [{"update_id": 700_001}]


async def test_without_the_claim_the_same_deliveries_are_handled_each_time(
    harness: Harness,
) -> None:
    """The control: the same four deliveries to instances built without the claim (polling
    mode's setting) are four handlings, four replies."""
    assert await replies_to_redeliveries(harness, dedupe_updates=False) == 4


class CountingPersistence(AtomicPicklePersistence):
    """The bot's persistence, counting the reads of a user's data (one per update PTB
    processes: ``CallbackContext.refresh_data``)."""

    refreshes = 0

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        self.refreshes += 1
        await super().refresh_user_data(user_id, user_data)


async def test_a_redelivery_is_dropped_before_ptb_reads_or_writes_anything_for_it(
    harness: Harness, tmp_path: Path
) -> None:
    """The claim is made in the update processor, before PTB processes the update: a
    redelivery builds no context, so the user's (and the conversation's) persisted state is
    neither read nor written for it — it cannot overwrite what the instance handling the
    first delivery writes. Polling mode's build has no claim (no round trip per update)."""
    user = harness.server.user(USER_ID, "Hook")
    persistence = CountingPersistence(
        filepath=tmp_path / "counted.pickle",
        store_data=PersistenceInput(bot_data=False, callback_data=False),
    )
    async with instance(harness, 0, dedupe_updates=True, persistence=persistence) as bot:
        assert isinstance(bot.application.update_processor, OnceUpdateProcessor)
        async with aiohttp.ClientSession() as http:
            for update_id in (700_010, 700_010, 700_010, 700_011):
                assert await bot.deliver(http, help_update(update_id, user)) == 200
            await replies_settled(user)
    assert persistence.refreshes == 2 and len(user.messages()) == 2
    plain = build_application(harness.config).update_processor
    assert not isinstance(plain, OnceUpdateProcessor)


async def test_an_update_is_handled_when_its_claim_cannot_be_made(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail open: the database cannot take the claim, and the update is still answered as
    usual (not with an error, not dropped)."""

    async def unavailable(*args: Any, **kwargs: Any) -> bool:
        raise DatabaseUnavailable()

    monkeypatch.setattr(once, "claim_update", unavailable)
    user = harness.server.user(USER_ID, "Hook")
    async with instance(harness, 0, dedupe_updates=True) as bot:
        async with aiohttp.ClientSession() as http:
            assert await bot.deliver(http, help_update(700_002, user)) == 200
            answer = await user.wait_for_reply(10)
    assert "What I can do" in answer.body
    assert len(user.messages()) == 1


async def test_a_redelivery_while_the_first_is_handled_is_told_to_retry(
    harness: Harness,
) -> None:
    """The webhook is answered once the update is handled, not when it is queued: while the
    bot's reply to update 700020 is held at the Bot API, its first delivery is unanswered,
    and a redelivery (to the other instance, or to the same one) is answered 503 — Telegram
    sends it again later — and not handled. Once the reply went out the first delivery is
    answered 200, and a redelivery then is dropped with a 200: one reply in all."""
    server = harness.server
    user = server.user(USER_ID, "Hook")
    update = help_update(700_020, user)
    async with instances(harness, 2, dedupe_updates=True) as (one, two):
        async with aiohttp.ClientSession() as http:
            server.hold("sendMessage")
            first = asyncio.create_task(one.deliver(http, update))
            try:
                await until(lambda: server.held_calls == 1, 10, "the reply held")
                assert await two.deliver(http, update) == 503
                assert await one.deliver(http, update) == 503
                assert not first.done(), "the webhook answered before the update was handled"
            finally:
                server.release("sendMessage")
            assert await first == 200
            assert len(user.messages()) == 1
            assert await two.deliver(http, update) == 200
            await replies_settled(user)
    assert len(user.messages()) == 1
    rows = await fetch_dicts(
        harness.admin_db, "SELECT finished_at FROM processed_updates WHERE update_id = 700020"
    )
    assert rows[0]["finished_at"] is not None


async def test_stopping_finishes_the_update_in_hand_and_answers_it(harness: Harness) -> None:
    """An instance told to stop (SIGTERM does the same: ``bot.webhook_server.serve``) while
    an update is in its handlers stops taking requests but finishes that update, sends its
    reply and answers its delivery 200 before it closes, and marks it finished."""
    server = harness.server
    user = server.user(USER_ID, "Hook")
    server.hold("sendMessage")
    try:
        async with aiohttp.ClientSession() as http:
            async with instance(harness, 0, dedupe_updates=True) as bot:
                first = asyncio.create_task(bot.deliver(http, help_update(700_030, user)))
                await until(lambda: server.held_calls == 1, 10, "the reply held")
                asyncio.get_running_loop().call_later(0.5, server.release, "sendMessage")
            assert first.done()
            assert await first == 200
    finally:
        server.release("sendMessage")
    assert len(user.messages()) == 1
    rows = await fetch_dicts(
        harness.admin_db, "SELECT finished_at FROM processed_updates WHERE update_id = 700030"
    )
    assert rows[0]["finished_at"] is not None


async def test_the_daily_clean_up_forgets_update_ids_two_days_old(harness: Harness) -> None:
    await sql_execute(
        harness.admin_db,
        "INSERT INTO processed_updates (update_id, claimed_at, claimed_by) VALUES "
        "(11, UTC_TIMESTAMP(6) - INTERVAL 3 DAY, 'gone'), "
        "(12, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, 'kept')",
    )
    async with instance(harness, 0, dedupe_updates=True) as bot:
        await bot.job(THROTTLE_CLEANUP_JOB).run(bot.application)
    rows = await fetch_dicts(harness.admin_db, "SELECT update_id FROM processed_updates")
    assert rows == [{"update_id": 12}]


async def test_a_daily_job_fired_on_two_instances_at_once_runs_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both instances' job queues fire the recount at the same moment, three times over:
    the job runs once, and its run of today is recorded finished."""
    runs: list[int] = []

    async def counted(context: BillingContext) -> None:
        runs.append(id(context.application))
        await asyncio.sleep(0.1)

    monkeypatch.setitem(notifications.DAILY_JOBS, RECOUNT_JOB, counted)
    async with instances(harness, 2) as bots:
        for _ in range(3):
            await asyncio.gather(*(b.job(RECOUNT_JOB).run(b.application) for b in bots))
    assert len(runs) == 1
    today = datetime.now(harness.config.timezone).date()
    rows = await fetch_dicts(
        harness.admin_db, "SELECT job_name, period, finished_at FROM job_runs"
    )
    assert [(r["job_name"], r["period"]) for r in rows] == [(RECOUNT_JOB, today)]
    assert rows[0]["finished_at"] is not None


async def claim_todays_clean_up(harness: Harness, claimed_by: str, lease_minutes: int) -> None:
    """A claim of today's clean-up by another instance, unfinished, its lease ending in
    ``lease_minutes`` (negative: ended that long ago)."""
    today = datetime.now(harness.config.timezone).date()
    await sql_execute(
        harness.admin_db,
        "INSERT INTO job_runs (job_name, period, claimed_by, claimed_at, lease_until) "
        "VALUES (%s, %s, %s, UTC_TIMESTAMP(6) - INTERVAL 10 MINUTE, "
        "UTC_TIMESTAMP(6) + INTERVAL %s MINUTE)",
        (THROTTLE_CLEANUP_JOB, today, claimed_by, lease_minutes),
    )


async def insert_stale_throttle_row(harness: Harness, subject: str) -> None:
    """A login-throttle row the daily clean-up deletes."""
    await sql_execute(
        harness.admin_db,
        "INSERT INTO login_throttle (subject, failures, window_started_at, locked_until) "
        "VALUES (%s, 1, NOW(6) - INTERVAL 2 DAY, NULL)",
        (subject,),
    )


async def test_a_job_left_half_way_by_a_dead_instance_is_finished_by_another(
    harness: Harness,
) -> None:
    """An instance claimed today's clean-up and died (its lease ran out, unfinished): the
    other instance's minute check runs the clean-up (a stale throttle row goes) and records
    it finished; a later check, or the job's own time, runs nothing more."""
    await claim_todays_clean_up(harness, "dead/1", lease_minutes=-5)
    await insert_stale_throttle_row(harness, "tg:1")
    async with instance(harness, 1) as bot:
        await bot.job(TAKEOVER_JOB).run(bot.application)
        assert await fetch_dicts(harness.admin_db, "SELECT * FROM login_throttle") == []
        (row,) = await fetch_dicts(
            harness.admin_db, "SELECT claimed_by, finished_at, attempts FROM job_runs"
        )
        assert row["claimed_by"].startswith(f"{once.INSTANCE}/")
        assert row["finished_at"] is not None and row["attempts"] == 2
        await insert_stale_throttle_row(harness, "tg:2")
        await bot.job(TAKEOVER_JOB).run(bot.application)
        await bot.job(THROTTLE_CLEANUP_JOB).run(bot.application)
    # Finished: neither the check nor the job's own time ran the clean-up again.
    assert len(await fetch_dicts(harness.admin_db, "SELECT * FROM login_throttle")) == 1


async def test_a_job_whose_instance_still_runs_it_is_not_taken_over(harness: Harness) -> None:
    """A claim of today's clean-up whose lease still runs (its instance is at work): the
    minute check leaves it alone."""
    await claim_todays_clean_up(harness, "busy/1", lease_minutes=2)
    await insert_stale_throttle_row(harness, "tg:1")
    async with instance(harness, 1) as bot:
        await bot.job(TAKEOVER_JOB).run(bot.application)
    assert len(await fetch_dicts(harness.admin_db, "SELECT * FROM login_throttle")) == 1
    (row,) = await fetch_dicts(harness.admin_db, "SELECT claimed_by, finished_at FROM job_runs")
    assert row == {"claimed_by": "busy/1", "finished_at": None}


REMINDED = 40  # linked customers with a bill due in two days


async def test_reminders_cut_off_half_way_are_finished_by_another_instance_none_twice(
    harness: Harness,
) -> None:
    """Instance 0's reminder job dies half-way (its task cancelled while sends are in flight
    on a slow Bot API); instance 1's minute check runs the job again. Every bill ends up
    claimed, no customer gets two reminders, and at most the BULK_CONCURRENCY claimed and in
    flight at the death are lost (claims made up front, as before, would lose all the unsent
    ones)."""
    today = datetime.now(harness.config.timezone).date()
    users = [harness.server.user(77_000 + n, f"R{n}") for n in range(REMINDED)]
    for user in users:
        customer = await make_customer(harness.admin_db)
        await sql_execute(
            harness.admin_db,
            "UPDATE customers SET telegram_user_id = %s WHERE customer_id = %s",
            (user.id, customer.customer_id),
        )
        await make_bill(
            harness.admin_db, customer, month=date(2026, 1, 1), due_date=today + timedelta(2)
        )
    async with instances(harness, 2) as (first, second):
        harness.server.latency = 0.2  # each send takes a while: the death finds some in flight
        # The job's callback itself (Job.run shields it from cancellation, as a death does not).
        job = first.job(REMINDER_JOB)
        context = BillingContext.from_job(job, first.application)
        dying = asyncio.create_task(notifications.run_daily_job(context))
        await asyncio.sleep(0.3)  # one wave of sends done, the next in flight
        dying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await dying
        reminded_before = sum(bool(user.messages()) for user in users)
        assert 0 < reminded_before < REMINDED
        await second.job(TAKEOVER_JOB).run(second.application)
        for user in users:
            await replies_settled(user, quiet=0.05)
        harness.server.latency = 0
    claimed = await fetch_dicts(harness.admin_db, "SELECT COUNT(*) AS n FROM bill_reminders")
    assert claimed == [{"n": REMINDED}]
    counts = [len([m for m in user.messages() if "Reminder" in m.body]) for user in users]
    assert max(counts) == 1, "a customer was reminded twice"
    assert sum(counts) >= REMINDED - BULK_CONCURRENCY, counts
    (row,) = await fetch_dicts(harness.admin_db, "SELECT finished_at, attempts FROM job_runs")
    assert row["finished_at"] is not None and row["attempts"] == 2
