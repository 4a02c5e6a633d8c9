"""Private chats only (SPEC §6): the real Application over HTTP to the fake Bot API server,
with the same people writing in a group, a supergroup or a channel the bot is in. There the
bot says one line asking to be messaged privately, reads nothing and sends no data; in the
private chat the same commands still work."""

from __future__ import annotations

import time
from typing import Any

import pytest

from domain import admins, customers
from domain.models import Customer
from fake_telegram import FakeTelegramServer, FakeUser
from handlers.private_only import PRIVATE_ONLY
from tests.e2e_support import Harness, harness, running_bot, settle
from tests.factories import make_bill
from tests.reliability_support import link_telegram, sql_rows

__all__ = ["harness"]

pytestmark = pytest.mark.timeout(90)

SENDING_METHODS = frozenset(
    {
        "sendmessage",
        "senddocument",
        "sendphoto",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
    }
)


def sent_to_chat(server: FakeTelegramServer, chat_id: int) -> list[tuple[str, str]]:
    """(method, text or caption) of every call the bot made that puts something in a chat."""
    return [
        (call.method.lower(), str(call.params.get("text") or call.params.get("caption") or ""))
        for call in server.calls
        if call.method.lower() in SENDING_METHODS and call.params.get("chat_id") == chat_id
    ]


def assert_only_the_private_chat_line(
    server: FakeTelegramServer, group: FakeUser, expected: int, secrets: tuple[str, ...]
) -> None:
    """The bot put ``expected`` messages in the group, each the one line, and none of
    ``secrets`` anywhere in it."""
    sent = sent_to_chat(server, group.chat_id)
    assert sent == [("sendmessage", PRIVATE_ONLY)] * expected, sent
    shown = "\n".join(m.render() for m in group.messages(include_deleted=True))
    assert [s for s in secrets if s in shown] == []
    assert all(not m.inline_keyboard for m in group.messages())


async def linked_customer(harness: Harness, user: FakeUser) -> Customer:
    customer = await customers.add_customer(
        harness.admin_db,
        meter_number="MTR-31001",
        full_name="Halima Danjuma",
        address="4 Hidden Close, Kano",
    )
    await link_telegram(harness.admin_db, customer.customer_id, user.id)
    await make_bill(harness.admin_db, customer, units="150", rate="68.5")  # ₦10,275.00
    return customer


async def test_a_linked_customers_dashboard_asked_for_in_a_group_gets_only_the_private_chat_line(
    harness: Harness,
) -> None:
    """/dashboard, /bills, /pay, /receipt, /profile and /statement from a group chat: each is
    answered with the one line, and nothing the bot sent there has the customer's name,
    meter, address or balance; in the private chat /dashboard shows them as before."""
    user = harness.server.user(81001, "Halima")
    group = harness.server.group_chat(user, chat_id=-4001, title="Estate residents")
    async with running_bot(harness, messages_per_second=0):
        customer = await linked_customer(harness, user)
        asked = ["/dashboard", "/bills", "/bills all", "/pay", "/receipt", "/profile"]
        for command in asked:
            await group.send(command)
            answer = await group.wait_for_reply()
            assert answer.body == PRIVATE_ONLY, command
        await group.expect_no_reply(0.3)

        await user.send("/dashboard")
        board = await user.wait_for_reply()
    secrets = (
        customer.full_name,
        customer.meter_number,
        "Hidden Close",
        "10,275",
        "Halima",
    )
    assert_only_the_private_chat_line(harness.server, group, len(asked), secrets)
    assert customer.full_name in board.body and "₦10,275.00" in board.body
    # The private chat saw nothing of the group's exchange.
    assert [m.body for m in user.messages()] == [board.body]


async def test_a_staff_customers_list_asked_for_in_a_supergroup_gets_only_the_private_chat_line(
    harness: Harness,
) -> None:
    """A linked admin's /customers, /customer <meter> and /revenue in a supergroup get the
    one line and no customer's data; in the private chat /customers lists them."""
    staff = harness.server.user(81002, "Sade")
    group = harness.server.group_chat(
        staff, chat_id=-1004002, title="Utility staff", chat_type="supergroup"
    )
    names = ("Chukwuma Eze", "Folake Adeyemi")
    for number, name in enumerate(names, start=1):
        await customers.add_customer(
            harness.admin_db,
            meter_number=f"MTR-3200{number}",
            full_name=name,
            address="1 Main Street",
        )
    await admins.create_admin(
        harness.admin_db,
        admin_name="Sade Staff",
        email="sade@utility.example",
        password="a-long-staff-password",
        telegram_user_id=staff.id,
    )
    async with running_bot(harness, messages_per_second=0):
        asked = ["/customers", "/customer MTR-32001", "/revenue", "/outstanding"]
        for command in asked:
            await group.send(command)
            assert (await group.wait_for_reply()).body == PRIVATE_ONLY, command
        await group.expect_no_reply(0.3)

        await staff.send("/customers")
        listing = await staff.wait_for_reply()
    assert_only_the_private_chat_line(
        harness.server, group, len(asked), (*names, "MTR-3200", "Sade")
    )
    assert all(name in listing.body for name in names)


