"""/help lists every command the person can use, and nothing else: checked against what the
running bot actually does with each registered command, for each role.

Every command the bot has registered (``registered_commands``) is sent by a staff admin, a
staff viewer, a linked customer and a person who is both; what each one can use is what is
not answered as an unknown command or with "not linked". That set, less the few commands
deliberately left out of the lists (``NOT_LISTED``, each with its reason), must equal the
commands /help shows that person — and the command menus must match the help texts.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.application import CUSTOMER_COMMANDS
from domain import admins
from fake_telegram import BotEvent, FakeUser
from handlers.admin_access import ADMIN_COMMANDS
from handlers.admin_gate import UNKNOWN_COMMAND
from handlers.admin_help import ADMIN_HELP
from handlers.customer_account import CUSTOMER_HELP
from tests.e2e_support import Harness, harness, running_bot
from tests.security_support import make_cast, recording, registered_commands

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(180)

# Commands that work for these people but are deliberately not in their /help, and why.
NOT_LISTED = {
    # What Telegram's Start button and an activation link send; nobody types it.
    "start": "sent by Telegram's Start button and activation links",
    # The staff's door: not advertised to customers, and staff are already in.
    "adminlogin": "the staff's way in, not a command of the signed-in",
}
# For staff who are not customers: linking an electricity account is a customer's matter
# (once linked, their /help lists it with the customer commands).
STAFF_NOT_LISTED = {**NOT_LISTED, "login": "links an electricity account, not a staff task"}
# Answers that mean "not for you".
REFUSALS = (UNKNOWN_COMMAND, "not linked")
READ_ONLY = "cannot change anything"


def listed(text: str) -> set[str]:
    """The commands a help text lists (each line that starts with one)."""
    return {m.group(1) for m in re.finditer(r"^/(\w+)", text, re.MULTILINE)}


def outcome(events: list[BotEvent]) -> str:
    said = "\n".join(e.message.body for e in events if e.message is not None)
    if any(refusal in said for refusal in REFUSALS):
        return "refused"
    if READ_ONLY in said:
        return "read_only"
    return "usable" if events else "nothing"


def test_the_command_menus_match_the_help_texts() -> None:
    assert {c.command for c in ADMIN_COMMANDS} == listed(ADMIN_HELP)
    assert {c.command for c in CUSTOMER_COMMANDS} == listed(CUSTOMER_HELP)
    assert "adminlogout" in listed(ADMIN_HELP)


async def test_help_lists_exactly_the_commands_each_person_can_use(harness: Harness) -> None:
    cast = await make_cast(harness, 76000)
    # Customer B's Telegram account is also an admin's: staff who pay their own bills.
    await admins.create_admin(
        harness.admin_db,
        admin_name="Staff And Customer",
        email="both@utility.example",
        password="a-long-staff-password",
        role="admin",
        telegram_user_id=cast.users["customer_b"].id,
    )
    people = {
        "admin": cast.users["admin"],
        "viewer": cast.users["viewer"],
        "customer": cast.users["customer_a"],
        "both": cast.users["customer_b"],
    }
    async with running_bot(harness, messages_per_second=0) as application:
        # Last: they unlink the person.
        unlinking = ["logout", "adminlogout"]
        every = sorted(registered_commands(application) - set(unlinking)) + unlinking
        helps: dict[str, set[str]] = {}
        found: dict[str, dict[str, str]] = {name: {} for name in people}
        async with recording(people) as recorders:

            async def play(name: str, user: FakeUser) -> None:
                await user.send("/help")
                helps[name] = listed((await user.wait_for_reply()).body)
                for command in every:
                    action = lambda c=command: user.send(f"/{c}")  # noqa: E731
                    action.is_cancel = command == "cancel"  # type: ignore[attr-defined]
                    found[name][command] = outcome(await recorders[name].exchange(action))

            await asyncio.gather(*(play(name, user) for name, user in people.items()))

    def usable(name: str, *, read_only: bool = False) -> set[str]:
        kinds = ("usable", "read_only") if read_only else ("usable",)
        return {c for c, got in found[name].items() if got in kinds}

    assert usable("admin") - set(STAFF_NOT_LISTED) == helps["admin"], found["admin"]
    # A viewer is shown the same list, whose write commands say "(admin role)".
    assert helps["viewer"] == helps["admin"]
    assert usable("viewer", read_only=True) - set(STAFF_NOT_LISTED) == helps["viewer"]
    for command in usable("viewer", read_only=True) - usable("viewer"):
        line = next(line for line in ADMIN_HELP.splitlines() if line.startswith(f"/{command} "))
        assert "(admin role" in line, line
    assert usable("customer") - set(NOT_LISTED) == helps["customer"], found["customer"]
    assert usable("both") - set(NOT_LISTED) == helps["both"], found["both"]
    assert helps["both"] > helps["admin"] and "dashboard" in helps["both"]
