"""Messages the bot sends on its own: payments and repaired report totals to admins who opted
in, new bills and reminders to customers; and the daily jobs that send some of them. They
are marked as bulk sends (``bot.rate_limits``), so the rate limiter paces them under
Telegram's broadcast limit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from datetime import time as dtime
from decimal import Decimal
from functools import partial

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, TelegramError

from bot.config import Config
from bot.context import BillingApplication, BillingContext
from bot.rate_limits import bulk_sends
from domain import admins, bills, late_fees, once, receipts, report_totals, throttle
from domain.errors import DatabaseUnavailable
from domain.models import Bill
from domain.money import bill_total
from domain.report_totals import BILL_TOTALS, CUSTOMER_BALANCES, PAYMENT_TOTALS, Drift
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
LATE_FEE_JOB = "late_fees"
THROTTLE_CLEANUP_JOB = "forget_stale_logins"
RECOUNT_JOB = "recount_report_totals"
REMINDER_TIME = dtime(9, 0)  # local time of the utility
# Local time too: at night, when few payments wait on it, and before the day's reports.
RECOUNT_TIME = dtime(3, 0)
BULK_CONCURRENCY = 8  # sends in flight at once; the rate limiter sets the pace


@dataclass(frozen=True)
class Attachment:
    """A document sent with a notice (a bill's statement), the notice its caption."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Notice:
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None = None
    # Drawn just before the notice is sent (so a bulk send holds a few documents at a time,
    # not one per customer); the notice goes as its caption.
    attachment: Callable[[], Awaitable[Attachment]] | None = None
    # Called just before the notice is sent: False means it is not to be sent (another run
    # claimed it). Claimed one by one as they go, so a run that dies half-way leaves only the
    # few notices then in flight claimed and unsent.
    claim: Callable[[], Awaitable[bool]] | None = None


PAY_BUTTON = InlineKeyboardMarkup([[InlineKeyboardButton("💳 Pay now", callback_data="menu:pay")]])


def figures_html(bill: Bill, config: Config, *, more: str) -> str:
    """How a bill's total is made, for a notice: ``250 units × ₦68.50 = <b>₦17,125.00</b>``
    when it is units × rate; a bill of several lines (bands, fixed charge, tax, a late fee)
    does not multiply out, so it reads ``200 units, total <b>₦4,837.50</b>`` and ``more``
    says where its lines are."""
    currency = config.currency
    total = f"<b>{currency.format(bill.total_amount)}</b>"
    if bill_total(bill.units_used, bill.rate_per_unit) == bill.total_amount:
        rate = rate_text(bill.rate_per_unit, currency)
        return f"{units_text(bill.units_used)} units × {rate} = {total}"
    return f"{units_text(bill.units_used)} units, total {total} ({more})"


def new_bill_notice(chat_id: int, bill: Bill, config: Config) -> Notice:
    text = (
        f"🧾 <b>New bill for {month_label(bill.billing_month)}</b>\n"
        f"{figures_html(bill, config, more='each line is on its statement')}\n"
        f"Due by {bill.due_date:%d %b %Y}. Send /pay to pay it."
    )
    return Notice(chat_id, text, PAY_BUTTON)


def corrected_bill_notice(chat_id: int, bill: Bill, config: Config) -> Notice:
    money = config.currency.format
    more = f"/statement {bill.billing_month:%Y-%m} shows each line"
    text = (
        f"✏️ <b>Your bill for {month_label(bill.billing_month)} was corrected</b>\n"
        f"{figures_html(bill, config, more=more)}\n"
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


async def _attachment(notice: Notice) -> Attachment | None:
    """The notice's document, drawn; None (the notice goes as text) if it cannot be drawn."""
    if notice.attachment is None:
        return None
    try:
        return await notice.attachment()
    except Exception:  # the notice still goes out, without its document
        log.exception("could not draw the document of a notice to chat %s", notice.chat_id)
        return None


async def send_one(bot: Bot, notice: Notice) -> bool:
    """Send one notice (with its document, if it has one); a blocked bot or a lost chat is
    logged, not raised. A notice whose claim is refused is not sent (False)."""
    if notice.claim is not None and not await notice.claim():
        return False
    try:
        attached = await _attachment(notice)
        if attached is not None:
            await bot.send_document(
                notice.chat_id,
                document=attached.data,
                filename=attached.filename,
                caption=notice.text,
                reply_markup=notice.markup,
            )
        else:
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

    Each bill is claimed in the database just before its reminder is sent, so it is reminded
    at most once per due date however often the job runs (or however many bots run it). A
    run that dies half-way is run again (``finish_abandoned_jobs``): the bills not yet
    claimed are reminded then, and the few claimed and in flight at the death are not
    reminded again — a reminder lost rather than sent twice (a courtesy, not money).
    """
    config = context.config
    db = context.admin_db
    today = datetime.now(config.timezone).date()
    due = await bills.due_for_reminder(db, today=today, within_days=config.reminder_days)
    notices = [
        replace(
            reminder_notice(item.telegram_user_id, item.bill, config),
            claim=partial(bills.claim_reminder, db, item.bill),
        )
        for item in due
    ]
    sent = await send_many(context.bot, notices)
    if notices:
        log.info("sent %d of %d due-date reminders", sent, len(notices))
    return sent


def late_fee_notice(item: late_fees.FeeNotice, config: Config) -> Notice:
    money = config.currency.format
    bill = item.bill
    text = (
        f"⚠️ <b>Late fee on your bill for {month_label(bill.billing_month)}</b>\n"
        f"It was due on {bill.due_date:%d %b %Y} and {money(item.overdue)} was still owed, "
        f"so a late fee of <b>{money(item.fee)}</b> was added.\n"
        f"Outstanding now: <b>{money(bill.outstanding)}</b>. Send /pay to pay it."
    )
    return Notice(item.telegram_user_id, text, PAY_BUTTON)


async def charge_late_fees(context: BillingContext) -> late_fees.RunResult:
    """The daily job: the late-fee run of today (domain.late_fees.run; safe to repeat, and
    resumed after a restart), then a notice to each linked customer of a fee not yet told
    (claimed in the database first, so each is told at most once)."""
    config = context.config
    today = datetime.now(config.timezone).date()
    result = await late_fees.run(context.admin_db, today)
    if result.charged:
        log.info("late-fee run of %s charged %d fees", today, result.charged)
    notices = [
        late_fee_notice(item, config)
        for item in await late_fees.claim_notices(context.admin_db, today)
    ]
    sent = await send_many(context.bot, notices)
    if notices:
        log.info("told %d of %d customers of their late fee", sent, len(notices))
    return result


async def forget_stale_rows(context: BillingContext) -> int:
    """The daily clean-up: drops login-throttle rows no longer counting (domain.throttle),
    the ids of updates too old to be delivered again and old job runs (domain.once)."""
    db = context.admin_db
    gone = await throttle.forget_stale(db)
    if gone:
        log.info("forgot %d stale login-throttle rows", gone)
    updates = await once.forget_old_updates(db)
    runs = await once.forget_old_job_runs(db, today=datetime.now(context.config.timezone).date())
    if updates or runs:
        log.info("forgot %d processed update ids and %d old job runs", updates, runs)
    return gone + updates + runs


# ---------------------------------------------------------------------------------------------
# Staff: the daily recount of the report totals

LISTED = 6  # billing months or payment days named in a recount notice


def recount_notice_text(drift: Sequence[Drift], config: Config) -> str:
    """What the daily recount repaired, report by report, for the staff who opted in."""
    money = config.currency.format

    def amount(value: Decimal) -> str:
        return f"+{money(value)}" if value > 0 else money(value)

    def count(value: Decimal, noun: str) -> str:
        return f"{int(value):+d} {noun}{'' if abs(value) == 1 else 's'}"

    def named(found: list[str]) -> str:
        return ", ".join(found[:LISTED]) + (" …" if len(found) > LISTED else "")

    lines = [
        "🧮 <b>Report totals repaired</b>",
        "The daily recount found report totals that did not match the bills and payments, "
        "and corrected them:",
    ]
    if any(found.totals == BILL_TOTALS for found in drift):
        change = report_totals.net_change(drift, BILL_TOTALS)
        months = sorted(
            {found.key["billing_month"] for found in drift if found.totals == BILL_TOTALS}
        )
        lines += [
            f"• /outstanding {amount(change['owed'])}, {count(change['open_bills'], 'open bill')}",
            f"• /trend billed {amount(change['billed'])} on {count(change['bills'], 'bill')}, "
            f"collected {amount(change['collected'])} ({named([month_label(m) for m in months])})",
        ]
    if any(found.totals == PAYMENT_TOTALS for found in drift):
        change = report_totals.net_change(drift, PAYMENT_TOTALS)
        days = sorted(
            {found.key["payment_date"] for found in drift if found.totals == PAYMENT_TOTALS}
        )
        lines.append(
            f"• /revenue {amount(change['amount'])}, {count(change['payments'], 'payment')} "
            f"({named([f'{day:%d %b %Y}' for day in days])})"
        )
    balances = sum(found.totals == CUSTOMER_BALANCES for found in drift)
    if balances:
        lines.append(f"• {balances} customer balance{'' if balances == 1 else 's'} (top debtors)")
    lines.append(
        "Rows were changed where the database's triggers do not see them (deleted by hand, "
        "loaded with the triggers set aside, or the totals edited). /audit has the details."
    )
    return "\n".join(lines)


async def recount_report_totals(context: BillingContext) -> list[Drift]:
    """The daily check: repair the report totals that differ from the bills and payments
    (``report_totals.rebuild``, which writes the audit entry) and tell the staff who turned
    notifications on. When nothing differs, a log line says so; no message, no audit entry."""
    drift = await report_totals.rebuild(context.admin_db, source="daily check")
    if not drift:
        log.info("daily recount: the report totals match the bills and payments")
        return drift
    log.warning("daily recount repaired %d report totals that differed from the rows", len(drift))
    text = recount_notice_text(drift, context.config)
    staff = await admins.to_notify_of_payments(context.admin_db)
    await send_many(
        context.bot, [Notice(a.telegram_user_id, text) for a in staff if a.telegram_user_id]
    )
    return drift


# ---------------------------------------------------------------------------------------------
# The daily jobs, once a day across every instance (issue 16)

DAILY_JOBS: dict[str, Callable[[BillingContext], Awaitable[object]]] = {
    REMINDER_JOB: remind_due_bills,
    THROTTLE_CLEANUP_JOB: forget_stale_rows,
    RECOUNT_JOB: recount_report_totals,
    LATE_FEE_JOB: charge_late_fees,
}
TAKEOVER_JOB = "finish_abandoned_jobs"
TAKEOVER_INTERVAL = 60  # seconds between two looks for jobs an instance left half-way


async def _once_today(context: BillingContext, name: str) -> None:
    """Run the daily job ``name`` unless its run of today (local date) is finished or held
    by another instance (domain.once.run_once)."""
    today = datetime.now(context.config.timezone).date()
    job = DAILY_JOBS[name]
    if not await once.run_once(context.admin_db, name, today, lambda: job(context)):
        log.info("daily job %s of %s: done or under way on another instance", name, today)


async def run_daily_job(context: BillingContext) -> None:
    """What the job queue calls at a daily job's time, in every instance: the job itself
    runs once a day, in the instance that claims it first."""
    assert context.job is not None and context.job.name is not None
    await _once_today(context, context.job.name)


async def finish_abandoned_jobs(context: BillingContext) -> None:
    """Every minute: run again, and finish, today's jobs whose instance stopped half-way
    (its lease ran out unfinished: it died, lost the database, or the job failed)."""
    today = datetime.now(context.config.timezone).date()
    try:
        abandoned = await once.abandoned_jobs(context.admin_db, today)
    except DatabaseUnavailable:  # looked for again in a minute
        log.warning("could not look for abandoned daily jobs: the database is unavailable")
        return
    for name in abandoned:
        if name in DAILY_JOBS:
            log.warning("taking over daily job %s of %s, left unfinished", name, today)
            await _once_today(context, name)


def schedule_jobs(application: BillingApplication) -> None:
    """Every day in the utility's time zone: the reminder job, then the clean-up, at
    REMINDER_TIME; the recount of the report totals at RECOUNT_TIME; the late-fee run at the
    configured LATE_FEE_TIME. Each runs once a day across all instances; every minute each
    instance looks for a run of today that another left half-way, and finishes it."""
    queue = application.job_queue
    config = application.bot_data.config
    if queue is None or config is None or queue.get_jobs_by_name(REMINDER_JOB):
        return
    times = {
        REMINDER_JOB: REMINDER_TIME,
        THROTTLE_CLEANUP_JOB: REMINDER_TIME,
        RECOUNT_JOB: RECOUNT_TIME,
        LATE_FEE_JOB: config.late_fee_time,
    }
    for name, at in times.items():
        queue.run_daily(run_daily_job, time=at.replace(tzinfo=config.timezone), name=name)
    queue.run_repeating(finish_abandoned_jobs, interval=TAKEOVER_INTERVAL, name=TAKEOVER_JOB)
