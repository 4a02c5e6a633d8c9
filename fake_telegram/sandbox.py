"""``run_bot.py sandbox``: the real bot against a local Bot API server, chatting in this
terminal. No Telegram account or token is needed.

Two chats share the terminal: a customer chat, logged in as the first demo customer, and a
staff chat, logged in as the demo admin (``:customer`` and ``:admin`` switch between them).
The bot's messages are printed as they come, those in the other chat too (marked with that
chat's name); inline buttons are numbered choices; sent PDFs and images are saved to a folder
whose paths are printed. Logs go to a file in that folder, never into the chat.

How a typed line is read (the banner says the same):

- ``:admin``, ``:customer``, ``:upload FILE``, ``:help``, ``:quit``: the sandbox's own commands;
- ``#N``: press button N of this chat;
- ``N`` (a number alone): press button N, unless the bot is waiting for typed text in this
  chat (an amount, a meter number, a reference…, whether or not a Cancel button is shown):
  then the number is sent as text. A number that is no longer on screen says "no such button";
- an activation link ``https://t.me/<bot>?start=CODE``: sent as ``/start CODE``, as the phone
  does when the link is opened;
- anything else: sent as a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from telegram import Update
from telegram.ext import Application, ConversationHandler

from bot.application import build_application, post_init, post_shutdown
from bot.config import Config
from bot.update_processor import ChatOrderedUpdateProcessor
from domain.db import Database
from domain.demo import DemoChats, DemoLogin, log_in_demo_chats, seed_demo
from fake_telegram import (
    BotEvent,
    ButtonNotFoundError,
    ChatMessage,
    FakeTelegramServer,
    FakeUser,
    NoReplyError,
)

SANDBOX_TOKEN = "100000001:SANDBOX-local-token"  # noqa: S105 - the local fake server's token
SANDBOX_PROVIDER_TOKEN = "SANDBOX:test-card"  # noqa: S105 - the fake server charges nothing
BOT_USERNAME = "billing_sandbox_bot"
CUSTOMER_USER_ID = 700001
ADMIN_USER_ID = 700900
FILES_DIR = Path(os.environ.get("SANDBOX_FILES_DIR", "sandbox-files"))
LOG_FILE = "sandbox.log"

_COMMAND = re.compile(r"^:([A-Za-z]+)(?:\s+(.*))?$")
_BUTTON_NUMBER = re.compile(r"^(#?)(\d{1,4})$")
_START_LINK = re.compile(r"^https?://t\.me/\w+\?start=([\w-]+)$")

# For terminals that cannot show emoji and other symbols: plain stand-ins.
_PLAIN = {
    "✅": "[ok]",
    "💳": "",
    "📄": "",
    "🎉": ":)",
    "💰": "$",
    "✖": "x",
    "◀": "<",
    "▶": ">",
    "•": "*",
    "—": "-",
    "–": "-",
    "…": "...",
    "·": "-",
    "⚠": "!",
}


def how_to(files_dir: Path) -> list[str]:
    """The rules of the terminal chat (the banner and :help)."""
    return [
        "Type messages and commands as on a phone: /help, /dashboard, /pay, /bills …",
        "Buttons: type a button's number to press it. While the bot is waiting for you to",
        "  type something (an amount, a meter number, a reference…), a number is sent as",
        "  text instead; #N always presses button N (e.g. #1).",
        "Messages that arrive in the other chat are shown too, marked with its name.",
        ":upload FILE sends a file from disk, e.g. :upload bills.csv after /importbills",
        "  in the staff chat.",
        "An activation link (https://t.me/…?start=CODE, from /addcustomer): paste it in the",
        "  customer chat, as if it had been opened there.",
        f"Files the bot sends are saved in {files_dir}/; logs go to {files_dir / LOG_FILE}.",
        ":help shows this again; :quit (or Ctrl-D) ends.",
    ]


def _login_line(login: DemoLogin) -> str:
    password = f"password {login.password}" if login.password else "(password changed here)"
    return f"  {login.role:<8} {login.login:<22} {password}"


def banner(logins: list[DemoLogin], chats: DemoChats, files_dir: Path) -> str:
    customer, admin = chats.customer, chats.admin
    as_customer = (
        f"logged in as meter {customer.meter_number} ({customer.full_name})"
        if customer is not None
        else "not logged in (/login)"
    )
    as_admin = (
        f"logged in as {admin.email} (role {admin.role.value})"
        if admin is not None
        else "not logged in (/adminlogin)"
    )
    return "\n".join(
        [
            "Electricity Billing Bot — sandbox",
            "(a local Bot API server: nothing leaves this machine)",
            "",
            f"You are in the customer chat, {as_customer}.",
            f":admin switches to the staff chat, {as_admin};",
            ":customer switches back.",
            *how_to(files_dir),
            "Demo logins (for /login and /adminlogin):",
            *(_login_line(login) for login in logins),
        ]
    )


@dataclass(eq=False)
class Chat:
    """One of the two chats on the terminal, with the buttons last listed in it."""

    name: str  # "customer chat"
    switch: str  # the sandbox command that goes there
    user: FakeUser
    choices: list[tuple[ChatMessage, str]] = field(default_factory=list)

    def button(self, number: int) -> tuple[ChatMessage, str] | None:
        """Button ``number`` as last listed, if its message still shows it."""
        if not 1 <= number <= len(self.choices):
            return None
        message, label = self.choices[number - 1]
        if message.deleted or label not in message.button_labels:
            return None
        return message, label

    def forget_buttons_of(self, message: ChatMessage) -> None:
        if self.choices and self.choices[0][0] is message:
            self.choices = []


class Terminal:
    """Prints the bot's side of both chats and remembers each chat's buttons on screen."""

    def __init__(self, output: TextIO, files_dir: Path) -> None:
        self.output = output
        self.files_dir = files_dir
        encoding = (getattr(output, "encoding", None) or "utf-8").lower()
        self.unicode = encoding.replace("-", "") in ("utf8", "utf16", "utf32")

    def say(self, text: str) -> None:
        if not self.unicode:
            for symbol, plain in _PLAIN.items():
                text = text.replace(symbol, plain)
            encoding = getattr(self.output, "encoding", None) or "ascii"
            text = text.encode(encoding, "replace").decode(encoding)
        self.output.write(text + "\n")
        self.output.flush()

    def show(self, chat: Chat, event: BotEvent, *, here: bool) -> None:
        """Print one bot event; one in the chat the user is not in is marked with its name."""
        where = "" if here else f", in the {chat.name} ({chat.switch} to go there)"
        if event.kind == "answer":
            if event.answer is not None and event.answer.text:
                self.say(f"  (bot{where}: {event.answer.text})")
            return
        message = event.message
        if message is None:
            return
        if event.kind == "delete":
            chat.forget_buttons_of(message)
            return
        lines = ["", ("bot (edited)" if event.kind == "edit" else "bot") + where + ":"]
        for stored in (message.document, message.photo):
            if stored is not None:
                self.files_dir.mkdir(parents=True, exist_ok=True)
                name = stored.filename or f"file-{message.message_id}.bin"
                path = self.files_dir / Path(name).name
                path.write_bytes(stored.data)
                lines.append(f"  [file saved: {path}]")
        if message.body:
            lines.extend("  " + line for line in message.body.splitlines())
        labels = message.button_labels
        if labels:
            chat.choices = [(message, label) for label in labels]
            if here:
                lines.extend(f"  [{i}] {label}" for i, label in enumerate(labels, start=1))
            else:  # numbers would read as this chat's buttons: they are listed on switching
                lines.append("  " + "  ".join(f"[ {label} ]" for label in labels))
        else:  # an edit that took the buttons away
            chat.forget_buttons_of(message)
        self.say("\n".join(lines))

    def list_buttons(self, chat: Chat) -> None:
        shown = [chat.button(i) for i in range(1, len(chat.choices) + 1)]
        labels = [found[1] for found in shown if found is not None]
        if labels and len(labels) == len(chat.choices):
            self.say(
                "Buttons on screen: "
                + "  ".join(f"[{i}] {label}" for i, label in enumerate(labels, start=1))
            )


def waiting_for_text(
    application: Application[Any, Any, Any, Any, Any, Any], user: FakeUser
) -> bool:
    """Whether a conversation of this chat would take a typed text now (an amount, a meter
    number…): asked of the bot's own conversation handlers with a text the user might type."""
    update = Update.de_json(
        {
            "update_id": 0,
            "message": {
                "message_id": 0,
                "date": int(time.time()),
                "chat": user.chat_dict,
                "from": user.user_dict,
                "text": "1",
            },
        },
        application.bot,
    )
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, ConversationHandler):
                check = handler.check_update(update)
                if check is not None and check is not False:
                    return True
    return False


