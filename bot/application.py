"""Builds the bot: handlers, persistence, pools, menus, error handler; runs it."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from telegram import (
    BotCommand,
    BotCommandScopeDefault,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BasePersistence,
    CallbackQueryHandler,
    ConversationHandler,
    Defaults,
    MessageHandler,
    PersistenceInput,
    TypeHandler,
    filters,
)

from bot.aiohttp_request import AiohttpRequest
from bot.config import Config
from bot.context import CONTEXT_TYPES, BillingApplication, BillingContext
from bot.log_hygiene import redact_secrets
from bot.once_updates import OnceUpdateProcessor
from bot.persistence import AtomicPicklePersistence, BatchingApplication
from bot.rate_limits import MAX_IN_FLIGHT, ReplyFirstRateLimiter
from bot.shared_state import SWEEP_SECONDS, DatabasePersistence
from bot.update_processor import ChatOrderedUpdateProcessor
from bot.webhook_server import WebhookOptions, run_webhook
from domain.db import Database
from domain.errors import DatabaseUnavailable, DomainError
from handlers import (
    card_payments,
    customer_account,
    customer_bills,
    customer_readings,
    payments,
    private_only,
    receipts,
    statements,
)
from handlers.admin_gate import UNKNOWN_COMMAND
from handlers.common import FLOW_TIMEOUT_SECONDS, NOOP_DATA, answer_query, conversation
from handlers.render.receipt_renderer import RECEIPT_WORKERS, ReceiptRenderer
from handlers.words import explain_html

log = logging.getLogger(__name__)

# The payment lane (bot_data.payments_db): connections of the admin account kept for recording
# card charges alone, opened at start (docs/benchmarks.md, "Card payments": 16 was too few).
PAYMENTS_POOL_SIZE = 32
# How long a starting instance waits for a database it cannot reach yet (seconds).
DATABASE_START_WAIT = 30.0

# Handler groups before group 0 (where every handler that answers is), lowest first.
PRIVATE_GATE_GROUP = -2
STAFF_SYNC_GROUP = -1

CUSTOMER_COMMANDS = [
    BotCommand("dashboard", "Balance, last bill and payment"),
    BotCommand("bills", "What you owe (/bills all: every bill)"),
    BotCommand("pay", "Pay a bill"),
    BotCommand("statement", "A bill's statement as a PDF"),
    BotCommand("receipt", "Get a receipt again"),
    BotCommand("reading", "Send your meter reading"),
    BotCommand("profile", "Your contact details"),
    BotCommand("password", "Change your password"),
    BotCommand("login", "Link this Telegram account"),
    BotCommand("logout", "Unlink this Telegram account"),
    BotCommand("help", "What I can do"),
    BotCommand("cancel", "Stop what you are doing"),
]


async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Open one pool per database account and publish the command menus."""
    data = application.bot_data
    config: Config = data.config
    # An instance started while the database fails over (or before it) waits for it a while.
    connect = partial(Database.connect_when_reachable, within=DATABASE_START_WAIT)
    # LOAD DATA LOCAL: /importbills stages a file's lines that way (domain.bills).
    data.admin_db = await connect(config.database, minsize=1, maxsize=20, local_infile=True)
    data.customer_db = await connect(config.customer_database, minsize=1, maxsize=20)
    # The payment lane (docs/benchmarks.md, "Card payments"): under load every other use
    # queues on the pools above, and a charge's acknowledgement would queue with it; opened
    # in full now, so a burst of charges never waits for new connections either.
    data.payments_db = await connect(
        config.database, minsize=PAYMENTS_POOL_SIZE, maxsize=PAYMENTS_POOL_SIZE
    )
    try:
        await application.bot.set_my_commands(CUSTOMER_COMMANDS, scope=BotCommandScopeDefault())
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)
    from handlers.admin_access import load_admin_menus

    await load_admin_menus(application)
    # Staff notifications (issue 4): the daily due-date reminder job.
    from handlers.notifications import schedule_jobs

    schedule_jobs(application)
    persistence = application.persistence
    if isinstance(persistence, DatabasePersistence) and application.job_queue is not None:
        # Conversations left alone are closed by whichever instance looks first.
        application.job_queue.run_repeating(
            persistence.sweep_job, interval=persistence.sweep_seconds, name="close_timed_out_flows"
        )


