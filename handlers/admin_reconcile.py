"""Staff: /reconcile [YYYY-MM] — a month's money by local day and channel, to tick off against
the payment provider's settlement report, the bank statement and the till (read-only: admins
and viewers).

The message shows the month's totals per channel, what is pending or held now, and the days
as a phone-width table that pages with ◀ ▶ (editing the same message). "Export CSV" sends every
row behind the figures: each provider charge with both charge ids, each other payment, each
void and each refund of credit. Button data fixes the month, so a page or a file pressed
later is of the month the message shows.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.context import BillingContext
from domain import reconcile, validation
from domain.errors import DomainError
from domain.models import Admin
from domain.money import Currency
from domain.reconcile import Channel, Figure, MonthLines, MonthReconciliation
from handlers.admin_gate import staff_only
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    int_part,
    month_label,
    pager_row,
    reply,
)
from handlers.render.csv_export import plain, safe_text
from handlers.render.formatting import local_time_text, month_key
from handlers.render.tables import phone_table

# Callback data prefixes.
RECONCILE_PAGE = "arcp"  # arcp:<page>:<YYYYMM>
RECONCILE_CSV = "acsvrc"  # acsvrc:<YYYYMM>

DAY_LINES_PER_PAGE = 20
MAX_PAGE = 1_000
EXPORT_LABEL = "⬇️ Export CSV"

CHANNEL_LABELS = {
    Channel.CARD: "Card charges",
    Channel.CARD_TO_BILLS: "Card to bills",
    Channel.CARD_TO_CREDIT: "Card to credit",
    Channel.CLAIM: "Claims",
    Channel.TRANSFER: "Transfers",
    Channel.CASH: "Cash",
    Channel.POS: "POS",
    Channel.CREDIT: "From credit",
    Channel.VOID_CARD: "Void card",
    Channel.VOID_CLAIM: "Void claim",
    Channel.VOID_TRANSFER: "Void transfer",
    Channel.VOID_CASH: "Void cash",
    Channel.VOID_POS: "Void POS",
    Channel.VOID_CREDIT: "Void credit",
    Channel.REFUND: "Refunds",
}
LEGEND = (
    "Card charges = to bills + to credit. Claims: transfers confirmed from /claims; "
    "Transfers: recorded by staff. A void counts on the day of the void; Refunds: account "
    "credit paid back."
)
CSV_HEADER = (
    "record",
    "local_time",
    "channel",
    "method",
    "amount",
    "currency",
    "to_bill",
    "to_credit",
    "telegram_payment_charge_id",
    "provider_payment_charge_id",
    "meter_number",
    "billing_month",
    "payment_id",
    "receipt_number",
    "recorded_by",
    "reference",
    "note",
)


# ---------------------------------------------------------------------------------------------
# Rendering (pure)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)


def day_pages(report: MonthReconciliation) -> int:
    return max(1, -(-len(report.days) // DAY_LINES_PER_PAGE))


def _money(amount: Decimal, currency: Currency) -> str:
    return html.escape(currency.format(amount), quote=False)


def _figure_row(label: str, figure: Figure, currency: Currency) -> tuple[str, str, str]:
    return (label, str(figure.count), currency.format(figure.amount))


def reconcile_html(
    report: MonthReconciliation, currency: Currency, *, timezone: tzinfo, page: int = 0
) -> str:
    """The month's totals per channel, pending claims and credit held now, and one page of
    the figures per local day."""
    shown = [
        channel
        for channel in Channel
        if not channel.is_void or report.totals[channel].count  # voids only where there are
    ]
    totals = phone_table(
        ("Channel", "N", "Amount"),
        [_figure_row(CHANNEL_LABELS[c], report.totals[c], currency) for c in shown],
        align=("left", "right", "right"),
        shrink=0,
    )
    pending, held = report.pending_claims, report.credit_held
    now = (
        f"<b>Now</b> ({html.escape(local_time_text(report.as_of, timezone), quote=False)}; "
        "not money received)\n"
        f"Pending claims: {pending.count} · {_money(pending.amount, currency)}\n"
        f"Credit held: {_money(held.amount, currency)} by "
        f"{_plural(held.count, 'customer')}\n"
        f"Card refunds owed at the provider: {report.refunds_owed.count} · "
        f"{_money(report.refunds_owed.amount, currency)} (made: "
        f"{report.refunds_made.count} · {_money(report.refunds_made.amount, currency)})"
    )
    pages = day_pages(report)
    page = min(max(page, 0), pages - 1)
    if report.days:
        lines = report.days[page * DAY_LINES_PER_PAGE : (page + 1) * DAY_LINES_PER_PAGE]
        by_day = phone_table(
            ("Day", "Channel", "N", "Amount"),
            [
                (
                    f"{line.day:%d}",
                    CHANNEL_LABELS[line.channel],
                    str(line.figure.count),
                    currency.format(line.figure.amount),
                )
                for line in lines
            ],
            align=("left", "left", "right", "right"),
            shrink=1,
        )
        if pages > 1:
            by_day += f"\nPage {page + 1} of {pages} · {_plural(len(report.days), 'line')}"
    else:
        by_day = f"Nothing received, voided or refunded in {month_label(report.month)}."
    return "\n".join(
        [
            f"<b>Reconciliation, {month_label(report.month)}</b>",
            f"Days in {html.escape(_zone_name(timezone), quote=False)} time. Money in: "
            f"<b>{_money(report.money_in, currency)}</b> "
            "(card charges, transfers, cash, POS)",
            "",
            "<b>Month totals</b>",
            totals,
            html.escape(LEGEND, quote=False),
            "",
            now,
            "",
            "<b>By day</b>",
            by_day,
        ]
    )


def _local(moment: datetime, zone: tzinfo) -> str:
    """``2026-11-03 14:05:00+01:00``: the utility's local time, with its offset."""
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def _text(value: str | None) -> str:
    return "" if value is None else safe_text(value)


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def reconcile_csv(lines: MonthLines, currency: Currency, *, timezone: tzinfo) -> bytes:
    """One row per provider charge, per other payment, per void and per refund of credit
    (columns ``CSV_HEADER``), each kind in time order. Charge ids are written as Telegram
    gave them (no spreadsheet quoting), so they match the provider's report exactly."""
    rows: list[Sequence[str]] = []
    for charge in lines.charges:
        rows.append(
            (
                "charge",
                _local(charge.received_at, timezone),
                Channel.CARD.value,
                "card",
                plain(charge.amount),
                charge.currency,
                plain(charge.to_bill),
                plain(charge.to_credit),
                charge.telegram_payment_charge_id,
                charge.provider_payment_charge_id,
                safe_text(charge.meter_number),
                month_key(charge.billing_month),
                _number(charge.payment_id),
                _text(charge.receipt_number),
                "",
                "",
                "payment voided later" if charge.payment_voided else "",
            )
        )
    for payment in lines.payments:
        rows.append(
            (
                "payment",
                _local(payment.date_of_payment, timezone),
                payment.channel.value,
                payment.method.value,
                plain(payment.amount),
                currency.code,
                "",
                "",
                "",
                "",
                safe_text(payment.meter_number),
                month_key(payment.billing_month),
                str(payment.payment_id),
                payment.receipt_number,
                _text(payment.recorded_by),
                _text(payment.reference),
                "",
            )
        )
    for void in lines.voids:
        rows.append(
            (
                "void",
                _local(void.voided_at, timezone),
                void.channel.value,
                void.method.value,
                plain(void.amount),
                currency.code,
                "",
                "",
                void.telegram_payment_charge_id or "",
                void.provider_payment_charge_id or "",
                safe_text(void.meter_number),
                month_key(void.billing_month),
                str(void.payment_id),
                void.receipt_number,
                _text(void.voided_by),
                _text(void.reference),
                safe_text(f"paid {_local(void.date_of_payment, timezone)[:10]}: {void.reason}"),
            )
        )
    for refund in lines.refunds:
        rows.append(
            (
                "refund",
                _local(refund.refunded_at, timezone),
                Channel.REFUND.value,
                "",
                plain(refund.amount),
                currency.code,
                "",
                "",
                "",
                "",
                safe_text(refund.meter_number),
                "",
                "",
                "",
                _text(refund.refunded_by),
                "",
                safe_text(refund.reason),
            )
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def reconcile_keyboard(report: MonthReconciliation, page: int) -> InlineKeyboardMarkup:
    """◀ page ▶ (when the days take more than one page), then Export CSV."""
    month = f"{report.month:%Y%m}"
    rows: list[list[tuple[str, str]]] = []
    pages = day_pages(report)
    if pages > 1:
        page = min(max(page, 0), pages - 1)
        rows.append(pager_row(RECONCILE_PAGE, page, pages, f":{month}"))
    rows.append([(EXPORT_LABEL, f"{RECONCILE_CSV}:{month}")])
    return buttons(rows)


# ---------------------------------------------------------------------------------------------
# Handlers


def _month_data(text: str) -> date | None:
    """``YYYYMM`` from callback data (untrusted), or None."""
    if len(text) != 6 or not text.isdigit():
        return None
    try:
        return validation.billing_month(f"{text[:4]}-{text[4:]}")
    except DomainError:
        return None


async def _show(update: Update, context: BillingContext, month: date, page: int) -> None:
    zone = context.config.timezone
    report = await reconcile.month_reconciliation(context.admin_db, month=month, zone=zone)
    await reply(
        update,
        reconcile_html(report, context.config.currency, timezone=zone, page=page),
        reconcile_keyboard(report, page),
    )


@staff_only(write=False)
async def reconcile_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """A month's money by day and channel (default: the current month, local time)."""
    args = context.args or []
    if len(args) > 1:
        await reply(update, "Use /reconcile or /reconcile YYYY-MM.")
        return
    try:
        month = (
            validation.billing_month(args[0])
            if args
            else datetime.now(context.config.timezone).date().replace(day=1)
        )
    except DomainError:
        await reply(update, "Use /reconcile or /reconcile YYYY-MM, e.g. /reconcile 2026-11.")
        return
    await _show(update, context, month, page=0)


@staff_only(write=False)
async def reconcile_page(update: Update, context: BillingContext, admin: Admin) -> None:
    """Turn a page of the days, in the same message."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, RECONCILE_PAGE, 2) if update.callback_query else None
    )
    page = int_part(parts[0], maximum=MAX_PAGE) if parts else None
    month = _month_data(parts[1]) if parts else None
    if page is not None and month is not None:
        await _show(update, context, month, page)


@staff_only(write=False)
async def reconcile_export(update: Update, context: BillingContext, admin: Admin) -> None:
    """Send every row behind the month's figures as CSV."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, RECONCILE_CSV, 1) if update.callback_query else None
    )
    month = _month_data(parts[0]) if parts else None
    chat = update.effective_chat
    if month is None or chat is None:
        return
    zone = context.config.timezone
    lines = await reconcile.month_lines(context.admin_db, month=month, zone=zone)
    await context.bot.send_document(
        chat.id,
        document=reconcile_csv(lines, context.config.currency, timezone=zone),
        filename=f"reconcile-{month:%Y-%m}.csv",
    )


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("reconcile", reconcile_command, filters=admin_filter)]


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(reconcile_page, pattern=rf"^{RECONCILE_PAGE}:"),
        CallbackQueryHandler(reconcile_export, pattern=rf"^{RECONCILE_CSV}:"),
    ]
