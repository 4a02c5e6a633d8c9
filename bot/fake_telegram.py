"""A local stand-in for the Telegram Bot API, for end-to-end tests and the terminal sandbox.

``FakeTelegramServer`` answers ``/bot<token>/<method>`` over real HTTP the way
python-telegram-bot calls it (JSON, form or multipart bodies), in the real API's shapes, and
keeps every private chat's history. ``server.user(...)`` acts as a phone user: it sends text
and commands, presses inline buttons, uploads documents and reads what the bot answered;
``server.group_chat(user, ...)`` is the same person writing in a group or supergroup.

It also models what production code must cope with: Telegram's HTML parsing rules, "message
is not modified", removing an inline keyboard on an edit that omits it, the flood limit
(HTTP 429 with ``retry_after``), network latency, a second poller (409), and calls that fail
or hang on demand.

Payments are served as Telegram does them: ``sendInvoice`` (checked against ``CURRENCIES``, the
per-currency bounds of an invoice's total), ``FakeUser.pay_invoice`` (a pre-checkout query, the
bot's ``answerPreCheckoutQuery`` within a deadline, then a ``successful_payment`` message with
fresh charge ids) and ``answerPreCheckoutQuery``.
"""

from __future__ import annotations

import asyncio
import json
import math
import mimetypes
import re
import secrets
import struct
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, TypeVar

from aiohttp import BodyPartReader, hdrs, web

JSONDict = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "123456789:FAKE-telegram-token"  # noqa: S105 - the fake server's own token
# Methods that count against the flood limit (Telegram's ~30 messages per second per bot).
RATE_LIMITED_METHODS = frozenset(
    {"sendmessage", "senddocument", "sendphoto", "sendinvoice", "editmessagetext"}
)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_GET_FILE_BYTES = 20 * 1024 * 1024
MAX_INVOICE_TITLE_LENGTH = 32
MAX_INVOICE_DESCRIPTION_LENGTH = 255
MAX_INVOICE_PAYLOAD_BYTES = 128
MAX_SUGGESTED_TIPS = 4
# TDLib refuses any price part or total beyond this before Telegram sees it.
MAX_CURRENCY_AMOUNT = 9_999_999_999_999
# Telegram drops a pre-checkout query the bot has not answered within 10 seconds.
PRE_CHECKOUT_TIMEOUT = 10.0

_INT_PARAMS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "reply_to_message_id",
        "cache_time",
        "user_id",
        "message_thread_id",
        "max_connections",
        "max_tip_amount",
        "photo_size",
        "photo_width",
        "photo_height",
    }
)
_BOOL_PARAMS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "has_spoiler",
        "disable_content_type_detection",
        "show_caption_above_media",
        "allow_paid_broadcast",
        "ok",
        "need_name",
        "need_phone_number",
        "need_email",
        "need_shipping_address",
        "send_phone_number_to_provider",
        "send_email_to_provider",
        "is_flexible",
    }
)
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "prices",
        "suggested_tip_amounts",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_QUERY_TOO_OLD = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class FakeTelegramError(Exception):
    """Something a test asked of the fake user could not be done."""


class NoReplyError(FakeTelegramError, TimeoutError):
    """The bot did not answer as expected in time."""


class ButtonNotFoundError(FakeTelegramError, LookupError):
    """No button with the given label is on screen."""


class UnexpectedReplyError(FakeTelegramError, AssertionError):
    """The bot answered when it should have stayed silent."""


class _ApiError(Exception):
    """A Bot API error answer: HTTP status, Telegram's description, optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


# --------------------------------------------------------------------------- currencies


@dataclass(frozen=True, slots=True)
class CurrencyInfo:
    """A currency Telegram Payments takes, as its currencies.json describes it.

    Amounts are integers in the currency's smallest unit (kobo, cents); ``exp`` is the number
    of decimal places; an invoice's total must lie within ``min_amount``..``max_amount``.
    """

    exp: int
    min_amount: int
    max_amount: int
    symbol: str

    def format(self, amount: int) -> str:
        """``amount`` (smallest unit) as the payment button shows it, e.g. ``₦1,500.00``."""
        value = Decimal(amount).scaleb(-self.exp)
        return f"{self.symbol}{value:,.{self.exp}f}"


# Telegram bounds every currency's total at about 1 and 10,000 US dollars' worth and moves
# the bounds with exchange rates (https://core.telegram.org/bots/payments/currencies.json).
# These are those bounds at fixed rates, per US dollar: EUR 0.92, GBP 0.79, JPY 150,
# KWD 0.307, BHD 0.376 — close to the live file, not a copy of it; NGN as the bot's own table
# has it (domain.money.CARD_LIMITS: ₦412 to ₦4,120,000, the bounds the issue quotes). A test that
# needs other bounds changes ``FakeTelegramServer.currencies`` (a copy of this table).
CURRENCIES: dict[str, CurrencyInfo] = {
    "USD": CurrencyInfo(exp=2, min_amount=100, max_amount=1_000_000, symbol="$"),
    "EUR": CurrencyInfo(exp=2, min_amount=92, max_amount=920_000, symbol="€"),
    "GBP": CurrencyInfo(exp=2, min_amount=79, max_amount=790_000, symbol="£"),
    # ₦412.00 to ₦4,120,000.00 in kobo.
    "NGN": CurrencyInfo(exp=2, min_amount=41_200, max_amount=412_000_000, symbol="₦"),
    "JPY": CurrencyInfo(exp=0, min_amount=150, max_amount=1_500_000, symbol="¥"),
    "KWD": CurrencyInfo(exp=3, min_amount=307, max_amount=3_070_000, symbol="KWD "),
    "BHD": CurrencyInfo(exp=3, min_amount=376, max_amount=3_760_000, symbol="BHD "),
}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart request, as the client sent it."""

    filename: str
    data: bytes
    content_type: str | None


