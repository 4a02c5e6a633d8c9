""".env holds both database passwords and the bot token: scripts/run.sh creates it readable by
its owner only and narrows one that others can read. The real run.sh and common.sh run in a
throw-away copy of the repository, with stand-ins for MariaDB's ping and for ``run_bot.py``
(so no database is touched and no bot starts)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Stands in for .venv/bin/python: the real interpreter for run.sh's one-liners (the passwords
# it generates), nothing for run_bot.py, and an empty BOT_TOKEN so run.sh picks the sandbox.
FAKE_PYTHON = f"""#!/bin/sh
if [ "$1" = "-c" ]; then
    case "$2" in
        *load_config*) echo ""; exit 0 ;;
        *) exec {sys.executable} "$@" ;;
    esac
fi
echo "$*" >> run_bot.calls
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what run.sh needs, with its venv already 'installed' and MariaDB 'up'."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("scripts/run.sh", "scripts/common.sh", ".env.example", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    python = root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    digest = hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (root / ".venv" / f".installed-{digest}").touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    mysqladmin = bin_dir / "mysqladmin"
    mysqladmin.write_text("#!/bin/sh\nexit 0\n")
    mysqladmin.chmod(0o755)
    return root


def run_script(root: Path, umask: int = 0o022) -> str:
    """``bash scripts/run.sh`` in the copy under ``umask``; its output."""
    env = {**os.environ, "PATH": f"{root.parent / 'bin'}:{os.environ['PATH']}"}
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run(  # noqa: S603 - the repository's own script, in a copy
        [bash, "-c", f"umask {umask:03o} && exec bash scripts/run.sh"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "init-db" in (root / "run_bot.calls").read_text()  # it went on to start the bot
    return result.stdout


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_new_env_file_is_readable_by_its_owner_only(checkout: Path, umask: int) -> None:
    """With the usual umask and with none at all, .env is created 0600, with real passwords
    in it, and no temporary file is left beside it."""
    output = run_script(checkout, umask)
    env_file = checkout / ".env"
    assert oct(mode(env_file)) == oct(0o600)
    text = env_file.read_text()
    assert "change-me-admin" not in text and "change-me-customer" not in text
    assert "creating .env" in output
    assert sorted(p.name for p in checkout.glob(".env*")) == [".env", ".env.example"]


def test_an_env_file_others_can_read_is_narrowed_to_0600_with_a_notice(checkout: Path) -> None:
    """A 0644 .env (an older run.sh, a copy) becomes 0600, unchanged otherwise, and says so."""
    env_file = checkout / ".env"
    env_file.write_text("BOT_TOKEN=\nDATABASE_URL=mysql://billing_admin:s3cret@127.0.0.1/x\n")
    env_file.chmod(0o644)
    before = env_file.read_text()
    output = run_script(checkout)
    assert oct(mode(env_file)) == oct(0o600)
    assert env_file.read_text() == before
    notices = [line for line in output.splitlines() if ".env" in line]
    assert notices == ["==> .env was readable by others (mode 644); changed it to 600"]


def test_a_private_env_file_is_left_alone_without_a_notice(checkout: Path) -> None:
    """0600 (or the owner-only 0400) is kept as it is, and nothing is printed about it."""
    env_file = checkout / ".env"
    env_file.write_text("BOT_TOKEN=\n")
    env_file.chmod(0o400)
    output = run_script(checkout)
    assert oct(mode(env_file)) == oct(0o400)
    assert ".env" not in output
