"""The fake Bot API server, driven by a real python-telegram-bot Application over HTTP.

These tests prove the server is a faithful enough Telegram for the end-to-end chat tests:
PTB parses every answer, a phone user's text, button presses and uploads reach the handlers,
and the realism knobs (flood limit, latency, faults, duplicate delivery) behave as documented.
"""

from __future__ import annotations

import asyncio
import html
import struct
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from fake_telegram import (
    ButtonNotFoundError,
    FakeTelegramServer,
    NoReplyError,
    UnexpectedReplyError,
    parse_html,
)

pytestmark = pytest.mark.timeout(30)

TOKEN = "4242:TEST-fake-telegram"
PDF_BYTES = b"%PDF-1.4\n% a receipt, as far as this test cares\n%%EOF\n"


def tiny_png(width: int, height: int) -> bytes:
    """A valid, blank RGB PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff" * 3 * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG_BYTES = tiny_png(3, 2)


# --------------------------------------------------------------------------- a tiny bot


async def record_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remember every update id the bot was handed, duplicates included."""
    context.bot_data.setdefault("update_ids", []).append(update.update_id)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Repeat the user's text, escaped for HTML."""
    assert update.message and update.message.text
    await update.message.reply_text(f"echo: {html.escape(update.message.text)}")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the /start payload."""
    assert update.message
    await update.message.reply_text(f"start payload: {html.escape(' '.join(context.args or []))}")


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer two inline choices."""
    assert update.message
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Yes ✅", callback_data="yes"), InlineKeyboardButton("No", "no")]]
    )
    await update.message.reply_text("<b>Pick</b> one", reply_markup=keyboard)


async def choose(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press, then edit the menu in place."""
    query = update.callback_query
    assert query
    if query.data not in ("yes", "no"):
        await query.answer("That button is not mine.", show_alert=True)
        return
    await query.answer(f"picked {query.data}")
    await query.edit_message_text(f"You picked <b>{query.data}</b>")


async def files(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send a document and a photo; keep PTB's parsed results for the test."""
    assert update.message
    document = await update.message.reply_document(
        PDF_BYTES,
        filename="receipt-R1.pdf",
        caption="Your <b>receipt</b>",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="no")]]),
    )
    photo = await update.message.reply_photo(PNG_BYTES, caption="chart")
    context.bot_data["sent"] = (document, photo)


async def copy_upload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Download the user's document and send it back under a new name."""
    assert update.message and update.message.document
    uploaded = update.message.document
    data = await (await uploaded.get_file()).download_as_bytearray()
    await update.message.reply_document(
        bytes(data),
        filename=f"copy-{uploaded.file_name}",
        caption=f"got {len(data)} bytes: {html.escape(update.message.caption or '')}",
    )


def build_application(server: FakeTelegramServer) -> Application[Any, Any, Any, Any, Any, Any]:
    application = (
        ApplicationBuilder()
        .token(server.token)
        .base_url(server.base_url)
        .base_file_url(server.base_file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .build()
    )
    application.add_handler(TypeHandler(Update, record_update), group=-1)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("menu", menu))
    application.add_handler(CommandHandler("files", files))
    application.add_handler(CallbackQueryHandler(choose))
    application.add_handler(MessageHandler(filters.Document.ALL, copy_upload))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return application


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer(TOKEN) as running:
        yield running


