"""The bot's bound on Bot API requests in flight (bot/rate_limits.py): replies queue for a slot,
a pre-checkout answer never does (Telegram waits at most 10 s for it, and under load the queue
for slots is where its p99 went: docs/benchmarks.md, "Card payments")."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.rate_limits import ReplyFirstRateLimiter


async def test_a_pre_checkout_answer_does_not_wait_for_a_request_slot() -> None:
    limiter = ReplyFirstRateLimiter(bulk_per_second=0, max_in_flight=1)
    await limiter.initialize()
    release = asyncio.Event()

    async def slow(*_: Any, **__: Any) -> bool:
        await release.wait()
        return True

    async def quick(*_: Any, **__: Any) -> bool:
        return True

    try:
        upload = asyncio.create_task(
            limiter.process_request(slow, (), {}, "sendDocument", {}, None)
        )
        await asyncio.sleep(0.05)  # the one slot is taken
        reply = asyncio.create_task(
            limiter.process_request(quick, (), {}, "sendMessage", {}, None)
        )
        await asyncio.sleep(0.05)
        assert not reply.done()  # an ordinary reply waits for the slot…
        answered = await asyncio.wait_for(
            limiter.process_request(quick, (), {}, "answerPreCheckoutQuery", {}, None), 1
        )
        assert answered is True  # …the pre-checkout answer goes at once
        assert not reply.done()
        release.set()
        assert await upload is True and await reply is True
    finally:
        release.set()
        await limiter.shutdown()