async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Close the pools."""
    data = application.bot_data
    for db in (data.admin_db, data.customer_db, data.payments_db):
        if db is not None:
            await db.close()
    data.admin_db = data.customer_db = data.payments_db = None
    log.info("database pools closed")
    if data.receipt_renderer is not None:  # its workers; a later start makes new ones
        await data.receipt_renderer.close()


async def error_handler(update: object, context: BillingContext) -> None:
    """Log the failure (never the message text: it may hold a password) and tell the user."""
    error = context.error
    if isinstance(error, DomainError) and not isinstance(error, DatabaseUnavailable):
        text = explain_html(error, context)
    elif isinstance(error, DatabaseUnavailable):
        log.warning("database unavailable while handling an update")
        text = explain_html(error, context)
    elif isinstance(error, NetworkError | RetryAfter | Forbidden):
        # Telegram itself failed (5xx, a timeout, flood limits past our retries, a blocked
        # bot): an outside fault, not a bug in this code. Payment confirmations handle their
        # own failures, so this never follows a recorded payment.
        update_id = update.update_id if isinstance(update, Update) else None
        log.warning("a Telegram call failed while handling update %s: %r", update_id, error)
        text = "Sorry, my answer did not get through. Please send that again."
    else:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("unhandled error in update %s", update_id, exc_info=error)
        text = "Sorry, something went wrong on our side. Nothing was charged; please try again."
    if isinstance(update, Update) and update.effective_chat is not None:
        await answer_query(update)
        try:
            await update.effective_chat.send_message(text)
        except TelegramError as exc:
            log.warning("could not tell the user about an error: %s", exc)


async def unknown_command(update: Update, context: BillingContext) -> None:
    """Answer commands this person may not use (or that do not exist) the same way."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(UNKNOWN_COMMAND)


