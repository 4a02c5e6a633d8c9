"""Log hygiene: no log record carries the bot token, a database password or what people typed.

httpx logs every request URL at INFO, and Bot API URLs contain the token; at DEBUG,
python-telegram-bot logs whole updates and API answers, so a customer's password message
would be written out. A log record factory cleans every record as it is made, whatever the
logger, level or handler: known secrets are replaced, PTB's payload-carrying DEBUG records keep
only the endpoint or update id.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any
from urllib.parse import quote

REDACTED = "[redacted]"
NOT_LOGGED = "[contents not logged]"

# PTB's DEBUG (and one ERROR) records whose arguments are whole updates or API payloads.
_PAYLOAD_RECORDS = frozenset(
    {
        "Processing update %s",
        "Dropping pending update: %s",
        "Webhook received data: %s",
        'Can not load invalid JSON data: "%s"',
    }
)
# Records whose first argument (the endpoint) is kept and the rest replaced.
_ENDPOINT_RECORDS = frozenset(
    {
        "Calling Bot API endpoint `%s` with parameters `%s`",
        "Call to Bot API endpoint `%s` finished with return value `%s`",
    }
)

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def redact_secrets(*values: str | None) -> None:
    """From now on, take these values out of every log record (safe to call repeatedly)."""
    global _installed
    found = {v for v in values if v and len(v) >= 6}
    found |= {quote(v, safe="") for v in found}
    with _lock:
        _secrets.update(found)
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _clean(record)
            return record

        logging.setLogRecordFactory(make_record)
        _installed = True


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _summary(value: object) -> str:
    update_id = getattr(value, "update_id", None)
    return f"update {update_id}" if isinstance(update_id, int) else NOT_LOGGED


def _clean(record: logging.LogRecord) -> None:
    if record.name.startswith("telegram") and isinstance(record.msg, str):
        if record.msg in _PAYLOAD_RECORDS:
            record.args = tuple(_summary(a) for a in _args(record))
        elif record.msg in _ENDPOINT_RECORDS:
            args = _args(record)
            record.args = (*args[:1], *(NOT_LOGGED for _ in args[1:]))
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to the handler to report
        message = str(record.msg)
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        cleaned = redact(text)
        if cleaned != text:
            record.exc_text = cleaned
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return () if args is None else (args,)