async def _until_idle(
    application: Application[Any, Any, Any, Any, Any, Any],
    server: FakeTelegramServer,
    timeout: float = 5.0,  # noqa: ASYNC109 - a bound on waiting for a busy bot, not an API
) -> None:
    """Wait until the bot has fetched every update and finished handling it, so that its
    conversation states are those of the last reply (twice quiet 50 ms apart: an update
    between the queue and the processor is never missed)."""
    processor = application.update_processor
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while quiet < 2 and loop.time() < deadline:
        busy = (
            server.pending_update_count
            or application.update_queue.qsize()
            or processor.current_concurrent_updates
            or (
                isinstance(processor, ChatOrderedUpdateProcessor) and processor.updates_in_progress
            )
        )
        quiet = 0 if busy else quiet + 1
        await asyncio.sleep(0.05)


async def _follow(chat: Chat, terminal: Terminal, here: list[Chat]) -> None:
    async for event in chat.user.stream():
        terminal.show(chat, event, here=chat is here[0])


async def _settle(user: FakeUser) -> None:
    """Wait for the bot to answer before reading the next line (matters for piped input)."""
    with contextlib.suppress(NoReplyError):
        await user.wait_for_event(timeout=10, kinds=("message", "edit"))
    await asyncio.sleep(0.3)