async def stray_text(update: Update, context: BillingContext) -> None:
    """Text (or a file, a sticker…) that no flow is waiting for."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            "I'm not sure what you mean. If you were in the middle of something, please start "
            "it again. Send /help to see what I can do."
        )


async def stale_button(update: Update, context: BillingContext) -> None:
    """A button the bot no longer knows (old message, or forged data)."""
    await answer_query(update, "This button is no longer active.")


async def noop_button(update: Update, context: BillingContext) -> None:
    """The page-number button in a pager: nothing to do."""
    await answer_query(update)


def customer_conversation(
    flow_timeout: float = FLOW_TIMEOUT_SECONDS,
) -> ConversationHandler[BillingContext]:
    """One conversation for every customer flow: starting a flow replaces the one in progress."""
    states: dict[object, list[Any]] = {}
    states.update(customer_account.states())
    states.update(payments.states())
    states.update(customer_readings.states())
    states[ConversationHandler.TIMEOUT] = [TypeHandler(Update, customer_account.timed_out)]
    return conversation(
        entry_points=[
            *customer_account.entry_points(),
            *payments.entry_points(),
            *customer_readings.entry_points(),
        ],
        states=states,
        fallbacks=customer_account.fallbacks(),
        allow_reentry=True,
        name="customer_flow",
        persistent=True,
        conversation_timeout=flow_timeout,
    )


def build_application(
    config: Config,
    *,
    persistence: BasePersistence[Any, Any, Any] | None = None,
    concurrent_updates: int = 64,
    flow_timeout: float = FLOW_TIMEOUT_SECONDS,
    messages_per_second: float = 30,
    max_requests_in_flight: int = MAX_IN_FLIGHT,
    receipt_workers: int = RECEIPT_WORKERS,
    dedupe_updates: bool = False,
) -> BillingApplication:
    """Wire handlers, persistence, the rate limiter, menus and the error handler.

    ``messages_per_second`` paces bulk sends — notices, reminders, staff alerts (Telegram
    allows a bot about 30 a second); replies to what a person just did are not paced
    (``bot.rate_limits``). 0 turns the pacing off (a local Bot API server without limits);
    429s are always retried. ``concurrent_updates`` chats are served at once, each chat's
    updates in order; at most ``max_requests_in_flight`` Bot API calls are under way at once;
    receipts are drawn by ``receipt_workers`` processes, started on the first receipt.
    ``dedupe_updates`` drops an update whose id was handled already, by this instance or
    another on the same database, before any handler (webhook mode: Telegram redelivers;
    ``bot.once_updates``).
    """
    redact_secrets(
        config.bot_token,
        config.database.password,
        config.customer_database.password,
        config.root_database.password,
        config.webhook_secret,
        config.payment_provider_token,
    )
    if persistence is None and config.state_store == "database":
        # Several instances: every chat's state in the database, read fresh per update.
        persistence = DatabasePersistence(sweep_seconds=min(SWEEP_SECONDS, flow_timeout / 2))
    if persistence is None:
        config.persistence_file.parent.mkdir(parents=True, exist_ok=True)
        persistence = AtomicPicklePersistence(
            filepath=config.persistence_file,
            # Pools live in bot_data and are never persisted; callback data is plain strings.
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=5,
        )
    # Each update once (issue 16): the processor claims its id before PTB processes it.
    processor = (
        OnceUpdateProcessor(concurrent_updates)
        if dedupe_updates
        else ChatOrderedUpdateProcessor(concurrent_updates)
    )
    builder = (
        ApplicationBuilder()
        .application_class(BatchingApplication)
        .token(config.require_token())
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .context_types(CONTEXT_TYPES)
        .persistence(persistence)
        .rate_limiter(
            ReplyFirstRateLimiter(
                bulk_per_second=messages_per_second,
                max_retries=3,
                max_in_flight=max_requests_in_flight,
            )
        )
        .concurrent_updates(processor)
        # aiohttp instead of httpx: a quarter of the CPU per Bot API call (bot.aiohttp_request).
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if config.bot_api_base_url:
        base = config.bot_api_base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    application: BillingApplication = builder.build()  # type: ignore[assignment]
    application.bot_data.config = config
    application.bot_data.receipt_renderer = ReceiptRenderer(receipt_workers)
    if isinstance(processor, OnceUpdateProcessor):
        processor.database = lambda: application.bot_data.admin_db

    from handlers import admin_access

    # Private chats only (SPEC §6): group -2 runs before groups -1 and 0, where every other
    # handler is, and the gate raises ApplicationHandlerStop for an update from a group,
    # supergroup or channel, so no command, flow (the conversations included: they can be
    # neither entered nor advanced) or button there is read, and nothing about anyone is sent
    # there. Keep it in the lowest group: a handler in an earlier group would see those
    # updates first.
    application.add_handler(
        TypeHandler(Update, private_only.private_chats_only), group=PRIVATE_GATE_GROUP
    )
    # Staff in the chat exactly when staff in the database (issue 14): group -1, right before
    # the routing in group 0, puts the sender's id in the admin filter, or takes it out, from
    # a lookup made for this update (admin_access.sync_staff).
    application.add_handler(TypeHandler(Update, admin_access.sync_staff), group=STAFF_SYNC_GROUP)
    # Order matters: within a group the first matching handler wins. Telegram's payment
    # updates come first (a pre-checkout query has no chat, and a successful payment must
    # never be taken for a step of whatever flow its chat is in), then staff commands (gated
    # by the admin filter), then the customer conversation, then one-shot commands and
    # buttons, then the catch-alls.
    # With the state in the database the conversations are SharedConversations
    # (bot.shared_state): same flows, their states read fresh for every update.
    shared = persistence.shared if isinstance(persistence, DatabasePersistence) else None
    for handler in (
        *card_payments.handlers(),
        *admin_access.handlers(),
        *admin_access.gated_handlers(application.bot_data.admin_filter),
        customer_conversation(flow_timeout),
    ):
        application.add_handler(shared(handler) if shared else handler)
    for handler in (
        *customer_bills.handlers(),
        *receipts.handlers(),
        *statements.handlers(),
        *payments.standalone_handlers(),
        *customer_account.standalone_handlers(),
    ):
        application.add_handler(handler)
    application.add_handler(CallbackQueryHandler(noop_button, pattern=rf"^{NOOP_DATA}$"))
    application.add_handler(CallbackQueryHandler(stale_button))
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    # Any other message (documents, photos, stickers too) gets an answer, never silence.
    application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, stray_text))
    application.add_error_handler(error_handler)
    return application


def derived_webhook_secret(bot_token: str) -> str:
    """The webhook's secret token when ``WEBHOOK_SECRET`` is not set: worked out from the bot's
    token, so every instance of the bot arrives at the same one (a secret made up per instance
    locked out all but the last one started) and nobody without the token can. Whoever has
    the token can set the webhook anyway, so it gives away nothing more."""
    digest = hmac.new(bot_token.encode(), b"electricity-billing-bot webhook", hashlib.sha256)
    return digest.hexdigest()  # 64 of Telegram's allowed characters (A-Z a-z 0-9 _ -)


def webhook_options(config: Config, *, webhook_url: str, listen: str, port: int) -> WebhookOptions:
    """Where and how the webhook is served (``bot.webhook_server``): Telegram must send the
    secret token with every update, and a request without it is refused (403) unprocessed.

    The webhook is served at the path of ``webhook_url`` (the URL Telegram is given), with or
    without a trailing slash; other paths answer 404.
    """
    secret = config.webhook_secret or derived_webhook_secret(config.bot_token or "")
    redact_secrets(secret)
    return WebhookOptions(
        listen=listen,
        port=port,
        path=urlsplit(webhook_url).path.rstrip("/"),
        webhook_url=webhook_url,
        secret_token=secret,
        allowed_updates=Update.ALL_TYPES,
    )


def run_bot(config: Config, *, webhook_url: str | None, listen: str, port: int) -> None:
    """Run until interrupted (SIGINT/SIGTERM finish the updates in hand, then close the pools):
    long polling, or a webhook that checks a secret token and answers each update once it
    is handled (``bot.webhook_server``)."""
    # Telegram redelivers a webhook update answered late, perhaps to another instance; a
    # poller gets each update once (the getUpdates offset), so it saves the claim's round trip.
    application = build_application(config, dedupe_updates=bool(webhook_url))
    if webhook_url:
        run_webhook(
            application,
            webhook_options(config, webhook_url=webhook_url, listen=listen, port=port),
        )
    else:
        if config.state_store == "database" and application.post_init is not None:
            application.post_init = _refusing_to_take_a_webhook(application.post_init)
        application.run_polling(allowed_updates=Update.ALL_TYPES)


class WebhookInUse(Exception):
    """Polling was asked for while a webhook is set for the token (other instances serve it)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _refusing_to_take_a_webhook(
    post_init: Callable[[Any], Coroutine[Any, Any, None]],
) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """``post_init``, after making sure no webhook is set: starting to poll deletes it, and
    with the chats' state in the database (the mode of several webhook instances) the
    instances serving it would stop getting updates. Raises WebhookInUse instead."""

    async def checked(application: Any) -> None:
        info = await application.bot.get_webhook_info()
        if info.url:
            raise WebhookInUse(info.url)
        await post_init(application)

    return checked
