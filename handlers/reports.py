"""Staff reports: /revenue [YYYY-MM [YYYY-MM]], /outstanding, /trend [months] (a table and a
chart). Each report has an "Export CSV" button whose data fixes the report's period, so the
file holds the same figures as the table it was pressed under.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.context import BillingContext
from domain import reports, validation
from domain.errors import DomainError
from domain.models import Admin
from handlers.admin_gate import staff_only
from handlers.common import answer_query, buttons, callback_parts, int_part, month_label, reply
from handlers.render.chart import trend_chart_png
from handlers.render.csv_export import outstanding_csv, revenue_csv, trend_csv
from handlers.render.tables import outstanding_html, revenue_html, trend_html

# Callback data prefixes.
REVENUE_CSV = "acsvr"  # acsvr:<YYYYMM|0>:<YYYYMM|0>
OUTSTANDING_CSV = "acsvo"  # acsvo:<YYYYMMDD>
TREND_CSV = "acsvt"  # acsvt:<months>:<YYYYMM>

DEFAULT_TREND_MONTHS = 6
MAX_TREND_MONTHS = 36
EXPORT_LABEL = "⬇️ Export CSV"


def _today(context: BillingContext) -> date:
    return datetime.now(context.config.timezone).date()


def _month_start(month: date, context: BillingContext) -> datetime:
    """Midnight at the start of ``month`` in the utility's time zone."""
    return datetime(month.year, month.month, 1, tzinfo=context.config.timezone)


def _period(
    first: date | None, last: date | None, context: BillingContext
) -> tuple[datetime | None, datetime | None]:
    if first is None:
        return None, None
    end_month = reports.month_add(last or first, 1)
    return _month_start(first, context), _month_start(end_month, context)


def _month_arg(text: str) -> date | None:
    """``YYYYMM`` from callback data (``0`` for none)."""
    if text == "0" or len(text) != 6:
        return None
    return validation.billing_month(f"{text[:4]}-{text[4:]}")


def _export(data: str) -> InlineKeyboardMarkup:
    return buttons([[(EXPORT_LABEL, data)]])


async def _send_csv(update: Update, context: BillingContext, content: bytes, name: str) -> None:
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_document(chat.id, document=content, filename=name)


# ---------------------------------------------------------------------------------------------
# /revenue


@staff_only(write=False)
async def revenue_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """Revenue all time, for one month, or for a range of months."""
    args = (context.args or [])[:2]
    try:
        months = [validation.billing_month(arg) for arg in args]
    except DomainError:
        await reply(update, "Use /revenue, /revenue YYYY-MM, or /revenue YYYY-MM YYYY-MM.")
        return
    first = months[0] if months else None
    last = months[1] if len(months) > 1 else first
    if first and last and last < first:
        first, last = last, first
    start, end = _period(first, last, context)
    report = await reports.revenue(
        context.admin_db, start=start, end=end, zone=context.config.timezone
    )
    data = f"{REVENUE_CSV}:{first:%Y%m}:{last:%Y%m}" if first and last else f"{REVENUE_CSV}:0:0"
    await reply(
        update,
        revenue_html(report, context.config.currency, timezone=context.config.timezone),
        _export(data),
    )


@staff_only(write=False)
async def revenue_export(update: Update, context: BillingContext, admin: Admin) -> None:
    """Send the revenue report as CSV."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, REVENUE_CSV, 2) if update.callback_query else None
    )
    if not parts:
        return
    try:
        first, last = _month_arg(parts[0]), _month_arg(parts[1])
    except DomainError:
        return
    start, end = _period(first, last, context)
    report = await reports.revenue(
        context.admin_db, start=start, end=end, zone=context.config.timezone
    )
    name = f"revenue-{first:%Y-%m}-to-{last:%Y-%m}.csv" if first and last else "revenue-all.csv"
    await _send_csv(update, context, revenue_csv(report), name)


# ---------------------------------------------------------------------------------------------
# /outstanding


@staff_only(write=False)
async def outstanding_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """What is owed: total, ageing by days past due, top debtors."""
    today = _today(context)
    report = await reports.outstanding(context.admin_db, today=today)
    await reply(
        update,
        outstanding_html(report, context.config.currency),
        _export(f"{OUTSTANDING_CSV}:{today:%Y%m%d}"),
    )


@staff_only(write=False)
async def outstanding_export(update: Update, context: BillingContext, admin: Admin) -> None:
    """Send the outstanding report (as of the day it was shown) as CSV."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, OUTSTANDING_CSV, 1)
        if update.callback_query
        else None
    )
    if not parts or len(parts[0]) != 8 or not parts[0].isdigit():
        return
    try:
        as_of = datetime.strptime(parts[0], "%Y%m%d").date()
    except ValueError:
        return
    report = await reports.outstanding(context.admin_db, today=as_of)
    await _send_csv(update, context, outstanding_csv(report), f"outstanding-{as_of}.csv")


# ---------------------------------------------------------------------------------------------
# /trend


@staff_only(write=False)
async def trend_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """Units, billed, collected and collection rate per month: a table and a chart."""
    months = DEFAULT_TREND_MONTHS
    if context.args:
        number = int_part(context.args[0], maximum=MAX_TREND_MONTHS)
        if number is None or number < 1:
            await reply(update, f"Use /trend [months], with 1 to {MAX_TREND_MONTHS} months.")
            return
        months = number
    until = _today(context).replace(day=1)
    trend = await reports.usage_trend(context.admin_db, months=months, until=until)
    await reply(
        update,
        trend_html(trend, context.config.currency),
        _export(f"{TREND_CSV}:{months}:{until:%Y%m}"),
    )
    chat = update.effective_chat
    if chat is None:
        return
    first = trend[0].billing_month
    title = f"{context.config.utility_name}: {month_label(first)} – {month_label(until)}"
    png = await asyncio.to_thread(
        trend_chart_png, trend, currency=context.config.currency, title=title
    )
    await context.bot.send_photo(
        chat.id,
        photo=png,
        filename=f"trend-{first:%Y-%m}-to-{until:%Y-%m}.png",
        caption="Units billed, amounts billed vs collected, and the share collected, per month",
    )


@staff_only(write=False)
async def trend_export(update: Update, context: BillingContext, admin: Admin) -> None:
    """Send the trend table as CSV."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, TREND_CSV, 2) if update.callback_query else None
    months = int_part(parts[0], maximum=MAX_TREND_MONTHS) if parts else None
    if parts is None or not months:
        return
    try:
        until = _month_arg(parts[1])
    except DomainError:
        return
    if until is None:
        return
    trend = await reports.usage_trend(context.admin_db, months=months, until=until)
    first = trend[0].billing_month
    await _send_csv(update, context, trend_csv(trend), f"trend-{first:%Y-%m}-to-{until:%Y-%m}.csv")


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("revenue", revenue_command, filters=admin_filter),
        CommandHandler("outstanding", outstanding_command, filters=admin_filter),
        CommandHandler("trend", trend_command, filters=admin_filter),
    ]


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(revenue_export, pattern=rf"^{REVENUE_CSV}:"),
        CallbackQueryHandler(outstanding_export, pattern=rf"^{OUTSTANDING_CSV}:"),
        CallbackQueryHandler(trend_export, pattern=rf"^{TREND_CSV}:"),
    ]
