"""``FakeTelegramServer``: the Bot API methods the bot calls, served over real HTTP on
loopback, with the flood limit, latency, a second poller and faults on demand (see the
package docstring)."""

from __future__ import annotations

import asyncio
import math
import mimetypes
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, TypeVar

from aiohttp import web

from fake_telegram.api_calls import (
    ApiError,
    bad_request,
    json_response,
    read_params,
    required_str,
    str_param,
)
from fake_telegram.errors import FakeTelegramError
from fake_telegram.html_rules import parse_html
from fake_telegram.records import (
    CURRENCIES,
    ApiCall,
    BotEvent,
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
    unix_time,
)
from fake_telegram.user import FakeUser, PreCheckoutQuery
from fake_telegram.webhook import DEFAULT_MAX_CONNECTIONS, WebhookPusher, webhook_info

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
        raise bad_request('parameter "prices" is required')
    if not isinstance(raw, list):
        raise bad_request("expected an Array of labeled prices")
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
            raise bad_request(f"can't parse labeled price: {problem}")
        amount = _integer(item["amount"])
        assert amount is not None
        if abs(amount) > MAX_CURRENCY_AMOUNT:
            raise bad_request("too big amount of the currency specified")
        prices.append((item["label"], amount))
    if not prices:
        raise bad_request("there must be at least one price")
    return tuple(prices)


def _tips(params: JSONDict) -> tuple[int, tuple[int, ...]]:
    raw_max = params.get("max_tip_amount", 0)
    max_tip = _integer(raw_max)
    if max_tip is None:
        raise bad_request('can\'t parse "max_tip_amount" as Number')
    if not 0 <= max_tip <= MAX_CURRENCY_AMOUNT:
        raise bad_request("invalid max_tip_amount of the currency specified")
    raw_tips = params.get("suggested_tip_amounts")
    if raw_tips is None or raw_tips == "":
        return max_tip, ()
    if not isinstance(raw_tips, list):
        raise bad_request("expected an Array of suggested tip amounts")
    tips: list[int] = []
    for raw in raw_tips:
        tip = _integer(raw)
        if tip is None:
            raise bad_request("suggested tip amount must be of type Number or String")
        if tip <= 0:
            raise bad_request("suggested tip amount must be positive")
        if tip > max_tip:
            raise bad_request("suggested tip amount can't be bigger than max_tip_amount")
        tips.append(tip)
    if len(tips) > MAX_SUGGESTED_TIPS:
        raise bad_request("there can be at most 4 suggested tip amounts")
    return max_tip, tuple(tips)


Handler = Callable[[JSONDict], Awaitable[Any]]
# A control action of a standalone server (fake_telegram.standalone): JSON in, JSON out.
ControlAction = Callable[["FakeTelegramServer", JSONDict], Awaitable[JSONDict]]


