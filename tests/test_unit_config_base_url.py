"""BOT_API_BASE_URL (issue 14 G): the server's root or the same URL ending in ``/bot`` (as
Telegram's docs and .env.example's comment write Telegram's own) both work."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.application import build_application
from bot.config import Config, ConfigError, load_config
from fake_telegram import FakeTelegramServer

ENVIRON = {
    "BOT_TOKEN": "123456:TEST-token",
    "DATABASE_URL": "mysql://ebb_admin:secret@127.0.0.1:3306/electricity_billing",
    "CUSTOMER_DATABASE_URL": "mysql://ebb_customer:secret@127.0.0.1:3306/electricity_billing",
}


def config_with(
    base_url: str | None, tmp_path: Path | None = None, token: str | None = None
) -> Config:
    environ = dict(ENVIRON)
    if token is not None:
        environ["BOT_TOKEN"] = token
    if base_url is not None:
        environ["BOT_API_BASE_URL"] = base_url
    if tmp_path is not None:
        environ["PERSISTENCE_FILE"] = str(tmp_path / "state.pickle")
    return load_config(environ=environ, env_file=None)


@pytest.mark.parametrize(
    ("written", "root"),
    [
        ("https://api.telegram.org/bot", "https://api.telegram.org"),
        ("https://api.telegram.org/bot/", "https://api.telegram.org"),
        ("https://api.telegram.org", "https://api.telegram.org"),
        ("https://api.telegram.org/", "https://api.telegram.org"),
        ("  http://127.0.0.1:8081/bot  ", "http://127.0.0.1:8081"),
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://proxy.example/telegram/bot", "http://proxy.example/telegram"),
        ("http://proxy.example/telegram", "http://proxy.example/telegram"),
    ],
)
def test_the_base_url_is_read_with_or_without_bot_at_the_end(written: str, root: str) -> None:
    assert config_with(written).bot_api_base_url == root


@pytest.mark.parametrize("written", [None, "", "   "])
def test_no_base_url_means_telegrams_own_server(written: str | None) -> None:
    config = config_with(written)
    assert config.bot_api_base_url is None
    # PTB's own default then: https://api.telegram.org/bot<token>
    assert build_application(config).bot.base_url.startswith("https://api.telegram.org/bot123456")


@pytest.mark.parametrize("written", ["api.telegram.org/bot", "ftp://example.org/bot", "/bot"])
def test_a_base_url_that_is_not_http_is_refused_by_name(written: str) -> None:
    with pytest.raises(ConfigError, match="BOT_API_BASE_URL"):
        config_with(written)


@pytest.mark.parametrize("suffix", ["", "/", "/bot", "/bot/"])
def test_the_bot_calls_the_same_urls_for_both_forms(suffix: str, tmp_path: Path) -> None:
    config = config_with("http://127.0.0.1:8081" + suffix, tmp_path)
    bot = build_application(config).bot
    assert bot.base_url == "http://127.0.0.1:8081/bot123456:TEST-token"
    assert bot.base_file_url == "http://127.0.0.1:8081/file/bot123456:TEST-token"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("suffix", ["", "/bot"])
async def test_the_bot_starts_and_answers_with_either_form(suffix: str, tmp_path: Path) -> None:
    """getMe and getUpdates go through: the bot comes up (no database needed for that)."""
    async with FakeTelegramServer() as server:
        config = config_with(server.url + suffix, tmp_path, server.token)
        application = build_application(config)
        async with application:  # initialize() calls getMe, as run_polling does
            assert application.bot.username
        assert server.calls_to("getMe")
