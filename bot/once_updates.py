"""Each update handled once, however many times Telegram delivers it (issue 16).

Telegram delivers a webhook update again when the first delivery was not answered with a 2xx
in time, and behind a load balancer the second delivery may reach another bot instance.
:class:`OnceUpdateProcessor` (``build_application(dedupe_updates=True)``, which webhook mode
turns on) claims each update's id in the database (``domain.once.claim_update``) before PTB
processes the update at all, and drops one whose id is claimed already without a word: no
handler runs, no conversation or user data is read or written for it, no slot is taken.
Long polling needs none of this: the getUpdates offset already hands each update out once.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update

from bot.update_processor import ChatOrderedUpdateProcessor
from domain import once
from domain.db import Database

log = logging.getLogger(__name__)


def _no_database() -> Database | None:
    return None


class OnceUpdateProcessor(ChatOrderedUpdateProcessor):
    """The chat-ordered processor, with a redelivered update dropped before its turn.

    ``database`` gives the pool the claims are made with (the admin account's, opened in
    post_init); ``build_application`` sets it.
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self.database: Callable[[], Database | None] = _no_database

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        # Telegram numbers updates from 1; the bot's own work in a chat's turn (the shared
        # state's sweep of timed-out conversations, bot.shared_state) comes as update 0.
        if (
            isinstance(update, Update)
            and update.update_id > 0
            and not await self._first_delivery(update)
        ):
            if inspect.iscoroutine(coroutine):  # never to run: no "never awaited" warning
                coroutine.close()
            return
        await super().do_process_update(update, coroutine)

    async def _first_delivery(self, update: Update) -> bool:
        """True unless another delivery of ``update`` was claimed first, here or elsewhere.

        When the claim cannot be made (no pool yet, the database unreachable, or the claim's
        COMMIT unanswered) the update is handled anyway — it fails *open*. A redelivery is
        rare (a webhook answer that came too late), and every write that moves money is
        idempotent in the database on its own (payment idempotency keys, the charge id's
        unique key), so the worst a duplicate handled can do is send a second reply; failing
        closed would instead drop every update while the database is away, and with it the
        "please try again" the handlers give then. The failure is logged, never raised.
        """
        db = self.database()
        if db is None:
            log.warning("no database to claim update %s; handling it", update.update_id)
            return True
        try:
            first = await once.claim_update(db, update.update_id)
        except Exception:
            log.warning(
                "could not claim update %s; handling it unclaimed", update.update_id, exc_info=True
            )
            return True
        if not first:
            log.info("update %s was delivered again; dropped", update.update_id)
        return first
