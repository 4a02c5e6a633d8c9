"""The fake Bot API server pushes updates to a webhook as Telegram does: JSON with the secret
token, sent again until answered 2xx in time, each chat's updates in order."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram.error import Conflict

from fake_telegram import FakeTelegramServer
from fake_telegram.webhook import SECRET_HEADER
from tests.test_fake_telegram import TOKEN, bare_bot, build_application

pytestmark = pytest.mark.timeout(30)

SECRET = "s3cret-TOKEN_1"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Arrival:
    update: dict[str, Any]
    secret: str | None
    at: float

    @property
    def text(self) -> str:
        return str(self.update.get("message", {}).get("text"))


@dataclass
class Receiver:
    """A webhook endpoint whose answer to each request the test decides."""

    answer: Callable[[Arrival], Awaitable[int]]
    arrivals: list[Arrival] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        arrival = Arrival(
            await request.json(), request.headers.get(SECRET_HEADER), time.monotonic()
        )
        self.arrivals.append(arrival)
        return web.Response(status=await self.answer(arrival))

    def texts(self) -> list[str]:
        return [arrival.text for arrival in self.arrivals]


async def answer_ok(arrival: Arrival) -> int:
    return 200


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as running:
        running.webhook_timeout = 0.3
        running.webhook_retry_delay = 0.05
        yield running


@asynccontextmanager
async def serve(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def test_a_ptb_bot_on_a_webhook_gets_the_updates_with_the_secret_and_polling_conflicts(
    server: FakeTelegramServer,
) -> None:
    """PTB's own webhook server (start_webhook) registers the URL and secret; what the user
    sends reaches it by push and the answers reach the user; getUpdates is refused."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg"
    application = build_application(server)
    user = server.user(601, "Ada")
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_webhook(
            listen="127.0.0.1", port=port, url_path="tg", webhook_url=url, secret_token=SECRET
        )
        try:
            await user.send("hello")
            assert (await user.wait_for_reply(5)).text == "echo: hello"
            await user.send("/menu")
            await user.wait_for_reply(5)
            await user.press("Yes ✅")
            await user.wait_for_edit(timeout=5)
            async with bare_bot(server) as bot:
                info = await bot.get_webhook_info()
                with pytest.raises(Conflict, match="webhook is active"):
                    await bot.get_updates()
        finally:
            await application.updater.stop()
            await application.stop()
    assert (server.webhook_url, server.webhook_secret) == (url, SECRET)
    assert info.url == url and info.pending_update_count == 0 and info.max_connections == 40
    assert [(d.attempt, d.status, d.error) for d in server.webhook_deliveries] == [
        (1, 200, ""),
        (1, 200, ""),
        (1, 200, ""),
    ]
    assert [c.status for c in server.calls_to("getUpdates")] == [409]


async def test_an_update_not_answered_2xx_in_time_is_sent_again_and_its_chat_waits(
    server: FakeTelegramServer,
) -> None:
    """The first update of one chat is answered 500, then not in time (the receiver got it:
    a duplicate), then 200. The same chat's next update comes only after that; another
    chat's update is not held up meanwhile."""
    tries: dict[int, int] = {}

    async def flaky(arrival: Arrival) -> int:
        update_id = arrival.update["update_id"]
        tries[update_id] = tries.get(update_id, 0) + 1
        if arrival.text == "first" and tries[update_id] == 1:
            return 500
        if arrival.text == "first" and tries[update_id] == 2:
            await asyncio.sleep(1.0)  # past the server's 0.3 s
        return 200

    async with serve(Receiver(flaky)) as receiver:
        async with bare_bot(server) as bot:
            assert await bot.set_webhook(receiver.url, secret_token=SECRET)
            slow, other = server.user(611, "Slow"), server.user(612, "Other")
            first = await slow.send("first")
            await slow.send("second")
            await other.send("elsewhere")
            await until(lambda: receiver.texts().count("second") == 1)
            info = await bot.get_webhook_info()
    texts = receiver.texts()
    assert texts.count("first") == 3, texts
    assert texts.index("elsewhere") < len(texts) - 1 - texts[::-1].index("first")
    last_first = max(a.at for a in receiver.arrivals if a.text == "first")
    second = next(a for a in receiver.arrivals if a.text == "second")
    assert second.at > last_first
    assert {a.secret for a in receiver.arrivals} == {SECRET}
    attempts = [(d.attempt, d.status) for d in server.webhook_deliveries]
    first_attempts = [
        (d.attempt, d.status, d.error[:20])
        for d in server.webhook_deliveries
        if d.update_id == first["update_id"]
    ]
    assert first_attempts == [
        (1, 500, "Wrong response from "),
        (2, 0, "Read timeout expired"),
        (3, 200, ""),
    ], attempts
    assert server.webhook_retries == 2
    assert info.last_error_message == "Read timeout expired"
    assert info.pending_update_count == 0