async def _press(chat: Chat, number: int, terminal: Terminal) -> None:
    """Press button ``number`` of this chat, or say there is no such button (stale numbers
    included: the message was edited, deleted or is in the other chat)."""
    found = chat.button(number)
    if found is not None:
        message, label = found
        with contextlib.suppress(ButtonNotFoundError):
            await chat.user.press(label, message)
            terminal.say(f"  (pressed: {label})")
            await _settle(chat.user)
            return
    live = [i for i in range(1, len(chat.choices) + 1) if chat.button(i) is not None]
    terminal.say(
        f"  (no such button: {number}; "
        + (f"the buttons on screen are 1-{len(live)})" if live else "no buttons on screen)")
    )


async def _upload(chat: Chat, argument: str, terminal: Terminal) -> None:
    name = argument.strip().strip("\"'")
    if not name:
        terminal.say("  (usage: :upload FILE, e.g. :upload bills.csv)")
        return
    path = Path(name)
    try:
        data = await asyncio.to_thread(lambda: path.expanduser().read_bytes())
    except OSError as exc:
        terminal.say(f"  (cannot read {path}: {exc.strerror or exc})")
        return
    await chat.user.upload(path.name, data)
    terminal.say(f"  (sent {path.name}, {len(data):,} bytes)")
    await _settle(chat.user)