@dataclass(slots=True, eq=False)
class StoredFile:
    """A file the server holds: sent by the bot or uploaded by a user."""

    file_id: str
    file_unique_id: str
    file_path: str
    filename: str | None
    data: bytes
    mime_type: str | None
    url: str | None = None  # set when the bot sent an HTTP URL instead of bytes

    @property
    def size(self) -> int:
        return len(self.data)

    def document_dict(self) -> JSONDict:
        document: JSONDict = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.filename is not None:
            document["file_name"] = self.filename
        if self.mime_type is not None:
            document["mime_type"] = self.mime_type
        return document

    def photo_sizes(self) -> list[JSONDict]:
        width, height = _image_size(self.data)
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "file_size": self.size,
                "width": width,
                "height": height,
            }
        ]


@dataclass(frozen=True, slots=True)
class Button:
    """One keyboard button as the user sees it."""

    text: str
    callback_data: str | None = None
    url: str | None = None
    pay: bool = False  # an invoice's pay button


@dataclass(slots=True, eq=False)
class ChatMessage:
    """One message of a private chat, from the bot or from the user, in its current state."""

    chat_id: int
    message_id: int
    from_bot: bool
    date: int
    text: str | None = None  # as the phone shows it: HTML tags parsed away
    raw_text: str | None = None  # as the bot sent it, before parse_mode was applied
    parse_mode: str | None = None
    entities: list[JSONDict] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[JSONDict] = field(default_factory=list)
    reply_markup: JSONDict | None = None
    document: StoredFile | None = None
    photo: StoredFile | None = None
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    versions: list[str | None] = field(default_factory=list)  # earlier text/caption, oldest first
    deleted: bool = False
    invoice: SentInvoice | None = None
    successful_payment: JSONDict | None = None  # on the payer's own payment message

    @property
    def body(self) -> str:
        """The text, the caption of a document or photo, an invoice's title and description,
        or an empty string."""
        if self.text is not None:
            return self.text
        if self.invoice is not None:
            return f"{self.invoice.title}\n{self.invoice.description}"
        return self.caption or ""

    @property
    def inline_keyboard(self) -> list[list[Button]]:
        """The inline keyboard's rows (empty when the message has none).

        An invoice sent without a keyboard shows Telegram's own "Pay <total>" button: the
        phone draws it, so the bot's view of the message has no reply_markup.
        """
        if self.invoice is not None and self.reply_markup is None:
            return [[Button(f"Pay {self.invoice.total_text}", pay=True)]]
        return _button_rows(self.reply_markup, "inline_keyboard")

    @property
    def reply_keyboard(self) -> list[list[Button]]:
        """The reply keyboard's rows this message brought up (empty when none)."""
        return _button_rows(self.reply_markup, "keyboard")

    @property
    def button_labels(self) -> list[str]:
        """The labels of every inline button, row by row."""
        return [button.text for row in self.inline_keyboard for button in row]

    def pre_blocks(self) -> list[str]:
        """The contents of every ``<pre>`` block, as the phone shows them."""
        text = self.body
        entities = self.entities if self.text is not None else self.caption_entities
        encoded = text.encode("utf-16-le")
        return [
            encoded[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
            for e in entities
            if e["type"] == "pre"
        ]

    def render(self) -> str:
        """A plain-text picture of the message, as a terminal chat shows it."""
        lines: list[str] = []
        if self.invoice is not None:
            lines.append(f"[invoice · {self.invoice.total_text}]")
        if self.successful_payment is not None:
            payment = self.successful_payment
            lines.append(
                f"[paid {payment['total_amount']} {payment['currency']} · "
                f"{payment['telegram_payment_charge_id']}]"
            )
        if self.document is not None:
            lines.append(f"[document {self.document.filename} · {self.document.size} bytes]")
        if self.photo is not None:
            width, height = _image_size(self.photo.data)
            lines.append(f"[photo {width}×{height} · {self.photo.size} bytes]")
        if self.body:
            lines.append(self.body)
        for row in self.inline_keyboard:
            lines.append("  ".join(f"[ {button.text} ]" for button in row))
        for row in self.reply_keyboard:
            lines.append("  ".join(f"⟨ {button.text} ⟩" for button in row))
        if self.edit_date is not None:
            lines.append("(edited)")
        if self.deleted:
            lines.append("(deleted)")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """The bot's answerCallbackQuery: the toast or alert the user saw."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass(frozen=True, slots=True)
class BotEvent:
    """Something the bot did in a chat."""

    kind: Literal["message", "edit", "delete", "answer"]
    message: ChatMessage | None = None
    answer: CallbackAnswer | None = None


@dataclass(slots=True)
class ApiCall:
    """One Bot API call as the server received it."""

    method: str
    params: JSONDict
    time: float  # time.monotonic() on arrival
    status: int = 0  # HTTP status answered; 0 while in progress, 499 if the client gave up


@dataclass(slots=True)
class _Fault:
    status: int | None
    hang: float
    deliver: bool


@dataclass(slots=True)
class _CallbackQuery:
    user: FakeUser
    message_id: int
    answered: bool = False


@dataclass(frozen=True, slots=True)
class SentInvoice:
    """An invoice the bot sent, as the server keeps it: payload and provider token included
    (the user's Bot API view of the message shows neither)."""

    title: str
    description: str
    payload: str
    provider_token: str
    currency: str
    prices: tuple[tuple[str, int], ...]  # (label, amount in the smallest unit)
    total_amount: int
    total_text: str  # the total as the phone shows it, e.g. "₦1,500.00"
    start_parameter: str = ""
    max_tip_amount: int = 0
    suggested_tip_amounts: tuple[int, ...] = ()
    provider_data: str | None = None
    options: tuple[tuple[str, Any], ...] = ()  # need_name and the like, as sent

    def api_dict(self) -> JSONDict:
        """The Bot API's Invoice object."""
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.total_amount,
        }


@dataclass(frozen=True, slots=True)
class PreCheckoutAnswer:
    """The bot's answerPreCheckoutQuery, as the server received it in time."""

    query_id: str
    user_id: int
    ok: bool
    error_message: str | None
    answered_in: float  # seconds after the query was queued


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """What the payer saw after pressing Pay.

    ``error_message`` is the bot's refusal, or "timed out" when no answer came in time (the
    payer is shown an error and charged nothing); ``successful_payment`` and ``message_id``
    describe the payment message delivered to the bot when ``ok``.
    """

    ok: bool
    error_message: str | None
    answered_in: float
    successful_payment: JSONDict | None
    message_id: int | None
    query_id: str


@dataclass(slots=True, eq=False)
class _PreCheckoutQuery:
    query_id: str
    user: FakeUser
    message_id: int
    invoice: SentInvoice
    asked_at: float  # loop time when queued
    answer: PreCheckoutAnswer | None = None
    expired: bool = False
    answered: asyncio.Event = field(default_factory=asyncio.Event)


# --------------------------------------------------------------------------- HTML


_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR_RE = re.compile(r"""([a-zA-Z_-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_CHAR_REF_RE = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-zA-Z]+);")
_SPECIAL_RE = re.compile(r"[<&]")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


def _utf16_len(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _html_error(text: str, index: int, what: str) -> ValueError:
    byte_offset = len(text[:index].encode())
    return ValueError(f"can't parse entities: {what} at byte offset {byte_offset}")


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Parse Bot API HTML as Telegram does: the plain text and its entities.

    Raises ValueError with Telegram's wording for what Telegram rejects: an unescaped ``<``,
    an unsupported tag, a wrongly nested or unclosed tag.
    """
    plain: list[str] = []
    offset = 0  # in UTF-16 code units, as Telegram counts
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[JSONDict] = []
    index = 0
    while index < len(text):
        special = _SPECIAL_RE.search(text, index)
        end = special.start() if special else len(text)
        if end > index:
            chunk = text[index:end]
            plain.append(chunk)
            offset += _utf16_len(chunk)
        if special is None:
            break
        index = end
        if text[index] == "&":
            ref = _CHAR_REF_RE.match(text, index)
            decoded = _decode_char_ref(ref.group(1)) if ref else None
            if ref is None or decoded is None:
                plain.append("&")
                offset += 1
                index += 1
                continue
            plain.append(decoded)
            offset += _utf16_len(decoded)
            index = ref.end()
            continue
        tag = _TAG_RE.match(text, index)
        if tag is None:
            raise _html_error(text, index, 'unsupported start tag ""')
        closing, name, attributes = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
        if name not in _HTML_ENTITY_TYPES:
            kind = "end" if closing else "start"
            raise _html_error(text, index, f'unsupported {kind} tag "{name}"')
        if closing:
            if not stack:
                raise _html_error(text, index, f'unexpected end tag "{name}"')
            open_name, start, open_attributes = stack.pop()
            if open_name != name:
                raise _html_error(
                    text, index, f'unmatched end tag, expected "</{open_name}>", found "</{name}>"'
                )
            _close_html_entity(entities, stack, name, start, offset - start, open_attributes)
        else:
            parsed = {
                m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
                for m in _ATTR_RE.finditer(attributes)
            }
            if name == "span" and parsed.get("class") != "tg-spoiler":
                raise _html_error(text, index, 'unsupported start tag "span"')
            stack.append((name, offset, parsed))
        index = tag.end()
    if stack:
        raise ValueError(
            "can't parse entities: can't find end tag corresponding to start tag "
            f'"{stack[-1][0]}"'
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(plain), entities


def _decode_char_ref(reference: str) -> str | None:
    if reference.startswith(("#x", "#X")):
        return chr(int(reference[2:], 16)) if int(reference[2:], 16) <= 0x10FFFF else None
    if reference.startswith("#"):
        return chr(int(reference[1:])) if int(reference[1:]) <= 0x10FFFF else None
    return _NAMED_REFS.get(reference)


def _close_html_entity(
    entities: list[JSONDict],
    stack: list[tuple[str, int, dict[str, str]]],
    name: str,
    start: int,
    length: int,
    attributes: dict[str, str],
) -> None:
    language = attributes.get("class", "")
    if name == "code" and stack and stack[-1][0] == "pre" and language.startswith("language-"):
        # <pre><code class="language-x"> is one pre entity with a language, as in Telegram.
        stack[-1][2]["language"] = language.removeprefix("language-")
        return
    if length <= 0:
        return  # Telegram drops empty entities
    entity: JSONDict = {"type": _HTML_ENTITY_TYPES[name], "offset": start, "length": length}
    if name == "a":
        entity["url"] = attributes.get("href", "")
    elif name == "pre" and "language" in attributes:
        entity["language"] = attributes["language"]
    elif name == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        entity["custom_emoji_id"] = attributes.get("emoji-id", "")
    entities.append(entity)


# --------------------------------------------------------------------------- helpers


def _button_rows(markup: JSONDict | None, key: str) -> list[list[Button]]:
    if not markup or not isinstance(markup.get(key), list):
        return []
    rows: list[list[Button]] = []
    for row in markup[key]:
        buttons = []
        for raw in row:
            if isinstance(raw, str):  # reply keyboards accept bare strings
                buttons.append(Button(raw))
            else:
                buttons.append(
                    Button(
                        raw["text"], raw.get("callback_data"), raw.get("url"), bool(raw.get("pay"))
                    )
                )
        rows.append(buttons)
    return rows


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG or JPEG, (0, 0) when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] == b"\xff\xd8":
        index = 2
        while index + 9 < len(data) and data[index] == 0xFF:
            marker = data[index + 1]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[index + 5 : index + 9])
                return int(width), int(height)
            (length,) = struct.unpack(">H", data[index + 2 : index + 4])
            index += 2 + length
    return 0, 0


def _coerce(params: JSONDict) -> JSONDict:
    """Type form fields (always strings) the way the Bot API reads them."""
    for key, value in params.items():
        if not isinstance(value, str):
            continue
        if key in _JSON_PARAMS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                raise _bad_request(f"can't parse {key} JSON object") from None
        elif key in _INT_PARAMS:
            try:
                params[key] = int(value)
            except ValueError:
                try:
                    params[key] = float(value)
                except ValueError:
                    pass  # "@channel" chat ids stay strings
        elif key in _BOOL_PARAMS:
            params[key] = value.lower() in ("true", "1")
    return params


async def _read_params(request: web.Request) -> JSONDict:
    params: JSONDict = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return _coerce(params)
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _bad_request("can't parse JSON encoded request") from None
        if not isinstance(body, dict):
            raise _bad_request("JSON request must be an object")
        params.update(body)
    elif content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = bytes(await part.read())
                params[part.name] = Upload(
                    part.filename, data, part.headers.get(hdrs.CONTENT_TYPE)
                )
            else:
                params[part.name] = await part.text()
    else:
        form = await request.post()
        params.update({key: value for key, value in form.items() if isinstance(value, str)})
    return _coerce(params)


def _json_response(status: int, body: JSONDict) -> web.Response:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=payload, status=status, content_type="application/json")