async def test_a_webhook_nobody_answers_keeps_its_updates_for_get_updates_once_deleted(
    server: FakeTelegramServer,
) -> None:
    """Nothing listens at the URL: the update is tried again and again and stays pending;
    once the webhook is deleted, getUpdates hands it out. Setting the same URL again (as
    another instance starting does) keeps what is pending; drop_pending_updates drops it."""
    user = server.user(621, "Ben")
    async with bare_bot(server) as bot:
        await bot.set_webhook(f"http://127.0.0.1:{free_port()}/hook")
        sent = await user.send("are you there")
        await until(lambda: server.webhook_retries >= 2)
        assert (await bot.get_webhook_info()).pending_update_count == 1
        await bot.delete_webhook()
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [sent["update_id"]]
        assert updates[0].message is not None and updates[0].message.text == "are you there"

        url = f"http://127.0.0.1:{free_port()}/hook"
        await bot.set_webhook(url)
        await bot.set_webhook(url)
        await until(lambda: server.webhook_retries >= 4)
        assert (await bot.get_webhook_info()).pending_update_count == 1
        await bot.set_webhook(url, drop_pending_updates=True)
        assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_chats_are_pushed_side_by_side_up_to_max_connections(
    server: FakeTelegramServer,
) -> None:
    """Six chats, a receiver that takes 0.2 s per request and max_connections=3: three at
    a time, never more, so the six take about two rounds."""
    in_flight, most = 0, 0

    async def slow(arrival: Arrival) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.2)
        in_flight -= 1
        return 200

    server.webhook_timeout = 5
    async with serve(Receiver(slow)) as receiver:
        async with bare_bot(server) as bot:
            await bot.set_webhook(receiver.url, max_connections=3)
            for n in range(6):
                await server.user(630 + n, f"U{n}").send(f"m{n}")
            await until(lambda: server.webhook_delivered == 6)
    assert most == 3
    assert sorted(receiver.texts()) == [f"m{n}" for n in range(6)]


async def test_control_actions_of_a_standalone_server_answer_json(
    server: FakeTelegramServer,
) -> None:
    """A control action (fake_telegram.standalone) is served at /control/<token>/<name>."""

    async def echo(running: FakeTelegramServer, params: dict[str, Any]) -> dict[str, Any]:
        return {"users": len(running.users), **params}

    async with FakeTelegramServer(TOKEN) as plain:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{plain.url}/control/{TOKEN}/echo", json={}) as response:
                assert response.status == 404
    await server.stop()
    server.add_control("echo", echo)
    await server.start()
    server.user(640, "Cy")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.url}/control/{TOKEN}/echo", json={"a": 1}) as response:
            assert await response.json() == {"ok": True, "result": {"users": 1, "a": 1}}
        async with http.post(f"{server.url}/control/WRONG/echo", json={}) as response:
            assert response.status == 404


async def test_python_m_fake_telegram_serves_on_its_port_until_sigterm(tmp_path: Path) -> None:
    """The standalone server: the Bot API and the status action on the port given, its pid
    in the pid file; SIGTERM ends it cleanly."""
    port = free_port()
    pid_file = tmp_path / "fake.pid"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "fake_telegram",
        "--port",
        str(port),
        "--token",
        TOKEN,
        "--pid-file",
        str(pid_file),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert f"127.0.0.1:{port}" in line.decode()
        assert int(pid_file.read_text()) == process.pid
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe") as response:
                assert (await response.json())["result"]["is_bot"] is True
            async with http.post(f"http://127.0.0.1:{port}/control/{TOKEN}/status") as response:
                status = (await response.json())["result"]
        assert status["url"] == "" and status["delivered"] == 0
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