async def test_a_login_or_activation_started_in_a_group_reads_no_meter_number_code_or_password(
    harness: Harness,
) -> None:
    """/login, the meter number and the password typed in a group: one line for the command,
    nothing read (no reply, not linked, no failed login counted, the password message left
    alone); an activation link opened in a group leaves its code unused. The same steps in
    the private chat link the account."""
    user = harness.server.user(81003, "Bayo")
    group = harness.server.group_chat(user, chat_id=-4003, title="Family")
    customer = await customers.add_customer(
        harness.admin_db, meter_number="MTR-33001", full_name="Bayo Ajayi", address="2 Main Street"
    )
    await customers.set_password(harness.admin_db, customer.customer_id, "bayo-secret-pass")
    async with running_bot(harness, messages_per_second=0):
        await group.send("/login")
        assert (await group.wait_for_reply()).body == PRIVATE_ONLY
        await group.send("MTR-33001")
        await group.send("bayo-secret-pass")
        await group.send("wrong-guess-pass")
        await group.expect_no_reply(0.5)
        assert await customers.find_by_telegram(harness.admin_db, user.id) is None
        assert await sql_rows(harness.admin_db, "SELECT * FROM login_throttle") == []
        typed = [m for m in group.history() if not m.from_bot and m.text == "bayo-secret-pass"]
        assert len(typed) == 1 and not typed[0].deleted

        # An activation link opened in the group: the code is not read, so not used up.
        other = await customers.add_customer(
            harness.admin_db,
            meter_number="MTR-33002",
            full_name="Bisi Ajayi",
            address="3 Main Street",
        )
        code = await customers.issue_activation_code(harness.admin_db, other.customer_id)
        await group.send(f"/start {code}")
        assert (await group.wait_for_reply()).body == PRIVATE_ONLY
        await group.send("new-password-123")
        await group.expect_no_reply(0.5)
        assert await customers.check_activation_code(harness.admin_db, code) is not None

        # The same login in the private chat works.
        await user.send("/login")
        await user.wait_for_reply()
        await user.send("MTR-33001")
        await user.wait_for_reply()
        await user.send("bayo-secret-pass")
        welcome = await user.wait_for_reply()
    assert "Welcome, Bayo Ajayi" in welcome.body
    linked = await customers.find_by_telegram(harness.admin_db, user.id)
    assert linked is not None and linked.customer_id == customer.customer_id
    assert_only_the_private_chat_line(harness.server, group, 2, ("MTR-33001", "Bayo Ajayi"))


async def test_a_button_pressed_in_a_group_is_answered_with_the_private_chat_line_only(
    harness: Harness,
) -> None:
    """A callback query from a group (forged pay-confirm and pager data on the bot's message
    there) gets the line as its answer, and no message or edit."""
    user = harness.server.user(81004, "Ifeoma")
    group = harness.server.group_chat(user, chat_id=-4004)
    async with running_bot(harness, messages_per_second=0):
        await linked_customer(harness, user)
        await group.send("/bills")
        line = await group.wait_for_reply()
        for data in ("payok:forged-key", "bills:1", "cancel"):
            await group.press_data(line.message_id, data)
            answer = await group.wait_for_answer()
            assert answer.text == PRIVATE_ONLY, data
        await group.expect_no_reply(0.3)
    assert harness.server.unanswered_callback_queries() == []
    assert_only_the_private_chat_line(harness.server, group, 1, ("Halima", "MTR-31001"))
    assert line.edit_date is None


def _channel_post(chat_id: int, text: str) -> dict[str, Any]:
    channel = {"id": chat_id, "type": "channel", "title": "Estate news"}
    return {
        "channel_post": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": channel,
            "sender_chat": channel,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        }
    }


async def test_group_chatter_and_channel_posts_not_addressed_to_the_bot_get_no_answer(
    harness: Harness,
) -> None:
    """Plain messages in a group, a command for another bot, and channel posts (even a
    command) are not answered at all; a command addressed to this bot by name is."""
    user = harness.server.user(81005, "Tunde")
    group = harness.server.group_chat(user, chat_id=-4005)
    async with running_bot(harness, messages_per_second=0):
        await linked_customer(harness, user)
        await group.send("hello everyone, the lights are back on")
        await group.send("/dashboard@some_other_bot")
        harness.server.queue_raw_update(_channel_post(-1004006, "/dashboard"))
        harness.server.queue_raw_update(_channel_post(-1004006, "what is my balance?"))
        await group.expect_no_reply(0.5)
        await group.send("/dashboard@fake_billing_bot")
        line = await group.wait_for_reply()
        await group.send("MTR-31001")  # …typed as a plain message: not read
        await group.expect_no_reply(0.3)
        await user.send("/help")  # the bot is alive and has handled everything before it
        await user.wait_for_reply()
        await settle(0.3)
    assert line.body == PRIVATE_ONLY
    assert sent_to_chat(harness.server, -1004006) == []
    assert_only_the_private_chat_line(harness.server, group, 1, ("Halima", "10,275"))
