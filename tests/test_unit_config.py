"""Settings read by bot/config.py that issue 14 added: PHONE_REGION and UTILITY_CONTACT."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config, ConfigError, load_config

BASE = {
    "DATABASE_URL": "mysql://admin:pw@127.0.0.1:3306/billing",
    "CUSTOMER_DATABASE_URL": "mysql://customer:pw@127.0.0.1:3306/billing",
}


def config(**env: str) -> Config:
    return load_config(environ={**BASE, **env}, env_file=None)


def test_the_phone_region_defaults_to_the_currency_s_country() -> None:
    """NGN → NG (the default), GHS → GH, KES → KE; a currency of no single country (EUR)
    leaves none, so numbers must carry their country code."""
    assert config().phone_region == "NG"
    assert config(CURRENCY_CODE="GHS", CURRENCY_SYMBOL="₵").phone_region == "GH"
    assert config(CURRENCY_CODE="KES", CURRENCY_SYMBOL="KSh").phone_region == "KE"
    assert config(CURRENCY_CODE="EUR", CURRENCY_SYMBOL="€").phone_region is None


def test_phone_region_as_set_wins_and_a_code_no_one_knows_is_refused() -> None:
    assert config(PHONE_REGION="gh").phone_region == "GH"
    assert config(CURRENCY_CODE="EUR", PHONE_REGION="IE").phone_region == "IE"
    with pytest.raises(ConfigError, match="PHONE_REGION 'Nigeria'"):
        config(PHONE_REGION="Nigeria")


def test_the_utility_contact_is_read_with_its_line_breaks() -> None:
    assert config().utility_contact == ""
    contact = config(UTILITY_CONTACT="Care: 0700 000 0000\\n12 Marina Road").utility_contact
    assert contact == "Care: 0700 000 0000\n12 Marina Road"


def test_every_new_setting_is_documented_in_env_example() -> None:
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text("utf-8")
    for name in ("PHONE_REGION=", "UTILITY_CONTACT=", "STATE_STORE="):
        assert f"\n{name}" in example, name


def test_the_state_store_is_the_file_unless_the_database_is_asked_for() -> None:
    """STATE_STORE (issue 16): file (one process) by default, database for several
    instances; anything else is refused with the two choices."""
    assert config().state_store == "file"
    assert config(STATE_STORE="database").state_store == "database"
    assert config(STATE_STORE="Database").state_store == "database"
    with pytest.raises(ConfigError, match=r"STATE_STORE must be file .* or database"):
        config(STATE_STORE="redis")
