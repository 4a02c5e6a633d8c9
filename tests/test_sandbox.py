"""``run_bot.py sandbox`` — the README's run command without a token — driven through its own
stdin/stdout as a newcomer would: it starts, answers, and survives what newcomers type."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain import schema
from domain.db import Database
from tests.conftest import TestDatabase, make_test_database
from tests.factories import fetch_dicts

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def own_database() -> Iterator[TestDatabase]:
    """A database of its own: what one sandbox run pays or changes cannot move another's."""
    created = make_test_database()
    try:
        yield created
    finally:
        schema.drop_db(created.root, created.admin, created.customer)


def run_sandbox(
    database: TestDatabase, tmp_path: Path, script: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database.admin.to_url(),
        "CUSTOMER_DATABASE_URL": database.customer.to_url(),
        "DATABASE_ROOT_URL": database.root.to_url(),
        "PERSISTENCE_FILE": str(tmp_path / "state.pickle"),
        "BOT_TOKEN": "",
        "PAYMENT_PROVIDER_TOKEN": "",
        "PYTHONIOENCODING": "utf-8",
        "SANDBOX_FILES_DIR": str(tmp_path / "files"),
        **extra_env,
    }
    done = subprocess.run(
        [sys.executable, "run_bot.py", "sandbox"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return done


def test_the_sandbox_starts_seeds_demo_data_and_answers_start_and_a_login(
    test_database: TestDatabase, tmp_path: Path
) -> None:
    """The chats start logged in (the banner says as whom), and /login works as on a phone."""
    script = "/start\n/login\nMTR-10001\ndemo-customer-1\n/receipt\n1\n:quit\n"
    out = run_sandbox(test_database, tmp_path, script).stdout
    assert "Demo logins" in out and "MTR-10001" in out
    assert "You are in the customer chat, logged in as meter MTR-10001" in out
    assert "staff chat, logged in as admin@demo.example" in out
    assert "Welcome back, Amina Bello" in out  # /start: already logged in
    assert "You are logged in to meter MTR-10001" in out
    assert "[1]" in out  # the receipts list shows numbered buttons
    saved = list((tmp_path / "files").glob("receipt-*.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"%PDF")


def test_the_sandbox_pays_a_bill_by_card_with_a_test_card(
    test_database: TestDatabase, tmp_path: Path
) -> None:
    """/pay → the bill → in full → Card → the invoice's Pay button, by its number: the local
    server sends the pre-checkout and the payment, and the receipt is saved."""
    script = "/login\nMTR-10001\ndemo-customer-1\n/pay\n1\n1\n1\n1\n:quit\n"
    out = run_sandbox(test_database, tmp_path, script).stdout
    assert "Card payment of" in out and "received" in out, out[-3000:]
    saved = list((tmp_path / "files").glob("receipt-*.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"%PDF"), out[-3000:]


def test_a_button_number_no_longer_on_screen_says_so_and_the_sandbox_goes_on(
    own_database: TestDatabase, tmp_path: Path
) -> None:
    """A number whose button an edit took away (Cancel pressed), and one typed in the staff
    chat where no buttons were ever shown (the customer chat's are not its): "no such
    button", no traceback, and the next command is answered."""
    script = "/pay\n3\n1\n:admin\n1\n/customers\n:quit\n"
    out = run_sandbox(own_database, tmp_path, script).stdout
    assert "Cancelled. Nothing was changed." in out
    assert out.count("(no such button: 1; no buttons on screen)") == 2, out[-3000:]
    assert out.index("Tap a meter for the details") > out.rindex("no such button")


def test_upload_sends_a_csv_from_disk_to_importbills(
    own_database: TestDatabase, tmp_path: Path
) -> None:
    """:upload FILE in the staff chat after /importbills: the bot reads the file and issues
    the bills; a file that cannot be read is said so and nothing is sent."""
    bills = tmp_path / "bills.csv"
    bills.write_text("meter_number,billing_month,units_used\nMTR-10002,2020-01,95.5\n")
    script = f":admin\n/importbills\n:upload {tmp_path / 'missing.csv'}\n:upload {bills}\n:quit\n"
    out = run_sandbox(own_database, tmp_path, script).stdout
    assert "cannot read" in out and "missing.csv" in out
    assert "(sent bills.csv, " in out
    assert "Imported 1 bills totalling" in out, out[-3000:]


def test_a_message_in_the_other_chat_is_shown_and_logs_stay_out_of_the_chat(
    own_database: TestDatabase, tmp_path: Path
) -> None:
    """Bills imported in the staff chat: the new-bill notice the bot sends to the customer
    chat meanwhile is printed, marked as the customer chat's, its button not numbered; back
    there, the button is listed by number. With LOG_LEVEL=INFO the log lines go to the log
    file, not to the terminal."""
    bills = tmp_path / "bills.csv"
    bills.write_text("meter_number,billing_month,units_used\nMTR-10001,2020-01,120\n")
    script = f":admin\n/importbills\n:upload {bills}\n:customer\n:quit\n"
    done = run_sandbox(own_database, tmp_path, script, LOG_LEVEL="INFO")
    out = done.stdout
    # The notice is the caption of the bill's statement, saved as a file (issue 15 §5).
    notice = out.index("bot, in the customer chat (:customer to go there):\n  [file saved: ")
    assert out.index("statement-2020-01-MTR-10001.pdf]\n  🧾 New bill", notice) > notice
    assert out.index("Now in the staff chat.") < notice < out.index("Now in the customer chat.")
    assert "  [ 💳 Pay now ]" in out
    assert "Buttons on screen: [1] 💳 Pay now" in out
    terminal = out + done.stderr
    assert " INFO " not in terminal and " WARNING " not in terminal, terminal[-3000:]
    log = (tmp_path / "files" / "sandbox.log").read_text()
    assert "bulk billing: notified 1 of 1 customers" in log and "database pools closed" in log


def test_a_number_at_a_text_prompt_is_sent_as_text_and_hash_n_presses(
    own_database: TestDatabase, tmp_path: Path
) -> None:
    """At the amount prompt (which shows a Cancel button) "5" is the amount, not Cancel; at
    the method choice (buttons only) "2" presses button 2; at the reference prompt "#1"
    presses Cancel."""
    script = "/pay\n1\n2\n5\n2\n#1\n:quit\n"
    out = run_sandbox(own_database, tmp_path, script).stdout
    assert "How will you pay ₦5.00?" in out, out[-3000:]
    assert "(pressed: 📱 Mobile money)" in out
    assert out.count("(pressed: ✖ Cancel)") == 1
    assert out.rindex("Cancelled. Nothing was changed.") > out.index("(pressed: ✖ Cancel)")
    assert "a number is sent as text now; #N presses button N" in out


def test_the_banner_stops_showing_a_demo_password_once_it_is_changed(
    own_database: TestDatabase, tmp_path: Path
) -> None:
    """/password in the sandbox, then a restart: the chat is still logged in and the banner
    no longer offers the old password for that account (the others keep theirs)."""
    change = "/password\ndemo-customer-1\nnew-secret-9\nnew-secret-9\n:quit\n"
    assert "Your password has been changed." in run_sandbox(own_database, tmp_path, change).stdout
    out = run_sandbox(own_database, tmp_path, ":quit\n").stdout
    assert "logged in as meter MTR-10001" in out
    lines = {line.split()[1]: line for line in out.splitlines() if "MTR-1000" in line[:30]}
    assert "(password changed here)" in lines["MTR-10001"]
    assert "password demo-customer-1" in lines["MTR-10002"]


def test_the_sandbox_refuses_a_configuration_with_a_bot_token(
    test_database: TestDatabase, tmp_path: Path
) -> None:
    """A configuration with BOT_TOKEN is a real bot's: the sandbox, which seeds demo accounts
    with published passwords linked to fixed Telegram ids, refuses it and adds nothing."""
    admins_before = asyncio.run(_count_admins(test_database))
    env = {
        **os.environ,
        "DATABASE_URL": test_database.admin.to_url(),
        "CUSTOMER_DATABASE_URL": test_database.customer.to_url(),
        "PERSISTENCE_FILE": str(tmp_path / "state.pickle"),
        "BOT_TOKEN": "123456:real-bot-token",
    }
    done = subprocess.run(
        [sys.executable, "run_bot.py", "sandbox"],
        input=":quit\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode != 0
    assert "does not run with BOT_TOKEN set" in done.stderr + done.stdout
    assert "123456:real-bot-token" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    assert asyncio.run(_count_admins(test_database)) == admins_before  # no demo staff added


async def _count_admins(database: TestDatabase) -> int:
    db = await Database.connect(database.admin, minsize=1, maxsize=1)
    try:
        [row] = await fetch_dicts(db, "SELECT COUNT(*) AS n FROM admins")
        return int(row["n"])
    finally:
        await db.close()
