"""A customer's own figures: /dashboard and /bills (paged, unpaid first)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import BillingContext
from domain import bills, customers
from handlers.common import (
    STATUS_LABEL,
    answer_query,
    buttons,
    callback_parts,
    current_customer,
    esc,
    int_part,
    month_label,
    not_linked,
    pager_row,
    reply,
)
from handlers.render.tables import customer_bills_html

BILLS = "bills"  # callback data: bills:<page>:<open|all>
PAGE_SIZE = 5


async def dashboard(update: Update, context: BillingContext) -> None:
    """Show name, meter, balance due, last bill, last payment and next due date."""
    user = update.effective_user
    # The customer is found by the dashboard's own statements (one round trip in all).
    board = await customers.linked_dashboard(context.customer_db, user.id) if user else None
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
    if board.customer.credit > 0:
        lines.append(f"Account credit: {money(board.customer.credit)} (pays your next bills)")
    if board.next_due_date:
        lines.append(f"Next due date: {board.next_due_date:%d %b %Y}")
    if board.last_bill:
        bill = board.last_bill
        lines.append(
            f"Last bill: {month_label(bill.billing_month)} — {money(bill.total_amount)}, "
            f"{STATUS_LABEL[bill.payment_status]}"
        )
    if board.last_payment:
        payment = board.last_payment
        when = payment.date_of_payment.astimezone(context.config.timezone)
        lines.append(f"Last payment: {money(payment.amount_paid)} on {when:%d %b %Y}")
    else:
        lines.append("Last payment: none yet")
    actions = [("💳 Pay a bill", "menu:pay"), ("📄 My bills", f"{BILLS}:0:open")]
    await reply(update, "\n".join(lines), buttons([actions]))


async def bills_command(update: Update, context: BillingContext) -> None:
    """List the customer's bills: open ones, or all with ``/bills all``."""
    show_all = bool(context.args) and context.args is not None and context.args[0].lower() == "all"
    await _show_bills(update, context, page=0, show_all=show_all)


async def bills_page(update: Update, context: BillingContext) -> None:
    """Turn a page of the bills list (◀ ▶), editing the same message."""
    await answer_query(update)
    query = update.callback_query
    parts = callback_parts(query, BILLS, 2) if query else None
    page = int_part(parts[0], maximum=10_000) if parts else None
    if parts is None or page is None or parts[1] not in ("open", "all"):
        return
    await _show_bills(update, context, page=page, show_all=parts[1] == "all")


async def _show_bills(
    update: Update, context: BillingContext, *, page: int, show_all: bool
) -> None:
    customer = await current_customer(update, context)
    if customer is None:
        return
    found = await bills.customer_bills(
        context.customer_db,
        customer.customer_id,
        include_paid=show_all,
        page=page,
        page_size=PAGE_SIZE,
    )
    if not found.items:
        text = (
            "You have no bills yet."
            if show_all
            else "You have no unpaid bills. 🎉\nSend /bills all to see paid ones."
        )
        await reply(update, text)
        return
    title = "All your bills" if show_all else "Your unpaid bills"
    text = customer_bills_html(found, context.config.currency, title=title)
    due = [b for b in found.items if b.outstanding > 0]
    if due:
        text += "\n" + "\n".join(
            f"{b.billing_month:%Y-%m}: due {b.due_date:%d %b %Y}" for b in due
        )
    keyboard = []
    if found.pages > 1:
        keyboard.append(pager_row(BILLS, page, found.pages, f":{'all' if show_all else 'open'}"))
    if due:
        keyboard.append([("💳 Pay a bill", "menu:pay")])
    await reply(update, text, buttons(keyboard))


def handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("dashboard", dashboard),
        CommandHandler("bills", bills_command),
        CallbackQueryHandler(bills_page, pattern=rf"^{BILLS}:"),
    ]