def _str_param(params: JSONDict, key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _required_str(params: JSONDict, key: str) -> str:
    value = _str_param(params, key)
    if not value:
        raise _bad_request(f'parameter "{key}" is required')
    return value


def _integer(value: Any) -> int | None:
    """A JSON integer, or a string holding one (TDLib takes both); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value):
        return int(value)
    return None


def _labeled_prices(params: JSONDict) -> tuple[tuple[str, int], ...]:
    raw = params.get("prices")
    if raw is None or raw == "":
        raise _bad_request('parameter "prices" is required')
    if not isinstance(raw, list):
        raise _bad_request("expected an Array of labeled prices")
    prices: list[tuple[str, int]] = []
    for item in raw:
        problem = None
        if not isinstance(item, dict):
            problem = "LabeledPrice must be an Object"
        elif not isinstance(item.get("label"), str):
            problem = 'Can\'t find field "label"'
        elif not item["label"]:
            problem = "LabeledPrice label must be non-empty"
        elif "amount" not in item:
            problem = 'Can\'t find field "amount"'
        elif _integer(item["amount"]) is None:
            problem = 'Field "amount" must be a valid Number'
        if problem is not None:
            raise _bad_request(f"can't parse labeled price: {problem}")
        amount = _integer(item["amount"])
        assert amount is not None
        if abs(amount) > MAX_CURRENCY_AMOUNT:
            raise _bad_request("too big amount of the currency specified")
        prices.append((item["label"], amount))
    if not prices:
        raise _bad_request("there must be at least one price")
    return tuple(prices)


def _tips(params: JSONDict) -> tuple[int, tuple[int, ...]]:
    raw_max = params.get("max_tip_amount", 0)
    max_tip = _integer(raw_max)
    if max_tip is None:
        raise _bad_request('can\'t parse "max_tip_amount" as Number')
    if not 0 <= max_tip <= MAX_CURRENCY_AMOUNT:
        raise _bad_request("invalid max_tip_amount of the currency specified")
    raw_tips = params.get("suggested_tip_amounts")
    if raw_tips is None or raw_tips == "":
        return max_tip, ()
    if not isinstance(raw_tips, list):
        raise _bad_request("expected an Array of suggested tip amounts")
    tips: list[int] = []
    for raw in raw_tips:
        tip = _integer(raw)
        if tip is None:
            raise _bad_request("suggested tip amount must be of type Number or String")
        if tip <= 0:
            raise _bad_request("suggested tip amount must be positive")
        if tip > max_tip:
            raise _bad_request("suggested tip amount can't be bigger than max_tip_amount")
        tips.append(tip)
    if len(tips) > MAX_SUGGESTED_TIPS:
        raise _bad_request("there can be at most 4 suggested tip amounts")
    return max_tip, tuple(tips)


def _command_entities(text: str) -> list[JSONDict]:
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------- the user


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

    def _start_payment(self, message: ChatMessage) -> tuple[_PreCheckoutQuery, JSONDict]:
        invoice = message.invoice
        assert invoice is not None
        server = self._server
        query = _PreCheckoutQuery(
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
        query: _PreCheckoutQuery,
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
        message = ChatMessage(self.chat_id, self._next_message_id, from_bot, _now(), **fields)
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


# --------------------------------------------------------------------------- the server


Handler = Callable[[JSONDict], Awaitable[Any]]


class FakeTelegramServer:
    """A Bot API server on loopback for one bot (see the module docstring).

    Use ``async with FakeTelegramServer() as server:`` and build the bot with
    ``ApplicationBuilder().token(server.token).base_url(server.base_url)
    .base_file_url(server.base_file_url)``. ``latency``, ``rate_limit`` and
    ``rate_limit_tolerance`` may be changed at any time.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit: float | None = None,
        rate_limit_tolerance: float = 0.5,
        bot_username: str = "fake_billing_bot",
        bot_name: str = "Billing Bot",
        record_calls: bool = True,
    ) -> None:
        bot_id, _, _ = token.partition(":")
        self.token = token
        self.host = host
        self.latency = latency
        self.record_calls = record_calls
        self.bot_user: JSONDict = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.calls: list[ApiCall] = []
        self.rate_limited_count = 0  # 429 answers sent
        self.conflict_count = 0  # getUpdates polls ended by a second poller (409)
        self.webhook_url = ""
        self.allowed_updates: list[str] = []
        self._port = port
        self._runner: web.AppRunner | None = None
        self._users: dict[int, FakeUser] = {}
        self._group_chats: dict[int, FakeUser] = {}  # by (negative) chat id
        self._pending: deque[JSONDict] = deque()  # unconfirmed updates, update_id ascending
        self._forced: deque[JSONDict] = deque()  # re-deliveries, handed out once
        self._next_update_id = 1
        self._updates_changed = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._next_file = 1
        self._queries: dict[str, _CallbackQuery] = {}
        self._next_query = secrets.randbelow(10**9) * 10**9
        # Invoice totals are checked against this copy; a test may change it.
        self.currencies: dict[str, CurrencyInfo] = dict(CURRENCIES)
        self.pre_checkout_answers: list[PreCheckoutAnswer] = []
        self.payments: list[PaymentOutcome] = []  # every payment attempt's outcome, in order
        self._pre_checkout_queries: dict[str, _PreCheckoutQuery] = {}
        # Charge ids must stay unique across servers: a test database outlives one server.
        self._charge_prefix = secrets.token_hex(4)
        self._charges = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._commands: dict[tuple[tuple[Any, ...], str], list[JSONDict]] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._rate_limit: float | None = None
        self._tolerance = rate_limit_tolerance
        self._tokens = 0.0
        self._refilled_at = 0.0
        self.rate_limit = rate_limit
        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "deletemessage": self._delete_message,
            "senddocument": self._send_document,
            "sendphoto": self._send_photo,
            "sendchataction": self._send_chat_action,
            "getfile": self._get_file,
            "sendinvoice": self._send_invoice,
            "answerprecheckoutquery": self._answer_pre_checkout_query,
            "logout": self._ok,
            "close": self._ok,
        }

    # ---- lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """The server's root, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self._port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url``: PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url``: PTB appends the token and file path."""
        return f"{self.url}/file/bot"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the fake Bot API server is already running")
        self._closing = False
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a client that gives up (a cancelled long poll, a timed-out
        # call) ends its handler, so nothing is delivered into a dead connection.
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=1.0,
            handler_cancellation=True,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port, backlog=4096)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing = True
        self._notify_pollers()
        background, self._background = self._background, set()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await runner.cleanup()

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---- realism and faults

    @property
    def rate_limit(self) -> float | None:
        """Counted messages per second (see RATE_LIMITED_METHODS); None for no limit.

        A token bucket: a burst of ``rate_limit`` messages, refilled at ``rate_limit`` per
        second, plus ``rate_limit_tolerance`` seconds' worth of slack. A client that paces
        itself at exactly the limit (PTB's AIORateLimiter) still has its requests bunched up
        on the way when its event loop stalls; measured here, a bulk send of 1,000 notices
        with the bot and its database in one loop needed 0.1-0.25 s of slack, so the default
        is 0.5 s. An unpaced burst is still refused after ``rate_limit * (1 + tolerance)``.
        """
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, value: float | None) -> None:
        self._rate_limit = value
        self._tokens = self._bucket_size()
        self._refilled_at = time.monotonic()

    @property
    def rate_limit_tolerance(self) -> float:
        return self._tolerance

    @rate_limit_tolerance.setter
    def rate_limit_tolerance(self, value: float) -> None:
        self._tolerance = value
        self.rate_limit = self._rate_limit

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int | None = 502,
        hang: float = 0.0,
        deliver: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        Each waits ``hang`` seconds (past the client's timeout, if you like), then answers HTTP
        ``status`` in Telegram's error shape; ``status=None`` answers normally (a slow call).
        ``deliver=True`` carries the call out first: the message reaches the chat although
        the bot never sees the answer, as when Telegram got a request whose reply was lost.
        """
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(_Fault(status, hang, deliver) for _ in range(times))

    def clear_faults(self) -> None:
        self._faults.clear()

    # ---- the user side

    def user(
        self,
        user_id: int = 1001,
        first_name: str = "Test",
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = "en",
    ) -> FakeUser:
        """The user with this id (created on first use), in a private chat with the bot."""
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        created = FakeUser(self, user_id, first_name, last_name, username, language_code)
        self._users[user_id] = created
        return created

    def group_chat(
        self,
        user: FakeUser,
        chat_id: int = -1001,
        title: str = "Neighbours",
        chat_type: Literal["group", "supergroup"] = "group",
    ) -> FakeUser:
        """``user`` writing in a group chat the bot is in (created on first use): what they send
        comes from that chat, and the bot's answers there are read from this view. One member
        per group chat here; group chat ids are negative, as in Telegram."""
        existing = self._group_chats.get(chat_id)
        if existing is not None:
            if existing.id != user.id:
                raise FakeTelegramError(f"group chat {chat_id} already belongs to {existing!r}")
            return existing
        if chat_id >= 0:
            raise FakeTelegramError("a group chat's id is negative")
        created = FakeUser(
            self,
            user.id,
            user.first_name,
            user.last_name,
            user.username,
            user.language_code,
            chat={"id": chat_id, "type": chat_type, "title": title},
        )
        self._group_chats[chat_id] = created
        return created

    @property
    def users(self) -> list[FakeUser]:
        return list(self._users.values())

    def queue_raw_update(self, update: JSONDict) -> JSONDict:
        """Queue an update as given. With an update_id it is delivered once more whatever the
        bot has confirmed (duplicate delivery); without one it gets the next id."""
        update = dict(update)
        if "update_id" not in update:
            return self._queue_update(update)
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        self._forced.append(update)
        self._notify_pollers()
        return update

    @property
    def pending_update_count(self) -> int:
        return len(self._pending) + len(self._forced)

    def calls_to(self, method: str) -> list[ApiCall]:
        """Recorded calls of one method (case-insensitive), oldest first."""
        key = method.lower()
        return [call for call in self.calls if call.method.lower() == key]

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def unanswered_pre_checkout_queries(self) -> list[str]:
        """Ids of pre-checkout queries still waiting for the bot's answer."""
        return [
            query_id
            for query_id, query in self._pre_checkout_queries.items()
            if query.answer is None and not query.expired
        ]

    def unanswered_callback_queries(self) -> list[str]:
        """Ids of callback queries the bot has not answered (the user sees a spinner)."""
        return [query_id for query_id, query in self._queries.items() if not query.answered]

    def commands_for(
        self, chat_id: int, user_id: int | None = None, language_code: str = ""
    ) -> list[tuple[str, str]]:
        """The command menu a private chat shows, resolved narrowest scope first."""
        scopes: list[tuple[Any, ...]] = []
        if user_id is not None:
            scopes.append(("chat_member", chat_id, user_id))
        scopes += [("chat", chat_id), ("all_private_chats",), ("default",)]
        for scope in scopes:
            for language in dict.fromkeys((language_code, "")):
                commands = self._commands.get((scope, language))
                if commands:
                    return [(c["command"], c["description"]) for c in commands]
        return []

    # ---- HTTP

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json_response(401, _ApiError(401, "Unauthorized").body())
        method = request.match_info["method"]
        try:
            params = await _read_params(request)
        except _ApiError as exc:
            return _json_response(exc.status, exc.body())
        call = ApiCall(method, params, time.monotonic())
        if self.record_calls:
            self.calls.append(call)
        try:
            status, body = await self._dispatch(method.lower(), params)
        except asyncio.CancelledError:
            call.status = 499  # the client gave up (nginx's "client closed request")
            raise
        call.status = status
        return _json_response(status, body)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _json_response(401, _ApiError(401, "Unauthorized").body())
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return _json_response(404, _ApiError(404, "Not Found").body())
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _dispatch(self, method: str, params: JSONDict) -> tuple[int, JSONDict]:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        faults = self._faults.get(method)
        if not faults:
            return await self._call(method, params)
        fault = faults.popleft()
        answer: tuple[int, JSONDict] | None = None
        if fault.deliver or fault.status is None:
            answer = await self._call(method, params)
        if fault.hang > 0:
            await self._sleep_unless_closing(fault.hang)
        if fault.status is None and answer is not None:
            return answer
        status = fault.status or 502
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return status, _ApiError(status, phrase).body()

    async def _call(self, method: str, params: JSONDict) -> tuple[int, JSONDict]:
        handler = self._methods.get(method)
        if handler is None:
            return 404, _ApiError(404, f"Not Found: method {method} is not served here").body()
        if method in RATE_LIMITED_METHODS:
            retry_after = self._take_rate_token()
            if retry_after is not None:
                self.rate_limited_count += 1
                error = _ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
                return 429, error.body()
        try:
            result = await handler(params)
        except _ApiError as exc:
            return exc.status, exc.body()
        return 200, {"ok": True, "result": result}

    async def _sleep_unless_closing(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and (left := deadline - loop.time()) > 0:
            changed = self._updates_changed
            try:
                async with asyncio.timeout(left):
                    await changed.wait()
            except TimeoutError:
                return

    def _bucket_size(self) -> float:
        rate = self._rate_limit
        if rate is None:
            return 0.0
        return max(1.0, rate) + rate * self._tolerance

    def _take_rate_token(self) -> int | None:
        """Spend one token; None when allowed, else the seconds to wait (Telegram's integer)."""
        rate = self._rate_limit
        if rate is None:
            return None
        now = time.monotonic()
        self._tokens = min(self._bucket_size(), self._tokens + (now - self._refilled_at) * rate)
        self._refilled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self._tokens) / rate))

    # ---- updates

    def _queue_update(self, update: JSONDict) -> JSONDict:
        update = {"update_id": self._next_update_id, **update}
        self._next_update_id += 1
        self._pending.append(update)
        self._notify_pollers()
        return update

    def _notify_pollers(self) -> None:
        changed, self._updates_changed = self._updates_changed, asyncio.Event()
        changed.set()

    def _take_updates(self, limit: int) -> list[JSONDict]:
        allowed = self.allowed_updates
        if self._forced:
            batch: list[JSONDict] = []
            while self._forced and len(batch) < limit:
                batch.append(self._forced.popleft())
            return batch
        if allowed:
            # Telegram never delivers types the bot did not ask for.
            kept = [u for u in self._pending if any(k in u for k in allowed)]
            if len(kept) != len(self._pending):
                self._pending = deque(kept)
        return [self._pending[i] for i in range(min(limit, len(self._pending)))]

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()
            return
        while self._pending and self._pending[0]["update_id"] < offset:
            self._pending.popleft()

    # ---- Bot API methods

    async def _ok(self, params: JSONDict) -> bool:
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = params.get("limit", 100)
        timeout = params.get("timeout", 0)
        if not isinstance(limit, int) or not isinstance(timeout, int | float):
            raise _bad_request("wrong parameter type")
        limit = min(max(limit, 1), 100)
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = [str(kind) for kind in params["allowed_updates"]]
        if isinstance(offset, int):
            self._confirm(offset)
        # Only one poll may wait at a time: a new one ends the old one, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_pollers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, float(timeout))
        while True:
            if generation != self._poll_generation:
                self.conflict_count += 1
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = self._take_updates(limit)
            left = deadline - loop.time()
            if batch or left <= 0 or self._closing:
                return batch
            changed = self._updates_changed
            try:
                async with asyncio.timeout(left):
                    await changed.wait()
            except TimeoutError:
                pass

    async def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._pending.clear()
            self._forced.clear()
        return True

    async def _set_webhook(self, params: JSONDict) -> bool:
        self.webhook_url = _str_param(params, "url") or ""
        if params.get("drop_pending_updates"):
            self._pending.clear()
            self._forced.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": self.pending_update_count,
        }

    def _commands_key(self, params: JSONDict) -> tuple[tuple[Any, ...], str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise _bad_request("can't parse BotCommandScope JSON object")
        key: tuple[Any, ...] = (scope["type"],)
        for part in ("chat_id", "user_id"):
            if part in scope:
                value = scope[part]
                key += (int(value) if str(value).lstrip("-").isdigit() else value,)
        return key, _str_param(params, "language_code") or ""

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self._commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self._commands.pop(key, None)
        return True

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return list(self._commands.get(self._commands_key(params), []))

    def _chat(self, params: JSONDict) -> FakeUser:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        user = None
        if isinstance(chat_id, int):
            user = self._users.get(chat_id) or self._group_chats.get(chat_id)
        if user is None:
            raise _bad_request("chat not found")
        if user.blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return user

    def _text(self, params: JSONDict, key: str, entities_key: str) -> tuple[str, list[JSONDict]]:
        raw = _str_param(params, key) or ""
        parse_mode = (_str_param(params, "parse_mode") or "").lower()
        if parse_mode == "html":
            try:
                return parse_html(raw)
            except ValueError as exc:
                raise _bad_request(str(exc)) from None
        # MarkdownV2 is not parsed: the text is kept as sent.
        entities = params.get(entities_key)
        return raw, entities if isinstance(entities, list) else []

    def _markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad_request("can't parse inline keyboard button: text is empty")
                if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
                    raise _bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not (
                    1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _bad_request("BUTTON_DATA_INVALID")
        return markup

    def _reply_to(self, user: FakeUser, params: JSONDict) -> int | None:
        reply_to = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        reply_parameters = params.get("reply_parameters")
        if isinstance(reply_parameters, dict):
            reply_to = reply_parameters.get("message_id")
            allow_missing = bool(reply_parameters.get("allow_sending_without_reply"))
        if reply_to is None:
            return None
        target = user._messages.get(int(reply_to))
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise _bad_request("message to be replied not found")
        return target.message_id

    def _bot_sent(self, user: FakeUser, message: ChatMessage, markup: JSONDict | None) -> JSONDict:
        if markup is not None:
            if "keyboard" in markup:
                user._reply_keyboard = message
            elif markup.get("remove_keyboard"):
                user._reply_keyboard = None
        user._emit(BotEvent("message", message))
        return self._message_dict(user, message)

    async def _send_message(self, params: JSONDict) -> JSONDict:
        user = self._chat(params)
        text, entities = self._text(params, "text", "entities")
        if not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        markup = self._markup(params)
        message = user._add_message(
            from_bot=True,
            text=text,
            raw_text=_str_param(params, "text"),
            parse_mode=_str_param(params, "parse_mode"),
            entities=entities,
            reply_markup=markup,
            reply_to_message_id=self._reply_to(user, params),
        )
        return self._bot_sent(user, message, markup)

    async def _send_document(self, params: JSONDict) -> JSONDict:
        return await self._send_media(params, "document")

    async def _send_photo(self, params: JSONDict) -> JSONDict:
        return await self._send_media(params, "photo")

    async def _send_media(self, params: JSONDict, kind: Literal["document", "photo"]) -> JSONDict:
        user = self._chat(params)
        stored = self._resolve_file(params, kind)
        caption, caption_entities = self._text(params, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        markup = self._markup(params)
        message = user._add_message(
            from_bot=True,
            caption=caption or None,
            caption_entities=caption_entities,
            parse_mode=_str_param(params, "parse_mode"),
            reply_markup=markup,
            reply_to_message_id=self._reply_to(user, params),
            **{kind: stored},
        )
        return self._bot_sent(user, message, markup)

    def _resolve_file(self, params: JSONDict, kind: Literal["document", "photo"]) -> StoredFile:
        source = params.get(kind)
        if isinstance(source, str) and source.startswith("attach://"):
            source = params.get(source.removeprefix("attach://"))
        if isinstance(source, Upload):
            if not source.data:
                raise _bad_request("file must be non-empty")
            limit = MAX_PHOTO_BYTES if kind == "photo" else MAX_UPLOAD_BYTES
            if len(source.data) > limit:
                raise _ApiError(413, "Request Entity Too Large")
            mime_type = source.content_type
            if not mime_type or mime_type == "application/octet-stream":
                mime_type = mimetypes.guess_type(source.filename)[0] or mime_type
            folder = "photos" if kind == "photo" else "documents"
            return self._store_file(source.filename, source.data, mime_type, folder)
        if isinstance(source, str) and source in self._files:
            return self._files[source]
        if isinstance(source, str) and source.startswith(("http://", "https://")):
            name = source.rstrip("/").rsplit("/", 1)[-1] or "file"
            stored = self._store_file(name, b"", mimetypes.guess_type(name)[0], "documents")
            stored.url = source
            return stored
        if source is None or source == "":
            raise _bad_request(f"there is no {kind} in the request")
        raise _bad_request("wrong file identifier/HTTP URL specified")

    def _store_file(
        self, filename: str | None, data: bytes, mime_type: str | None, folder: str
    ) -> StoredFile:
        number = self._next_file
        self._next_file += 1
        suffix = mimetypes.guess_extension(mime_type or "") or ""
        if filename and "." in filename:
            suffix = "." + filename.rsplit(".", 1)[-1]
        stored = StoredFile(
            file_id=f"{'AgAC' if folder == 'photos' else 'BQAC'}{number}_{secrets.token_hex(8)}",
            file_unique_id=f"AQAD{number}",
            file_path=f"{folder}/file_{number}{suffix}",
            filename=filename,
            data=data,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _message_to_edit(self, params: JSONDict) -> tuple[FakeUser, ChatMessage]:
        if params.get("inline_message_id") is not None:
            raise _bad_request("inline messages are not served by the fake server")
        user = self._chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise _bad_request("message identifier is not specified")
        message = user._messages.get(message_id)
        if message is None or message.deleted:
            raise _bad_request("message to edit not found")
        if not message.from_bot:
            raise _bad_request("message can't be edited")
        return user, message

    def _edited(self, user: FakeUser, message: ChatMessage) -> JSONDict:
        message.edit_date = _now()
        user._emit(BotEvent("edit", message))
        return self._message_dict(user, message)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        user, message = self._message_to_edit(params)
        if message.text is None:
            raise _bad_request("there is no text in the message to edit")
        text, entities = self._text(params, "text", "entities")
        if not text.strip():
            raise _bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        # An edit without reply_markup removes the inline keyboard, as in Telegram.
        markup = self._markup(params)
        if text == message.text and entities == message.entities:
            if markup == message.reply_markup:
                raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.versions.append(message.text)
        message.text = text
        message.raw_text = _str_param(params, "text")
        message.parse_mode = _str_param(params, "parse_mode")
        message.entities = entities
        message.reply_markup = markup
        return self._edited(user, message)

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        user, message = self._message_to_edit(params)
        if message.document is None and message.photo is None:
            raise _bad_request("there is no caption in the message to edit")
        caption, entities = self._text(params, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        markup = self._markup(params)
        if (caption or None) == message.caption and entities == message.caption_entities:
            if markup == message.reply_markup:
                raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.versions.append(message.caption)
        message.caption = caption or None
        message.caption_entities = entities
        message.reply_markup = markup
        return self._edited(user, message)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        user, message = self._message_to_edit(params)
        markup = self._markup(params)
        if markup == message.reply_markup:
            raise _bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.reply_markup = markup
        return self._edited(user, message)

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = _str_param(params, "callback_query_id") or ""
        query = self._queries.get(query_id)
        if query is None or query.answered:
            raise _bad_request(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
        query.answered = True
        answer = CallbackAnswer(
            query_id,
            _str_param(params, "text"),
            bool(params.get("show_alert")),
            _str_param(params, "url"),
        )
        query.user._emit(BotEvent("answer", answer=answer))
        return True

    async def _send_invoice(self, params: JSONDict) -> JSONDict:
        # The Bot API's own checks come first, then TDLib's, then Telegram's servers'.
        user = self._chat(params)
        title = _required_str(params, "title")
        description = _required_str(params, "description")
        payload = _required_str(params, "payload")
        currency = _required_str(params, "currency")
        prices = _labeled_prices(params)
        max_tip, suggested_tips = _tips(params)
        total = sum(amount for _, amount in prices)
        if total <= 0:
            raise _bad_request("total price must be positive")
        if total > MAX_CURRENCY_AMOUNT:
            raise _bad_request("total price is too big")
        info = self.currencies.get(currency)
        if info is None:
            raise _bad_request("CURRENCY_INVALID")
        provider_token = _str_param(params, "provider_token") or ""
        if not provider_token:
            raise _bad_request("PAYMENT_PROVIDER_INVALID")
        if not info.min_amount <= total <= info.max_amount:
            raise _bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        # Telegram does not document its wording for these three; the names follow
        # INVOICE_PAYLOAD_INVALID, which it does use.
        if len(title) > MAX_INVOICE_TITLE_LENGTH:
            raise _bad_request("INVOICE_TITLE_INVALID")
        if len(description) > MAX_INVOICE_DESCRIPTION_LENGTH:
            raise _bad_request("INVOICE_DESCRIPTION_INVALID")
        if len(payload.encode()) > MAX_INVOICE_PAYLOAD_BYTES:
            raise _bad_request("INVOICE_PAYLOAD_INVALID")
        markup = self._markup(params)
        if markup is not None:
            rows = markup.get("inline_keyboard")
            first = rows[0][0] if isinstance(rows, list) and rows and rows[0] else None
            if not isinstance(first, dict) or not first.get("pay"):
                raise _bad_request("REPLY_MARKUP_BUY_EMPTY")
        options = tuple(
            (key, params[key])
            for key in sorted(params)
            if key.startswith(("need_", "send_", "photo_")) or key == "is_flexible"
        )
        invoice = SentInvoice(
            title=title,
            description=description,
            payload=payload,
            provider_token=provider_token,
            currency=currency,
            prices=prices,
            total_amount=total,
            total_text=info.format(total),
            start_parameter=_str_param(params, "start_parameter") or "",
            max_tip_amount=max_tip,
            suggested_tip_amounts=suggested_tips,
            provider_data=_str_param(params, "provider_data"),
            options=options,
        )
        message = user._add_message(
            from_bot=True,
            invoice=invoice,
            reply_markup=markup,
            reply_to_message_id=self._reply_to(user, params),
        )
        return self._bot_sent(user, message, markup)

    async def _answer_pre_checkout_query(self, params: JSONDict) -> bool:
        query_id = _str_param(params, "pre_checkout_query_id") or ""
        ok = params.get("ok") is True
        error_message = None if ok else _required_str(params, "error_message")
        query = self._pre_checkout_queries.get(query_id)
        if query is None or query.answer is not None or query.expired:
            raise _bad_request(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
        answer = PreCheckoutAnswer(
            query_id,
            query.user.id,
            ok,
            error_message,
            asyncio.get_running_loop().time() - query.asked_at,
        )
        query.answer = answer
        self.pre_checkout_answers.append(answer)
        query.answered.set()
        return True

    async def _delete_message(self, params: JSONDict) -> bool:
        user = self._chat(params)
        message_id = params.get("message_id")
        message = user._messages.get(message_id) if isinstance(message_id, int) else None
        if message is None or message.deleted:
            raise _bad_request("message to delete not found")
        message.deleted = True
        if user._reply_keyboard is message:
            user._reply_keyboard = None
        user._emit(BotEvent("delete", message))
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat(params)
        if _str_param(params, "action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        stored = self._files.get(_str_param(params, "file_id") or "")
        if stored is None:
            raise _bad_request("invalid file_id")
        if stored.size > MAX_GET_FILE_BYTES:
            raise _bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    # ---- shapes

    def _next_query_id(self) -> str:
        self._next_query += 1
        return str(self._next_query)

    def _new_callback_query(self, user: FakeUser, message_id: int) -> str:
        query_id = self._next_query_id()
        self._queries[query_id] = _CallbackQuery(user, message_id)
        return query_id

    def _next_charge(self) -> str:
        self._charges += 1
        return f"{self._charge_prefix}_{self._charges}"

    def _in_background(self, work: Awaitable[T]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _message_dict(
        self, user: FakeUser, message: ChatMessage, *, nested: bool = False
    ) -> JSONDict:
        result: JSONDict = {
            "message_id": message.message_id,
            "from": self.bot_user if message.from_bot else user.user_dict,
            "chat": user.chat_dict,
            "date": message.date,
        }
        if message.edit_date is not None:
            result["edit_date"] = message.edit_date
        if message.text is not None:
            result["text"] = message.text
            if message.entities:
                result["entities"] = message.entities
        if message.document is not None:
            result["document"] = message.document.document_dict()
        if message.photo is not None:
            result["photo"] = message.photo.photo_sizes()
        if message.caption is not None:
            result["caption"] = message.caption
            if message.caption_entities:
                result["caption_entities"] = message.caption_entities
        if message.invoice is not None:
            result["invoice"] = message.invoice.api_dict()
        if message.successful_payment is not None:
            result["successful_payment"] = dict(message.successful_payment)
        if message.reply_markup is not None and "inline_keyboard" in message.reply_markup:
            result["reply_markup"] = message.reply_markup
        if message.reply_to_message_id is not None and not nested:
            replied = user._messages.get(message.reply_to_message_id)
            if replied is not None:
                result["reply_to_message"] = self._message_dict(user, replied, nested=True)
        return result
