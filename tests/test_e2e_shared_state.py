"""Conversation state in the database (STATE_STORE=database, issue 16): two bot instances on
one database and one fake Bot API server, each chat's updates handed to whichever instance
the test says — as a load balancer in front of webhook instances would.

The instances are two real Applications (``build_application``, post_init, start); the test
fetches the updates from the fake server over HTTP (getUpdates, as a webhook push would
bring them) and puts each in the queue of the instance chosen for it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from telegram import Bot, Update

from bot.application import build_application, post_init, post_shutdown
from bot.context import BillingApplication
from bot.shared_state import CONFLICT_TEXT, DatabasePersistence
from domain import admins, chat_states, customers
from domain.errors import DatabaseUnavailable
from tests.e2e_support import Harness, harness, make_staff, settle
from tests.factories import fetch_dicts

__all__ = ["harness"]

PASSWORD = "correct-horse-1"


class Balancer:
    """Fetches updates from the fake server and gives each to the instance ``route`` picks
    (by the update's number, 0, 1, 2…, in the order they were sent).

    By default an update is handed over once the one before it is fully handled, its state
    written — as at a person's pace (a reply is sent before its step's state is written, and
    a test types faster than any thumb); with ``wait`` off they are handed over at once.
    """

    def __init__(self, harness: Harness, instances: list[BillingApplication]) -> None:
        self.instances = instances
        self.route: Callable[[int], int] = lambda index: index % len(instances)
        self.wait = True
        self.handled_by: list[int] = []
        self._bot = Bot(harness.config.require_token(), base_url=harness.server.base_url)
        self._task: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Balancer:
        await self._bot.initialize()
        self._task = asyncio.create_task(self._pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        await asyncio.gather(*self._handling)  # what reached an instance is handled whole
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task
        await self._bot.shutdown()

    async def _pump(self) -> None:
        offset = 0
        while True:
            for update in await self._bot.get_updates(offset=offset, timeout=1):
                offset = update.update_id + 1
                chosen = self.route(len(self.handled_by))
                self.handled_by.append(chosen)
                handling = asyncio.create_task(self._handle(self.instances[chosen], update))
                self._handling.add(handling)
                handling.add_done_callback(self._handling.discard)
                if self.wait:
                    await handling

    @staticmethod
    async def _handle(instance: BillingApplication, fetched: Update) -> None:
        """What an instance does with an update that reaches it (Application's own path)."""
        update = Update.de_json(fetched.to_dict(), instance.bot)
        await instance.update_processor.process_update(update, instance.process_update(update))


@asynccontextmanager
async def two_instances(harness: Harness, **build: Any) -> AsyncIterator[Balancer]:
    """Two bot instances with the state in the database, behind a :class:`Balancer`."""
    config = harness.with_config(state_store="database").config
    async with AsyncExitStack() as stack:
        instances = []
        for _ in range(2):
            application = build_application(config, **build)
            await stack.enter_async_context(application)
            await post_init(application)
            await application.start()
            stack.push_async_callback(post_shutdown, application)
            stack.push_async_callback(application.stop)
            instances.append(application)
        async with Balancer(harness, instances) as balancer:
            yield balancer


async def linkable_customer(harness: Harness, meter: str) -> None:
    customer = await customers.add_customer(
        harness.admin_db, meter_number=meter, full_name="Amina Bello", address="12 Marina Road"
    )
    await customers.set_password(harness.admin_db, customer.customer_id, PASSWORD)


async def stored_state(harness: Harness, chat_id: int) -> dict[str, Any]:
    row = await harness.admin_db.fetch_one("get_chat_state", {"chat_id": chat_id})
    assert row is not None
    return {"version": int(row["version"]), **json.loads(row["state"])}


async def test_a_login_whose_steps_alternate_between_instances_finishes(
    harness: Harness,
) -> None:
    """/login on instance 0, the meter number on instance 1, the password on instance 0:
    each step finds the one before it (the conversation's step and the meter number kept in
    user data, written by the other instance), and the account is linked. No state file."""
    user = harness.server.user(7001, "Roaming")
    await linkable_customer(harness, "MTR-70001")
    async with two_instances(harness) as balancer:
        await user.send("/login")
        await user.wait_for_reply()
        await user.send("MTR-70001")
        asked = await user.wait_for_reply()
        await settle()
        between = await stored_state(harness, user.id)
        await user.send(PASSWORD)
        linked = await user.wait_for_reply()
        await settle()
    assert balancer.handled_by == [0, 1, 0]
    assert "password" in asked.body.lower()
    assert between["conversations"]["customer_flow"]["state"] == "login:password"
    assert between["user_data"] == {"login_meter": "MTR-70001"}
    assert "You are logged in" in linked.body, user.transcript()
    assert await customers.find_by_telegram(harness.admin_db, user.id) is not None
    after = await stored_state(harness, user.id)
    assert after["conversations"] == {} and after["user_data"] == {}
    assert after["version"] == between["version"] + 1
    assert not harness.config.persistence_file.exists()
    assert not list(harness.config.persistence_file.parent.glob("*.pickle*"))


async def test_a_staff_flow_whose_steps_alternate_between_instances_adds_the_customer(
    harness: Harness,
) -> None:
    """/addcustomer and its five answers, each on the other instance than the one before,
    end in the customer added, once."""
    clerk = harness.server.user(7101, "Clerk")
    await make_staff(harness, 7101)
    async with two_instances(harness) as balancer:
        phone = "+2348012345678"
        for text in ("/addcustomer", "MTR-71001", "Grace Hopper", "3 Compiler Close", phone):
            await clerk.send(text)
            await clerk.wait_for_reply()
        for label in ("Skip", "Add customer"):  # no email; confirm
            await clerk.press(label)
            confirm = (await clerk.wait_for_event(kinds=("message", "edit"))).message
    assert confirm is not None
    assert balancer.handled_by == [0, 1, 0, 1, 0, 1, 0]
    assert "Grace Hopper" in confirm.body, clerk.transcript()
    added = await customers.get_by_meter(harness.admin_db, "MTR-71001")
    assert added.full_name == "Grace Hopper" and added.address == "3 Compiler Close"
    assert (await stored_state(harness, clerk.id))["conversations"] == {}


async def test_two_steps_of_one_chat_at_once_on_two_instances_one_wins_one_is_told(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both instances read the chat at the same version and handle a step of it; the first
    to write wins and the other, finding the version moved, writes nothing and asks its
    user to try again. The chat's state is the winner's, and the flow goes on from it."""
    user = harness.server.user(7201, "Twice")
    await linkable_customer(harness, "MTR-72001")
    real_save = chat_states.save
    both_read = asyncio.Barrier(2)
    racing = False

    async def save_after_both_read(*args: Any) -> int | None:
        if racing:  # both steps are handled before either is written
            await asyncio.wait_for(both_read.wait(), timeout=5)
        return await real_save(*args)

    monkeypatch.setattr(chat_states, "save", save_after_both_read)
    async with two_instances(harness) as balancer:
        balancer.wait = False  # the two steps are handled at once
        await user.send("/login")
        await user.wait_for_reply()
        await settle()
        before = await stored_state(harness, user.id)
        racing = True
        await user.send("MTR-72001")
        await user.send("MTR-72001")
        await user.wait_for_reply(predicate=lambda m: m.body == CONFLICT_TEXT)
        await settle(0.2)
        racing = False
        between = await stored_state(harness, user.id)
        await user.send(PASSWORD)
        linked = await user.wait_for_reply(predicate=lambda m: "logged in" in m.body)
        await settle()
    assert balancer.handled_by[1:3] == [1, 0]
    bodies = [m.body for m in user.messages() if m.from_bot]
    assert bodies.count(CONFLICT_TEXT) == 1, user.transcript()
    assert between["version"] == before["version"] + 1  # one write, the winner's
    assert between["conversations"]["customer_flow"]["state"] == "login:password"
    assert between["user_data"] == {"login_meter": "MTR-72001"}
    assert "logged in" in linked.body
    assert await customers.find_by_telegram(harness.admin_db, user.id) is not None


async def test_a_flow_left_alone_is_closed_once_whichever_instance_looks(
    harness: Harness,
) -> None:
    """Both instances sweep for timed-out flows; the one whose claim lands says so, once."""
    user = harness.server.user(7301, "Idle")
    await linkable_customer(harness, "MTR-73001")
    async with two_instances(harness, flow_timeout=1.0):
        await user.send("/login")
        await user.wait_for_reply()
        closed = await user.wait_for_reply(timeout=5)
        await asyncio.sleep(1.5)  # more sweeps of both instances
    assert "closed it" in closed.body
    bodies = [m.body for m in user.messages() if m.from_bot]
    assert sum("closed it" in body for body in bodies) == 1, user.transcript()
    assert (await stored_state(harness, user.id))["conversations"] == {}


async def test_webhook_instances_claiming_update_ids_still_close_every_idle_flow(
    harness: Harness,
) -> None:
    """In webhook mode each instance claims update ids (bot.once_updates); the sweep's own
    work in a chat's turn is no Telegram update and is never claimed, so a second flow left
    alone is closed as the first was (a claimed id 0 would drop every sweep after the first)."""
    first, second = harness.server.user(7311, "Idle"), harness.server.user(7312, "Later")
    await linkable_customer(harness, "MTR-73101")
    async with two_instances(harness, flow_timeout=1.0, dedupe_updates=True):
        for user in (first, second):
            await user.send("/login")
            await user.wait_for_reply()
            closed = await user.wait_for_reply(timeout=5)
            assert "closed it" in closed.body, user.transcript()
    claimed = await fetch_dicts(harness.admin_db, "SELECT update_id FROM processed_updates")
    assert claimed and all(int(row["update_id"]) > 0 for row in claimed)


async def test_the_next_update_after_a_timeout_is_told_first_then_handled_afresh(
    harness: Harness,
) -> None:
    """With no sweep in time, the next update closes the timed-out flow before its own
    handlers run (on the other instance than the one that started it): the typed meter
    number is then no step of any flow."""
    user = harness.server.user(7401, "Late")
    await linkable_customer(harness, "MTR-74001")
    async with two_instances(harness, flow_timeout=0.5) as balancer:
        for instance in balancer.instances:
            persistence = instance.persistence
            assert isinstance(persistence, DatabasePersistence)
            assert instance.job_queue is not None
            for job in instance.job_queue.get_jobs_by_name("close_timed_out_flows"):
                job.schedule_removal()
        await user.send("/login")
        await user.wait_for_reply()
        await asyncio.sleep(1.0)
        await user.send("MTR-74001")
        closed = await user.wait_for_reply()
        after = await user.wait_for_reply()
    assert "closed it" in closed.body
    assert "not sure what you mean" in after.body
    assert balancer.handled_by == [0, 1]


async def test_staff_added_while_instances_run_is_staff_on_both_at_once(
    harness: Harness,
) -> None:
    """The staff list is read from the database for every update (admin_access.sync_staff):
    an admin linked while both instances run is routed as staff by each, and once removed,
    by neither."""
    person = harness.server.user(7501, "Newcomer")
    async with two_instances(harness) as balancer:
        await person.send("/notify")
        refused = await person.wait_for_reply()
        await make_staff(harness, 7501)
        for _ in range(2):
            await person.send("/notify")
            assert "Payment notifications are" in (await person.wait_for_reply()).body
        await admins.logout(harness.admin_db, person.id)
        for _ in range(2):
            await person.send("/notify")
            assert "Payment notifications are" not in (await person.wait_for_reply()).body
    assert balancer.handled_by == [0, 1, 0, 1, 0]
    assert "Payment notifications" not in refused.body


async def test_a_state_that_cannot_be_read_is_said_and_nothing_is_handled(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is away when a step comes in: the user hears so, no handler runs on a
    state it could not read, and the next step, with the database back, goes on."""
    user = harness.server.user(7601, "Unlucky")
    await linkable_customer(harness, "MTR-76001")
    real_load = chat_states.load
    away = False

    async def load(*args: Any) -> chat_states.StoredState:
        if away:
            raise DatabaseUnavailable()
        return await real_load(*args)

    monkeypatch.setattr(chat_states, "load", load)
    async with two_instances(harness):
        await user.send("/login")
        await user.wait_for_reply()
        away = True
        await user.send("MTR-76001")
        refused = await user.wait_for_reply()
        await user.expect_no_reply()
        away = False
        await user.send("MTR-76001")
        asked = await user.wait_for_reply()
    assert "temporarily unavailable" in refused.body
    assert "password" in asked.body.lower()
