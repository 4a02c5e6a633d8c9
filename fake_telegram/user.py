"""The phone user: ``FakeUser`` sends text and commands, presses buttons, uploads
documents and pays invoices, then waits for and reads what the bot did in its chat.
"""

from __future__ import annotations

import asyncio
import math
import mimetypes
import secrets
from collections.abc import AsyncGenerator, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from fake_telegram.errors import (
    ButtonNotFoundError,
    FakeTelegramError,
    NoReplyError,
    UnexpectedReplyError,
)
from fake_telegram.html_rules import utf16_len
from fake_telegram.records import (
    BotEvent,
    Button,
    CallbackAnswer,
    ChatMessage,
    JSONDict,
    PaymentOutcome,
    PreCheckoutAnswer,
    SentInvoice,
    unix_time,
)

if TYPE_CHECKING:
    from fake_telegram.server import FakeTelegramServer

T = TypeVar("T")

# Telegram drops a pre-checkout query the bot has not answered within 10 seconds.
PRE_CHECKOUT_TIMEOUT = 10.0


@dataclass(slots=True, eq=False)
class PreCheckoutQuery:
    """A pre-checkout query the payer opened, until the bot answers it or it expires."""

    query_id: str
    user: FakeUser
    message_id: int
    invoice: SentInvoice
    asked_at: float  # loop time when queued
    answer: PreCheckoutAnswer | None = None
    expired: bool = False
    answered: asyncio.Event = field(default_factory=asyncio.Event)


def _command_entities(text: str) -> list[JSONDict]:
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


