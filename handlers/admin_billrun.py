"""Staff: the monthly bill run. ``/billrun YYYY-MM`` asks to confirm, then issues every
missing bill of the month (domain/billrun.py) in the background, showing its progress by
editing the one message it asked in, and ends there with a summary; linked customers are
then told of their new bill, paced like every bulk send. Admin role only.
"""

from __future__ import annotations

import logging
from datetime import date

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.context import BillingContext
from domain import billrun, validation
from domain.errors import BillRunInProgress, DomainError
from domain.models import Admin
from handlers.admin_gate import staff_only
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    esc,
    local_time,
    local_today,
    month_label,
    reply,
)
from handlers.notifications import corrected_bill_notice, new_bill_notice, send_many
from handlers.statements import with_statement

log = logging.getLogger(__name__)

BILLRUN = "billrun"  # callback data: billrun:go:YYYYMM, billrun:no
USAGE = "Use /billrun YYYY-MM, e.g. /billrun 2026-09."
STARTED_KEY = "billrun_started"  # in the admin's flow data: the confirm messages already run
STARTED_KEPT = 20
SKIP_WORDS = {
    billrun.SkipReason.NO_READING: "no reading, and no earlier reading and bill to estimate from",
    billrun.SkipReason.NO_PREVIOUS: "a reading but no previous one to count the units from",
    billrun.SkipReason.BELOW_PREVIOUS: (
        "a reading below the previous one (not a rollover, or below an estimated bill "
        "already paid)"
    ),
    billrun.SkipReason.PENDING: "a customer's reading awaiting review",
    billrun.SkipReason.REJECTED: "their reading was rejected",
    billrun.SkipReason.NOT_BILLABLE: "figures that make no bill (0.00, or too large)",
}


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _current_month(context: BillingContext) -> date:
    return local_today(context).replace(day=1)


def _month_of(text: str, context: BillingContext) -> date | None:
    """A month a run may be for (``YYYY-MM`` or ``YYYYMM``): one that has begun; else None."""
    if len(text) == 6 and text.isdigit():
        text = f"{text[:4]}-{text[4:]}"
    try:
        month = validation.billing_month(text)
    except DomainError:
        return None
    return month if month <= _current_month(context) else None


def confirm_text(month: date) -> str:
    return (
        f"🧾 <b>Bill run for {month_label(month)}</b>\n"
        "Every customer without a bill for this month gets one from their meter reading; "
        "a missing reading is estimated from their last three bills. Account credit pays "
        "what it can, and customers with a Telegram account are told of their bill.\n\n"
        "Run it now?"
    )


def progress_text(progress: billrun.Progress) -> str:
    return (
        f"⏳ <b>Bill run for {month_label(progress.billing_month)}</b>: "
        f"{progress.fraction:.0%} of customers done\n"
        f"Issued {_plural(progress.issued, 'bill')} ({progress.estimated:,} estimated), "
        f"skipped {progress.skipped:,}."
    )


def summary_text(result: billrun.BillRunResult, context: BillingContext) -> str:
    money = context.config.currency.format
    lines = [
        f"✅ <b>Bill run for {month_label(result.billing_month)}</b>",
        f"Issued: {_plural(result.issued, 'bill')} totalling {money(result.total_billed)}",
        f"Estimated readings: {result.estimated:,}",
    ]
    if result.corrected:
        lines.append(
            f"Over-estimates corrected: {_plural(result.corrected, 'earlier estimated bill')} "
            "brought down to this month's actual reading"
        )
    if result.credit_applied > 0:
        lines.append(f"Paid from account credit: {money(result.credit_applied)}")
    if result.already_billed:
        lines.append(f"Already billed for the month: {_plural(result.already_billed, 'customer')}")
    lines.append(f"Skipped: {result.skipped_count:,}")
    for reason, item in result.skipped.items():
        meters = ", ".join(f"<code>{esc(meter)}</code>" for meter in item.meters)
        more = " …" if item.customers > len(item.meters) else ""
        lines.append(f"• {item.customers:,} with {SKIP_WORDS[reason]}: {meters}{more}")
    if result.linked:
        lines.append(f"Notifying {_plural(len(result.linked), 'linked customer')}…")
    return "\n".join(lines)


