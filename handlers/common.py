"""What every handler module shares: who is talking, replying, keyboards, callback data."""

from __future__ import annotations

import html
import logging
import re
import warnings
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ConversationHandler
from telegram.warnings import PTBUserWarning

from bot.context import BillingContext
from domain import admins as admins_domain
from domain import customers as customers_domain
from domain.errors import DomainError, TooManyAttempts
from domain.models import Admin, Customer, Role

# The one month format of the chat lives with the renderers; handlers import it from here too.
from handlers.render.formatting import month_label as month_label

log = logging.getLogger(__name__)

NOT_LINKED = (
    "Your Telegram account is not linked to an electricity account yet.\n\n"
    "• New customer? Open the activation link the utility office gave you.\n"
    "• Already activated on another phone? Send /login with your meter number and password."
)
CANCEL_LABEL = "✖ Cancel"
CANCEL_DATA = "cancel"
NOOP_DATA = "noop"
FLOW_TIMEOUT_SECONDS = 15 * 60


def esc(value: object) -> str:
    """Escape anything a person typed (or that came from the database) for HTML replies."""
    return html.escape(str(value), quote=False)


def local_time(moment: datetime, context: BillingContext) -> str:
    return f"{moment.astimezone(context.config.timezone):%d %b %Y %H:%M}"


def local_today(context: BillingContext) -> date:
    """Today in the utility's time zone: the day bills are issued on and fall overdue by."""
    return datetime.now(context.config.timezone).date()


def buttons(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """An inline keyboard from rows of (label, callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def cancel_row() -> list[tuple[str, str]]:
    return [(CANCEL_LABEL, CANCEL_DATA)]


def pager_row(prefix: str, page: int, pages: int, suffix: str = "") -> list[tuple[str, str]]:
    """◀ page/pages ▶ — buttons that edit the same message."""
    row: list[tuple[str, str]] = []
    if page > 0:
        row.append(("◀", f"{prefix}:{page - 1}{suffix}"))
    row.append((f"{page + 1}/{pages}", NOOP_DATA))
    if page + 1 < pages:
        row.append(("▶", f"{prefix}:{page + 1}{suffix}"))
    return row


_CALLBACK_RE = re.compile(r"^[a-z_]{1,16}(:[A-Za-z0-9_\-]{1,64}){0,4}$")


def callback_parts(query: CallbackQuery, prefix: str, count: int) -> list[str] | None:
    """Split untrusted callback data ``prefix:a:b`` into ``count`` parts, or None if malformed."""
    data = query.data or ""
    if len(data) > 64 or not _CALLBACK_RE.match(data):
        return None
    parts = data.split(":")
    if parts[0] != prefix or len(parts) != count + 1:
        return None
    return parts[1:]


def int_part(value: str, *, maximum: int = 2**63 - 1) -> int | None:
    return int(value) if value.isdigit() and 0 <= int(value) <= maximum else None


async def reply(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answer in place: edit the message a button belongs to, or send a new message."""
    query = update.callback_query
    if query is not None and query.message is not None and isinstance(query.message, Message):
        try:
            edited = await query.edit_message_text(text, reply_markup=markup)
            return edited if isinstance(edited, Message) else None
        except TelegramError as exc:
            if "not modified" in str(exc).lower():
                return None
            log.info("could not edit a message (%s); sending a new one", exc)
    chat = update.effective_chat
    if chat is None:
        return None
    return await chat.send_message(text, reply_markup=markup)


def try_again_text(exc: DomainError, command: str) -> str:
    """A refused login or password check and how to try again, said once: after too many
    wrong attempts, when ``command`` will work again."""
    if isinstance(exc, TooManyAttempts):
        wait = f"{exc.minutes} minute{'s' if exc.minutes != 1 else ''}"
        return f"Too many wrong attempts. Send {command} again in about {wait}."
    return f"{esc(exc)}\nSend {command} to try again."


async def answer_query(update: Update, text: str | None = None) -> None:
    """Acknowledge a button press first, so the phone's spinner stops."""
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(text)
        except TelegramError as exc:  # an old query: nothing to stop
            log.debug("answerCallbackQuery failed: %s", exc)


async def delete_message_quietly(message: Message | None) -> bool:
    """Delete a message that held a password; True when it is gone."""
    if message is None:
        return False
    try:
        return bool(await message.delete())
    except TelegramError as exc:
        log.warning("could not delete a password message: %s", exc.__class__.__name__)
        return False


async def current_customer(update: Update, context: BillingContext) -> Customer | None:
    """The customer linked to this Telegram user, or None after explaining how to link."""
    user = update.effective_user
    customer = (
        await customers_domain.find_by_telegram(context.customer_db, user.id) if user else None
    )
    if customer is None:
        await not_linked(update)
    return customer


async def not_linked(update: Update) -> None:
    """Tell someone whose Telegram account is linked to no customer how to link it."""
    await answer_query(update)
    await reply(update, NOT_LINKED)


async def current_admin(
    update: Update, context: BillingContext, *, write: bool = False
) -> Admin | None:
    """The admin linked to this Telegram user (with a write role if ``write``), else None."""
    user = update.effective_user
    if user is None:
        return None
    admin = await admins_domain.find_by_telegram(context.admin_db, user.id)
    if admin is None or (write and admin.role is not Role.ADMIN):
        return None
    return admin


def conversation(**options: Any) -> ConversationHandler[BillingContext]:
    """A ConversationHandler built with PTB's per_message hint silenced for it alone: our
    conversations are keyed by chat and user on purpose (a flow spans several messages) and
    buttons are matched by their data's prefix, so the hint does not apply. Every other
    warning PTB gives (a state returned but not registered, …) still shows."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="If 'per_message=False'", category=PTBUserWarning
        )
        return ConversationHandler(**options)