class FakeUser:
    """A phone user in a private chat with the bot (the chat id is the user id), or that
    user's view of a group chat (``FakeTelegramServer.group_chat``).

    Actions (``send``, ``press``, ``upload``) queue an update for the bot and return it.
    Waits (``wait_for_reply`` and friends) look at what the bot did since the user's last
    action; each event is handed out once, so two waits return two different replies.
    """

    def __init__(
        self,
        server: FakeTelegramServer,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
        chat: JSONDict | None = None,
    ) -> None:
        self._server = server
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.blocked = False
        self.user_dict: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        self.chat_dict: JSONDict = {"id": user_id, "type": "private", "first_name": first_name}
        for key, value in (("last_name", last_name), ("username", username)):
            if value is not None:
                self.user_dict[key] = value
                self.chat_dict[key] = value
        if language_code is not None:
            self.user_dict["language_code"] = language_code
        if chat is not None:  # a group or supergroup instead of the private chat
            self.chat_dict = chat
        self.chat_instance = str(secrets.randbits(62))
        self._messages: dict[int, ChatMessage] = {}
        self._order: list[ChatMessage] = []
        self._next_message_id = 1
        self._events: list[BotEvent] = []
        self._changed = asyncio.Event()
        self._mark = 0
        self._consumed: set[int] = set()
        self._reply_keyboard: ChatMessage | None = None

    @property
    def chat_id(self) -> int:
        return int(self.chat_dict["id"])

    @property
    def chat_type(self) -> str:
        """``private``, or ``group`` or ``supergroup`` for a group chat's view."""
        return str(self.chat_dict["type"])

    def __repr__(self) -> str:
        chat = "" if self.chat_id == self.id else f", chat_id={self.chat_id}"
        return f"FakeUser(id={self.id}, first_name={self.first_name!r}{chat})"

    # ---- actions

    async def send(self, text: str) -> JSONDict:
        """Send a text message; ``/command args`` gets a bot_command entity. Returns the update."""
        message = self._add_message(from_bot=False, text=text, entities=_command_entities(text))
        return self._queue({"message": self._server._message_dict(self, message)})

    async def press(self, label: str, message: ChatMessage | int | None = None) -> JSONDict:
        """Press the button whose label equals (or alone contains) ``label``; returns the update.

        Looks in ``message`` if given, else in the newest message with a matching button. An
        inline button sends a callback query; a reply-keyboard button sends its text; an
        invoice's pay button starts ``pay_invoice`` in the background and returns the
        pre-checkout query's update (the outcome lands in ``server.payments``).
        """
        if message is not None:
            target = self._message(message)
            candidates = [target]
        else:
            candidates = [m for m in reversed(self._order) if m.from_bot and not m.deleted]
        for candidate in candidates:
            if candidate.inline_keyboard:
                button = _find_button(candidate.inline_keyboard, label, candidate.message_id)
                if button is None:
                    continue
                if button.pay and candidate.invoice is not None:
                    query, update = self._start_payment(candidate)
                    self._server._in_background(self._finish_payment(query))
                    return update
                if button.callback_data is None:
                    raise ButtonNotFoundError(
                        f"button {button.text!r} in message {candidate.message_id} has no "
                        f"callback data (url: {button.url})"
                    )
                return await self._press(candidate, button.callback_data)
            if candidate is self._reply_keyboard:
                button = _find_button(candidate.reply_keyboard, label, candidate.message_id)
                if button is not None:
                    return await self.send(button.text)
        raise ButtonNotFoundError(
            f"no button matching {label!r} in chat {self.chat_id}; on screen: {self._on_screen()}"
        )

    async def press_data(self, message_id: int, data: str) -> JSONDict:
        """Send a callback query with any ``data`` (forged by a client) from a bot message."""
        return await self._press(self._message(message_id), data)

    async def upload(
        self,
        filename: str,
        data: bytes,
        caption: str | None = None,
        mime_type: str | None = None,
    ) -> JSONDict:
        """Send a document; the bot can getFile and download it. Returns the update."""
        if mime_type is None:
            mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._server._store_file(filename, data, mime_type, "documents")
        message = self._add_message(from_bot=False, document=stored, caption=caption)
        return self._queue({"message": self._server._message_dict(self, message)})

    async def send_photo(self, data: bytes, caption: str | None = None) -> JSONDict:
        """Send a photo (as a phone's camera does: one compressed image, no file name); the
        bot can getFile it, or send it on by its file_id. Returns the update."""
        stored = self._server._store_file(None, data, "image/jpeg", "photos")
        message = self._add_message(from_bot=False, photo=stored, caption=caption)
        return self._queue({"message": self._server._message_dict(self, message)})

    async def pay_invoice(
        self,
        message: ChatMessage | int | None = None,
        *,
        deliver_twice: bool = False,
        answer_timeout: float = PRE_CHECKOUT_TIMEOUT,
    ) -> PaymentOutcome:
        """Pay an invoice of this chat (``None``: the newest) as the phone's payment form does.

        Queues a pre-checkout query (no chat: it comes from the payer) and waits up to
        ``answer_timeout`` seconds for the bot's answerPreCheckoutQuery. On ok=true the card is
        charged and a message from the payer carrying ``successful_payment`` (fresh
        ``telegram_payment_charge_id`` and ``provider_payment_charge_id``) is queued; with
        ``deliver_twice`` the same message comes again in a second update, as a re-delivered
        update would. The same invoice can be paid again, with new charge ids each time.
        """
        query, _ = self._start_payment(self._invoice_message(message))
        return await self._finish_payment(
            query, deliver_twice=deliver_twice, answer_timeout=answer_timeout
        )

    def block(self) -> None:
        """Block the bot: it gets 403 Forbidden in this chat until the user acts again."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    # ---- waiting

    async def wait_for_event(
        self,
        timeout: float | None = 15.0,  # noqa: ASYNC109 - a test helper's own deadline
        *,
        kinds: Collection[str] | None = None,
        predicate: Callable[[BotEvent], bool] | None = None,
    ) -> BotEvent:
        """Wait for the first not yet handed out event since the last action that matches."""

        def find() -> BotEvent | None:
            for index in range(self._mark, len(self._events)):
                event = self._events[index]
                if index in self._consumed or (kinds is not None and event.kind not in kinds):
                    continue
                if predicate is None or predicate(event):
                    self._consumed.add(index)
                    return event
            return None

        what = "/".join(sorted(kinds)) if kinds else "event"
        return await self._wait(find, timeout, what)

    async def wait_for_reply(
        self,
        timeout: float | None = 15.0,  # noqa: ASYNC109 - a test helper's own deadline
        predicate: Callable[[ChatMessage], bool] | None = None,
    ) -> ChatMessage:
        """Wait for a new bot message (matching ``predicate``) since the last action."""
        event = await self.wait_for_event(
            timeout,
            kinds=("message",),
            predicate=None if predicate is None else lambda e: predicate(_message_of(e)),
        )
        return _message_of(event)

    async def wait_for_replies(
        self,
        count: int,
        timeout: float | None = 15.0,  # noqa: ASYNC109 - a test helper's own deadline
    ) -> list[ChatMessage]:
        """Wait until the bot has sent ``count`` new messages since the last action."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        replies = []
        for _ in range(count):
            left = None if deadline is None else max(0.0, deadline - loop.time())
            replies.append(await self.wait_for_reply(left))
        return replies

    async def wait_for_edit(
        self,
        message_id: int | None = None,
        timeout: float | None = 15.0,  # noqa: ASYNC109 - a test helper's own deadline
    ) -> ChatMessage:
        """Wait until the bot edits a message (``message_id``, or any) since the last action."""
        event = await self.wait_for_event(
            timeout,
            kinds=("edit",),
            predicate=lambda e: message_id is None or _message_of(e).message_id == message_id,
        )
        return _message_of(event)

    async def wait_for_answer(
        self,
        timeout: float | None = 15.0,  # noqa: ASYNC109 - a test helper's own deadline
    ) -> CallbackAnswer:
        """Wait for the bot's answerCallbackQuery since the last action."""
        event = await self.wait_for_event(timeout, kinds=("answer",))
        assert event.answer is not None
        return event.answer

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float | None = 15.0,  # noqa: ASYNC109 - a test helper's own deadline
    ) -> None:
        """Wait until ``condition()`` holds: re-checked when the bot acts here, and every 20 ms."""
        await self._wait(lambda: True if condition() else None, timeout, "the condition", 0.02)

    async def expect_no_reply(self, within: float = 0.3) -> None:
        """Raise UnexpectedReplyError if the bot sends a message in the next ``within`` s."""
        await asyncio.sleep(within)
        for index in range(self._mark, len(self._events)):
            event = self._events[index]
            if index not in self._consumed and event.kind == "message":
                raise UnexpectedReplyError(
                    f"the bot replied when it should not have:\n{_message_of(event).render()}"
                )

    def stream(self, from_start: bool = False) -> AsyncGenerator[BotEvent, None]:
        """Every bot event of this chat from now (or from the start) on, in order, forever.

        For the terminal sandbox; independent of the cursor the waits use.
        """
        return self._events_from(0 if from_start else len(self._events))

    async def _events_from(self, index: int) -> AsyncGenerator[BotEvent, None]:
        while True:
            while index < len(self._events):
                yield self._events[index]
                index += 1
            await self._changed.wait()

    # ---- reading the chat

    def messages(self, include_deleted: bool = False) -> list[ChatMessage]:
        """The bot's messages in this chat, oldest first, in their current state."""
        return [m for m in self._order if m.from_bot and (include_deleted or not m.deleted)]

    def history(self) -> list[ChatMessage]:
        """Every message of the chat, both sides, oldest first (deleted ones flagged)."""
        return list(self._order)

    def last_message(self) -> ChatMessage | None:
        bot_messages = self.messages()
        return bot_messages[-1] if bot_messages else None

    def last_text(self) -> str:
        """The newest bot message's text (or caption), "" when the bot has said nothing."""
        last = self.last_message()
        return last.body if last is not None else ""

    def documents(self) -> list[tuple[str, bytes]]:
        """Every document the bot sent here: (filename, bytes), oldest first."""
        return [
            (m.document.filename or "", m.document.data)
            for m in self.messages(include_deleted=True)
            if m.document is not None
        ]

    def photos(self) -> list[bytes]:
        """Every photo the bot sent here, oldest first."""
        return [m.photo.data for m in self.messages(include_deleted=True) if m.photo is not None]

    def invoices(self) -> list[ChatMessage]:
        """The bot's invoice messages here, oldest first."""
        return [m for m in self.messages() if m.invoice is not None]

    def callback_answers(self) -> list[CallbackAnswer]:
        return [e.answer for e in self._events if e.answer is not None]

    def buttons(self) -> list[str]:
        """Labels of the newest bot message that has an inline keyboard."""
        for message in reversed(self.messages()):
            if message.inline_keyboard:
                return message.button_labels
        return []

    def menu(self) -> list[tuple[str, str]]:
        """The command menu this user sees (setMyCommands, narrowest scope first)."""
        return self._server.commands_for(self.chat_id, self.id, self.language_code or "")

    def transcript(self, last: int | None = None) -> str:
        """The conversation as text, both sides, for failure messages and the sandbox."""
        shown = self._order if last is None else self._order[-last:]
        return "\n".join(
            ("bot: " if m.from_bot else "you: ") + m.render().replace("\n", "\n     ")
            for m in shown
        )

    # ---- internals

    def _message(self, ref: ChatMessage | int) -> ChatMessage:
        message_id = ref.message_id if isinstance(ref, ChatMessage) else ref
        message = self._messages.get(message_id)
        if message is None or message.deleted or not message.from_bot:
            raise FakeTelegramError(f"no bot message {message_id} in chat {self.chat_id}")
        return message

    def _invoice_message(self, ref: ChatMessage | int | None) -> ChatMessage:
        if ref is None:
            invoices = self.invoices()
            if not invoices:
                raise FakeTelegramError(f"no invoice in chat {self.chat_id}")
            return invoices[-1]
        message = self._message(ref)
        if message.invoice is None:
            raise FakeTelegramError(f"message {message.message_id} is not an invoice")
        return message

    def _start_payment(self, message: ChatMessage) -> tuple[PreCheckoutQuery, JSONDict]:
        invoice = message.invoice
        assert invoice is not None
        server = self._server
        query = PreCheckoutQuery(
            server._next_query_id(),
            self,
            message.message_id,
            invoice,
            asyncio.get_running_loop().time(),
        )
        server._pre_checkout_queries[query.query_id] = query
        self._after_action()
        update = server._queue_update(
            {
                "pre_checkout_query": {
                    "id": query.query_id,
                    "from": self.user_dict,
                    "currency": invoice.currency,
                    "total_amount": invoice.total_amount,
                    "invoice_payload": invoice.payload,
                }
            }
        )
        return query, update

    async def _finish_payment(
        self,
        query: PreCheckoutQuery,
        *,
        deliver_twice: bool = False,
        answer_timeout: float = PRE_CHECKOUT_TIMEOUT,
    ) -> PaymentOutcome:
        server = self._server
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(max(0.0, answer_timeout)):
                await query.answered.wait()
        except TimeoutError:
            pass
        answer = query.answer
        if answer is None:
            query.expired = True  # a late answer gets "query is too old"
            outcome = PaymentOutcome(
                False, "timed out", loop.time() - query.asked_at, None, None, query.query_id
            )
        elif not answer.ok:
            outcome = PaymentOutcome(
                False, answer.error_message, answer.answered_in, None, None, query.query_id
            )
        else:
            payment, paid = self._report_payment(query.invoice, deliver_twice=deliver_twice)
            outcome = PaymentOutcome(
                True, None, answer.answered_in, dict(payment), paid.message_id, query.query_id
            )
        server.payments.append(outcome)
        return outcome

    async def pay_forwarded_invoice(
        self, message: ChatMessage, *, answer_timeout: float = PRE_CHECKOUT_TIMEOUT
    ) -> PaymentOutcome:
        """Pay an invoice sent to another chat, as anyone an invoice is forwarded to can: the
        pre-checkout comes from this user, and so would the successful payment."""
        if message.invoice is None:
            raise FakeTelegramError("that message is not an invoice")
        query, _ = self._start_payment(message)
        return await self._finish_payment(query, answer_timeout=answer_timeout)

    def report_payment(self, message: ChatMessage | int | None = None) -> JSONDict:
        """Telegram reports a successful payment of this invoice now, with fresh charge ids,
        as it does when a pre-checkout answered earlier let the charge go ahead (two taps on
        Pay, or the bill's balance changed between the answer and the charge). Returns the
        ``successful_payment`` sent."""
        if message is None:
            invoices = self.invoices()
            if not invoices:
                raise FakeTelegramError(f"no invoice in chat {self.chat_id}")
            message = invoices[-1]
        invoice = self._message(message).invoice
        if invoice is None:
            raise FakeTelegramError("that message is not an invoice")
        payment, _ = self._report_payment(invoice)
        return payment

    def _report_payment(
        self, invoice: SentInvoice, *, deliver_twice: bool = False
    ) -> tuple[JSONDict, ChatMessage]:
        server = self._server
        charge = server._next_charge()
        payment: JSONDict = {
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
            "telegram_payment_charge_id": f"tg_charge_{charge}",
            "provider_payment_charge_id": f"prov_{charge}",
        }
        paid = self._add_message(from_bot=False, successful_payment=payment)
        update = {"message": server._message_dict(self, paid)}
        # Queued without _after_action: what the bot said since Pay was pressed stays visible
        # to the waits.
        server._queue_update(update)
        if deliver_twice:
            server._queue_update(update)
        return payment, paid

    def _on_screen(self) -> str:
        shown = []
        for message in reversed(self.messages()):
            if message.inline_keyboard:
                labels = " ".join(f"[{label}]" for label in message.button_labels)
                shown.append(f"message {message.message_id}: {labels}")
            elif message is self._reply_keyboard:
                labels = " ".join(f"[{b.text}]" for row in message.reply_keyboard for b in row)
                shown.append(f"reply keyboard: {labels}")
            if len(shown) == 5:
                break
        return "; ".join(shown) or "no buttons"

    async def _press(self, message: ChatMessage, data: str) -> JSONDict:
        query_id = self._server._new_callback_query(self, message.message_id)
        self._after_action()
        return self._server._queue_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user_dict,
                    "message": self._server._message_dict(self, message),
                    "chat_instance": self.chat_instance,
                    "data": data,
                }
            }
        )

    def _queue(self, update: JSONDict) -> JSONDict:
        self._after_action()
        return self._server._queue_update(update)

    def _after_action(self) -> None:
        self.blocked = False  # writing to the bot again restarts it, as in Telegram
        self._mark = len(self._events)
        self._consumed.clear()

    def _add_message(self, *, from_bot: bool, **fields: Any) -> ChatMessage:
        message = ChatMessage(self.chat_id, self._next_message_id, from_bot, unix_time(), **fields)
        self._next_message_id += 1
        self._messages[message.message_id] = message
        self._order.append(message)
        return message

    def _emit(self, event: BotEvent) -> None:
        self._events.append(event)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait(
        self,
        find: Callable[[], T | None],
        timeout: float | None,  # noqa: ASYNC109 - a test helper's own deadline
        what: str,
        poll: float | None = None,
    ) -> T:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            found = find()
            if found is not None:
                return found
            changed = self._changed
            left = math.inf if deadline is None else deadline - loop.time()
            if left <= 0:
                raise NoReplyError(
                    f"no {what} from the bot in chat {self.chat_id} within {timeout} s; "
                    f"the chat so far:\n{self.transcript(last=8) or '(empty)'}"
                )
            step = min(left, poll or math.inf)
            try:
                async with asyncio.timeout(None if step == math.inf else step):
                    await changed.wait()
            except TimeoutError:
                pass


def _message_of(event: BotEvent) -> ChatMessage:
    assert event.message is not None
    return event.message


def _find_button(rows: list[list[Button]], label: str, message_id: int) -> Button | None:
    buttons = [button for row in rows for button in row]
    for button in buttons:
        if button.text == label:
            return button
    folded = label.casefold()
    partial = [button for button in buttons if folded in button.text.casefold()]
    if len(partial) > 1:
        labels = ", ".join(repr(b.text) for b in partial)
        raise ButtonNotFoundError(f"{label!r} matches {labels} in message {message_id}")
    return partial[0] if partial else None
