"""Configuration: one frozen dataclass built from the environment (and a .env file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time as dtime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from domain import validation
from domain.db import DatabaseUrl
from domain.money import Currency
from domain.schema import DEFAULT_MAX_USER_CONNECTIONS

DEFAULT_ROOT_URL = "mysql://root@127.0.0.1:3306"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it and says what to do."""


@dataclass(frozen=True)
class Config:
    bot_token: str | None
    # The Bot API server's root, without "/bot" (bot_api_root); None: Telegram's own.
    bot_api_base_url: str | None
    database: DatabaseUrl
    customer_database: DatabaseUrl
    root_database: DatabaseUrl
    # The host both MySQL accounts are made for (None: the host init-db connects from).
    database_account_host: str | None
    database_max_user_connections: int
    utility_name: str
    # How customers reach the utility (phone, email, office), printed on every receipt.
    utility_contact: str
    currency: Currency
    # The country phone numbers typed without +country code belong to (``NG``); None: every
    # number must be typed with its country code.
    phone_region: str | None
    default_tariff: Decimal
    due_days: int
    timezone: ZoneInfo
    reminder_days: int
    # The local time of day the late-fee run charges overdue bills and tells the customers.
    late_fee_time: dtime
    webhook_secret: str | None
    # Telegram Payments (BotFather → Payments): None, no card payments are offered.
    payment_provider_token: str | None
    # How long an invoice can be paid; after that the pre-checkout is refused.
    invoice_lifetime_minutes: int
    # Where customers send a bank transfer or mobile money (shown in the chat), one line each.
    transfer_details: str
    persistence_file: Path
    # Where conversation state lives: "file" (PERSISTENCE_FILE, one process) or "database"
    # (the chat_states table, read fresh per update: several instances; bot.shared_state).
    state_store: str = "file"

    def __repr__(self) -> str:  # never print the token or passwords
        return (
            f"Config(utility_name={self.utility_name!r}, database={self.database!r}, "
            f"customer_database={self.customer_database!r}, token_set={bool(self.bot_token)}, "
            f"payments={bool(self.payment_provider_token)})"
        )

    __str__ = __repr__

    def require_token(self) -> str:
        if not self.bot_token:
            raise ConfigError(
                "BOT_TOKEN is not set: put the token from @BotFather in .env, "
                "or use `python run_bot.py sandbox` to try the bot without one."
            )
        return self.bot_token


def bot_api_root(raw: str | None) -> str | None:
    """BOT_API_BASE_URL as the server's root, which the bot adds ``/bot<token>`` and
    ``/file/bot<token>`` to: written either as the root (``http://127.0.0.1:8081``) or, as
    PTB and Telegram's docs spell it, with ``/bot`` at the end (``https://api.telegram.org/bot``);
    a trailing slash is ignored. None (unset) means Telegram's own server."""
    if raw is None:
        return None
    value = raw.strip().rstrip("/")
    if value.endswith("/bot"):
        value = value[: -len("/bot")].rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"BOT_API_BASE_URL must be an http(s) URL such as https://api.telegram.org/bot "
            f"or http://127.0.0.1:8081, got {raw!r}."
        )
    return value


