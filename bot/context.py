"""The typed context every handler receives: configuration and the two database pools."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot, filters

from bot.config import Config
from domain.db import Database
from handlers.render.receipt_renderer import ReceiptRenderer


class BotData:
    """Process-wide resources. Not persisted: pools are made in post_init, closed on shutdown."""

    def __init__(self) -> None:
        self.config: Config | None = None
        self.admin_db: Database | None = None
        self.customer_db: Database | None = None
        # The admin account again, for recording card charges alone: money a provider took
        # is never acknowledged late because other work holds every connection.
        self.payments_db: Database | None = None
        # Draws receipt PDFs in worker processes (made with the application, closed on
        # shutdown).
        self.receipt_renderer: ReceiptRenderer | None = None
        # Telegram ids of linked admins: routes staff commands to the staff handlers. Each
        # handler still checks the admin and role in the database.
        self.admin_filter = filters.User(allow_empty=False)


class BillingContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """``context.config``, ``context.admin_db`` and ``context.customer_db`` for handlers."""

    @property
    def config(self) -> Config:
        config = self.bot_data.config
        if config is None:
            raise RuntimeError("the application was built without a configuration")
        return config

    @property
    def flow(self) -> dict[Any, Any]:
        """What the current conversation keeps for this user (persisted; never a password)."""
        if self.user_data is None:  # updates without a user (channel posts) carry no flow
            return {}
        return self.user_data

    @property
    def admin_db(self) -> Database:
        if self.bot_data.admin_db is None:
            raise RuntimeError("database pools are created in post_init")
        return self.bot_data.admin_db

    @property
    def payments_db(self) -> Database:
        if self.bot_data.payments_db is None:
            raise RuntimeError("database pools are created in post_init")
        return self.bot_data.payments_db

    @property
    def customer_db(self) -> Database:
        if self.bot_data.customer_db is None:
            raise RuntimeError("database pools are created in post_init")
        return self.bot_data.customer_db


CONTEXT_TYPES = ContextTypes(context=BillingContext, bot_data=BotData)
BillingApplication = Application[
    ExtBot[None], BillingContext, dict[Any, Any], dict[Any, Any], BotData, Any
]
