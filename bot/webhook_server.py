"""The webhook's HTTP server: an update is answered after it is handled, not when queued.

PTB's own webhook server (``run_webhook``) answers 200 as soon as an update is put in its
queue, so an instance that is killed loses the updates it had acknowledged and not finished
(docs/scaling.md "When a piece dies"). This small aiohttp server hands each update to the
update processor and waits for its handlers before answering:

* 200 — handled (or a redelivery of an update handled already, dropped);
* 503 — another delivery of the same update holds its claim and is still at it
  (``bot.once_updates.UpdateHeld``): Telegram delivers it again later;
* 403 — the ``X-Telegram-Bot-Api-Secret-Token`` header is missing or wrong, or the body is
  not JSON by its content type; nothing is read further;
* 400 — a body that is not an update;
* 404 — any path but the webhook's (with or without a trailing slash); 405 — any method but
  POST there (HAProxy's health check is a GET of the path, expecting 405).

If the instance dies before answering, Telegram delivers the update again (through the load
balancer, to an instance still up), and the update's claim, whose lease then runs out, is
taken over there. Only PTB's public API is used: ``Update.de_json``, the application's
``initialize/start/stop/shutdown`` and ``update_processor.process_update``, and
``bot.set_webhook``. Stopping never deletes the webhook (the other instances serve it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ExtBot

from bot.once_updates import UpdateHeld

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
# Seconds a stopping server waits for the updates in hand to be handled before cutting them.
SHUTDOWN_GRACE = 60.0
# Seconds Telegram is asked to wait before delivering a held update again (it may not).
RETRY_AFTER = 5

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class WebhookOptions:
    """Where the webhook listens, the URL Telegram is given and the secret it must send."""

    listen: str
    port: int
    path: str  # the URL's path, without a trailing slash ("" for the root)
    webhook_url: str
    secret_token: str
    allowed_updates: Sequence[str]


def webhook_app(application: AnyApplication, options: WebhookOptions) -> web.Application:
    """The aiohttp application serving ``options.path`` for ``application``."""
    secret = options.secret_token.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(given.encode(), secret):
            return web.Response(status=403, text="secret token missing or wrong")
        if request.content_type != "application/json":
            return web.Response(status=403, text="not JSON")
        try:
            data = json.loads(await request.read())
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            update = Update.de_json(data, application.bot)
        except Exception as exc:  # its text may quote the body: the class name only
            log.warning("a webhook request that is not an update was refused (%s)", type(exc))
            return web.Response(status=400, text="not an update")
        if isinstance(application.bot, ExtBot):  # as PTB's webhook does (a no-op without
            application.bot.insert_callback_data(update)  # arbitrary callback data)
        try:
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        except UpdateHeld:
            return web.Response(status=503, headers={"Retry-After": str(RETRY_AFTER)})
        return web.Response(status=200)

    app = web.Application()
    path = options.path or "/"
    app.router.add_post(path, receive)
    if options.path:
        app.router.add_post(f"{options.path}/", receive)
    return app


@contextlib.asynccontextmanager
async def serving_webhook(
    application: AnyApplication, options: WebhookOptions, *, set_webhook: bool = True
) -> AsyncIterator[None]:
    """Serve the webhook for an initialized ``application`` until the block ends, then stop
    taking requests and let the updates in hand finish (``SHUTDOWN_GRACE``).

    With ``set_webhook`` the URL and secret are registered with Telegram once the server
    listens (never dropping pending updates); nothing ever deletes the webhook."""
    runner = web.AppRunner(
        webhook_app(application, options),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=SHUTDOWN_GRACE,
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, options.listen, options.port).start()
        if set_webhook:
            await application.bot.set_webhook(
                options.webhook_url,
                secret_token=options.secret_token,
                allowed_updates=list(options.allowed_updates),
            )
        yield
    finally:
        await runner.cleanup()


async def serve(application: AnyApplication, options: WebhookOptions) -> None:
    """Run ``application`` in webhook mode until SIGINT or SIGTERM, as PTB's ``run_webhook``
    does (post_init, start, … stop, post_stop, shutdown, post_shutdown), then return."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopping.set)
    await application.initialize()
    try:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        try:
            async with serving_webhook(application, options):
                log.info("webhook served at %s", options.webhook_url)
                await stopping.wait()
                log.info("stopping: finishing the updates in hand")
        finally:
            await application.stop()
            if application.post_stop:
                await application.post_stop(application)
    finally:
        await application.shutdown()
        if application.post_shutdown:
            await application.post_shutdown(application)


def run_webhook(application: AnyApplication, options: WebhookOptions) -> None:
    """Run :func:`serve` in a new event loop until stopped."""
    asyncio.run(serve(application, options))
