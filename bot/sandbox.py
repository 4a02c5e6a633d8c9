"""``run_bot.py sandbox``: the real bot against a local Bot API server, chatting in this
terminal. No Telegram account or token is needed.

You type as a demo customer (or switch to a demo admin with ``:admin``); the bot's replies
are printed, inline buttons as numbered choices (type the number to press one), and sent
PDFs and images are saved to a folder whose paths are printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TextIO

from bot.application import build_application, post_init, post_shutdown
from bot.config import Config
from bot.fake_telegram import BotEvent, ChatMessage, FakeTelegramServer, FakeUser, NoReplyError
from domain.db import Database
from domain.demo import seed_demo

SANDBOX_TOKEN = "100000001:SANDBOX-local-token"  # noqa: S105 - the local fake server's token
SANDBOX_PROVIDER_TOKEN = "SANDBOX:test-card"  # noqa: S105 - the fake server charges nothing
CUSTOMER_USER_ID = 700001
ADMIN_USER_ID = 700900
FILES_DIR = Path(os.environ.get("SANDBOX_FILES_DIR", "sandbox-files"))

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


class Terminal:
    """Prints the bot's side of the chat and remembers the buttons on screen."""

    def __init__(self, output: TextIO, files_dir: Path) -> None:
        self.output = output
        self.files_dir = files_dir
        self.choices: list[tuple[ChatMessage, str]] = []
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

    def show(self, event: BotEvent) -> None:
        if event.kind == "answer" and event.answer is not None and event.answer.text:
            self.say(f"  (bot: {event.answer.text})")
            return
        message = event.message
        if message is None or event.kind == "delete":
            return
        lines = ["", "bot (edited):" if event.kind == "edit" else "bot:"]
        for stored in (message.document, message.photo):
            if stored is not None:
                self.files_dir.mkdir(parents=True, exist_ok=True)
                name = stored.filename or f"file-{message.message_id}.bin"
                path = self.files_dir / Path(name).name
                path.write_bytes(stored.data)
                lines.append(f"  [file saved: {path}]")
        if message.body:
            lines.extend("  " + line for line in message.body.splitlines())
        labels = [button.text for row in message.inline_keyboard for button in row]
        if labels:
            self.choices = [(message, label) for label in labels]
            lines.extend(f"  [{i}] {label}" for i, label in enumerate(labels, start=1))
        self.say("\n".join(lines))


async def _follow(user: FakeUser, terminal: Terminal) -> None:
    async for event in user.stream():
        terminal.show(event)


async def _settle(user: FakeUser) -> None:
    """Wait for the bot to answer before reading the next line (matters for piped input)."""
    with contextlib.suppress(NoReplyError):
        await user.wait_for_event(timeout=10, kinds=("message", "edit"))
    await asyncio.sleep(0.3)


def _banner(logins: list[str]) -> str:
    return "\n".join(
        [
            "Electricity Billing Bot — sandbox",
            "(a local Bot API server: nothing leaves this machine)",
            "Type messages and commands as on a phone, e.g. /start, /login, /help.",
            "Type a number to press that button. :admin switches to a staff chat,",
            ":customer back to the customer chat, :quit (or Ctrl-D) ends.",
            "Demo logins:",
            *logins,
        ]
    )


async def sandbox(config: Config, stdin: TextIO, stdout: TextIO, files_dir: Path) -> None:
    """Seed demo data, start the bot against a local server and chat until :quit or EOF."""
    async with FakeTelegramServer(
        token=SANDBOX_TOKEN, bot_username="billing_sandbox_bot"
    ) as server:
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
        finally:
            await db.close()
        terminal = Terminal(stdout, files_dir)
        terminal.say(
            _banner([f"  {x.role:<8} {x.login:<22} password {x.password}" for x in logins])
        )
        application = build_application(config)
        async with application:
            await post_init(application)
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=10)
            user = server.user(CUSTOMER_USER_ID, "Demo customer")
            follower = asyncio.create_task(_follow(user, terminal))
            try:
                while True:
                    line = await asyncio.to_thread(stdin.readline)
                    if not line or line.strip() == ":quit":
                        break
                    text = line.strip()
                    if text in (":admin", ":customer"):
                        follower.cancel()
                        if text == ":admin":
                            user = server.user(ADMIN_USER_ID, "Demo admin")
                            terminal.say("Now in the staff chat. Try /adminlogin.")
                        else:
                            user = server.user(CUSTOMER_USER_ID, "Demo customer")
                            terminal.say("Now in the customer chat.")
                        follower = asyncio.create_task(_follow(user, terminal))
                    elif text.isdigit() and 1 <= int(text) <= len(terminal.choices):
                        message, label = terminal.choices[int(text) - 1]
                        await user.press(label, message)
                        await _settle(user)
                    elif text:
                        await user.send(text)
                        await _settle(user)
                # Let the answer to the last line arrive before closing.
                await asyncio.sleep(1.5)
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
                await application.updater.stop()
                await application.stop()
                await post_shutdown(application)
        terminal.say("Sandbox closed.")


def run_sandbox(
    config: Config,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    files_dir: Path = FILES_DIR,
) -> None:
    asyncio.run(sandbox(config, stdin, stdout, files_dir))
