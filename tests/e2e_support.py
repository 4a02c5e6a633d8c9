"""End-to-end harness: the real Application over real HTTP against the local fake Bot API
server, on the test run's throw-away database.

``async with running_bot(harness) as application:`` starts the bot the way ``run_polling``
would (post_init, start, polling) and stops it the same way (so persistence is flushed);
a test can stop and start it again on the same persistence file to act out a restart.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.application import build_application, post_init, post_shutdown, webhook_options
from bot.config import Config, load_config
from bot.context import BillingApplication
from bot.webhook_server import WebhookOptions, serving_webhook
from domain import admins, customers
from domain.db import Database
from domain.models import Admin, Customer
from fake_telegram import FakeTelegramServer, FakeUser
from tests.conftest import Pools, TestDatabase, empty_tables


@dataclass
class Harness:
    server: FakeTelegramServer
    config: Config
    admin_db: Database
    customer_db: Database

    def with_config(self, **changes: Any) -> Harness:
        return replace(self, config=replace(self.config, **changes))


def make_config(
    database: TestDatabase, server: FakeTelegramServer, state_dir: Path, **env: str
) -> Config:
    environ = {
        "BOT_TOKEN": server.token,
        "BOT_API_BASE_URL": server.url,
        "DATABASE_URL": database.admin.to_url(),
        "CUSTOMER_DATABASE_URL": database.customer.to_url(),
        "DATABASE_ROOT_URL": database.root.to_url(),
        "PERSISTENCE_FILE": str(state_dir / "bot-state.pickle"),
        "UTILITY_NAME": "City Power & Light",
        "CURRENCY_CODE": "NGN",
        "CURRENCY_SYMBOL": "₦",
        "TIMEZONE": "Africa/Lagos",
        # EBB_TEST_STATE_STORE=database runs these tests with the conversation state in the
        # database (bot.shared_state) instead of the state file.
        "STATE_STORE": os.environ.get("EBB_TEST_STATE_STORE", "file"),
        **env,
    }
    return load_config(environ=environ, env_file=None)


@pytest.fixture
async def harness(
    test_database: TestDatabase, pools: Pools, tmp_path: Path
) -> AsyncIterator[Harness]:
    """A fake Telegram server, empty tables and a bot configuration pointing at both."""
    await empty_tables(pools.admin)
    async with FakeTelegramServer() as server:
        yield Harness(
            server, make_config(test_database, server, tmp_path), pools.admin, pools.customer
        )


@asynccontextmanager
async def running_bot(harness: Harness, **build: Any) -> AsyncIterator[BillingApplication]:
    """Run the bot until the block ends, like run_polling does (post_init included)."""
    application = build_application(harness.config, **build)
    async with application:
        await post_init(application)
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
            await post_shutdown(application)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a webhook to listen on)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def running_webhook_bot(
    config: Config, webhook_url: str, **build: Any
) -> AsyncIterator[tuple[BillingApplication, WebhookOptions]]:
    """Run the bot in webhook mode until the block ends, as ``run_bot.py run --webhook URL``
    does (``bot.webhook_server`` with ``webhook_options``), listening on 127.0.0.1 at
    ``webhook_url``'s port; yields the application and those options (the secret token is
    ``options.secret_token``)."""
    port = urlsplit(webhook_url).port
    assert port is not None
    options = webhook_options(config, webhook_url=webhook_url, listen="127.0.0.1", port=port)
    application = build_application(config, messages_per_second=0, **build)
    async with application:
        await post_init(application)
        await application.start()
        try:
            async with serving_webhook(application, options):
                yield application, options
        finally:
            await application.stop()
            await post_shutdown(application)


def command_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """An update as Telegram POSTs it to a webhook: ``text``, a command, in a private chat."""
    person = {"id": user_id, "is_bot": False, "first_name": "Hook"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Hook"},
            "from": person,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def activated_customer(
    harness: Harness,
    user: FakeUser,
    *,
    full_name: str = "Amina Bello",
    meter_number: str = "MTR-20001",
    password: str = "correct-horse-1",  # noqa: S107 - a test customer's password
) -> Customer:
    """Create a customer and link ``user`` through the activation deep link (a running bot)."""
    customer = await customers.add_customer(
        harness.admin_db,
        meter_number=meter_number,
        full_name=full_name,
        address="12 Marina Road, Lagos",
    )
    code = await customers.issue_activation_code(harness.admin_db, customer.customer_id)
    await user.send(f"/start {code}")
    await user.wait_for_reply()
    await user.send(password)
    await user.wait_for_reply()
    await user.send(password)
    await user.wait_for_reply(predicate=lambda m: "linked" in m.body)
    return customer


async def settle(seconds: float = 0.05) -> None:
    """Give the bot a moment to finish background sends."""
    await asyncio.sleep(seconds)


async def start_payment(user: FakeUser, choice: str, bill_label: str = "Sep 2026") -> None:
    """/pay → pick the bill → press ``choice`` ("Pay in full" or "Another amount")."""
    await user.send("/pay")
    await user.wait_for_reply()
    await user.press(bill_label)
    await user.wait_for_edit()
    await user.press(choice)
    await user.wait_for_edit()


async def make_staff(harness: Harness, telegram_user_id: int, role: str = "admin") -> Admin:
    """A staff account linked to ``telegram_user_id`` (password: a-long-staff-password)."""
    return await admins.create_admin(
        harness.admin_db,
        admin_name=f"Staff {telegram_user_id}",
        email=f"staff{telegram_user_id}@utility.example",
        password="a-long-staff-password",
        role=role,
        telegram_user_id=telegram_user_id,
    )
