"""Each update handled once, however many times Telegram delivers it (issue 16).

Telegram delivers a webhook update again when the first delivery was not answered with a 2xx
in time, and behind a load balancer the second delivery may reach another bot instance.
``drop_duplicates`` runs before every other handler (``bot.application`` registers it in the
lowest handler group when ``build_application(dedupe_updates=True)``, which webhook mode
turns on) and claims the update's id in the database (``domain.once.claim_update``); an
update whose id is claimed already is dropped without a word. Long polling needs none of
this: the getUpdates offset already hands each update to the one poller once.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.context import BillingContext
from domain import once

log = logging.getLogger(__name__)


async def drop_duplicates(update: Update, context: BillingContext) -> None:
    """Let the first delivery of an update through; stop any later one, silently.

    When the claim cannot be made (the database is unreachable, or the claim's COMMIT got no
    answer) the update is handled anyway — it fails *open*. A redelivery is rare (a webhook
    answer that came too late), and every write that moves money is idempotent in the
    database on its own (payment idempotency keys, the charge id's unique key), so the worst
    a duplicate handled can do is send a second reply; failing closed would instead drop
    every update while the database is away, and with it the "please try again" that the
    handlers give then. The failure is logged, never raised: an exception escaping here
    would reach the error handler and tell the user of a failure of ours.
    """
    try:
        first = await once.claim_update(context.admin_db, update.update_id)
    except Exception:
        log.warning(
            "could not claim update %s; handling it unclaimed", update.update_id, exc_info=True
        )
        return
    if not first:
        log.info("update %s was delivered again; dropped", update.update_id)
        raise ApplicationHandlerStop
