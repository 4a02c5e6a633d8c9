"""Several bot instances behind one webhook URL (issue 16): real ``run_bot.py run --webhook``
processes behind HAProxy (benchmarks.bot_tier, the layout of scripts/cluster.sh), updates
pushed by the fake Bot API server."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from telegram import Bot

from benchmarks import bench_bot
from benchmarks.bench_bot import Outcome, journey
from benchmarks.bot_tier import BotTier
from bot.application import derived_webhook_secret
from tests.e2e_support import Harness, harness
from tests.factories import give_credit, make_bill, make_customer
from tests.reliability_support import (
    RUN_BOT,
    bot_environment,
    link_telegram,
    sql_rows,
    until,
)

__all__ = ["harness"]

# HAProxy is installed by the test command (scripts/test.sh); without it these fail.
pytestmark = [pytest.mark.timeout(120)]


async def ask_help(harness: Harness, user_ids: range) -> None:
    for user_id in user_ids:
        user = harness.server.user(user_id, f"Hook{user_id}")
        await user.send("/help")
        reply = await user.wait_for_reply(30)
        assert "What I can do" in reply.body, reply.body


async def test_instances_share_one_webhook_and_one_stopping_leaves_it_to_the_others(
    harness: Harness, tmp_path: Path
) -> None:
    """Two instances register the same URL (HAProxy's) and secret, and neither drops pending
    updates; both serve updates. The first one stopped with SIGTERM exits cleanly and does
    not delete the webhook: the other one goes on answering every chat through it."""
    server = harness.server
    server.webhook_timeout = 5
    environ = bot_environment(harness.config, server)
    async with BotTier(environ, tmp_path / "tier", 2, balance="roundrobin") as tier:
        assert (server.webhook_url, server.webhook_secret) == (tier.url, tier.secret)
        registered = server.calls_to("setWebhook")
        assert len(registered) == 2
        assert {call.params["url"] for call in registered} == {tier.url}
        assert not any(call.params.get("drop_pending_updates") for call in registered)

        await ask_help(harness, range(76001, 76007))
        served = tier.sessions()
        assert served["bot1"] >= 2 and served["bot2"] >= 2, served

        assert await tier.stop_instance(1, signal.SIGTERM) == 0
        assert server.webhook_url == tier.url
        assert server.calls_to("deleteWebhook") == []

        before = tier.sessions()["bot2"]
        await ask_help(harness, range(76001, 76007))
        assert tier.sessions()["bot2"] >= before + 6
    assert server.calls_to("deleteWebhook") == []


async def test_instances_without_a_webhook_secret_set_still_agree_on_one(
    harness: Harness, tmp_path: Path
) -> None:
    """No WEBHOOK_SECRET in the instances' settings: each works the secret out from the bot's
    token, so both register the same one and both serve (a secret made up per instance locked
    out all but the last one started: 403 to every update the other was sent)."""
    server = harness.server
    server.webhook_timeout = 5
    environ = bot_environment(harness.config, server)
    environ.pop("WEBHOOK_SECRET", None)
    async with BotTier(environ, tmp_path / "tier", 2, balance="roundrobin", secret=None) as tier:
        registered = {call.params.get("secret_token") for call in server.calls_to("setWebhook")}
        assert len(registered) == 1 and server.webhook_secret in registered
        token = harness.config.bot_token or ""
        assert server.webhook_secret == derived_webhook_secret(token) != token
        await ask_help(harness, range(76201, 76207))
        served = tier.sessions()
        assert served["bot1"] >= 2 and served["bot2"] >= 2, served


async def test_a_payment_whose_steps_land_on_different_instances_finishes(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HAProxy in turn (roundrobin) over two instances: each step of the paying journey
    (/dashboard, /bills, /pay, the bill, another amount, 5.00, account credit, confirm) goes
    to the other instance than the step before; with the conversation state in the database
    (STATE_STORE=database) the payment is recorded once and its receipt arrives."""
    server = harness.server
    server.webhook_timeout = 5
    customer = await make_customer(harness.admin_db, full_name="Round Robin")
    bill = await make_bill(harness.admin_db, customer, units="1000", rate="10")
    await give_credit(harness.admin_db, bill, "100.00")
    user = server.user(76100, "Robin")
    await link_telegram(harness.admin_db, customer.customer_id, user.id)
    monkeypatch.setattr(bench_bot, "STEP_TIMEOUT", 15.0)  # each step's wait for the bot
    outcome = Outcome()
    environ = {**bot_environment(harness.config, server), "STATE_STORE": "database"}
    async with BotTier(environ, tmp_path / "tier", 2, balance="roundrobin") as tier:
        await journey(user, outcome, deadline=float("inf"))
        served = tier.sessions()
    assert served["bot1"] >= 4 and served["bot2"] >= 4, served
    recorded = await sql_rows(
        harness.admin_db,
        "SELECT receipt_number FROM payments WHERE bill_id = %s",
        (bill.bill_id,),
    )
    assert [str(row[0]) for row in recorded] == outcome.receipts


async def test_updates_a_killed_instance_held_unfinished_are_handled_by_the_other(
    harness: Harness, tmp_path: Path
) -> None:
    """Issue 16's gap: every user's /help is in an instance's handlers (the replies held at
    the Bot API) when instance 1 is SIGKILLed. Its webhook requests were never answered (an
    instance answers once the update is handled), so Telegram delivers those updates again;
    instance 2 is told to retry them (503) while their claims' leases run, then takes them
    over and handles them. Every user gets exactly one answer, none twice."""
    server = harness.server
    server.webhook_timeout = 20
    server.webhook_retry_max = 2
    users = [server.user(76200 + n, f"Kill{n}") for n in range(8)]
    environ = bot_environment(harness.config, server)
    async with BotTier(environ, tmp_path / "tier", 2, balance="roundrobin") as tier:
        server.hold("sendMessage")
        try:
            for user in users:
                await user.send("/help")
            await until(lambda: server.held_calls == len(users), 30, "every update handled")
            on_first = tier.sessions()["bot1"]
            assert 1 <= on_first < len(users), tier.sessions()
            assert await tier.stop_instance(1, signal.SIGKILL) == -signal.SIGKILL
            # The killed instance's calls are dropped with its connections, never carried out.
            await until(lambda: server.held_calls == len(users) - on_first, 10, "calls dropped")
        finally:
            server.release("sendMessage")
        replies = [await user.wait_for_reply(60) for user in users]
        await asyncio.sleep(1)  # nothing more comes
    assert all("What I can do" in reply.body for reply in replies)
    assert [len(user.messages()) for user in users] == [1] * len(users)
    told_to_retry = {d.update_id for d in server.webhook_deliveries if d.status == 503}
    assert len(told_to_retry) == on_first
    rows = await sql_rows(harness.admin_db, "SELECT finished_at FROM processed_updates")
    assert len(rows) == len(users) and all(row[0] is not None for row in rows)


async def test_a_polling_instance_does_not_take_the_webhook_the_others_serve(
    harness: Harness, tmp_path: Path
) -> None:
    """A webhook is set (instances serve it) and one more instance is started without
    --webhook, its chats' state in the database as the instances' is: it says why it will not
    poll and exits 2, and the webhook stays (polling would have deleted it)."""
    server = harness.server
    url = "http://127.0.0.1:9/telegram"
    async with Bot(server.token, base_url=server.base_url) as bot:
        await bot.set_webhook(url, secret_token="shared-secret")
    environ = bot_environment(harness.config, server, STATE_STORE="database")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(RUN_BOT),
        "run",
        cwd=tmp_path,
        env=environ,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:  # one that polls on (the bug) must not outlive the test
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 2, (out + err).decode()
    said = err.decode()
    assert f"This bot's updates go to a webhook ({url})" in said
    assert "run --webhook URL" in said and "Traceback" not in said
    assert server.webhook_url == url
    assert server.calls_to("deleteWebhook") == [] and server.calls_to("getUpdates") == []
