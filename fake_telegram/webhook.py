"""Webhook delivery as Telegram does it: while a webhook is set, every update is POSTed to its
URL as JSON, with the secret token given to setWebhook in ``X-Telegram-Bot-Api-Secret-Token``.

An update that is not answered 2xx within ``FakeTelegramServer.webhook_timeout`` seconds (no
connection, an error status, or no answer in time) is sent again after a pause that doubles
from ``webhook_retry_delay`` up to ``webhook_retry_max``, and the chat's later updates wait
behind it: each chat's updates arrive in order, chats are served side by side, at most
``max_connections`` (setWebhook's parameter, 40 by default) requests at once. An update the
bot received but answered too late is therefore delivered twice, as in real life.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

import aiohttp

from fake_telegram.records import JSONDict, WebhookDelivery, unix_time

if TYPE_CHECKING:
    from fake_telegram.server import FakeTelegramServer

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
DEFAULT_MAX_CONNECTIONS = 40


def chat_key(update: JSONDict) -> int | None:
    """The chat whose order an update keeps: its chat's id, a button's message's chat, or the
    sender (a pre-checkout query has no chat; its sender's private chat has the same id)."""
    for kind, body in update.items():
        if kind == "update_id" or not isinstance(body, dict):
            continue
        message = body.get("message")
        for chat in (body.get("chat"), message.get("chat") if isinstance(message, dict) else None):
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return int(chat["id"])
        sender = body.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


class WebhookPusher:
    """Pushes the server's queued updates to ``server.webhook_url`` until stopped."""

    def __init__(self, server: FakeTelegramServer, max_connections: int) -> None:
        self._server = server
        self._slots = asyncio.Semaphore(max(1, max_connections))
        self._queues: dict[int | None, deque[JSONDict]] = {}
        self._workers: dict[int | None, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._runner: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        """Updates taken for delivery and not yet answered 2xx."""
        return sum(len(queue) for queue in self._queues.values())

    def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self._session = aiohttp.ClientSession(connector=connector)
        self._runner = asyncio.ensure_future(self._run())

    async def stop(self) -> list[JSONDict]:
        """Stop delivering; return the updates not yet answered 2xx, oldest first (an update
        in flight may have reached the bot: it is returned too, as Telegram would keep it)."""
        tasks = [task for task in (self._runner, *self._workers.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        left = [update for queue in self._queues.values() for update in queue]
        self._queues.clear()
        self._workers.clear()
        return sorted(left, key=lambda update: int(update["update_id"]))

    async def _run(self) -> None:
        server = self._server
        while True:
            changed = server._updates_changed
            for update in server._take_all_updates():
                key = chat_key(update)
                self._queues.setdefault(key, deque()).append(update)
                if key not in self._workers:
                    self._workers[key] = asyncio.ensure_future(self._serve_chat(key))
            await changed.wait()

    async def _serve_chat(self, key: int | None) -> None:
        queue = self._queues[key]
        cancelled = False
        try:
            while queue:
                await self._deliver(queue[0])
                queue.popleft()
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if not cancelled:
                self._workers.pop(key, None)
                if not queue:
                    self._queues.pop(key, None)

    async def _deliver(self, update: JSONDict) -> None:
        server = self._server
        assert self._session is not None
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            attempt += 1
            headers = {SECRET_HEADER: server.webhook_secret} if server.webhook_secret else {}
            status, error = 0, ""
            started = loop.time()
            async with self._slots:
                try:
                    async with self._session.post(
                        server.webhook_url,
                        json=update,
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=server.webhook_timeout),
                    ) as response:
                        status = response.status
                        await response.read()
                        if not 200 <= status < 300:
                            error = f"Wrong response from the webhook: {status} {response.reason}"
                except TimeoutError:
                    error = "Read timeout expired"
                except aiohttp.ClientError as exc:
                    error = f"Connection failed: {exc.__class__.__name__}"
            delivery = WebhookDelivery(
                int(update["update_id"]),
                chat_key(update),
                attempt,
                status,
                error,
                loop.time() - started,
            )
            server._record_delivery(delivery)
            if not error:
                return
            server.last_webhook_error = (unix_time(), error)
            pause = min(server.webhook_retry_delay * 2 ** (attempt - 1), server.webhook_retry_max)
            await asyncio.sleep(pause)


def webhook_info(server: FakeTelegramServer) -> dict[str, Any]:
    """getWebhookInfo's answer."""
    info: dict[str, Any] = {
        "url": server.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": server.pending_update_count,
    }
    if server.webhook_url:
        info["max_connections"] = server.webhook_max_connections
        if server.allowed_updates:
            info["allowed_updates"] = list(server.allowed_updates)
    if server.last_webhook_error is not None:
        info["last_error_date"], info["last_error_message"] = server.last_webhook_error
    return info