def load_config(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Config:
    """Build the configuration; ``environ`` wins over the ``.env`` file."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    def get(name: str, default: str | None = None) -> str | None:
        value = values.get(name)
        return value.strip() if value and value.strip() else default

    def url(name: str, default: str | None = None) -> DatabaseUrl:
        raw = get(name, default)
        if raw is None:
            raise ConfigError(
                f"{name} is not set: add it to .env (see .env.example), "
                "e.g. mysql://user:password@127.0.0.1:3306/electricity_billing"
            )
        try:
            return DatabaseUrl.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} is not a valid mysql:// URL: {exc}") from exc

    def number(name: str, default: str) -> Decimal:
        raw = get(name, default) or default
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:
            raise ConfigError(f"{name} must be a number, got {raw!r}.") from exc
        if not value.is_finite() or value <= 0:
            raise ConfigError(f"{name} must be greater than zero, got {raw!r}.")
        return value

    def integer(name: str, default: int, unit: str = "days") -> int:
        raw = get(name, str(default)) or str(default)
        if not raw.isdigit():
            raise ConfigError(f"{name} must be a whole number of {unit}, got {raw!r}.")
        return int(raw)

    tz_name = get("TIMEZONE", "Africa/Lagos") or "Africa/Lagos"
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"TIMEZONE {tz_name!r} is not a known time zone.") from exc

    currency = Currency(
        code=get("CURRENCY_CODE", "NGN") or "NGN", symbol=get("CURRENCY_SYMBOL", "₦") or "₦"
    )
    phone_region = _phone_region(get("PHONE_REGION"), currency)

    database = url("DATABASE_URL")
    if not database.database:
        raise ConfigError("DATABASE_URL must end with the database name (…:3306/dbname).")
    return Config(
        bot_token=get("BOT_TOKEN"),
        bot_api_base_url=bot_api_root(get("BOT_API_BASE_URL")),
        database=database,
        customer_database=url("CUSTOMER_DATABASE_URL"),
        root_database=url("DATABASE_ROOT_URL", DEFAULT_ROOT_URL),
        database_account_host=get("DATABASE_ACCOUNT_HOST"),
        database_max_user_connections=integer(
            "DATABASE_MAX_USER_CONNECTIONS", DEFAULT_MAX_USER_CONNECTIONS, "connections"
        ),
        utility_name=get("UTILITY_NAME", "City Power & Light") or "",
        utility_contact=(get("UTILITY_CONTACT", "") or "").replace("\\n", "\n"),
        currency=currency,
        phone_region=phone_region,
        default_tariff=number("DEFAULT_TARIFF", "68.50"),
        due_days=integer("DUE_DAYS", 14),
        timezone=timezone,
        reminder_days=integer("REMINDER_DAYS", 3),
        late_fee_time=_time_of_day("LATE_FEE_TIME", get("LATE_FEE_TIME", "06:00") or "06:00"),
        webhook_secret=get("WEBHOOK_SECRET"),
        payment_provider_token=get("PAYMENT_PROVIDER_TOKEN"),
        invoice_lifetime_minutes=integer("INVOICE_LIFETIME_MINUTES", 30, "minutes"),
        transfer_details=(get("TRANSFER_DETAILS", "") or "").replace("\\n", "\n"),
        persistence_file=Path(get("PERSISTENCE_FILE", "data/bot-state.pickle") or ""),
        state_store=_state_store(get("STATE_STORE", "file") or "file"),
    )


STATE_STORES = ("file", "database")


def _state_store(raw: str) -> str:
    value = raw.lower()
    if value not in STATE_STORES:
        raise ConfigError(
            f"STATE_STORE must be file (one bot process, state in PERSISTENCE_FILE) or database "
            f"(several instances, state in the database), got {raw!r}."
        )
    return value


def _time_of_day(name: str, raw: str) -> dtime:
    """``HH:MM`` (24-hour clock) as a time of day."""
    hours, _, minutes = raw.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ConfigError(f"{name} must be a time of day as HH:MM, e.g. 06:00, got {raw!r}.")
    try:
        return dtime(int(hours), int(minutes))
    except ValueError as exc:
        raise ConfigError(f"{name} {raw!r} is not a time of day (00:00 to 23:59).") from exc


def _phone_region(raw: str | None, currency: Currency) -> str | None:
    """PHONE_REGION as set, or else the country of the currency (an ISO 4217 code starts with
    its country's ISO 3166 code: NGN → NG, GHS → GH, KES → KE); None for a currency of no
    single country (EUR)."""
    if raw is not None:
        try:
            return validation.phone_region(raw)
        except ValueError as exc:
            raise ConfigError(
                f"PHONE_REGION {raw!r} is not a country code phone numbers are known for; "
                "use a two-letter code such as NG, GH or KE."
            ) from exc
    try:
        return validation.phone_region(currency.code[:2])
    except ValueError:
        return None
