"""Each update handled once, however many times Telegram delivers it (issue 16).

Telegram delivers a webhook update again when the first delivery was not answered with a 2xx
in time, and behind a load balancer the second delivery may reach another bot instance. The
webhook is answered only after the update is handled (``bot.webhook_server``), so a delivery
to an instance that dies half-way is delivered again too. :class:`OnceUpdateProcessor`
(``build_application(dedupe_updates=True)``, which webhook mode turns on) claims each update's
id in the database (``domain.once.claim_update``, a lease) before PTB processes the update at
all, and marks it finished once the handlers are done. A redelivery of a finished update is
dropped without a word (answered 200): no handler runs, no conversation or user data is read
or written for it, no slot is taken. A redelivery while another delivery's claim is still
leased raises :class:`UpdateHeld` (the webhook answers 503, and the sender tries again
later); one whose claim's lease ran out unfinished takes it over and handles the update.
Long polling needs none of this: the getUpdates offset already hands each update out once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update

from bot.update_processor import ChatOrderedUpdateProcessor
from domain import once
from domain.db import Database

log = logging.getLogger(__name__)


class UpdateHeld(Exception):
    """Another delivery of this update holds its claim and is still at it: answer so that
    the sender delivers it again later."""

    def __init__(self, update_id: int) -> None:
        super().__init__(f"update {update_id} is being handled by another delivery")
        self.update_id = update_id


def _no_database() -> Database | None:
    return None


class OnceUpdateProcessor(ChatOrderedUpdateProcessor):
    """The chat-ordered processor, with a redelivered update dropped (or sent back to retry)
    before its turn, and each update's claim finished after its handlers.

    ``database`` gives the pool the claims are made with (the admin account's, opened in
    post_init); ``build_application`` sets it.
    """

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self.database: Callable[[], Database | None] = _no_database

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update):
            await super().do_process_update(update, coroutine)
            return
        db = self.database()
        claim = await self._claim(db, update)
        if isinstance(claim, once.Redelivery):
            if inspect.iscoroutine(coroutine):  # never to run: no "never awaited" warning
                coroutine.close()
            if claim is once.Redelivery.HELD:
                log.info("update %s is being handled elsewhere; retry later", update.update_id)
                raise UpdateHeld(update.update_id)
            log.info("update %s was delivered again; dropped", update.update_id)
            return
        if claim is None or db is None:  # fail open: handled unclaimed
            await super().do_process_update(update, coroutine)
            return
        if claim.taken_over:
            log.warning("update %s taken over from an instance that stopped", update.update_id)
        lease = asyncio.create_task(once.keep_update_lease(db, claim))
        try:
            await super().do_process_update(update, coroutine)
        except Exception:
            await self._finish(db, claim)  # the handlers ran, and the error handler spoke
            raise
        else:
            await self._finish(db, claim)
        finally:
            lease.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lease

    async def _claim(
        self, db: Database | None, update: Update
    ) -> once.UpdateClaim | once.Redelivery | None:
        """The update's claim, the redelivery it is, or None when no claim could be made.

        When the claim cannot be made (no pool yet, the database unreachable, or the claim's
        COMMIT unanswered) the update is handled anyway — it fails *open*. A redelivery is
        rare (a webhook answer that came too late, or an instance that died), and every write
        that moves money is idempotent in the database on its own (payment idempotency keys,
        the charge id's unique key), so the worst a duplicate handled can do is send a second
        reply; failing closed would instead drop every update while the database is away, and
        with it the "please try again" the handlers give then. The failure is logged, never
        raised.
        """
        if db is None:
            log.warning("no database to claim update %s; handling it", update.update_id)
            return None
        try:
            return await once.claim_update(db, update.update_id)
        except Exception:
            log.warning(
                "could not claim update %s; handling it unclaimed", update.update_id, exc_info=True
            )
            return None

    @staticmethod
    async def _finish(db: Database, claim: once.UpdateClaim) -> None:
        """Mark the claim finished; a failure is logged (the lease then runs out, and a
        redelivery after it is handled again — the fail-open case above)."""
        try:
            if not await once.finish_update(db, claim):
                log.warning("update %s was taken over while it was handled", claim.update_id)
        except Exception:
            log.warning("could not finish update %s", claim.update_id, exc_info=True)
