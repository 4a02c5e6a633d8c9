"""The staff gate every admin handler goes through: who is pressing, and may their role write.

Commands reach the admin handlers only for linked admins (``bot_data.admin_filter``), but a
button press carries no filter and its data comes from the client, so every handler, command
or button, looks the admin up again and checks the role here, in one place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from telegram import Update
from telegram.ext import ConversationHandler

from bot.context import BillingContext
from domain import admins
from domain.models import Admin
from handlers.common import answer_query, callback_parts, reply

R = TypeVar("R")

# Exactly what a stranger gets for a command that does not exist (bot.application's reply),
# so an admin command tells a non-admin nothing.
UNKNOWN_COMMAND = "Sorry, I don't know that command. Send /help to see what I can do."
STALE_BUTTON = "This button is no longer active."
READ_ONLY = (
    "Your staff role ({role}) can read lists and reports but cannot change anything. "
    "Please ask an admin to do this."
)

StaffHandler = Callable[[Update, BillingContext, Admin], Coroutine[Any, Any, R]]
Handler = Callable[[Update, BillingContext], Coroutine[Any, Any, R | int]]


async def staff_member(update: Update, context: BillingContext, *, write: bool) -> Admin | None:
    """The admin behind this update, or None after answering as for a stranger / a viewer."""
    user = update.effective_user
    admin = await admins.find_by_telegram(context.admin_db, user.id) if user else None
    if admin is None:
        if update.callback_query is not None:
            await answer_query(update, STALE_BUTTON)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(UNKNOWN_COMMAND)
        return None
    if write and not admin.role.can_write:
        text = READ_ONLY.format(role=admin.role.value)
        if update.callback_query is not None:
            # A toast, so the screen the button belongs to stays as it was.
            await answer_query(update, text)
        else:
            await reply(update, text)
        return None
    return admin


def staff_only(*, write: bool) -> Callable[[StaffHandler[R]], Handler[R]]:
    """Run the handler with the current admin; refuse strangers and (for writes) viewers.

    A refusal returns ``ConversationHandler.END``, so a flow in progress stops as well.
    """

    def decorate(handler: StaffHandler[R]) -> Handler[R]:
        @functools.wraps(handler)
        async def gated(update: Update, context: BillingContext) -> R | int:
            admin = await staff_member(update, context, write=write)
            if admin is None:
                return ConversationHandler.END
            return await handler(update, context, admin)

        return gated

    return decorate


# ---------------------------------------------------------------------------------------------
# What a staff flow keeps between steps (persisted with the conversation; plain strings only)

FLOW_KEY = "admin_flow"


def flow_state(
    context: BillingContext, *, fresh: bool = False, key: str = FLOW_KEY
) -> dict[str, str]:
    """The current flow's scratchpad (a new, empty one with ``fresh``): the staff flows' by
    default; ``key`` names another (the customer's payment flow keeps its own)."""
    state = context.flow.get(key)
    if fresh or not isinstance(state, dict):
        state = {}
        context.flow[key] = state
    return state


SAVED_KEY = "saved"  # in a flow's scratchpad: what it has already saved, as "A, B"


def note_saved(context: BillingContext, what: str) -> None:
    """Remember that this flow has saved ``what`` (a field's name), for /cancel to tell."""
    state = flow_state(context)
    done = [item for item in state.get(SAVED_KEY, "").split(", ") if item]
    if what not in done:
        done.append(what)
    state[SAVED_KEY] = ", ".join(done)


def saved_so_far(context: BillingContext) -> str | None:
    """What the flow in progress has saved ("Name, Phone"), or None."""
    state = context.flow.get(FLOW_KEY)
    return (state.get(SAVED_KEY) or None) if isinstance(state, dict) else None


def closing_words(context: BillingContext, opening: str) -> str:
    """What stopping the flow in progress leaves behind: ``opening`` ("Cancelled.") followed
    by what it had already saved, or by "Nothing was changed."."""
    saved = saved_so_far(context)
    if saved:
        return f"{opening} Already saved: {saved}. Nothing else was changed."
    return f"{opening} Nothing was changed."


def end_flow(context: BillingContext, *, key: str = FLOW_KEY) -> int:
    """Forget a flow's scratchpad (the staff flows' by default) and end the conversation."""
    context.flow.pop(key, None)
    return ConversationHandler.END


def typed_text(update: Update, limit: int = 600) -> str | None:
    """The text a staff member typed at a prompt (cut to ``limit``), or None for non-text."""
    message = update.effective_message
    return message.text[:limit] if message is not None and message.text is not None else None


async def month_answer(update: Update, data_prefix: str) -> str:
    """The month a staff member gave at a month prompt: a ``<prefix>:YYYYMM`` button
    (answered here) as ``YYYY-MM``, or what they typed; empty when it is neither."""
    if update.callback_query is not None:
        await answer_query(update)
        parts = callback_parts(update.callback_query, data_prefix, 1)
        return f"{parts[0][:4]}-{parts[0][4:]}" if parts and len(parts[0]) == 6 else ""
    return typed_text(update, 100) or ""


async def out_of_date(update: Update, context: BillingContext) -> int:
    """A step arrived without the flow it belongs to (restart, old screen): end it plainly."""
    await answer_query(update)
    await reply(update, "That screen is out of date. Please start again.")
    return end_flow(context)