@pytest.fixture
async def application(
    server: FakeTelegramServer,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """The tiny bot, polling the fake server; stopped properly afterwards."""
    app = build_application(server)
    async with app:
        await app.start()
        assert app.updater
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


@asynccontextmanager
async def bare_bot(server: FakeTelegramServer, **kwargs: Any) -> AsyncIterator[Bot]:
    """A Bot with no Application, for calls a handler would make."""
    async with Bot(
        server.token, base_url=server.base_url, base_file_url=server.base_file_url, **kwargs
    ) as bot:
        yield bot


# --------------------------------------------------------------------------- chat


@pytest.mark.usefixtures("application")
async def test_text_and_commands_reach_the_bot_and_replies_reach_the_user(
    server: FakeTelegramServer,
) -> None:
    user = server.user(501, "Ada", "ada")

    await user.send("hi <there> & you")
    reply = await user.wait_for_reply()
    assert reply.text == "echo: hi <there> & you"
    assert reply.raw_text == "echo: hi &lt;there&gt; &amp; you"

    await user.send("/start pay_42")
    assert (await user.wait_for_reply()).text == "start payload: pay_42"
    assert user.last_text() == "start payload: pay_42"
    assert [m.from_bot for m in user.history()] == [False, True, False, True]


async def test_pressing_a_button_edits_the_same_message_in_place(
    server: FakeTelegramServer, application: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    user = server.user(502, "Bola")
    await user.send("/menu")
    shown = await user.wait_for_reply()
    assert shown.text == "Pick one"
    assert shown.entities == [{"type": "bold", "offset": 0, "length": 4}]
    assert shown.button_labels == ["Yes ✅", "No"]

    await user.press("Yes")
    answer = await user.wait_for_answer()
    edited = await user.wait_for_edit(shown.message_id)

    assert answer.text == "picked yes"
    assert edited is shown
    assert edited.text == "You picked yes"
    assert edited.versions == ["Pick one"]
    assert edited.inline_keyboard == []  # an edit without reply_markup drops the keyboard
    assert len(user.messages()) == 1
    assert server.unanswered_callback_queries() == []
    await user.expect_no_reply(within=0.1)


@pytest.mark.usefixtures("application")
async def test_a_missing_button_is_reported_with_the_buttons_on_screen(
    server: FakeTelegramServer,
) -> None:
    user = server.user(503, "Chen")
    await user.send("/menu")
    await user.wait_for_reply()

    with pytest.raises(ButtonNotFoundError, match=r"\[Yes ✅\] \[No\]"):
        await user.press("Maybe")


@pytest.mark.usefixtures("application")
async def test_forged_callback_data_reaches_the_bot(server: FakeTelegramServer) -> None:
    user = server.user(504, "Dana")
    await user.send("/menu")
    shown = await user.wait_for_reply()

    await user.press_data(shown.message_id, "admin:delete-everything")

    answer = await user.wait_for_answer()
    assert answer.show_alert
    assert answer.text == "That button is not mine."
    assert shown.text == "Pick one"


@pytest.mark.usefixtures("application")
async def test_wait_for_reply_times_out_with_the_chat_so_far(server: FakeTelegramServer) -> None:
    user = server.user(505, "Eve")
    await user.send("/menu")
    await user.wait_for_reply()

    with pytest.raises(NoReplyError, match="Pick one"):
        await user.wait_for_reply(timeout=0.2)


# --------------------------------------------------------------------------- files


async def test_documents_and_photos_keep_their_name_bytes_and_caption(
    server: FakeTelegramServer, application: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    user = server.user(506, "Femi")
    await user.send("/files")
    document, photo = await user.wait_for_replies(2)

    assert user.documents() == [("receipt-R1.pdf", PDF_BYTES)]
    assert user.photos() == [PNG_BYTES]
    assert document.caption == "Your receipt"
    assert document.button_labels == ["Again"]
    assert document.document is not None
    assert document.document.mime_type == "application/pdf"
    assert photo.caption == "chart"
    # What PTB parsed from the server's answers:
    await user.wait_until(lambda: "sent" in application.bot_data)
    sent_document, sent_photo = application.bot_data["sent"]
    assert isinstance(sent_document, Message) and sent_document.document
    assert sent_document.document.file_name == "receipt-R1.pdf"
    assert sent_document.document.file_size == len(PDF_BYTES)
    assert isinstance(sent_photo, Message)
    assert (sent_photo.photo[-1].width, sent_photo.photo[-1].height) == (3, 2)


@pytest.mark.usefixtures("application")
async def test_a_user_upload_can_be_downloaded_by_the_bot(server: FakeTelegramServer) -> None:
    user = server.user(507, "Gus")
    data = b"meter,units\nM-001,120\n" * 100

    await user.upload("meters.csv", data, caption="import <this>")
    reply = await user.wait_for_reply()

    assert user.documents() == [("copy-meters.csv", data)]
    assert reply.caption == f"got {len(data)} bytes: import <this>"
    assert len(server.calls_to("getFile")) == 1


# --------------------------------------------------------------------------- realism


# PTB warns about its own RetryAfter.retry_after type change whenever it raises one.
@pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")
async def test_sends_above_the_rate_limit_get_429_with_retry_after(
    server: FakeTelegramServer,
) -> None:
    server.rate_limit = 5
    server.rate_limit_tolerance = 0
    user = server.user(508, "Hana")
    async with bare_bot(server) as bot:
        results = await asyncio.gather(
            *(bot.send_message(user.chat_id, f"n{i}") for i in range(15)),
            return_exceptions=True,
        )
    limited = [r for r in results if isinstance(r, RetryAfter)]
    assert len(limited) >= 8  # a burst of 5, plus what refills while the 15 arrive
    assert server.rate_limited_count == len(limited)
    assert len(user.messages()) == 15 - len(limited)

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.base_url}{server.token}/sendMessage",
            json={"chat_id": user.chat_id, "text": "one more"},
        ) as response,
    ):
        body = await response.json()
    assert response.status == 429
    assert body["ok"] is False and body["error_code"] == 429
    assert body["description"] == "Too Many Requests: retry after 1"
    assert body["parameters"] == {"retry_after": 1}


