"""A customer's own figures: /dashboard and /bills [owed|unpaid|partial|paid|all] (paged,
owed first; overdue bills flagged)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import BillingContext
from domain import bills, customers, statements
from domain.models import BillFilter
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    current_customer,
    esc,
    int_part,
    local_today,
    month_label,
    not_linked,
    pager_row,
    reply,
)
from handlers.render.bill_lines import lines_html, shows_lines
from handlers.render.formatting import date_label
from handlers.render.tables import customer_bills_html

BILLS = "bills"  # callback data: bills:<page>:<filter> (``open``, from older messages: owed)
PAGE_SIZE = 5


async def dashboard(update: Update, context: BillingContext) -> None:
    """Show name, meter, balance due (and what is overdue), last bill, last payment and the
    next due date."""
    user = update.effective_user
    today = local_today(context)
    # The customer is found by the dashboard's own statements (one round trip in all).
    board = (
        await customers.linked_dashboard(context.customer_db, user.id, today=today)
        if user
        else None
    )
    if board is None:
        await not_linked(update)
        return
    money = context.config.currency.format
    lines = [
        f"<b>{esc(board.customer.full_name)}</b>",
        f"Meter: <code>{esc(board.customer.meter_number)}</code>",
        "",
        f"<b>Balance due: {money(board.balance_due)}</b>"
        + (
            f" ({board.open_bills} bill{'s' if board.open_bills != 1 else ''})"
            if board.open_bills
            else ""
        ),
    ]
    if board.overdue_bills and board.next_due_date:
        # The earliest due date of the open bills is the one the overdue money is late since.
        lines.append(
            f"⚠️ <b>Overdue: {money(board.overdue)}</b> since "
            f"{date_label(board.next_due_date)} "
            f"({board.overdue_bills} bill{'s' if board.overdue_bills != 1 else ''}). "
            "Please pay it now."
        )
    elif board.next_due_date:
        lines.append(f"Next due date: {date_label(board.next_due_date)}")
    if board.customer.credit > 0:
        lines.append(f"Account credit: {money(board.customer.credit)} (pays your next bills)")
    if board.last_bill:
        bill = board.last_bill
        lines.append(
            f"Last bill: {month_label(bill.billing_month)} · {money(bill.total_amount)} · "
            f"{bill.payment_status.label}"
        )
        if shows_lines(board.last_bill_lines):  # bands, fixed charge, tax, a late fee…
            lines.append(lines_html(board.last_bill_lines, context.config.currency))
    if board.last_payment:
        payment = board.last_payment
        when = payment.date_of_payment.astimezone(context.config.timezone)
        lines.append(f"Last payment: {money(payment.amount_paid)} on {date_label(when)}")
    else:
        lines.append("Last payment: none yet")
    actions = [("💳 Pay a bill", "menu:pay"), ("📄 My bills", f"{BILLS}:0:{BillFilter.OWED}")]
    await reply(update, "\n".join(lines), buttons([actions]))


FILTER_USAGE = "Send /bills for what you owe, or /bills owed, unpaid, partial, paid or all."
TITLES = {
    BillFilter.OWED: "Bills you owe (unpaid and part-paid)",
    BillFilter.UNPAID: "Unpaid bills (nothing paid yet)",
    BillFilter.PARTIAL: "Part-paid bills",
    BillFilter.PAID: "Paid bills",
    BillFilter.ALL: "All your bills",
}
NONE_FOUND = {
    BillFilter.OWED: "You owe nothing. 🎉\nSend /bills all to see every bill.",
    BillFilter.UNPAID: "No bill is unpaid. Send /bills to see everything you owe.",
    BillFilter.PARTIAL: "No bill is part-paid. Send /bills to see everything you owe.",
    BillFilter.PAID: "No bill is paid yet.",
    BillFilter.ALL: "You have no bills yet.",
}


async def bills_command(update: Update, context: BillingContext) -> None:
    """List the customer's bills: everything owed, or those of the filter typed."""
    bill_filter = BillFilter.parse(context.args[0]) if context.args else BillFilter.OWED
    if bill_filter is None:
        await reply(update, FILTER_USAGE)
        return
    await _show_bills(update, context, page=0, bill_filter=bill_filter)


async def bills_page(update: Update, context: BillingContext) -> None:
    """Turn a page of the bills list (◀ ▶), editing the same message."""
    await answer_query(update)
    query = update.callback_query
    parts = callback_parts(query, BILLS, 2) if query else None
    page = int_part(parts[0], maximum=10_000) if parts else None
    bill_filter = BillFilter.parse(parts[1]) if parts else None
    if page is None or bill_filter is None:
        return
    await _show_bills(update, context, page=page, bill_filter=bill_filter)


async def _show_bills(
    update: Update, context: BillingContext, *, page: int, bill_filter: BillFilter
) -> None:
    customer = await current_customer(update, context)
    if customer is None:
        return
    found = await bills.customer_bills(
        context.customer_db,
        customer.customer_id,
        bill_filter=bill_filter,
        page=page,
        page_size=PAGE_SIZE,
    )
    if not found.items:
        await reply(update, NONE_FOUND[bill_filter])
        return
    lines = await statements.lines_of_bills(
        context.customer_db, [bill.bill_id for bill in found.items]
    )
    text = customer_bills_html(
        found,
        context.config.currency,
        today=local_today(context),
        title=TITLES[bill_filter],
        lines=lines,
    )
    keyboard = []
    if found.pages > 1:
        keyboard.append(pager_row(BILLS, page, found.pages, f":{bill_filter}"))
    if any(b.outstanding > 0 for b in found.items):
        keyboard.append([("💳 Pay a bill", "menu:pay")])
    await reply(update, text, buttons(keyboard))


def handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("dashboard", dashboard),
        CommandHandler("bills", bills_command),
        CallbackQueryHandler(bills_page, pattern=rf"^{BILLS}:"),
    ]
