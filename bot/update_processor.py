"""Process many chats' updates at once while each chat's updates stay in order.

PTB handles one update at a time by default, which caps a bot at one Telegram round trip per
update. Conversations are only correct if a chat's own updates are handled in the order they
came, so updates are serialised per chat (a FIFO lock per chat) and run concurrently across
chats, up to ``slots`` (the number the processor is made with) running at once.

An update only takes one of those slots once it is its chat's turn: PTB's own semaphore is
held around the whole of :meth:`do_process_update`, so it is made wide here and the limit
applied after the wait (otherwise a chat whose user taps fast could hold many slots just
waiting). A handler can also hand work off to run after it returns, still in its chat's turn
but without a slot (:func:`after_update`): a receipt waiting to be drawn in another process
then keeps its own chat waiting, not everybody's.

Telegram's payment updates do not queue for a slot (:meth:`_urgent`): Telegram waits at most
10 seconds for a pre-checkout answer, and a successful payment is money already taken that the
payer is waiting to see acknowledged. Both are one short transaction; a successful payment
still waits for its chat's turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

log = logging.getLogger(__name__)

_WIDE = 1_000_000  # PTB's semaphore: never the limit (see the module docstring)


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 64) -> None:
        # Updates handled at once (PTB's own semaphore, sized by the number passed up, is made
        # wide: see the module docstring); 1 keeps PTB's one-update-at-a-time processing.
        self.slots = max(1, max_concurrent_updates)
        super().__init__(1 if self.slots == 1 else _WIDE)
        self._slots: asyncio.Semaphore | None = None
        self._running = 0
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._follow_ups: dict[int, list[Coroutine[Any, Any, Any]]] = {}

    @property
    def current_concurrent_updates(self) -> int:
        return self._running

    @staticmethod
    def _key(update: object) -> int | None:
        if isinstance(update, Update):
            if update.pre_checkout_query is not None:
                # Answered at once (Telegram waits at most 10 s), not behind the payer's other
                # updates: it reads the invoice and writes nothing, so its order is immaterial.
                return None
            if update.effective_chat is not None:
                return update.effective_chat.id
            if update.effective_user is not None:
                return update.effective_user.id
        return None

    @staticmethod
    def _urgent(update: object) -> bool:
        if not isinstance(update, Update):
            return False
        message = update.message
        return update.pre_checkout_query is not None or (
            message is not None and message.successful_payment is not None
        )

    @property
    def updates_in_progress(self) -> int:
        """Updates taken for a chat and not yet done with, their follow-ups included."""
        return sum(self._waiting.values())

    def follow_up(self, update: object, work: Coroutine[Any, Any, Any]) -> bool:
        """Run ``work`` once the handlers of ``update`` are done, before its chat's next
        update, holding no slot. False if ``update`` is not being processed here."""
        pending = self._follow_ups.get(id(update))
        if pending is None:
            return False
        pending.append(work)
        return True

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        run = self._run_now if self._urgent(update) else self._run
        if key is None:
            await run(coroutine)
            return
        await self._in_turn(key, update, run(coroutine))

    async def in_chat_turn(self, chat_id: int, work: Awaitable[Any]) -> None:
        """Run the bot's own ``work`` for a chat (no update was delivered: a timed-out
        conversation closed by the shared state's sweep) in the chat's turn, holding a slot,
        never beside one of the chat's updates."""
        await self._in_turn(chat_id, object(), self._run(work))

    async def _in_turn(self, key: int, token: object, running: Awaitable[Any]) -> None:
        """Await ``running`` once it is chat ``key``'s turn, then the work handed off by it
        (``follow_up`` of ``token``), before the chat's next turn."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                self._follow_ups[id(token)] = []
                try:
                    await running
                finally:
                    for work in self._follow_ups.pop(id(token)):
                        try:
                            await work
                        except Exception:  # the update's own handlers are done: log only
                            log.exception("work handed off by an update's handler failed")
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody else queued for this chat: forget its lock
                del self._waiting[key]
                self._locks.pop(key, None)

    async def _run(self, coroutine: Awaitable[Any]) -> None:
        if self._slots is None:  # made here, on the loop that uses it
            self._slots = asyncio.Semaphore(self.slots)
        async with self._slots:
            self._running += 1
            try:
                await coroutine
            finally:
                self._running -= 1

    async def _run_now(self, coroutine: Awaitable[Any]) -> None:
        self._running += 1
        try:
            await coroutine
        finally:
            self._running -= 1

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        self._locks.clear()
        self._waiting.clear()


async def after_update(
    application: Application[Any, Any, Any, Any, Any, Any],
    update: object,
    work: Coroutine[Any, Any, Any],
) -> None:
    """Hand ``work`` off to run right after this update's handlers, in its chat's turn but
    without one of the bot's slots; without a chat-ordered processor, run it now."""
    processor = application.update_processor
    if isinstance(processor, ChatOrderedUpdateProcessor) and processor.follow_up(update, work):
        return
    await work
