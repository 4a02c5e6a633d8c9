"""Reading a Bot API call as Telegram does (query string, JSON, form or multipart body,
typed the way the Bot API reads form fields) and answering it in Telegram's shapes."""

from __future__ import annotations

import json

from aiohttp import BodyPartReader, hdrs, web

from fake_telegram.records import JSONDict, Upload

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


class ApiError(Exception):
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


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _coerce(params: JSONDict) -> JSONDict:
    """Type form fields (always strings) the way the Bot API reads them."""
    for key, value in params.items():
        if not isinstance(value, str):
            continue
        if key in _JSON_PARAMS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {key} JSON object") from None
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


async def read_params(request: web.Request) -> JSONDict:
    params: JSONDict = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return _coerce(params)
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request must be an object")
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


def json_response(status: int, body: JSONDict) -> web.Response:
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return web.Response(body=payload, status=status, content_type="application/json")


def str_param(params: JSONDict, key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def required_str(params: JSONDict, key: str) -> str:
    value = str_param(params, key)
    if not value:
        raise bad_request(f'parameter "{key}" is required')
    return value
