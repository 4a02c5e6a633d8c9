"""A local stand-in for the Telegram Bot API, for end-to-end tests and the terminal sandbox.

A development tool: it lives beside ``bot/`` and is not installed with the bot, and nothing
under ``bot/``, ``handlers/`` or ``domain/`` imports it.

``FakeTelegramServer`` answers ``/bot<token>/<method>`` over real HTTP the way
python-telegram-bot calls it (JSON, form or multipart bodies), in the real API's shapes, and
keeps every private chat's history. ``server.user(...)`` acts as a phone user: it sends text
and commands, presses inline buttons, uploads documents and reads what the bot answered;
``server.group_chat(user, ...)`` is the same person writing in a group or supergroup.

It also models what production code must cope with: Telegram's HTML parsing rules, "message
is not modified", removing an inline keyboard on an edit that omits it, the flood limit
(HTTP 429 with ``retry_after``), network latency, a second poller (409), and calls that fail
or hang on demand. While a webhook is set, updates are POSTed to it (with the secret token)
and sent again until answered 2xx in time, each chat's in order (``webhook``).

Payments are served as Telegram does them: ``sendInvoice`` (checked against ``CURRENCIES``, the
per-currency bounds of an invoice's total), ``FakeUser.pay_invoice`` (a pre-checkout query, the
bot's ``answerPreCheckoutQuery`` within a deadline, then a ``successful_payment`` message with
fresh charge ids) and ``answerPreCheckoutQuery``.

The modules:

- ``server``: ``FakeTelegramServer``, the Bot API methods and their limits;
- ``api_calls``: reading a call's parameters and answering in Telegram's shapes;
- ``user``: ``FakeUser``, the phone user's actions and waits;
- ``records``: what both sides hand out (``ChatMessage``, ``BotEvent``, ``PaymentOutcome``…);
- ``html_rules``: Telegram's HTML parse mode (``parse_html``);
- ``webhook``: pushing updates to the URL setWebhook gave, retried until answered 2xx;
- ``standalone``: ``python -m fake_telegram``, the server on its own port in its own process;
- ``errors``: what the phone-user side raises;
- ``sandbox``: ``run_bot.py sandbox``, the bot in a terminal chat over this server.
"""

from fake_telegram.errors import (
    ButtonNotFoundError,
    FakeTelegramError,
    NoReplyError,
    UnexpectedReplyError,
)
from fake_telegram.html_rules import parse_html
from fake_telegram.records import (
    CURRENCIES,
    ApiCall,
    BotEvent,
    Button,
    CallbackAnswer,
    ChatMessage,
    CurrencyInfo,
    JSONDict,
    PaymentOutcome,
    PreCheckoutAnswer,
    SentInvoice,
    StoredFile,
    Upload,
    WebhookDelivery,
)
from fake_telegram.server import (
    DEFAULT_TOKEN,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_CURRENCY_AMOUNT,
    MAX_GET_FILE_BYTES,
    MAX_INVOICE_DESCRIPTION_LENGTH,
    MAX_INVOICE_PAYLOAD_BYTES,
    MAX_INVOICE_TITLE_LENGTH,
    MAX_PHOTO_BYTES,
    MAX_SUGGESTED_TIPS,
    MAX_TEXT_LENGTH,
    MAX_UPLOAD_BYTES,
    RATE_LIMITED_METHODS,
    FakeTelegramServer,
)
from fake_telegram.user import PRE_CHECKOUT_TIMEOUT, FakeUser

__all__ = [
    "CURRENCIES",
    "DEFAULT_TOKEN",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_CURRENCY_AMOUNT",
    "MAX_GET_FILE_BYTES",
    "MAX_INVOICE_DESCRIPTION_LENGTH",
    "MAX_INVOICE_PAYLOAD_BYTES",
    "MAX_INVOICE_TITLE_LENGTH",
    "MAX_PHOTO_BYTES",
    "MAX_SUGGESTED_TIPS",
    "MAX_TEXT_LENGTH",
    "MAX_UPLOAD_BYTES",
    "PRE_CHECKOUT_TIMEOUT",
    "RATE_LIMITED_METHODS",
    "ApiCall",
    "BotEvent",
    "Button",
    "ButtonNotFoundError",
    "CallbackAnswer",
    "ChatMessage",
    "CurrencyInfo",
    "FakeTelegramError",
    "FakeTelegramServer",
    "FakeUser",
    "JSONDict",
    "NoReplyError",
    "PaymentOutcome",
    "PreCheckoutAnswer",
    "SentInvoice",
    "StoredFile",
    "UnexpectedReplyError",
    "Upload",
    "WebhookDelivery",
    "parse_html",
]
