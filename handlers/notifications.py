"""Messages the bot sends on its own: payments to admins who opted in, new bills and
reminders to customers. Sends go through the application's rate limiter."""

from __future__ import annotations

import logging

from telegram.error import Forbidden, TelegramError

from bot.context import BillingContext
from domain import admins, payments
from handlers.common import esc, month_label

log = logging.getLogger(__name__)


async def notify_admins_of_payment(context: BillingContext, payment_id: int) -> int:
    """Tell each admin who turned notifications on about a payment; return how many were told."""
    receipt = await payments.receipt(context.admin_db, payment_id)
    money = context.config.currency.format
    text = (
        f"💰 Payment {money(receipt.amount_paid)} from {esc(receipt.customer_name)} "
        f"(<code>{esc(receipt.meter_number)}</code>) for {month_label(receipt.billing_month)} "
        f"by {receipt.payment_method.label}. Balance {money(receipt.balance)}. "
        f"Receipt <code>{esc(receipt.receipt_number)}</code>"
    )
    told = 0
    for admin in await admins.to_notify_of_payments(context.admin_db):
        if admin.telegram_user_id is None:
            continue
        try:
            await context.bot.send_message(admin.telegram_user_id, text)
            told += 1
        except Forbidden:
            log.info("admin %s has blocked the bot", admin.admin_id)
        except TelegramError as exc:
            log.warning("could not notify admin %s: %s", admin.admin_id, exc)
    return told
