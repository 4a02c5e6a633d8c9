"""Staff changes take effect at once (issue 14 A): whoever is staff in the admins table is
staff in the chat from their next message on, and whoever is no longer staff loses it, with
no restart and no /adminlogin — whether the change came from the CLI (another process), SQL
or the bot itself. The real Application over HTTP to the fake Bot API server, on MariaDB.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import TypeHandler

from bot.application import (
    CUSTOMER_COMMANDS,
    PRIVATE_GATE_GROUP,
    STAFF_SYNC_GROUP,
    build_application,
)
from domain import admins
from domain.db import Database
from fake_telegram import ChatMessage, FakeUser
from handlers import private_only
from handlers.admin_access import ADMIN_COMMANDS, sync_staff
from handlers.admin_gate import UNKNOWN_COMMAND
from tests.e2e_support import Harness, activated_customer, harness, running_bot

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(120)

RUN_BOT = Path(__file__).resolve().parent.parent / "run_bot.py"
STAFF_MENU = [(c.command, c.description) for c in ADMIN_COMMANDS]
CUSTOMER_MENU = [(c.command, c.description) for c in CUSTOMER_COMMANDS]
READ_ONLY = "cannot change anything"
CUSTOMERS_LIST = "Customers"  # the heading of /customers' answer


async def ask(user: FakeUser, text: str) -> ChatMessage:
    await user.send(text)
    return await user.wait_for_reply()


async def sql(db: Database, statement: str, *params: Any) -> int:
    """Run one statement on its own connection and commit: a change made outside the bot."""
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            changed = int(await cur.execute(statement, params))
        await uow.commit()
    return changed


async def cli_create_admin(harness: Harness, workdir: Path, telegram_id: int, role: str) -> str:
    """``run_bot.py create-admin --telegram-id …`` in its own process, as an operator runs it
    while the bot is running; its output."""
    config = harness.config
    environ = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    environ.update(
        DATABASE_URL=config.database.to_url(),
        CUSTOMER_DATABASE_URL=config.customer_database.to_url(),
        DATABASE_ROOT_URL=config.root_database.to_url(),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(RUN_BOT),
        "create-admin",
        "--name",
        f"Staff {telegram_id}",
        "--email",
        f"staff{telegram_id}@utility.example",
        "--role",
        role,
        "--telegram-id",
        str(telegram_id),
        "--password-stdin",
        cwd=workdir,
        env=environ,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(b"a-long-staff-password\n"), 60)
    assert process.returncode == 0, output.decode()
    return output.decode()


def test_the_staff_lookup_runs_after_the_private_gate_and_right_before_routing(
    harness: Harness,
) -> None:
    """Group chats are stopped before anyone is looked up, and nothing runs between the
    lookup and the routing in group 0 (what keeps each message routed by its own lookup)."""
    groups = build_application(harness.config).handlers
    assert sorted(groups) == [PRIVATE_GATE_GROUP, STAFF_SYNC_GROUP, 0]
    assert PRIVATE_GATE_GROUP < STAFF_SYNC_GROUP == -1
    [gate] = groups[PRIVATE_GATE_GROUP]
    [sync] = groups[STAFF_SYNC_GROUP]
    assert isinstance(gate, TypeHandler) and gate.callback is private_only.private_chats_only
    assert isinstance(sync, TypeHandler) and sync.callback is sync_staff


async def test_an_admin_the_cli_creates_while_the_bot_runs_is_answered_at_once(
    harness: Harness, tmp_path: Path
) -> None:
    """The issue's case: before, every staff command got "I don't know that command" until a
    restart or /adminlogin; now the first one is answered, and the staff menu follows."""
    async with running_bot(harness):
        staff = harness.server.user(9101, "New Staff")
        assert (await ask(staff, "/customers")).body == UNKNOWN_COMMAND
        out = await cli_create_admin(harness, tmp_path, staff.id, "admin")
        assert "created with role admin" in out

        answer = await ask(staff, "/customers")
        assert answer.body != UNKNOWN_COMMAND and CUSTOMERS_LIST in answer.body, answer.body
        help_text = (await ask(staff, "/help")).body
        assert "/adminlogout" in help_text and "/customers" in help_text
        await staff.wait_until(lambda: staff.menu() == STAFF_MENU, 10)
        # A write command too: the CLI made an admin, not a viewer.
        assert READ_ONLY not in (await ask(staff, "/addcustomer")).body


async def test_a_link_made_by_sql_applies_at_once_and_unlinking_or_deleting_removes_it(
    harness: Harness,
) -> None:
    """Linked, unlinked, linked again and deleted by SQL (another instance, a script): each
    change shows on the very next message; the menu comes and goes with it."""
    made = await admins.create_admin(
        harness.admin_db,
        admin_name="Later Linked",
        email="later@utility.example",
        password="a-long-staff-password",
        role="admin",
    )
    async with running_bot(harness):
        staff = harness.server.user(9102, "Staff By SQL")
        assert (await ask(staff, "/revenue")).body == UNKNOWN_COMMAND

        await sql(
            harness.admin_db,
            "UPDATE admins SET telegram_user_id = %s WHERE admin_id = %s",
            staff.id,
            made.admin_id,
        )
        assert "Revenue" in (await ask(staff, "/revenue")).body
        await staff.wait_until(lambda: staff.menu() == STAFF_MENU, 10)

        await sql(
            harness.admin_db,
            "UPDATE admins SET telegram_user_id = NULL WHERE admin_id = %s",
            made.admin_id,
        )
        assert (await ask(staff, "/revenue")).body == UNKNOWN_COMMAND
        assert (await ask(staff, "/customers")).body == UNKNOWN_COMMAND
        await staff.wait_until(lambda: staff.menu() == CUSTOMER_MENU, 10)
        help_text = (await ask(staff, "/help")).body
        assert "/customers" not in help_text and "/adminlogout" not in help_text

        await sql(
            harness.admin_db,
            "UPDATE admins SET telegram_user_id = %s WHERE admin_id = %s",
            staff.id,
            made.admin_id,
        )
        assert "Revenue" in (await ask(staff, "/revenue")).body
        assert await sql(harness.admin_db, "DELETE FROM admins WHERE admin_id = %s", made.admin_id)
        assert (await ask(staff, "/revenue")).body == UNKNOWN_COMMAND
        await staff.wait_until(lambda: staff.menu() == CUSTOMER_MENU, 10)


async def test_a_role_changed_by_sql_gives_or_takes_the_right_to_write_at_once(
    harness: Harness,
) -> None:
    """A viewer made admin by SQL can write from the next message on; made viewer again,
    they are read-only again; reading is allowed throughout."""
    made = await admins.create_admin(
        harness.admin_db,
        admin_name="Role Changes",
        email="roles@utility.example",
        password="a-long-staff-password",
        role="viewer",
        telegram_user_id=9103,
    )
    async with running_bot(harness):
        staff = harness.server.user(9103, "Viewer Then Admin")
        assert READ_ONLY in (await ask(staff, "/addcustomer")).body

        await sql(
            harness.admin_db, "UPDATE admins SET role = 'admin' WHERE admin_id = %s", made.admin_id
        )
        prompt = await ask(staff, "/addcustomer")
        assert READ_ONLY not in prompt.body and "meter" in prompt.body.lower(), prompt.body
        assert "Cancelled" in (await ask(staff, "/cancel")).body

        await sql(
            harness.admin_db,
            "UPDATE admins SET role = 'viewer' WHERE admin_id = %s",
            made.admin_id,
        )
        assert READ_ONLY in (await ask(staff, "/addcustomer")).body
        assert CUSTOMERS_LIST in (await ask(staff, "/customers")).body


async def test_staff_changes_under_concurrent_traffic_route_every_message_by_the_table(
    harness: Harness,
) -> None:
    """Many chats at once while one person is linked and unlinked over and over: a steady
    admin is always served, a customer never gets a staff answer, and the toggled person
    gets, for each message, the answer of the state the table was in when it was sent or a
    later one — never one from before a change that their earlier message already saw."""
    steady_admins = [harness.server.user(9200 + i, f"Admin {i}") for i in range(6)]
    for user in steady_admins:
        await admins.create_admin(
            harness.admin_db,
            admin_name=f"Steady {user.id}",
            email=f"steady{user.id}@utility.example",
            password="a-long-staff-password",
            role="viewer",
            telegram_user_id=user.id,
        )
    toggled = await admins.create_admin(
        harness.admin_db,
        admin_name="Toggled",
        email="toggled@utility.example",
        password="a-long-staff-password",
        role="viewer",
    )
    async with running_bot(harness):
        customer = harness.server.user(9300, "Customer")
        await activated_customer(harness, customer)
        strangers = [harness.server.user(9301 + i, f"Stranger {i}") for i in range(6)]
        flipper = harness.server.user(9400, "Flipper")
        wrong: list[str] = []

        async def steady(user: FakeUser, staff: bool) -> None:
            for _ in range(15):
                body = (await ask(user, "/revenue")).body
                if staff != ("Revenue" in body) or staff == (body == UNKNOWN_COMMAND):
                    wrong.append(f"{user.id}: {body[:60]!r}")

        async def flip() -> None:
            for round_ in range(12):
                linked = round_ % 2 == 0
                await sql(
                    harness.admin_db,
                    "UPDATE admins SET telegram_user_id = %s WHERE admin_id = %s",
                    flipper.id if linked else None,
                    toggled.admin_id,
                )
                # The change is committed: the next message must see it, whatever else runs.
                body = (await ask(flipper, "/revenue")).body
                if linked != ("Revenue" in body):
                    wrong.append(f"flipper, linked={linked}: {body[:60]!r}")

        await asyncio.gather(
            flip(),
            *(steady(u, True) for u in steady_admins),
            *(steady(u, False) for u in [customer, *strangers]),
        )
        assert wrong == []
