"""Builds the bot: handlers, persistence, pools, menus, error handler; runs it."""

from __future__ import annotations

import logging
import secrets
import warnings
from typing import Any

from telegram import (
    BotCommand,
    BotCommandScopeDefault,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BasePersistence,
    CallbackQueryHandler,
    ConversationHandler,
    Defaults,
    MessageHandler,
    PersistenceInput,
    PicklePersistence,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.config import Config
from bot.context import CONTEXT_TYPES, BillingApplication, BillingContext
from bot.update_processor import ChatOrderedUpdateProcessor
from domain.db import Database
from domain.errors import DatabaseUnavailable, DomainError
from handlers import customer_account, customer_bills, payments, receipts
from handlers.admin_gate import UNKNOWN_COMMAND
from handlers.common import FLOW_TIMEOUT_SECONDS, NOOP_DATA, answer_query, esc

log = logging.getLogger(__name__)

# Our conversations are keyed by chat and user on purpose (a flow may span several messages),
# and buttons are matched by their data's prefix, so PTB's per_message hint does not apply.
warnings.filterwarnings("ignore", message="If 'per_message=False'", category=PTBUserWarning)

CUSTOMER_COMMANDS = [
    BotCommand("dashboard", "Balance, last bill and payment"),
    BotCommand("bills", "Your bills (unpaid first)"),
    BotCommand("pay", "Pay a bill"),
    BotCommand("receipt", "Get a receipt again"),
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
    data.admin_db = await Database.connect(config.database, minsize=1, maxsize=20)
    data.customer_db = await Database.connect(config.customer_database, minsize=1, maxsize=20)
    try:
        await application.bot.set_my_commands(CUSTOMER_COMMANDS, scope=BotCommandScopeDefault())
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)
    from handlers.admin_access import load_admin_menus

    await load_admin_menus(application)
    # Staff notifications (issue 4): the daily due-date reminder job.
    from handlers.notifications import schedule_jobs

    schedule_jobs(application)


async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Close the pools."""
    data = application.bot_data
    for db in (data.admin_db, data.customer_db):
        if db is not None:
            await db.close()
    data.admin_db = data.customer_db = None


async def error_handler(update: object, context: BillingContext) -> None:
    """Log the failure (never the message text: it may hold a password) and tell the user."""
    error = context.error
    if isinstance(error, DomainError) and not isinstance(error, DatabaseUnavailable):
        text = esc(error)
    elif isinstance(error, DatabaseUnavailable):
        log.warning("database unavailable while handling an update")
        text = esc(error)
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
    """Text outside any flow."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            "I'm not sure what you mean. Send /help to see what I can do."
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
    states[ConversationHandler.TIMEOUT] = [TypeHandler(Update, customer_account.timed_out)]
    return ConversationHandler(
        entry_points=[*customer_account.entry_points(), *payments.entry_points()],
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
    concurrent_updates: int = 32,
    flow_timeout: float = FLOW_TIMEOUT_SECONDS,
) -> BillingApplication:
    """Wire handlers, persistence, the rate limiter, menus and the error handler."""
    if persistence is None:
        config.persistence_file.parent.mkdir(parents=True, exist_ok=True)
        persistence = PicklePersistence(
            filepath=config.persistence_file,
            # Pools live in bot_data and are never persisted; callback data is plain strings.
            store_data=PersistenceInput(bot_data=False, callback_data=False),
            update_interval=5,
        )
    builder = (
        ApplicationBuilder()
        .token(config.require_token())
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .context_types(CONTEXT_TYPES)
        .persistence(persistence)
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(ChatOrderedUpdateProcessor(concurrent_updates))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if config.bot_api_base_url:
        base = config.bot_api_base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    application: BillingApplication = builder.build()  # type: ignore[assignment]
    application.bot_data.config = config

    from handlers import admin_access

    # Order matters: within a group the first matching handler wins. Staff commands come
    # first (gated by the admin filter), then the customer conversation, then one-shot
    # commands and buttons, then the catch-alls.
    for handler in (
        *admin_access.handlers(),
        *admin_access.gated_handlers(application.bot_data.admin_filter),
    ):
        application.add_handler(handler)
    application.add_handler(customer_conversation(flow_timeout))
    for handler in (
        *customer_bills.handlers(),
        *receipts.handlers(),
        *payments.standalone_handlers(),
        *customer_account.standalone_handlers(),
    ):
        application.add_handler(handler)
    application.add_handler(CallbackQueryHandler(noop_button, pattern=rf"^{NOOP_DATA}$"))
    application.add_handler(CallbackQueryHandler(stale_button))
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command))
    application.add_handler(MessageHandler(filters.TEXT, stray_text))
    application.add_error_handler(error_handler)
    return application


def run_bot(config: Config, *, webhook_url: str | None, listen: str, port: int) -> None:
    """Run until interrupted: long polling, or a webhook that checks a secret token."""
    application = build_application(config)
    if webhook_url:
        secret = config.webhook_secret or secrets.token_urlsafe(32)
        application.run_webhook(
            listen=listen,
            port=port,
            webhook_url=webhook_url,
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)
