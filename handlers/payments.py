"""/pay: the customer's side of the payment flow (handlers/payment_flow.py).

Money is taken, not declared (issue 13): "Card" sends a Telegram invoice for the amount
(handlers/card_payments.py records the charge when Telegram reports it); "Bank transfer" and
"Mobile money" show where to send the money and file a claim with its reference, which
counts only once staff confirm it; "Account credit" pays from money already received, after
a confirm screen whose button carries the payment's idempotency key.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ConversationHandler

from bot.context import BillingContext
from domain import bills
from handlers.common import (
    answer_query,
    buttons,
    cancel_row,
    current_customer,
    local_today,
    month_label,
    reply,
)
from handlers.payment_flow import CUSTOMER, CUSTOMER_FLOW

MENU_PAY = "menu:pay"


async def pay(update: Update, context: BillingContext) -> str | int:
    """Offer the customer's unpaid bills as buttons."""
    await answer_query(update)
    customer = await current_customer(update, context)
    if customer is None:
        return ConversationHandler.END
    open_bills = await bills.pending_bills(context.customer_db, customer.customer_id, limit=10)
    if not open_bills:
        await reply(update, "You have no unpaid bills. 🎉")
        return ConversationHandler.END
    money = context.config.currency.format
    today = local_today(context)
    rows = [
        [
            (
                f"{month_label(b.billing_month)} · {money(b.outstanding)} owed"
                + (" · overdue" if b.is_overdue(today) else ""),
                f"{CUSTOMER.bill_data}:{b.bill_id}",
            )
        ]
        for b in open_bills
    ]
    await reply(update, "Which bill would you like to pay?", buttons([*rows, cancel_row()]))
    return CUSTOMER.bill_state


def entry_points() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("pay", pay),
        CallbackQueryHandler(pay, pattern=rf"^{MENU_PAY}$"),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return CUSTOMER_FLOW.states()


def standalone_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    """Buttons pressed after their flow ended (a double tap on Confirm, an old bill list)."""
    return CUSTOMER_FLOW.after_flow_handlers()
