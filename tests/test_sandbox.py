"""``run_bot.py sandbox`` — the README's run command without a token — starts and answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TestDatabase

ROOT = Path(__file__).resolve().parent.parent


def test_the_sandbox_starts_seeds_demo_data_and_answers_start_and_a_login(
    test_database: TestDatabase, tmp_path: Path
) -> None:
    """Drive the terminal chat through its own stdin/stdout as a newcomer would."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database.admin.to_url(),
        "CUSTOMER_DATABASE_URL": test_database.customer.to_url(),
        "DATABASE_ROOT_URL": test_database.root.to_url(),
        "PERSISTENCE_FILE": str(tmp_path / "state.pickle"),
        "BOT_TOKEN": "",
        "PYTHONIOENCODING": "utf-8",
    }
    script = "/start\n/login\nMTR-10001\ndemo-customer-1\n/receipt\n1\n:quit\n"
    done = subprocess.run(
        [sys.executable, "run_bot.py", "sandbox"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**env, "SANDBOX_FILES_DIR": str(tmp_path / "files")},
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Demo logins" in out and "MTR-10001" in out
    assert "Welcome to City Power" in out
    assert "You are logged in to meter MTR-10001" in out
    assert "[1]" in out  # the receipts list shows numbered buttons
    saved = list((tmp_path / "files").glob("receipt-*.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"%PDF")
    assert "Traceback" not in done.stderr


def test_the_sandbox_pays_a_bill_by_card_with_a_test_card(
    test_database: TestDatabase, tmp_path: Path
) -> None:
    """/pay → the bill → in full → Card → the invoice's Pay button, by its number: the local
    server sends the pre-checkout and the payment, and the receipt is saved."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database.admin.to_url(),
        "CUSTOMER_DATABASE_URL": test_database.customer.to_url(),
        "DATABASE_ROOT_URL": test_database.root.to_url(),
        "PERSISTENCE_FILE": str(tmp_path / "state.pickle"),
        "BOT_TOKEN": "",
        "PAYMENT_PROVIDER_TOKEN": "",
        "PYTHONIOENCODING": "utf-8",
        "SANDBOX_FILES_DIR": str(tmp_path / "files"),
    }
    script = "/login\nMTR-10001\ndemo-customer-1\n/pay\n1\n1\n1\n1\n:quit\n"
    done = subprocess.run(
        [sys.executable, "run_bot.py", "sandbox"],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Card payment of" in out and "received" in out, out[-3000:]
    saved = list((tmp_path / "files").glob("receipt-*.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"%PDF")
    assert "Traceback" not in done.stderr
