"""How fast the bot talks to Telegram: bulk sends paced, replies at once, requests bounded.

Telegram allows a bot about 30 messages a second when it *broadcasts* (new-bill notices,
reminders, staff alerts): those go through PTB's ``AIORateLimiter`` at that pace. A reply to
something a person just did is sent at once — pacing every reply at 30/s would cap the whole
bot at 30 updates a second however many chats it serves — and a 429 is still waited out and
retried like any other. Sends are marked as bulk with :func:`bulk_sends`.

Every request also waits for one of ``max_in_flight`` slots before it is sent, so a burst of
replies queues here, cheaply, rather than in the HTTP client's connection pool (httpx's slows
down badly once many requests wait in it, encode/httpx#3215: a bare bot measured here fell
from ~530 to ~130 updates/s at 48+ requests in flight). A pre-checkout answer does not wait
for a slot (``URGENT_ENDPOINTS``): Telegram gives it 10 s, and under load the queue for
slots is where its tail went (docs/benchmarks.md, "Card payments").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from telegram.ext import AIORateLimiter

MAX_IN_FLIGHT = 64
# Answered at once, never queued behind the bound: Telegram waits at most 10 s for it.
URGENT_ENDPOINTS = frozenset({"answerPreCheckoutQuery"})
JSONDict = dict[str, Any]

_bulk: ContextVar[bool] = ContextVar("bulk_sends", default=False)


@contextmanager
def bulk_sends() -> Iterator[None]:
    """Sends made inside this block (and tasks started in it) are paced as a broadcast."""
    token = _bulk.set(True)
    try:
        yield
    finally:
        _bulk.reset(token)


class ReplyFirstRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` for bulk sends; replies only wait out 429s; requests bounded."""

    def __init__(
        self,
        *,
        bulk_per_second: float = 30,
        max_retries: int = 3,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        # bulk_per_second 0: bulk sends are not paced either (a local server without limits).
        super().__init__(overall_max_rate=bulk_per_second, max_retries=max_retries)
        # No overall pace for replies; the per-group limit still applies (the bot only
        # serves private chats, so it never does).
        self._replies = AIORateLimiter(overall_max_rate=0, max_retries=max_retries)
        self._max_in_flight = max_in_flight
        self._slots: asyncio.Semaphore | None = None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if self._slots is None:  # made here, on the loop that uses it
            self._slots = asyncio.Semaphore(self._max_in_flight)
        slots = self._slots

        async def bounded(*a: Any, **kw: Any) -> bool | JSONDict | list[JSONDict]:
            # Only the HTTP call holds a slot, not the wait for the pace or a 429.
            if endpoint in URGENT_ENDPOINTS:
                return await callback(*a, **kw)
            async with slots:
                return await callback(*a, **kw)

        if _bulk.get():
            return await super().process_request(
                bounded, args, kwargs, endpoint, data, rate_limit_args
            )
        return await self._replies.process_request(
            bounded, args, kwargs, endpoint, data, rate_limit_args
        )