async def _chat(
    stdin: TextIO,
    terminal: Terminal,
    chats: list[Chat],
    here: list[Chat],
    application: Application[Any, Any, Any, Any, Any, Any],
    server: FakeTelegramServer,
) -> None:
    """Read lines until :quit or EOF; ``here[0]`` is the chat the user is in."""

    async def waiting(chat: Chat) -> bool:
        await _until_idle(application, server)
        return waiting_for_text(application, chat.user)

    hinted = False
    while True:
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        chat = here[0]
        command = _COMMAND.match(text)
        number = _BUTTON_NUMBER.match(text)
        if command is not None:
            name, argument = command.group(1).lower(), command.group(2) or ""
            if name == "quit":
                return
            target = next((c for c in chats if c.switch == f":{name}"), None)
            if target is not None:
                if target is chat:
                    terminal.say(f"Already in the {chat.name}.")
                else:
                    here[0] = target
                    terminal.say(f"Now in the {target.name}.")
                    terminal.list_buttons(target)
            elif name == "upload":
                await _upload(chat, argument, terminal)
            elif name == "help":
                terminal.say("\n".join(how_to(terminal.files_dir)))
            else:
                terminal.say(
                    f"  (unknown sandbox command :{name}; there are :admin, :customer, "
                    ":upload FILE, :help and :quit)"
                )
            continue
        if number is not None and (number.group(1) == "#" or not await waiting(chat)):
            await _press(chat, int(number.group(2)), terminal)
        else:
            link = _START_LINK.match(text)
            if link is not None:
                text = f"/start {link.group(1)}"
                terminal.say(f"  (opening the link sends {text})")
            await chat.user.send(text)
            await _settle(chat.user)
        if not hinted and chat.choices and await waiting(chat):
            hinted = True
            terminal.say(
                "  (the bot is waiting for you to type: a number is sent as text now;"
                " #N presses button N)"
            )


async def sandbox(config: Config, stdin: TextIO, stdout: TextIO, files_dir: Path) -> None:
    """Seed demo data, start the bot against a local server and chat until :quit or EOF."""
    async with FakeTelegramServer(token=SANDBOX_TOKEN, bot_username=BOT_USERNAME) as server:
        # Card payments with a test card: the local server charges nothing and takes this
        # provider token (a real one is never sent anywhere from the sandbox). Press the
        # invoice's Pay button by its number.
        config = replace(
            config,
            bot_token=server.token,
            bot_api_base_url=server.url,
            payment_provider_token=SANDBOX_PROVIDER_TOKEN,
        )
        db = await Database.connect(config.database, minsize=1, maxsize=2)
        try:
            logins = await seed_demo(
                db,
                today=datetime.now(config.timezone).date(),
                tariff=config.default_tariff,
                due_days=config.due_days,
            )
            demo_chats = await log_in_demo_chats(
                db, customer_telegram_id=CUSTOMER_USER_ID, admin_telegram_id=ADMIN_USER_ID
            )
        finally:
            await db.close()
        terminal = Terminal(stdout, files_dir)
        terminal.say(banner(logins, demo_chats, files_dir))
        # Both chats exist from the start, so the bot can reach either (a payment notice to
        # the staff chat while the user is in the customer chat) and both are followed.
        chats = [
            Chat("customer chat", ":customer", server.user(CUSTOMER_USER_ID, "Demo customer")),
            Chat("staff chat", ":admin", server.user(ADMIN_USER_ID, "Demo admin")),
        ]
        here = [chats[0]]
        # One process: the state file (waiting_for_text asks its ConversationHandlers).
        application = build_application(replace(config, state_store="file"))
        async with application:
            await post_init(application)
            # A person is waiting on each document here: start the drawing workers before the
            # first one (a statement rides along with every new-bill notice).
            renderer = application.bot_data.receipt_renderer
            if renderer is not None:
                await renderer.warm_up()
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=10)
            followers = [asyncio.create_task(_follow(c, terminal, here)) for c in chats]
            try:
                await _chat(stdin, terminal, chats, here, application, server)
                # Let the answer to the last line arrive before closing (a receipt is drawn
                # after the update that asked for it, in its chat's turn).
                await _until_idle(application, server, timeout=30)
                await asyncio.sleep(1.5)
            finally:
                for follower in followers:
                    follower.cancel()
                for follower in followers:
                    with contextlib.suppress(asyncio.CancelledError):
                        await follower
                await application.updater.stop()
                await application.stop()
                await post_shutdown(application)
        terminal.say("Sandbox closed.")


@contextlib.contextmanager
def logs_to_file(path: Path) -> Iterator[None]:
    """Send every log record (and Python warning) to ``path`` instead of the terminal, where
    it would land in the middle of the chat."""
    root = logging.getLogger()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = root.handlers[:]
    for old in saved:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for old in saved:
            root.addHandler(old)


def run_sandbox(
    config: Config,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    files_dir: Path = FILES_DIR,
) -> None:
    with logs_to_file(files_dir / LOG_FILE):
        asyncio.run(sandbox(config, stdin, stdout, files_dir))
