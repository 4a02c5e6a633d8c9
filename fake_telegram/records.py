"""What the fake Bot API keeps and hands out: chat messages and their buttons, files, the
bot's events and API calls, invoices and payment outcomes, and the currencies Telegram
Payments takes."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

JSONDict = dict[str, Any]


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


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One attempt to POST an update to the webhook."""

    update_id: int
    chat_id: int | None  # the chat whose order it keeps (fake_telegram.webhook.chat_key)
    attempt: int  # 1 for the first
    status: int  # HTTP status answered; 0 when no answer came (no connection, timed out)
    error: str  # "" when answered 2xx, else what getWebhookInfo's last_error_message says
    took: float  # seconds


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


def unix_time() -> int:
    return int(time.time())
