"""Shared pieces of the reliability and security tests: a TCP proxy that can cut the database
off, the SPEC §4 invariants as one query, table checksums, a scripted customer paying over the
fake Bot API server, and the figures each test writes for docs/reliability.md.

Figures go to ``$RELIABILITY_FIGURES_DIR`` (default: ``<tmp>/ebb-reliability``), one JSON
file per test, and are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.config import Config
from domain.db import Database
from fake_telegram import BotEvent, ChatMessage, FakeTelegramServer, FakeUser, NoReplyError

UNAVAILABLE = "temporarily unavailable"


# ---------------------------------------------------------------------------------------------
# Figures


def figures_dir() -> Path:
    path = Path(
        os.environ.get("RELIABILITY_FIGURES_DIR")
        or Path(tempfile.gettempdir()) / "ebb-reliability"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_figures(name: str, figures: dict[str, Any]) -> Path:
    """Write one test's figures as JSON (and print them) for docs/reliability.md."""
    path = figures_dir() / f"{name}.json"
    text = json.dumps(figures, indent=2, sort_keys=True, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    print(f"\n[figures] {name}: {text}")
    return path


# ---------------------------------------------------------------------------------------------
# A TCP proxy the test can cut


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; :meth:`cut` drops every connection and refuses
    new ones (the port is closed) until :meth:`restore` listens on the same port again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0
        self.cuts = 0
        self.connections_dropped = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> int:
        """Close the listening port and every open connection; return how many were cut."""
        self.cuts += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        dropped = len(self._pipes)
        self.connections_dropped += dropped
        for writer in list(self._writers):
            transport = writer.transport
            with contextlib.suppress(Exception):
                transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        return dropped

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        self.cuts -= 1

    async def __aenter__(self) -> TcpProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        self._writers.add(client_w)
        self.accepted += 1
        server_w: asyncio.StreamWriter | None = None
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
            self._writers.add(server_w)
            await asyncio.gather(_pump(client_r, server_w), _pump(server_r, client_w))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for writer in (client_w, server_w):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.transport.abort()
            self._pipes.discard(task)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


# ---------------------------------------------------------------------------------------------
# The database as the tests see it (directly, never through the proxy)


async def sql_rows(db: Database, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(sql, tuple(params))
            return [tuple(row) for row in await cur.fetchall()]


async def sql_execute(db: Database, sql: str, params: Iterable[Any] = ()) -> None:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(sql, tuple(params))
        await uow.commit()


INVARIANT_VIOLATIONS = """
SELECT b.bill_id, b.total_amount, b.amount_paid, b.payment_status, COALESCE(p.paid, 0)
FROM bills b
LEFT JOIN (
    SELECT bill_id, SUM(amount_paid) AS paid FROM payments WHERE voided_at IS NULL
    GROUP BY bill_id
) p ON p.bill_id = b.bill_id
WHERE b.amount_paid <> COALESCE(p.paid, 0)
   OR b.amount_paid < 0 OR b.amount_paid > b.total_amount
   OR b.payment_status <> CASE
        WHEN b.amount_paid = 0 THEN 'unpaid'
        WHEN b.amount_paid < b.total_amount THEN 'partial'
        ELSE 'paid' END
"""


async def invariant_violations(db: Database) -> list[tuple[Any, ...]]:
    """Bills breaking SPEC §4: amount_paid = SUM(non-void payments), status matches."""
    return await sql_rows(db, INVARIANT_VIOLATIONS)


async def link_telegram(db: Database, customer_id: int, telegram_user_id: int) -> None:
    """Link a customer to a Telegram account without the (slow, hashed) activation flow."""
    await sql_execute(
        db,
        "UPDATE customers SET telegram_user_id = %s WHERE customer_id = %s",
        (telegram_user_id, customer_id),
    )


async def checksums(db: Database, tables: Iterable[str]) -> dict[str, int]:
    """MariaDB's CHECKSUM TABLE of each table (changes whenever any row does)."""
    names = list(tables)
    rows = await sql_rows(db, "CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in names))
    return {str(name).rsplit(".", 1)[-1]: int(value or 0) for name, value in rows}


async def all_tables(db: Database) -> list[str]:
    rows = await sql_rows(
        db,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
        "AND table_type = 'BASE TABLE'",
    )
    return sorted(str(r[0]) for r in rows)


# ---------------------------------------------------------------------------------------------
# A customer paying over the fake Bot API server


def text_of(event: BotEvent) -> str:
    return event.message.body if event.message is not None else ""


async def next_screen(user: FakeUser, timeout: float = 15.0) -> ChatMessage:  # noqa: ASYNC109
    """The bot's next message or edit in this chat (what the phone shows next)."""
    event = await user.wait_for_event(timeout, kinds=("message", "edit"))
    assert event.message is not None
    return event.message


@dataclass
class PayerLog:
    """What one simulated customer did and was told."""

    attempted: int = 0  # Confirm pressed (first press of a payment)
    acknowledged: list[str] = field(default_factory=list)  # receipt numbers received as PDFs
    acknowledged_keys: list[str] = field(default_factory=list)
    acknowledged_at: list[float] = field(default_factory=list)  # time.monotonic()
    deferred: list[str] = field(default_factory=list)  # recorded, PDF to fetch with /receipt
    keys: list[str] = field(default_factory=list)  # idempotency keys of confirms pressed
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # (step, text)
    other: list[tuple[str, str]] = field(default_factory=list)  # unexpected replies
    restarts: int = 0  # told to start again (stale screen after a restart)
    repeats: int = 0  # screens answered twice after a crash, skipped
    repeated_actions: int = 0  # the bot stayed silent, so the customer did it again
    no_reply: int = 0  # waited in vain (the bot was down)

    last: tuple[str, str] = ("", "")  # the latest failed step and what the bot said

    def failed(self, step: str, text: str) -> None:
        self.last = (step, text)
        if UNAVAILABLE in text:
            self.unavailable.append((step, text))
        else:
            self.other.append((step, text))


def confirm_key(message: ChatMessage) -> str | None:
    for row in message.inline_keyboard:
        for button in row:
            if button.callback_data and button.callback_data.startswith("payok:"):
                return button.callback_data.split(":", 1)[1]
    return None


RECEIPT_NUMBER = re.compile(r"EB-\d{6}-[A-Z0-9]{8}")
DEFERRED_RECEIPT = "Send /receipt to get it"
# Replies that end a flow: the database is away, or the screen is stale after a restart.
REFUSALS = (
    UNAVAILABLE,
    "start again",
    "start it again",
    "out of date",
    "no longer valid",
    "did not get through",
    "went wrong",
)


def receipt_numbers(user: FakeUser) -> list[str]:
    """Receipt numbers of every receipt PDF the bot sent this user, oldest first."""
    return [
        name.removeprefix("receipt-").removesuffix(".pdf")
        for name, _ in user.documents()
        if name.startswith("receipt-")
    ]


async def wait_for_receipt(
    user: FakeUser,
    number: str,
    timeout: float,  # noqa: ASYNC109 - a test helper's own deadline
) -> bool | None:
    """Wait for receipt ``number``: True when its PDF came, False when the bot said the
    payment is recorded but the PDF must be fetched with /receipt, None if nothing came."""

    def ours(message: ChatMessage) -> bool:
        if message.document is not None:
            return message.document.filename == f"receipt-{number}.pdf"
        return DEFERRED_RECEIPT in message.body and number in message.body

    try:
        message = await user.wait_for_reply(timeout, predicate=ours)
    except NoReplyError:
        return None
    return message.document is not None


class Payer:
    """A linked customer paying small amounts by typing them, over and over."""

    def __init__(
        self,
        user: FakeUser,
        amount: Decimal,
        *,
        step_timeout: float = 15.0,
        repeat_after_silence: float | None = None,
        tolerate_repeats: bool = False,
        on_confirm_failed: Callable[[str, str], Awaitable[None]] | None = None,
        hold_confirm: asyncio.Event | None = None,
    ) -> None:
        self.user = user
        self.amount = amount
        self.step_timeout = step_timeout
        # Like a person after a crash: when the bot stays silent this long, do the same thing
        # again (an update the killed process had fetched but not handled is lost).
        self.repeat_after_silence = repeat_after_silence
        # Skip screens shown twice (an update handled again after a crash, or a message sent
        # again because Telegram's answer to the first try never came).
        self.tolerate_repeats = tolerate_repeats or repeat_after_silence is not None
        self.in_flow = False  # between /pay and the receipt
        self.on_confirm_failed = on_confirm_failed  # (idempotency key, what the bot said)
        self.hold_confirm = hold_confirm  # the first Confirm waits for this, once
        self.at_confirm = asyncio.Event()  # set while the confirm screen waits for hold_confirm
        self.log = PayerLog()

    async def _act(
        self, name: str, action: Callable[[], Awaitable[object]], expect: str | tuple[str, ...]
    ) -> ChatMessage | None:
        """Do ``action``; return the next screen if it contains ``expect`` (or one of them),
        else None after logging what came instead (or that nothing came)."""
        expected = (expect,) if isinstance(expect, str) else expect
        await action()
        deadline = time.monotonic() + self.step_timeout
        silence = self.repeat_after_silence
        waited_from = time.monotonic()
        while True:
            limit = deadline if silence is None else min(deadline, waited_from + silence)
            try:
                screen = await next_screen(self.user, max(0.0, limit - time.monotonic()))
            except NoReplyError:
                if time.monotonic() < deadline:
                    self.log.repeated_actions += 1
                    await action()
                    waited_from = time.monotonic()
                    continue
                self.log.no_reply += 1
                self.log.last = (name, "")
                return None
            if any(text in screen.body for text in expected):
                return screen
            refusal = any(word in screen.body for word in REFUSALS)
            if self.tolerate_repeats and not refusal:
                self.log.repeats += 1
                continue
            if "start again" in screen.body or "start it again" in screen.body:
                self.log.restarts += 1
            self.log.failed(name, screen.body)
            return None

    async def pay_once(self, retry_pause: float = 0.3) -> bool:
        """One payment from /pay to its receipt; False (after logging) if a step failed."""
        self.in_flow = True
        try:
            return await self._pay_once(retry_pause)
        finally:
            self.in_flow = False

    async def _pay_once(self, retry_pause: float) -> bool:
        user = self.user
        menu = await self._act("/pay", lambda: user.send("/pay"), "Which bill")
        if menu is None:
            return False
        screen = await self._act("bill", lambda: user.press("owed", menu), "How much")
        if screen is None:
            return False
        shown = screen
        screen = await self._act(
            "amount", lambda: user.press("Another amount", shown), "type the amount"
        )
        if screen is None:
            return False
        screen = await self._act(
            "typed amount", lambda: user.send(f"{self.amount}"), "How will you pay"
        )
        if screen is None:
            return False
        shown = screen
        confirm = await self._act(
            "method", lambda: user.press("Account credit", shown), "Please confirm"
        )
        if confirm is None:
            return False
        key = confirm_key(confirm)
        assert key is not None
        self.log.keys.append(key)
        self.log.attempted += 1
        if self.hold_confirm is not None:
            self.at_confirm.set()
            await self.hold_confirm.wait()
            self.hold_confirm = None
        for _ in range(20):
            screen = await self._act(
                "confirm",
                lambda: user.press("Confirm payment", confirm),
                # Recorded; or recorded while the receipt could not be drawn (the database
                # went away right after the commit): the customer is sent to /receipt.
                ("recorded for", DEFERRED_RECEIPT),
            )
            if screen is not None:
                number = RECEIPT_NUMBER.search(screen.body)
                assert number is not None, screen.body
                receipt = number.group(0)
                # After a crash the PDF may never come (the process died between the two
                # messages): the customer has the receipt number and asks with /receipt.
                wait = self.repeat_after_silence or self.step_timeout
                as_pdf = (
                    False
                    if DEFERRED_RECEIPT in screen.body
                    else await wait_for_receipt(user, receipt, wait)
                )
                if as_pdf is None and self.repeat_after_silence is None:
                    self.log.other.append(("receipt", f"no receipt {receipt}"))
                    return False
                if not as_pdf:
                    self.log.deferred.append(receipt)
                self.log.acknowledged.append(receipt)
                self.log.acknowledged_keys.append(key)
                self.log.acknowledged_at.append(time.monotonic())
                return True
            last_step, last_text = self.log.last
            if last_step != "confirm" or UNAVAILABLE not in last_text:
                return False
            if self.on_confirm_failed is not None:
                await self.on_confirm_failed(key, last_text)
            # As the reply says: try again (the same Confirm button, the same key).
            await asyncio.sleep(retry_pause)
        return False


async def until(
    condition: Callable[[], bool],
    timeout: float = 30,  # noqa: ASYNC109 - a test helper's own deadline
    what: str = "the condition",
) -> None:
    """Poll ``condition`` every 20 ms; fail the test if it does not hold within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


class LogRecords(logging.Handler):
    """Every record at ``level`` or above, from any logger, while it is attached (``with``,
    or added to the root logger by hand); unhandled exceptions end up here too."""

    def __init__(self, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogRecords:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return round(time.monotonic() - self.started, 3)


async def fetch_receipt(
    user: FakeUser,
    payment_id: int,
    timeout: float = 10,  # noqa: ASYNC109 - a test helper's own deadline
) -> tuple[str, bytes]:
    """Ask for a receipt again with /receipt, turning pages until the payment shows."""
    await user.send("/receipt")
    listing = await user.wait_for_reply(timeout)
    wanted = f"rcpt:{payment_id}"
    for _ in range(100):
        buttons = [b for row in listing.inline_keyboard for b in row]
        if any(b.callback_data == wanted for b in buttons):
            await user.press_data(listing.message_id, wanted)
            message = await user.wait_for_reply(
                timeout, predicate=lambda m: m.document is not None
            )
            assert message.document is not None
            return message.document.filename or "", message.document.data
        if not any(b.text == "▶" for b in buttons):
            break
        await user.press("▶", listing)
        listing = await user.wait_for_edit(listing.message_id, timeout)
    raise AssertionError(f"payment {payment_id} is not in /receipt's list")


# ---------------------------------------------------------------------------------------------
# The bot as a separate process (`python run_bot.py run`)

RUN_BOT = Path(__file__).resolve().parent.parent / "run_bot.py"


async def fetch_deferred_receipts(db: Database, payers: Iterable[Payer]) -> list[str]:
    """Each receipt a payer was promised but not sent, asked for with /receipt as a customer
    would (it must be a recorded payment); the file names that came."""
    names = []
    for payer in payers:
        for number in payer.log.deferred:
            rows = await sql_rows(
                db, "SELECT payment_id FROM payments WHERE receipt_number = %s", (number,)
            )
            assert rows, f"receipt {number} was promised but is not recorded"
            name, _ = await fetch_receipt(payer.user, int(rows[0][0]))
            names.append(name)
    return names


def bot_environment(config: Config, server: FakeTelegramServer, **extra: str) -> dict[str, str]:
    """The environment of ``run_bot.py run`` for a test: the fake server, the test database."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    environ = {k: v for k, v in os.environ.items() if k in keep}
    environ.update(
        BOT_TOKEN=server.token,
        BOT_API_BASE_URL=server.url,
        DATABASE_URL=config.database.to_url(),
        CUSTOMER_DATABASE_URL=config.customer_database.to_url(),
        DATABASE_ROOT_URL=config.root_database.to_url(),
        PERSISTENCE_FILE=str(config.persistence_file),
        UTILITY_NAME=config.utility_name,
        TIMEZONE=str(config.timezone),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return environ


class BotProcess:
    """One ``run_bot.py run`` child process; its output goes to a file. Always stopped (by its
    pid) when the ``async with`` block ends."""

    def __init__(self, environ: dict[str, str], workdir: Path, name: str = "bot") -> None:
        self.environ = environ
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0  # time.monotonic() of the first getUpdates

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, server: FakeTelegramServer, timeout: float = 30) -> float:  # noqa: ASYNC109
        """Start the bot; return once it polls the fake server (seconds it took)."""
        launched = time.monotonic()
        with self.log_path.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(RUN_BOT),
                "run",
                cwd=self.workdir,
                env=self.environ,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        while not any(call.time >= launched for call in server.calls_to("getUpdates")):
            if self.process.returncode is not None:
                raise AssertionError(f"the bot exited at start:\n{self.output()[-3000:]}")
            if time.monotonic() - launched > timeout:
                raise AssertionError(f"the bot did not start:\n{self.output()[-3000:]}")
            await asyncio.sleep(0.02)
        self.started_at = time.monotonic()
        return round(self.started_at - launched, 3)

    def send_signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)

    async def wait(self, timeout: float = 30) -> int:  # noqa: ASYNC109
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self) -> None:
        """SIGKILL the process if it still runs (clean-up; tests stop it their own way)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def __aenter__(self) -> BotProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