async def test_aio_rate_limiter_stays_within_the_limit(server: FakeTelegramServer) -> None:
    server.rate_limit = 20
    users = [server.user(600 + i, f"U{i}") for i in range(5)]
    bot = ExtBot(
        server.token,
        base_url=server.base_url,
        rate_limiter=AIORateLimiter(overall_max_rate=20, overall_time_period=1),
    )
    started = time.monotonic()
    async with bot:
        await asyncio.gather(
            *(bot.send_message(users[i % 5].chat_id, f"notice {i}") for i in range(50))
        )
    elapsed = time.monotonic() - started

    assert server.rate_limited_count == 0
    assert sum(len(u.messages()) for u in users) == 50
    assert elapsed >= 1.3  # a burst of 20, then 20 per second


async def test_latency_is_added_to_every_call(server: FakeTelegramServer) -> None:
    user = server.user(509, "Ivo")
    async with bare_bot(server) as bot:
        server.latency = 0.2
        started = time.monotonic()
        await bot.send_message(user.chat_id, "slow")
        await bot.get_my_commands()
        assert time.monotonic() - started >= 0.4

        server.latency = 0.0
        started = time.monotonic()
        await bot.send_message(user.chat_id, "fast")
        assert time.monotonic() - started < 0.2


async def test_a_duplicate_update_is_delivered_again(
    server: FakeTelegramServer, application: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    user = server.user(510, "Jo")
    update = await user.send("once")
    await user.wait_for_reply()

    server.queue_raw_update(update)
    await user.wait_until(lambda: len(user.messages()) == 2)
    await user.send("after")
    assert (await user.wait_for_reply()).text == "echo: after"

    ids = application.bot_data["update_ids"]
    assert ids[:2] == [update["update_id"], update["update_id"]]
    assert [m.text for m in user.messages()] == ["echo: once", "echo: once", "echo: after"]
    await user.expect_no_reply(within=0.2)


async def test_failing_and_hanging_calls_on_demand(server: FakeTelegramServer) -> None:
    user = server.user(511, "Kofi")
    async with bare_bot(server) as bot:
        server.fail_next("sendMessage", status=502)
        with pytest.raises(NetworkError):
            await bot.send_message(user.chat_id, "lost")
        assert user.messages() == []

        server.fail_next("sendMessage", hang=30, status=None)
        with pytest.raises(TimedOut):
            await bot.send_message(user.chat_id, "slow", read_timeout=0.3)

        server.fail_next("sendMessage", status=500, deliver=True)
        with pytest.raises(NetworkError):
            await bot.send_message(user.chat_id, "arrived anyway")

        await bot.send_message(user.chat_id, "fine")
    assert [m.text for m in user.messages()] == ["slow", "arrived anyway", "fine"]
    assert [c.status for c in server.calls_to("sendMessage")] == [502, 499, 500, 200]


async def test_wrong_token_and_unknown_method_answer_like_telegram(
    server: FakeTelegramServer,
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.base_url}999:WRONG/getMe") as response:
            assert response.status == 401
            assert await response.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with session.post(f"{server.base_url}{server.token}/sendSticker") as response:
            body = await response.json()
            assert response.status == 404
            assert body["ok"] is False and body["error_code"] == 404
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=server.base_url):
            pass
    assert [c.method for c in server.calls] == ["sendSticker"]


