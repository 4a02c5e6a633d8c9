"""Conversation state in the database, read fresh for every update (STATE_STORE=database).

With several bot instances behind one webhook the next step of a chat can land on any of
them, so no instance may keep a chat's state in memory between updates. Each update of a
private chat is handled inside a *session* (:meth:`DatabasePersistence.open` before the
handlers, :meth:`DatabasePersistence.close` after them, from
``BatchingApplication.process_update``): the chat's row of ``chat_states`` (migration 0025)
is read, the flows and handlers of this update see it, and what they changed is written back
naming the version that was read. Updates of one chat are already one at a time within an
instance (bot.update_processor); across instances the version decides: of two instances that
handled updates of one chat at once, the first to write wins, and the other writes nothing
and tells its user to try again (:data:`CONFLICT_TEXT`), so the chat's state is always one
instance's whole result, never a mix.

What a chat keeps, as JSON: ``{"user_data": {...}, "conversations": {name: {"state": …,
"deadline": epoch seconds}}}``. ``user_data`` is what handlers see as ``context.user_data``
(``context.flow``): PTB reads it through :meth:`BasePersistence.refresh_user_data`, which it
calls for every update, and that is where it is handed the session's copy. Which step a
conversation is at lives in :class:`SharedConversation`, a handler with the semantics of PTB's
ConversationHandler as this bot uses it (entry points, states, fallbacks, allow_reentry, END,
TIMEOUT), built from the ConversationHandlers the handler modules declare; PTB's own keeps
its states in memory, loaded once at start-up, with no public way to read them fresh.

Timeouts: a step's deadline is kept with its state. A conversation whose deadline has passed
is closed (its TIMEOUT handlers run: "That took a while, so I closed it") by whichever comes
first: the chat's next update, before its handlers, or the sweep every instance runs
(:meth:`DatabasePersistence.sweep`). Closing one first writes the state without it (a
version-checked claim), so only one instance ever says it was closed.

Only PTB's public extension points are used: BasePersistence, BaseHandler, the Application's
process_update and process_error, BaseUpdateProcessor and the job queue.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Awaitable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    BasePersistence,
    ConversationHandler,
    PersistenceInput,
)

from bot.update_processor import ChatOrderedUpdateProcessor
from domain import chat_states

log = logging.getLogger(__name__)

CONFLICT_TEXT = (
    "Someone — maybe you on another device — just did something in this chat at the same "
    "time, so I did not take your last message. Please try that again."
)
# How often each instance looks for conversations that timed out with nobody writing.
SWEEP_SECONDS = 30.0
# Reads of a chat whose timed-out conversation another instance closed first, before giving up.
_CLAIM_ATTEMPTS = 5

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class StateConflict(Exception):
    """Another instance kept changing this chat's state while this one tried to read it."""


