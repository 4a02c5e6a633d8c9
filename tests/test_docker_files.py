"""Dockerfile, compose.yaml and .dockerignore agree with the repository (Docker itself is not
run here): what the image copies exists, its entrypoint is the script compose relies on, and
secrets and local state stay out of the build context."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_everything_the_image_copies_exists_and_the_entrypoint_runs_init_db_first() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = [
        source
        for line in dockerfile.splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]
    assert sources and all((ROOT / source).exists() for source in sources), sources
    entrypoint = re.search(r'ENTRYPOINT \["sh", "/app/(\S+)"\]', dockerfile)
    assert entrypoint is not None and (ROOT / entrypoint.group(1)).is_file()
    script = (ROOT / entrypoint.group(1)).read_text()
    assert script.index("run_bot.py init-db") < script.index('exec python run_bot.py "$@"')


def test_compose_builds_the_bot_here_and_points_it_at_the_mariadb_service() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert re.search(r"^  mariadb:\n    image: mariadb:", compose, re.M)
    assert re.search(r"^  bot:\n    build: \.\n", compose, re.M)
    urls = re.findall(r"^      (\w+_URL): mysql://.+@mariadb:3306", compose, re.M)
    assert sorted(urls) == ["CUSTOMER_DATABASE_URL", "DATABASE_ROOT_URL", "DATABASE_URL"]


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for entry in (".env", ".venv", "data", "sandbox-files", ".git"):
        assert entry in ignored, entry
    assert "!.env.example" in ignored