async def test_html_and_edits_are_checked_as_telegram_does(server: FakeTelegramServer) -> None:
    user = server.user(512, "Lin")
    async with bare_bot(server) as bot:
        for bad in ("<b>unclosed", "1 < 2", "<blink>x</blink>", "<b><i>x</b></i>"):
            with pytest.raises(BadRequest, match="parse entities"):
                await bot.send_message(user.chat_id, bad, parse_mode=ParseMode.HTML)

        sent = await bot.send_message(
            user.chat_id, "<pre>Bill  Due\n12    5.00</pre>", parse_mode=ParseMode.HTML
        )
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text(
                "<pre>Bill  Due\n12    5.00</pre>",
                user.chat_id,
                sent.message_id,
                parse_mode=ParseMode.HTML,
            )
        with pytest.raises(BadRequest, match="not found"):
            await bot.edit_message_text("x", user.chat_id, 999)
        with pytest.raises(BadRequest, match="hat not found"):
            await bot.send_message(424242, "nobody")
    assert user.messages()[-1].pre_blocks() == ["Bill  Due\n12    5.00"]
    assert parse_html("a &lt;b&gt; <i>é</i>😀<b>x</b>") == (
        "a <b> é😀x",
        [
            {"type": "italic", "offset": 6, "length": 1},
            {"type": "bold", "offset": 9, "length": 1},  # the emoji is two UTF-16 units
        ],
    )


async def test_the_command_menu_resolves_per_chat_scope(server: FakeTelegramServer) -> None:
    admin = server.user(513, "Mo")
    customer = server.user(514, "Nia")
    async with bare_bot(server) as bot:
        await bot.set_my_commands([BotCommand("help", "Help")])
        await bot.set_my_commands(
            [BotCommand("help", "Help"), BotCommand("revenue", "Revenue")],
            scope=BotCommandScopeChat(admin.chat_id),
        )
        scoped = await bot.get_my_commands(scope=BotCommandScopeChat(admin.chat_id))

    assert [c.command for c in scoped] == ["help", "revenue"]
    assert admin.menu() == [("help", "Help"), ("revenue", "Revenue")]
    assert customer.menu() == [("help", "Help")]


async def test_a_blocked_user_makes_sends_forbidden(server: FakeTelegramServer) -> None:
    user = server.user(515, "Oto")
    user.block()
    async with bare_bot(server) as bot:
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(user.chat_id, "bill due")
    assert user.messages() == []


async def test_long_polling_waits_for_an_update_and_a_second_poller_conflicts(
    server: FakeTelegramServer,
) -> None:
    user = server.user(516, "Pia")
    url = f"{server.base_url}{server.token}/getUpdates"
    async with aiohttp.ClientSession() as session:

        async def poll(wait: int, offset: int = 0) -> tuple[int, dict[str, Any]]:
            form = {"timeout": str(wait), "offset": str(offset)}
            async with session.post(url, data=form) as response:
                return response.status, await response.json()

        started = time.monotonic()
        assert await poll(0) == (200, {"ok": True, "result": []})
        waiting = asyncio.create_task(poll(5))
        await asyncio.sleep(0.1)
        await user.send("wake up")
        status, body = await waiting
        assert status == 200
        assert [u["message"]["text"] for u in body["result"]] == ["wake up"]
        assert time.monotonic() - started < 2

        confirmed = body["result"][-1]["update_id"] + 1
        first = asyncio.create_task(poll(5, confirmed))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(poll(0, confirmed))
        assert (await first)[0] == 409
        assert (await second)[0] == 200
    assert server.conflict_count == 1


async def test_expect_no_reply_catches_an_unwanted_message(server: FakeTelegramServer) -> None:
    user = server.user(517, "Quin")
    await user.send("ping")
    async with bare_bot(server) as bot:
        await bot.send_message(user.chat_id, "pong")
    with pytest.raises(UnexpectedReplyError, match="pong"):
        await user.expect_no_reply(within=0.05)


async def test_stream_hands_the_sandbox_every_bot_event_in_order(
    server: FakeTelegramServer,
) -> None:
    user = server.user(518, "Rae")
    events = user.stream()
    async with bare_bot(server) as bot:
        sent = await bot.send_message(user.chat_id, "one")
        await bot.edit_message_text("two", user.chat_id, sent.message_id)
        await bot.delete_message(user.chat_id, sent.message_id)
    kinds = [(await asyncio.wait_for(anext(events), 1)).kind for _ in range(3)]
    await events.aclose()

    assert kinds == ["message", "edit", "delete"]
    assert user.messages() == []
    assert user.transcript() == "bot: two\n     (edited)\n     (deleted)"
