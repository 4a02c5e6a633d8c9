"""Messages the bot sends on its own: payments to admins who opted in, new bills and
reminders to customers. They are marked as bulk sends (``bot.rate_limits``), so the rate
limiter paces them under Telegram's broadcast limit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, TelegramError

from bot.config import Config
from bot.context import BillingApplication, BillingContext
from bot.rate_limits import bulk_sends
from domain import admins, bills, receipts, throttle
from domain.models import Bill
from handlers.common import esc, month_label
from handlers.render.formatting import rate_text, units_text

log = logging.getLogger(__name__)


async def notify_admins_of_payment(context: BillingContext, payment_id: int) -> int:
    """Tell each admin who turned notifications on about a payment; return how many were told."""
    staff = [a for a in await admins.to_notify_of_payments(context.admin_db) if a.telegram_user_id]
    if not staff:  # the usual case: no need to look the payment up
        return 0
    receipt = await receipts.receipt(context.admin_db, payment_id)
    money = context.config.currency.format
    text = (
        f"💰 Payment {money(receipt.amount_paid)} from {esc(receipt.customer_name)} "
        f"(<code>{esc(receipt.meter_number)}</code>) for {month_label(receipt.billing_month)} "
        f"by {receipt.payment_method.label}. Balance {money(receipt.balance)}. "
        f"Receipt <code>{esc(receipt.receipt_number)}</code>"
    )
    told = 0
    for admin in staff:
        assert admin.telegram_user_id is not None
        try:
            with bulk_sends():  # not a reply: paced like any broadcast
                await context.bot.send_message(admin.telegram_user_id, text)
            told += 1
        except Forbidden:
            log.info("admin %s has blocked the bot", admin.admin_id)
        except TelegramError as exc:
            log.warning("could not notify admin %s: %s", admin.admin_id, exc)
    return told


# ---------------------------------------------------------------------------------------------
# Customers: new bills and due-date reminders

REMINDER_JOB = "bill_reminders"
THROTTLE_CLEANUP_JOB = "forget_stale_logins"
REMINDER_TIME = dtime(9, 0)  # local time of the utility
BULK_CONCURRENCY = 8  # sends in flight at once; the rate limiter sets the pace


@dataclass(frozen=True)
class Notice:
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None


PAY_BUTTON = InlineKeyboardMarkup([[InlineKeyboardButton("💳 Pay now", callback_data="menu:pay")]])


def new_bill_notice(chat_id: int, bill: Bill, config: Config) -> Notice:
    money = config.currency.format
    text = (
        f"🧾 <b>New bill for {month_label(bill.billing_month)}</b>\n"
        f"{units_text(bill.units_used)} units × {rate_text(bill.rate_per_unit, config.currency)}"
        f" = <b>{money(bill.total_amount)}</b>\n"
        f"Due by {bill.due_date:%d %b %Y}. Send /pay to pay it."
    )
    return Notice(chat_id, text, PAY_BUTTON)


def corrected_bill_notice(chat_id: int, bill: Bill, config: Config) -> Notice:
    money = config.currency.format
    text = (
        f"✏️ <b>Your bill for {month_label(bill.billing_month)} was corrected</b>\n"
        f"{units_text(bill.units_used)} units × {rate_text(bill.rate_per_unit, config.currency)}"
        f" = {money(bill.total_amount)}\n"
        f"Outstanding: <b>{money(bill.outstanding)}</b>, due by {bill.due_date:%d %b %Y}."
    )
    return Notice(chat_id, text, PAY_BUTTON if bill.outstanding > 0 else None)


def reminder_notice(chat_id: int, bill: Bill, config: Config) -> Notice:
    money = config.currency.format
    text = (
        f"⏰ <b>Reminder</b>: your bill for {month_label(bill.billing_month)} is due on "
        f"{bill.due_date:%d %b %Y}.\nOutstanding: <b>{money(bill.outstanding)}</b>. "
        "Send /pay to pay it."
    )
    return Notice(chat_id, text, PAY_BUTTON)


async def send_one(bot: Bot, notice: Notice) -> bool:
    """Send one notice; a blocked bot or a lost chat is logged, not raised."""
    try:
        await bot.send_message(notice.chat_id, notice.text, reply_markup=notice.markup)
        return True
    except Forbidden:
        log.info("chat %s has blocked the bot", notice.chat_id)
    except TelegramError as exc:
        log.warning("could not send a notice to chat %s: %s", notice.chat_id, exc)
    return False


async def send_many(bot: Bot, notices: Sequence[Notice]) -> int:
    """Send many notices through the bot's rate limiter; return how many arrived.

    Marked as bulk sends, so the rate limiter keeps their pace under Telegram's broadcast
    limit and waits out a 429's retry_after; a few sends in flight at once keep its queue
    short.
    """
    gate = asyncio.Semaphore(BULK_CONCURRENCY)

    async def one(notice: Notice) -> bool:
        async with gate:
            return await send_one(bot, notice)

    with bulk_sends():  # the sends' tasks are made here, so they inherit the marking
        results = await asyncio.gather(*(one(n) for n in notices))
    return sum(results)


async def remind_due_bills(context: BillingContext) -> int:
    """The daily job: remind linked customers of open bills due within the reminder window.

    A bill is claimed in the database before its reminder is sent, so it is reminded at most
    once per due date however often the job runs (or however many bots run it).
    """
    config = context.config
    today = datetime.now(config.timezone).date()
    due = await bills.due_for_reminder(
        context.admin_db, today=today, within_days=config.reminder_days
    )
    notices = [
        reminder_notice(item.telegram_user_id, item.bill, config)
        for item in due
        if await bills.claim_reminder(context.admin_db, item.bill)
    ]
    sent = await send_many(context.bot, notices)
    if notices:
        log.info("sent %d of %d due-date reminders", sent, len(notices))
    return sent


async def forget_stale_logins(context: BillingContext) -> int:
    """The daily job that drops login-throttle rows no longer counting (domain.throttle)."""
    gone = await throttle.forget_stale(context.admin_db)
    if gone:
        log.info("forgot %d stale login-throttle rows", gone)
    return gone


def schedule_jobs(application: BillingApplication) -> None:
    """Run the reminder job, then the login-throttle clean-up, every day at REMINDER_TIME in
    the utility's time zone."""
    queue = application.job_queue
    config = application.bot_data.config
    if queue is None or config is None or queue.get_jobs_by_name(REMINDER_JOB):
        return
    at = REMINDER_TIME.replace(tzinfo=config.timezone)
    queue.run_daily(remind_due_bills, time=at, name=REMINDER_JOB)
    queue.run_daily(forget_stale_logins, time=at, name=THROTTLE_CLEANUP_JOB)
