"""Secrets: the bot token, database passwords, customers' and staff passwords and activation
codes never reach the logs (all of them, at DEBUG, PTB and httpx included) of a full run of
``run_bot.py run``, nor the conversation state it keeps on disk."""

from __future__ import annotations

import logging
import pickle
import signal
from pathlib import Path

import pytest

from bot.log_hygiene import REDACTED, redact_secrets
from domain import admins, customers
from fake_telegram import FakeUser
from tests.e2e_support import Harness, harness
from tests.factories import give_credit, make_bill
from tests.reliability_support import BotProcess, bot_environment, record_figures

__all__ = ["harness"]

FIRST_PASSWORD = "Sunflower-Kettle-42"
SECOND_PASSWORD = "Quartz-Lantern-77"
HALF_CHANGED_PASSWORD = "Velvet-Harbour-19"
STAFF_PASSWORD = "Staff-Orchid-Passphrase-5"


async def say(user: FakeUser, text: str, expect: str = "", timeout: float = 20) -> str:  # noqa: ASYNC109
    """Send ``text``; return the bot's next message (which must contain ``expect``)."""
    await user.send(text)
    reply = await user.wait_for_reply(timeout)
    assert expect in reply.body, reply.body
    return reply.body


async def tap(user: FakeUser, label: str) -> str:
    await user.press(label)
    event = await user.wait_for_event(20, kinds=("message", "edit"))
    assert event.message is not None
    return event.message.body


@pytest.mark.timeout(120)
async def test_no_secret_reaches_the_logs_or_the_saved_conversation_state(
    harness: Harness, tmp_path: Path
) -> None:
    """A customer activates (password twice), logs in on a second phone (a wrong password
    first), changes the password, pays and fetches a receipt; a staff member logs in; three
    people stop half-way through typing passwords; SIGTERM. Nothing secret is in the DEBUG
    log or in the state file."""
    server = harness.server
    customer = await customers.add_customer(
        harness.admin_db, meter_number="MTR-SECRET1", full_name="Sade Secret", address="1 Road"
    )
    bill = await make_bill(harness.admin_db, customer)
    await give_credit(harness.admin_db, bill, bill.total_amount)
    codes = [
        await customers.issue_activation_code(harness.admin_db, customer.customer_id)
        for _ in range(2)
    ]
    half_way = await customers.add_customer(
        harness.admin_db, meter_number="MTR-SECRET2", full_name="Half Way", address="2 Road"
    )
    half_code = await customers.issue_activation_code(harness.admin_db, half_way.customer_id)
    await admins.create_admin(
        harness.admin_db,
        admin_name="Secret Clerk",
        email="clerk.secret@utility.example",
        password=STAFF_PASSWORD,
    )
    phone, second_phone, staff, newcomer = (
        server.user(75000 + i, name) for i, name in enumerate(("Sade", "Tablet", "Clerk", "New"))
    )
    environ = bot_environment(harness.config, server, LOG_LEVEL="DEBUG")
    async with BotProcess(environ, tmp_path, "secrets") as bot:
        await bot.start(server)
        await say(phone, f"/start {codes[0]}", "choose a password")
        await say(phone, FIRST_PASSWORD, "same password again")
        await say(phone, FIRST_PASSWORD, "linked")
        await say(second_phone, "/login", "meter number")
        await say(second_phone, "MTR-SECRET1", "password")
        await say(second_phone, FIRST_PASSWORD + "x", "do not match")
        await say(second_phone, "/login", "meter number")
        await say(second_phone, "MTR-SECRET1", "password")
        await say(second_phone, FIRST_PASSWORD, "logged in")
        await say(second_phone, "/password", "current password")
        await say(second_phone, FIRST_PASSWORD, "new password")
        await say(second_phone, SECOND_PASSWORD, "again")
        await say(second_phone, SECOND_PASSWORD, "changed")
        await say(second_phone, "/pay", "Which bill")
        await tap(second_phone, "owed")
        await tap(second_phone, "Pay in full")
        await tap(second_phone, "Account credit")
        await second_phone.press("Confirm payment")
        await second_phone.wait_for_reply(20, predicate=lambda m: m.document is not None)
        await say(staff, "/adminlogin", "email")
        await say(staff, "clerk.secret@utility.example", "password")
        await say(staff, STAFF_PASSWORD, "Welcome")
        await say(staff, "/customers", "Customers")
        # Three people stop half-way: their flows are saved as they are.
        await say(second_phone, "/password", "current password")
        await say(second_phone, SECOND_PASSWORD, "new password")
        await say(second_phone, HALF_CHANGED_PASSWORD, "again")
        await say(newcomer, f"/start {half_code}", "choose a password")
        await say(newcomer, HALF_CHANGED_PASSWORD, "same password again")
        await say(phone, "/login", "meter number")
        await say(phone, "MTR-SECRET1", "password")
        bot.send_signal(signal.SIGTERM)
        assert await bot.wait(30) == 0
        output = bot.output()

    typed = [m for u in (phone, second_phone, staff, newcomer) for m in u.history()]
    every_password = {FIRST_PASSWORD, FIRST_PASSWORD + "x", SECOND_PASSWORD, STAFF_PASSWORD}
    password_messages = [m for m in typed if m.text in every_password | {HALF_CHANGED_PASSWORD}]
    assert len(password_messages) == 11 and all(m.deleted for m in password_messages)
    database = harness.config.database
    secrets = {
        "bot token": server.token,
        "admin database password": database.password,
        "customer database password": harness.config.customer_database.password,
        "customer password": FIRST_PASSWORD,
        "changed password": SECOND_PASSWORD,
        "password typed half-way": HALF_CHANGED_PASSWORD,
        "staff password": STAFF_PASSWORD,
        "activation code": codes[0],
        "unused activation code": half_code,
    }
    assert all(len(value) >= 8 for value in secrets.values())
    in_log = [name for name, value in secrets.items() if value in output]
    assert in_log == [], f"{in_log} found in the log"
    # The log is the real thing: DEBUG from PTB and the HTTP client, the token redacted.
    assert "DEBUG telegram.ext" in output and "Set Bot API URL" in output
    assert REDACTED in output

    state_file = harness.config.persistence_file
    raw = state_file.read_bytes()
    state = pickle.loads(raw)  # noqa: S301 - the file the bot under test just wrote
    flat = repr(state)
    # An activation left half-way keeps only the code's hash, never the code.
    in_state = [n for n, v in secrets.items() if v.encode() in raw or v in flat]
    assert in_state == [], f"{in_state} found in the conversation state"
    assert "pending_password_hash" in flat  # the half-way flows were saved, as hashes
    record_figures(
        "secrets",
        {
            "log_lines_at_debug": output.count("\n"),
            "log_bytes": len(output),
            "secrets_checked": len(secrets),
            "secrets_found_in_log": 0,
            "secrets_found_in_state_file": 0,
            "state_file_bytes": len(raw),
            "redactions_in_log": output.count(REDACTED),
        },
    )


def test_a_record_naming_a_secret_is_redacted_whatever_logger_and_argument_carry_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The filter works on every record: a message argument, an exception, any logger."""
    token = "987654321:SECRET-token-for-redaction"
    redact_secrets(token)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").info("HTTP Request: POST http://x/bot%s/getMe", token)
        try:
            raise RuntimeError(f"call to /bot{token}/sendMessage failed")
        except RuntimeError:
            logging.getLogger("some.library").exception("failed")
        logging.getLogger("telegram.ext.Application").debug(
            "Processing update %s", "text with a password in it"
        )
    text = caplog.text
    assert token not in text and text.count(REDACTED) >= 2
    assert "password in it" not in text