@dataclass
class ChatSession:
    """One chat's state for the update being handled: as read, and as the handlers leave it."""

    chat_id: int
    version: int
    user_data: dict[Any, Any]
    conversations: dict[str, dict[str, Any]]
    # The text last read or written: nothing is written when the state still encodes to it.
    saved: str = ""
    # The Application's user_data dict handed out for this chat (refresh_user_data), if any.
    live: dict[Any, Any] | None = field(default=None, repr=False)

    @classmethod
    def read(cls, chat_id: int, stored: chat_states.StoredState) -> ChatSession:
        user_data = stored.state.get("user_data")
        conversations = stored.state.get("conversations")
        session = cls(
            chat_id,
            stored.version,
            user_data if isinstance(user_data, dict) else {},
            conversations if isinstance(conversations, dict) else {},
        )
        session.saved = chat_states.encode(session.state())
        return session

    def state(self) -> dict[str, Any]:
        user_data = self.live if self.live is not None else self.user_data
        return {"user_data": user_data, "conversations": self.conversations}

    def expires_at(self) -> datetime | None:
        deadlines = [c["deadline"] for c in self.conversations.values() if c.get("deadline")]
        if not deadlines:
            return None
        return datetime.fromtimestamp(min(deadlines), UTC).replace(tzinfo=None)

    def expired(self, now: float) -> list[str]:
        return [
            name
            for name, conversation in self.conversations.items()
            if conversation.get("deadline") and conversation["deadline"] <= now
        ]

    def hand_out(self, user_data: dict[Any, Any]) -> None:
        """Make the Application's dict for this chat hold the session's user data."""
        if self.live is user_data:
            return
        content = copy.deepcopy(self.live if self.live is not None else self.user_data)
        user_data.clear()
        user_data.update(content)
        self.live = user_data

    def owns(self, update: Update) -> bool:
        chat, user = update.effective_chat, update.effective_user
        return chat is not None and user is not None and chat.id == user.id == self.chat_id

    def state_of(self, name: str) -> object | None:
        conversation = self.conversations.get(name)
        return None if conversation is None else conversation.get("state")

    def move(self, name: str, new_state: object, timeout: float | None) -> None:
        """A step of conversation ``name`` returned ``new_state`` (as ConversationHandler
        takes it: END ends it, None stays in the step, anything else is the next step); the
        timeout starts again."""
        if new_state == ConversationHandler.END:
            self.conversations.pop(name, None)
            return
        if new_state is None:
            if name not in self.conversations:
                return
            new_state = self.conversations[name]["state"]
        self.conversations[name] = {
            "state": new_state,
            "deadline": time.time() + timeout if timeout else None,
        }


_SESSION: ContextVar[ChatSession | None] = ContextVar("chat_session", default=None)


def private_chat_id(update: object) -> int | None:
    """The chat whose state an update reads: a private chat's (its id is the user's), else
    None (a pre-checkout query has no chat; groups are refused by handlers.private_only).

    A successful payment reads none either: it is money a provider already took, recorded
    on the payment lane's own connections at once however busy the admin pool is
    (docs/benchmarks.md, "Card payments"), and is never a step of a flow (its handlers come
    before the conversations); its chat's state is left as it is.
    """
    if not isinstance(update, Update):
        return None
    if update.message is not None and update.message.successful_payment is not None:
        return None
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type != chat.PRIVATE or chat.id != user.id:
        return None
    return chat.id


async def _unused(update: object, context: object) -> None:  # pragma: no cover
    raise AssertionError("SharedConversation runs the callbacks of its own handlers")


