"""Receipts (and bill statements) are drawn in a worker process, so no document ever holds up
the bot's event loop.

A receipt costs ~20 ms of CPU in fpdf2 and fontTools. Drawn in a thread it still shares the
GIL with the event loop: measured here, the loop then stalled 20–60 ms per receipt, and every
other chat waited with it. In a worker process the loop only hands over the receipt and
receives the bytes (well under a millisecond).

Workers are forked from a ``forkserver`` that has already imported the renderer, and use the
font subset the bot prepared once (``fonts.receipt_font``). A worker that dies is replaced on
the next receipt; the receipt that was being drawn is drawn in a thread instead (and if
workers keep dying, every receipt is: slower for the loop, but receipts still go out).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import tzinfo
from functools import partial
from pathlib import Path

from domain.models import Receipt
from domain.money import Currency
from handlers.render import fonts
from handlers.render.receipt import render_receipt_pdf

log = logging.getLogger(__name__)

MAX_RESTARTS = 3
# One worker per core, up to four: a receipt is ~20 ms of one core's time.
RECEIPT_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _start_worker(font: Path, bot: int) -> None:
    fonts.use_prepared(font)
    threading.Thread(target=_exit_with_the_bot, args=(bot,), daemon=True).start()


def _exit_with_the_bot(bot: int) -> None:
    # A bot that is killed (SIGKILL, OOM) cannot tell its workers to stop, and a worker
    # waiting for work would wait forever — keeping the forkserver, and the bot's stdout,
    # alive with it. So each worker watches the bot and leaves when it is gone.
    while True:
        time.sleep(0.5)
        try:
            os.kill(bot, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # the pid was reused by someone else's process: gone too
            os._exit(0)


class ReceiptRenderer:
    """A small pool of receipt-drawing processes, started on the first receipt."""

    def __init__(self, workers: int = RECEIPT_WORKERS) -> None:
        self._workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None
        self._starting: asyncio.Lock | None = None
        self._failures = 0  # workers lost in a row

    async def _pool(self) -> ProcessPoolExecutor:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._executor is None:
                font = await asyncio.to_thread(fonts.receipt_font)  # ~0.3 s, once
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(
                    ["handlers.render.receipt", "handlers.render.statement"]
                )
                self._executor = ProcessPoolExecutor(
                    self._workers,
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(font, os.getpid()),
                )
            return self._executor

    async def render(
        self,
        receipt: Receipt,
        *,
        utility_name: str,
        currency: Currency,
        timezone: tzinfo,
        contact: str = "",
    ) -> bytes:
        """The receipt's PDF, drawn in a worker process."""
        return await self.draw(
            partial(
                render_receipt_pdf,
                receipt,
                utility_name=utility_name,
                currency=currency,
                timezone=timezone,
                contact=contact,
            )
        )

    async def warm_up(self) -> None:
        """Start the workers now rather than on the first document (~1–3 s here), for a
        session where the first document should come as fast as the rest (the sandbox)."""
        if self._failures < MAX_RESTARTS:
            executor = await self._pool()
            await asyncio.get_running_loop().run_in_executor(executor, int)

    async def draw(self, draw: Callable[[], bytes]) -> bytes:
        """``draw()`` (a picklable call of a renderer) run in a worker process."""
        if self._failures >= MAX_RESTARTS:
            return await asyncio.to_thread(draw)
        executor = await self._pool()
        try:
            pdf = await asyncio.get_running_loop().run_in_executor(executor, draw)
        except BrokenProcessPool:
            self._failures += 1
            if self._failures >= MAX_RESTARTS:
                log.error("receipt workers keep dying; drawing receipts in threads from now on")
            else:
                log.warning("a receipt worker died; a new one starts on the next receipt")
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(draw)
        self._failures = 0
        return pdf

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