class FakeTelegramServer:
    """A Bot API server on loopback for one bot (see the module docstring).

    Use ``async with FakeTelegramServer() as server:`` and build the bot with
    ``ApplicationBuilder().token(server.token).base_url(server.base_url)
    .base_file_url(server.base_file_url)``. ``latency``, ``rate_limit`` and
    ``rate_limit_tolerance`` may be changed at any time.

    While a webhook is set (setWebhook), updates are pushed to it instead of waiting for
    getUpdates (``fake_telegram.webhook``): ``webhook_timeout``, ``webhook_retry_delay`` and
    ``webhook_retry_max`` may be changed at any time; ``webhook_deliveries`` lists every
    attempt (when ``record_calls``), ``webhook_retries`` counts the failed ones.
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
        self.webhook_secret: str | None = None
        self.webhook_timeout = 10.0  # seconds for a 2xx answer before the update is sent again
        self.webhook_retry_delay = 0.5  # first pause before sending again; doubles each time
        self.webhook_retry_max = 8.0
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_delivered = 0  # updates answered 2xx (every attempt that was)
        self.webhook_retries = 0  # attempts not answered 2xx in time
        self.last_webhook_error: tuple[int, str] | None = None
        self._webhook_connections = DEFAULT_MAX_CONNECTIONS
        self._pusher: WebhookPusher | None = None
        self._control: dict[str, ControlAction] = {}
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
        self._pre_checkout_queries: dict[str, PreCheckoutQuery] = {}
        # Charge ids must stay unique across servers: a test database outlives one server.
        self._charge_prefix = secrets.token_hex(4)
        self._charges = 0
        self._background: set[asyncio.Task[Any]] = set()
        self._commands: dict[tuple[tuple[Any, ...], str], list[JSONDict]] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._held: dict[str, asyncio.Event] = {}
        self.held_calls = 0  # calls of a held method waiting now (hold)
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
        if self._control:
            app.router.add_post("/control/{token}/{action}", self._handle_control)
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
        if self.webhook_url:
            self._start_pushing()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing = True
        self._notify_pollers()
        for method in list(self._held):
            self.release(method)
        await self._stop_pushing()
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

    def hold(self, method: str) -> None:
        """Hold every call of ``method`` from now on, unanswered and not carried out, until
        :meth:`release`: a bot caught in the middle of an update. A held call whose client
        goes away (the bot was killed) is never carried out."""
        self._held.setdefault(method.lower(), asyncio.Event())

    def release(self, method: str) -> None:
        """Carry out and answer the held calls of ``method``; later calls are not held."""
        event = self._held.pop(method.lower(), None)
        if event is not None:
            event.set()

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
        pushing = self._pusher.queued if self._pusher is not None else 0
        return len(self._pending) + len(self._forced) + pushing

    @property
    def webhook_max_connections(self) -> int:
        """setWebhook's max_connections: requests to the webhook under way at once."""
        return self._webhook_connections

    def add_control(self, name: str, action: ControlAction) -> None:
        """Serve ``action`` at ``POST /control/<token>/<name>`` (JSON in, JSON out), for a
        standalone server driven from another process; add before ``start``."""
        self._control[name] = action

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
            return json_response(401, ApiError(401, "Unauthorized").body())
        method = request.match_info["method"]
        try:
            params = await read_params(request)
        except ApiError as exc:
            return json_response(exc.status, exc.body())
        call = ApiCall(method, params, time.monotonic())
        if self.record_calls:
            self.calls.append(call)
        try:
            status, body = await self._dispatch(method.lower(), params)
        except asyncio.CancelledError:
            call.status = 499  # the client gave up (nginx's "client closed request")
            raise
        call.status = status
        return json_response(status, body)

    async def _handle_control(self, request: web.Request) -> web.Response:
        action = self._control.get(request.match_info["action"])
        if request.match_info["token"] != self.token or action is None:
            return json_response(404, ApiError(404, "Not Found").body())
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            return json_response(400, bad_request("the body is not JSON").body())
        if not isinstance(params, dict):
            return json_response(400, bad_request("the body is not a JSON object").body())
        return json_response(200, {"ok": True, "result": await action(self, params)})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return json_response(401, ApiError(401, "Unauthorized").body())
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None:
            return json_response(404, ApiError(404, "Not Found").body())
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _dispatch(self, method: str, params: JSONDict) -> tuple[int, JSONDict]:
        held = self._held.get(method)
        if held is not None:
            self.held_calls += 1
            try:
                await held.wait()
            finally:
                self.held_calls -= 1
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
        return status, ApiError(status, phrase).body()

    async def _call(self, method: str, params: JSONDict) -> tuple[int, JSONDict]:
        handler = self._methods.get(method)
        if handler is None:
            return 404, ApiError(404, f"Not Found: method {method} is not served here").body()
        if method in RATE_LIMITED_METHODS:
            retry_after = self._take_rate_token()
            if retry_after is not None:
                self.rate_limited_count += 1
                error = ApiError(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
                return 429, error.body()
        try:
            result = await handler(params)
        except ApiError as exc:
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

    def _take_all_updates(self) -> list[JSONDict]:
        """Every queued update, for the webhook (re-deliveries first); the queues are
        emptied: the pusher keeps them until they are answered."""
        taken = list(self._forced)
        self._forced.clear()
        allowed = self.allowed_updates
        taken += [u for u in self._pending if not allowed or any(k in u for k in allowed)]
        self._pending.clear()
        return taken

    def _start_pushing(self) -> None:
        if self._pusher is None and self._runner is not None and not self._closing:
            self._pusher = WebhookPusher(self, self._webhook_connections)
            self._pusher.start()

    async def _stop_pushing(self) -> None:
        """Stop the pushes; what was not answered 2xx waits for getUpdates again."""
        pusher, self._pusher = self._pusher, None
        if pusher is None:
            return
        left = await pusher.stop()
        if left:
            self._pending = deque(sorted([*left, *self._pending], key=lambda u: u["update_id"]))

    def _record_delivery(self, delivery: WebhookDelivery) -> None:
        if delivery.error:
            self.webhook_retries += 1
        else:
            self.webhook_delivered += 1
        if self.record_calls:
            self.webhook_deliveries.append(delivery)

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
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        limit = params.get("limit", 100)
        timeout = params.get("timeout", 0)
        if not isinstance(limit, int) or not isinstance(timeout, int | float):
            raise bad_request("wrong parameter type")
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
            if self.webhook_url:  # set while this poll waited: the webhook takes the updates
                raise ApiError(
                    409, "Conflict: terminated by setWebhook request; the webhook is active"
                )
            if generation != self._poll_generation:
                self.conflict_count += 1
                raise ApiError(
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
        self.webhook_secret = None
        await self._stop_pushing()
        if params.get("drop_pending_updates"):
            self._pending.clear()
            self._forced.clear()
        return True

    async def _set_webhook(self, params: JSONDict) -> bool:
        url = str_param(params, "url") or ""
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = str_param(params, "secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        connections = _integer(params.get("max_connections", DEFAULT_MAX_CONNECTIONS))
        if connections is None or not 1 <= connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if isinstance(params.get("allowed_updates"), list):
            self.allowed_updates = [str(kind) for kind in params["allowed_updates"]]
        # The same URL set again (another instance starting) keeps what is being delivered;
        # only dropping pending updates or a new connection limit restarts the pushes.
        drop = bool(params.get("drop_pending_updates"))
        if drop or connections != self._webhook_connections:
            await self._stop_pushing()
        if drop:
            self._pending.clear()
            self._forced.clear()
        self._webhook_connections = connections
        self.webhook_url = url
        self.webhook_secret = secret
        self._start_pushing()
        self._notify_pollers()  # a long poll in progress ends with 409, as in Telegram
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        return webhook_info(self)

    def _commands_key(self, params: JSONDict) -> tuple[tuple[Any, ...], str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise bad_request("can't parse BotCommandScope JSON object")
        key: tuple[Any, ...] = (scope["type"],)
        for part in ("chat_id", "user_id"):
            if part in scope:
                value = scope[part]
                key += (int(value) if str(value).lstrip("-").isdigit() else value,)
        return key, str_param(params, "language_code") or ""

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
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
            raise bad_request("chat_id is empty")
        user = None
        if isinstance(chat_id, int):
            user = self._users.get(chat_id) or self._group_chats.get(chat_id)
        if user is None:
            raise bad_request("chat not found")
        if user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return user

    def _text(self, params: JSONDict, key: str, entities_key: str) -> tuple[str, list[JSONDict]]:
        raw = str_param(params, key) or ""
        parse_mode = (str_param(params, "parse_mode") or "").lower()
        if parse_mode == "html":
            try:
                return parse_html(raw)
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        # MarkdownV2 is not parsed: the text is kept as sent.
        entities = params.get(entities_key)
        return raw, entities if isinstance(entities, list) else []

    def _markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request("can't parse inline keyboard button: text is empty")
                if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not (
                    1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise bad_request("BUTTON_DATA_INVALID")
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
            raise bad_request("message to be replied not found")
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
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = self._markup(params)
        message = user._add_message(
            from_bot=True,
            text=text,
            raw_text=str_param(params, "text"),
            parse_mode=str_param(params, "parse_mode"),
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
            raise bad_request("message caption is too long")
        markup = self._markup(params)
        message = user._add_message(
            from_bot=True,
            caption=caption or None,
            caption_entities=caption_entities,
            parse_mode=str_param(params, "parse_mode"),
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
                raise bad_request("file must be non-empty")
            limit = MAX_PHOTO_BYTES if kind == "photo" else MAX_UPLOAD_BYTES
            if len(source.data) > limit:
                raise ApiError(413, "Request Entity Too Large")
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
            raise bad_request(f"there is no {kind} in the request")
        raise bad_request("wrong file identifier/HTTP URL specified")

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
            raise bad_request("inline messages are not served by the fake server")
        user = self._chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise bad_request("message identifier is not specified")
        message = user._messages.get(message_id)
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return user, message

    def _edited(self, user: FakeUser, message: ChatMessage) -> JSONDict:
        message.edit_date = unix_time()
        user._emit(BotEvent("edit", message))
        return self._message_dict(user, message)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        user, message = self._message_to_edit(params)
        if message.text is None:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._text(params, "text", "entities")
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        # An edit without reply_markup removes the inline keyboard, as in Telegram.
        markup = self._markup(params)
        if text == message.text and entities == message.entities:
            if markup == message.reply_markup:
                raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.versions.append(message.text)
        message.text = text
        message.raw_text = str_param(params, "text")
        message.parse_mode = str_param(params, "parse_mode")
        message.entities = entities
        message.reply_markup = markup
        return self._edited(user, message)

    async def _edit_message_caption(self, params: JSONDict) -> JSONDict:
        user, message = self._message_to_edit(params)
        if message.document is None and message.photo is None:
            raise bad_request("there is no caption in the message to edit")
        caption, entities = self._text(params, "caption", "caption_entities")
        if len(caption) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        markup = self._markup(params)
        if (caption or None) == message.caption and entities == message.caption_entities:
            if markup == message.reply_markup:
                raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.versions.append(message.caption)
        message.caption = caption or None
        message.caption_entities = entities
        message.reply_markup = markup
        return self._edited(user, message)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        user, message = self._message_to_edit(params)
        markup = self._markup(params)
        if markup == message.reply_markup:
            raise bad_request(_NOT_MODIFIED.removeprefix("Bad Request: "))
        message.reply_markup = markup
        return self._edited(user, message)

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str_param(params, "callback_query_id") or ""
        query = self._queries.get(query_id)
        if query is None or query.answered:
            raise bad_request(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
        query.answered = True
        answer = CallbackAnswer(
            query_id,
            str_param(params, "text"),
            bool(params.get("show_alert")),
            str_param(params, "url"),
        )
        query.user._emit(BotEvent("answer", answer=answer))
        return True

    async def _send_invoice(self, params: JSONDict) -> JSONDict:
        # The Bot API's own checks come first, then TDLib's, then Telegram's servers'.
        user = self._chat(params)
        title = required_str(params, "title")
        description = required_str(params, "description")
        payload = required_str(params, "payload")
        currency = required_str(params, "currency")
        prices = _labeled_prices(params)
        max_tip, suggested_tips = _tips(params)
        total = sum(amount for _, amount in prices)
        if total <= 0:
            raise bad_request("total price must be positive")
        if total > MAX_CURRENCY_AMOUNT:
            raise bad_request("total price is too big")
        info = self.currencies.get(currency)
        if info is None:
            raise bad_request("CURRENCY_INVALID")
        provider_token = str_param(params, "provider_token") or ""
        if not provider_token:
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if not info.min_amount <= total <= info.max_amount:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        # Telegram does not document its wording for these three; the names follow
        # INVOICE_PAYLOAD_INVALID, which it does use.
        if len(title) > MAX_INVOICE_TITLE_LENGTH:
            raise bad_request("INVOICE_TITLE_INVALID")
        if len(description) > MAX_INVOICE_DESCRIPTION_LENGTH:
            raise bad_request("INVOICE_DESCRIPTION_INVALID")
        if len(payload.encode()) > MAX_INVOICE_PAYLOAD_BYTES:
            raise bad_request("INVOICE_PAYLOAD_INVALID")
        markup = self._markup(params)
        if markup is not None:
            rows = markup.get("inline_keyboard")
            first = rows[0][0] if isinstance(rows, list) and rows and rows[0] else None
            if not isinstance(first, dict) or not first.get("pay"):
                raise bad_request("REPLY_MARKUP_BUY_EMPTY")
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
            start_parameter=str_param(params, "start_parameter") or "",
            max_tip_amount=max_tip,
            suggested_tip_amounts=suggested_tips,
            provider_data=str_param(params, "provider_data"),
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
        query_id = str_param(params, "pre_checkout_query_id") or ""
        ok = params.get("ok") is True
        error_message = None if ok else required_str(params, "error_message")
        query = self._pre_checkout_queries.get(query_id)
        if query is None or query.answer is not None or query.expired:
            raise bad_request(_QUERY_TOO_OLD.removeprefix("Bad Request: "))
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
            raise bad_request("message to delete not found")
        message.deleted = True
        if user._reply_keyboard is message:
            user._reply_keyboard = None
        user._emit(BotEvent("delete", message))
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        self._chat(params)
        if str_param(params, "action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _get_file(self, params: JSONDict) -> JSONDict:
        stored = self._files.get(str_param(params, "file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > MAX_GET_FILE_BYTES:
            raise bad_request("file is too big")
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