class SharedConversation(BaseHandler[Update, Any, None]):
    """A ConversationHandler's flow with its state in the chat's session, not in memory.

    Keyed like the bot's ConversationHandlers (chat and user, one and the same in a private
    chat); no nesting, no per-message conversations, every step blocking.
    """

    def __init__(self, conversation: ConversationHandler[Any]) -> None:
        super().__init__(_unused)
        if not conversation.name:
            raise ValueError("a shared conversation needs a name: its state is stored by it")
        if (
            conversation.per_message
            or not (conversation.per_chat and conversation.per_user)
            or conversation.map_to_parent
        ):
            raise ValueError(f"{conversation.name}: only chat-and-user, unnested flows are shared")
        self.name: str = conversation.name
        self.entry_points = list(conversation.entry_points)
        self.states = dict(conversation.states)
        self.fallbacks = list(conversation.fallbacks)
        self.allow_reentry = conversation.allow_reentry
        timeout = conversation.conversation_timeout
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout

    @staticmethod
    def _first_match(
        handlers: Sequence[BaseHandler[Any, Any, Any]], update: Update
    ) -> tuple[BaseHandler[Any, Any, Any], object] | None:
        for handler in handlers:
            check = handler.check_update(update)
            if check is not None and check is not False:
                return handler, check
        return None

    def check_update(self, update: object) -> object | None:
        if not isinstance(update, Update) or update.channel_post or update.edited_channel_post:
            return None
        if update.callback_query is not None and update.callback_query.message is None:
            return None
        session = _SESSION.get()
        if session is None or not session.owns(update):
            return None
        state = session.state_of(self.name)
        found = None
        if state is None or self.allow_reentry:
            found = self._first_match(self.entry_points, update)
            if found is None and state is None:
                return None
        if found is None:
            found = self._first_match(self.states.get(state, []), update)
        if found is None:
            found = self._first_match(self.fallbacks, update)
        if found is None:
            return None
        return (session, *found)

    async def handle_update(
        self,
        update: Update,
        application: AnyApplication,
        check_result: object,
        context: Any,
    ) -> None:
        session: ChatSession
        handler: BaseHandler[Any, Any, Any]
        check: object
        session, handler, check = check_result  # type: ignore[misc]
        stop = False
        try:
            new_state = await handler.handle_update(update, application, check, context)
        except ApplicationHandlerStop as exc:
            new_state, stop = exc.state, True
        session.move(self.name, new_state, self.timeout)
        if stop:
            raise ApplicationHandlerStop

    async def time_out(self, update: Update, application: AnyApplication, context: Any) -> None:
        """Run the TIMEOUT handlers (the conversation is already closed in the session)."""
        for handler in self.states.get(ConversationHandler.TIMEOUT, []):
            check = handler.check_update(update)
            if check is None or check is False:
                continue
            try:
                await handler.handle_update(update, application, check, context)
            except ApplicationHandlerStop:
                pass
            except Exception as exc:
                await application.process_error(update, exc)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class DatabasePersistence(BasePersistence[dict[Any, Any], dict[Any, Any], Any]):
    """User data and conversation states in ``chat_states``, read and written per update.

    PTB's start-up reads find nothing (there is nothing to load up front) and its periodic
    writes do nothing: a chat's state is written right after each update, with the version
    check, by :meth:`close`. Nothing is written to a file.
    """

    def __init__(self, sweep_seconds: float = SWEEP_SECONDS) -> None:
        super().__init__(
            store_data=PersistenceInput(
                bot_data=False, chat_data=False, user_data=True, callback_data=False
            ),
            update_interval=60,
        )
        self.sweep_seconds = sweep_seconds
        self._flows: dict[str, SharedConversation] = {}

    # -- the bot's conversations -------------------------------------------------------------

    def shared(self, handler: BaseHandler[Any, Any, Any]) -> BaseHandler[Any, Any, Any]:
        """``handler`` to register: a ConversationHandler becomes its SharedConversation."""
        if not isinstance(handler, ConversationHandler):
            return handler
        flow = SharedConversation(handler)
        if flow.name in self._flows:
            raise ValueError(f"two conversations are named {flow.name!r}")
        self._flows[flow.name] = flow
        return flow

    # -- one update's session ----------------------------------------------------------------

    async def open(self, application: AnyApplication, chat_id: int, update: Update) -> ChatSession:
        """Read the chat's state; close its timed-out conversations first (their TIMEOUT
        handlers answer ``update``'s chat)."""
        db = application.bot_data.admin_db
        for _ in range(_CLAIM_ATTEMPTS):
            session = ChatSession.read(chat_id, await chat_states.load(db, chat_id))
            expired = session.expired(time.time())
            if not expired:
                return session
            for name in expired:  # the claim: only the instance whose write lands says so
                session.conversations.pop(name)
            version = await chat_states.save(
                db, chat_id, session.version, session.state(), session.expires_at()
            )
            if version is None:
                continue  # another instance moved the chat on meanwhile: read it again
            session.version, session.saved = version, chat_states.encode(session.state())
            await self._time_out(application, session, update, expired)
            return session
        raise StateConflict(chat_id)

    async def _time_out(
        self, application: AnyApplication, session: ChatSession, update: Update, names: list[str]
    ) -> None:
        token = _SESSION.set(session)
        try:
            context = application.context_types.context.from_update(update, application)
            await context.refresh_data()
            for name in names:
                flow = self._flows.get(name)
                if flow is not None:
                    await flow.time_out(update, application, context)
        finally:
            _SESSION.reset(token)

    async def run(self, session: ChatSession, handling: Awaitable[Any]) -> None:
        """Await ``handling`` (the update's handlers) with ``session`` as the chat's state."""
        token = _SESSION.set(session)
        try:
            await handling
        finally:
            _SESSION.reset(token)

    async def close(self, application: AnyApplication, session: ChatSession) -> bool:
        """Write what the handlers changed over the version read; False when another instance
        wrote first (the user is told to try again; the other instance's state stands)."""
        application.drop_user_data(session.chat_id)  # read fresh next time, never reused
        state = session.state()
        if chat_states.encode(state) == session.saved:
            return True
        version = await chat_states.save(
            application.bot_data.admin_db,
            session.chat_id,
            session.version,
            state,
            session.expires_at(),
        )
        if version is not None:
            session.version, session.saved = version, chat_states.encode(state)
            return True
        log.info("chat state changed by another instance meanwhile; asked to try again")
        await self.ask_to_try_again(application, session.chat_id)
        return False

    async def ask_to_try_again(self, application: AnyApplication, chat_id: int) -> None:
        try:
            await application.bot.send_message(chat_id, CONFLICT_TEXT)
        except TelegramError as exc:
            log.warning("could not ask a user to try again: %s", exc)

    # -- conversations nobody came back to ---------------------------------------------------

    async def sweep(self, application: AnyApplication) -> int:
        """Close the conversations that timed out with no update since; how many chats."""
        closed = 0
        for chat_id in await chat_states.expired(application.bot_data.admin_db, _utc_now()):
            update = Update.de_json(
                {
                    "update_id": 0,
                    "message": {
                        "message_id": 0,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "is_bot": False, "first_name": "-"},
                    },
                },
                application.bot,
            )

            async def close_expired(update: Update = update, chat_id: int = chat_id) -> None:
                session = await self.open(application, chat_id, update)
                await self.close(application, session)

            # In the chat's turn: never beside an update of the same chat on this instance.
            # Not passed off as a delivered update (it has no id of Telegram's to claim).
            processor = application.update_processor
            try:
                if isinstance(processor, ChatOrderedUpdateProcessor):
                    await processor.in_chat_turn(chat_id, close_expired())
                else:
                    await close_expired()
            except StateConflict:  # the chat moved on meanwhile; its next read closes it
                continue
            except Exception:  # one chat's failure does not stop the others'
                log.exception("could not close a timed-out conversation")
                continue
            closed += 1
        return closed

    async def sweep_job(self, context: Any) -> None:
        try:
            await self.sweep(context.application)
        except Exception:  # the database is away: the next round tries again
            log.warning("could not look for timed-out conversations", exc_info=True)

    # -- BasePersistence: nothing loaded up front, nothing written in PTB's rounds ------------

    async def get_user_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_chat_data(self) -> dict[int, dict[Any, Any]]:
        return {}

    async def get_bot_data(self) -> Any:
        return {}

    async def get_callback_data(self) -> None:
        return None

    async def get_conversations(self, name: str) -> dict[Any, object]:
        return {}

    async def update_conversation(self, name: str, key: Any, new_state: object | None) -> None:
        """Conversations here are SharedConversations, written with the chat's state."""

    async def update_user_data(self, user_id: int, data: dict[Any, Any]) -> None:
        """Written by :meth:`close` right after the update, with the version check."""

    async def update_chat_data(self, chat_id: int, data: dict[Any, Any]) -> None:
        """Chat data is not kept (the bot uses user data)."""

    async def update_bot_data(self, data: Any) -> None:
        """Bot data is not kept (pools and configuration, made at start)."""

    async def update_callback_data(self, data: Any) -> None:
        """Callback data is not kept (plain strings)."""

    async def drop_chat_data(self, chat_id: int) -> None:
        """Chat data is not kept."""

    async def drop_user_data(self, user_id: int) -> None:
        """The Application forgets its copy after each update; the row stays."""

    async def refresh_user_data(self, user_id: int, user_data: dict[Any, Any]) -> None:
        session = _SESSION.get()
        if session is not None and session.chat_id == user_id:
            session.hand_out(user_data)

    async def refresh_chat_data(self, chat_id: int, chat_data: dict[Any, Any]) -> None:
        """Chat data is not kept."""

    async def refresh_bot_data(self, bot_data: Any) -> None:
        """Bot data is not kept."""

    async def flush(self) -> None:
        """Everything is written as it happens."""