@staff_only(write=True)
async def billrun_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """Ask to confirm a bill run for the month given."""
    args = context.args or []
    month = _month_of(args[0], context) if len(args) == 1 else None
    if month is None:
        latest = f"{_current_month(context):%Y-%m}"
        await reply(update, f"{USAGE} The month must have begun (up to {latest}).")
        return
    key = f"{month:%Y%m}"
    await reply(
        update,
        confirm_text(month),
        buttons([[("▶ Run it", f"{BILLRUN}:go:{key}"), ("✖ Cancel", f"{BILLRUN}:no:{key}")]]),
    )


@staff_only(write=True)
async def billrun_button(update: Update, context: BillingContext, admin: Admin) -> None:
    """Run (in the background, editing this message as it goes) or cancel."""
    query = update.callback_query
    await answer_query(update)
    parts = callback_parts(query, BILLRUN, 2) if query is not None else None
    month = _month_of(parts[1], context) if parts else None
    if parts is None or month is None or parts[0] not in ("go", "no"):
        return
    if parts[0] == "no":
        await reply(update, "Cancelled. No bills were issued.")
        return
    # A second press of the same button (a double tap, a re-delivered update) starts nothing:
    # this chat's updates are handled in order, so the first press has marked the message.
    started = context.flow.setdefault(STARTED_KEY, [])
    asked_in = query.message.message_id if query is not None and query.message else None
    if asked_in is None or asked_in in started:
        return
    started.append(asked_in)
    del started[:-STARTED_KEPT]
    message = await reply(update, f"⏳ <b>Bill run for {month_label(month)}</b>: starting…")
    if message is None:
        return
    context.application.create_task(
        _run(context, admin, month, message.chat_id, message.message_id), update=update
    )


async def _run(
    context: BillingContext, admin: Admin, month: date, chat_id: int, message_id: int
) -> None:
    """The run itself, its progress and summary in one message, then the customers told."""

    async def show(text: str) -> None:
        try:
            await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except TelegramError as exc:  # "not modified", or the message is gone: not fatal
            log.info("could not show the bill run's progress: %s", exc)

    async def progress(step: billrun.Progress) -> None:
        await show(progress_text(step))

    try:
        result = await billrun.run(
            context.admin_db,
            billing_month=month,
            default_rate=context.config.default_tariff,
            due_days=context.config.due_days,
            issued_on=local_today(context),
            admin_id=admin.admin_id,
            progress=progress,
        )
    except BillRunInProgress as exc:
        since = f" (started {local_time(exc.started_at, context)})" if exc.started_at else ""
        # A new message: the one being edited may be that other run's progress.
        await context.bot.send_message(
            chat_id,
            f"A bill run for {month_label(month)} is already running{since}. "
            "Its summary will say what it issued; run /billrun again afterwards if needed.",
        )
        return
    except Exception:
        log.exception("the bill run for %s stopped", month)
        await show(
            f"❌ The bill run for {month_label(month)} stopped on an error. The bills issued "
            "so far stay; send /billrun again to issue the rest."
        )
        return
    await show(summary_text(result, context))
    if not result.linked and not result.corrected_linked:
        return
    # First the estimated bills corrected down: the month's new bill counts from there.
    corrected = await send_many(
        context.bot,
        [
            corrected_bill_notice(item.telegram_user_id, item.bill, context.config)
            for item in result.corrected_linked
        ],
    )
    notices = [  # each with the bill's statement, drawn as it is sent (bulk sends stay paced)
        with_statement(
            new_bill_notice(item.telegram_user_id, item.bill, context.config),
            context,
            item.bill.bill_id,
        )
        for item in result.linked
    ]
    sent = await send_many(context.bot, notices)
    log.info("bill run %s: notified %d of %d customers", month, sent, len(notices))
    failed = len(notices) - sent + len(result.corrected_linked) - corrected
    told_of_corrections = (
        f", {corrected:,} of {'its' if corrected == 1 else 'their'} estimated bill corrected"
        if corrected
        else ""
    )
    await context.bot.send_message(
        chat_id,
        f"📨 Bill run for {month_label(month)}: {_plural(sent, 'customer')} notified"
        + told_of_corrections
        + (f", {failed:,} could not be reached." if failed else "."),
    )


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("billrun", billrun_command, filters=admin_filter)]


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [CallbackQueryHandler(billrun_button, pattern=rf"^{BILLRUN}:")]
