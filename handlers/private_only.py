"""Private chats only: nobody's account, bills or passwords go into a group or a channel.

``private_chats_only`` runs before every other handler (``bot.application`` registers it in
an earlier handler group) and ends the handling of any update from a group, supergroup or
channel, so no command, flow step or button is ever read there.
"""

from __future__ import annotations

import logging

from telegram import Chat, Message, MessageEntity, Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import BillingContext
from handlers.common import answer_query

log = logging.getLogger(__name__)

PRIVATE_ONLY = "For your privacy I only work in a private chat — please message me directly."


async def private_chats_only(update: Update, context: BillingContext) -> None:
    """Let private chats through; answer a group once, in one line, and stop the update."""
    chat = update.effective_chat
    # Updates without a chat (pre-checkout queries, for one) belong to no group: let them on.
    if chat is None or chat.type == Chat.PRIVATE:
        return
    try:
        await _answer_once(update, context)
    except TelegramError as exc:  # e.g. not allowed to write in that group: stay silent
        log.info("could not answer in a %s chat: %s", chat.type, exc.__class__.__name__)
    except Exception:
        # Whatever went wrong, the update must not go on to the handlers: an exception
        # escaping this handler would let PTB carry on with the next handler group.
        log.exception("failed to answer in a %s chat", chat.type)
    raise ApplicationHandlerStop


async def _answer_once(update: Update, context: BillingContext) -> None:
    """One line to a button press, a command or a reply to the bot; silence to the rest."""
    if update.callback_query is not None:
        await answer_query(update, PRIVATE_ONLY)
    elif update.message is not None and _meant_for_this_bot(update.message, context):
        await update.message.reply_text(PRIVATE_ONLY)
    # Anything else (group chatter, edits, channel posts, members joining) gets no answer:
    # the bot is not being spoken to, and a line for every message would be spam.


def _meant_for_this_bot(message: Message, context: BillingContext) -> bool:
    """A command (not one addressed to another bot), or a reply to one of this bot's messages."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None:
        if replied.from_user.id == context.bot.id:
            return True
    entities = message.entities
    if not entities or entities[0].type != MessageEntity.BOT_COMMAND or entities[0].offset != 0:
        return False
    _, _, addressee = message.parse_entity(entities[0]).partition("@")
    return not addressee or addressee.casefold() == context.bot.username.casefold()
