"""A bot in its own process, for the end-to-end benchmark: ``python -m benchmarks.bot_process
billing|bare|bare-aiohttp CONCURRENCY``.

``billing`` is the real bot (``build_application``) on the benchmark database; ``bare`` is a
PTB bot with the same update processor and rate limiter that answers every message and
button with "ok" (on PTB's httpx transport; ``bare-aiohttp`` on the billing bot's). The
configuration comes from the environment (as ``run_bot.py`` reads it). The process prints
``ready`` once it polls, runs until its stdin closes, then prints its peak memory as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.aiohttp_request import AiohttpRequest
from bot.application import build_application, post_init, post_shutdown
from bot.config import load_config
from bot.rate_limits import ReplyFirstRateLimiter
from bot.update_processor import ChatOrderedUpdateProcessor


async def _ok(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Reply "ok" to a message; answer a button and edit its message to "ok"."""
    query = update.callback_query
    if query is not None:
        await query.answer()
        await query.edit_message_text("ok")
    elif update.effective_message is not None:
        await update.effective_message.reply_text("ok")


def bare_application(
    concurrency: int, *, aiohttp: bool
) -> Application[Any, Any, Any, Any, Any, Any]:
    """PTB with the billing bot's update processor and rate limiter and no handlers but one;
    on PTB's own httpx transport, or on the billing bot's aiohttp one."""
    config = load_config(environ=os.environ, env_file=None)
    base = (config.bot_api_base_url or "").rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(config.require_token())
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .rate_limiter(ReplyFirstRateLimiter(max_retries=3))
        .concurrent_updates(ChatOrderedUpdateProcessor(concurrency))
    )
    if aiohttp:
        builder = builder.request(AiohttpRequest()).get_updates_request(
            AiohttpRequest(connection_pool_size=1)
        )
    application = builder.build()
    application.add_handler(MessageHandler(filters.ALL, _ok))
    application.add_handler(CallbackQueryHandler(_ok))
    return application


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


async def serve(kind: str, concurrency: int) -> None:
    if kind == "billing":
        config = load_config(environ=os.environ, env_file=None)
        extra: dict[str, Any] = {}
        if os.environ.get("BENCH_MAX_IN_FLIGHT"):  # investigations: other bounds than ours
            extra["max_requests_in_flight"] = int(os.environ["BENCH_MAX_IN_FLIGHT"])
        application: Any = build_application(config, concurrent_updates=concurrency, **extra)
    else:
        application = bare_application(concurrency, aiohttp=kind == "bare-aiohttp")
    async with application:
        if kind == "billing":
            await post_init(application)
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=10)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the benchmark closes our stdin
        await application.updater.stop()
        await application.stop()
        if kind == "billing":
            await post_shutdown(application)
    print(json.dumps({"peak_rss_kib": _peak_kib()}), flush=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="bot: %(levelname)s %(name)s: %(message)s")
    kind, concurrency = sys.argv[1], int(sys.argv[2])
    profile = os.environ.get("BENCH_PROFILE")  # a file for cProfile's stats (investigations)
    if profile:
        import cProfile

        cProfile.runctx("asyncio.run(serve(kind, concurrency))", globals(), locals(), profile)
    else:
        asyncio.run(serve(kind, concurrency))


if __name__ == "__main__":
    main()
