"""Staff: money going back to customers.

- /refunds: the refunds owed at the payment provider for voided card payments (the Bot API
  cannot refund a card: staff refund it in the provider's dashboard), oldest first, each with
  a "Mark refunded" button that asks for the provider's refund reference and records the
  refund as made (audited). /reconcile reports owed and made apart.
- /refundcredit <meter>: pay a customer's account credit back (a transfer or cash outside
  the bot): the amount (at most the credit), the reason, a confirm; recorded, audited, and the
  customer is told.

Every press and step looks the admin up again and checks the role (handlers.admin_gate).
"""

from __future__ import annotations

from decimal import Decimal

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BillingContext
from domain import card_payments, customers, validation
from domain.errors import DomainError
from domain.models import Admin
from domain.money import parse_amount
from handlers.admin_gate import end_flow, flow_state, out_of_date, staff_only, typed_text
from handlers.common import answer_query, buttons, callback_parts, cancel_row, esc, int_part, reply
from handlers.notifications import Notice, send_one
from handlers.words import explain, explain_html

# Conversation states.
REFUND_REFERENCE = "arefund:reference"
CREDIT_AMOUNT = "arefund:credit_amount"
CREDIT_REASON = "arefund:credit_reason"
CREDIT_CONFIRM = "arefund:credit_confirm"

# Callback data.
REFUND_MADE = "arfm"  # arfm:<refund_id>
CREDIT_OK = "arcok"  # arcok:<customer_id>

TEXT = filters.TEXT & ~filters.COMMAND
SHOWN = 10


# ---------------------------------------------------------------------------------------------
# /refunds


def refund_line(refund: card_payments.ProviderRefund, money: str) -> str:
    return (
        f"#{refund.refund_id} · <b>{money}</b> · payment {refund.payment_id}\n"
        f"   charge <code>{esc(refund.provider_payment_charge_id)}</code>\n"
        f"   why: {esc(refund.reason)}"
    )


@staff_only(write=False)
async def refunds_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """The refunds owed at the provider, oldest first (with a button each for admins)."""
    owed = await card_payments.refunds(context.admin_db, status="owed")
    money = context.config.currency.format
    if not owed:
        await reply(update, "No card refunds are owed. 🎉")
        return
    total = sum((r.amount for r in owed), Decimal(0))
    lines = [
        f"<b>Card refunds owed at the provider</b>: {len(owed)}, {money(total)}",
        "Refund each in the provider's dashboard, then mark it here.",
        "",
        *(refund_line(r, money(r.amount)) for r in owed[:SHOWN]),
    ]
    if len(owed) > SHOWN:
        lines.append(f"… and {len(owed) - SHOWN} more (see /reconcile's CSV).")
    rows = [
        [(f"Mark #{r.refund_id} refunded", f"{REFUND_MADE}:{r.refund_id}")] for r in owed[:SHOWN]
    ]
    await reply(update, "\n".join(lines), buttons(rows) if admin.role.can_write else None)


@staff_only(write=True)
async def refund_made_pressed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Ask for the provider's refund reference."""
    await answer_query(update)
    query = update.callback_query
    parts = callback_parts(query, REFUND_MADE, 1) if query else None
    refund_id = int_part(parts[0]) if parts else None
    owed = {r.refund_id: r for r in await card_payments.refunds(context.admin_db, status="owed")}
    if refund_id is None or refund_id not in owed:
        await reply(update, "That refund is no longer owed (already marked). See /refunds.")
        return end_flow(context)
    state = flow_state(context, fresh=True)
    state["refund_id"] = str(refund_id)
    refund = owed[refund_id]
    await reply(
        update,
        f"Refund #{refund_id}: {context.config.currency.format(refund.amount)} for payment "
        f"{refund.payment_id}.\nType the provider's refund reference (from its dashboard).",
        buttons([cancel_row()]),
    )
    return REFUND_REFERENCE


@staff_only(write=True)
async def refund_reference_typed(
    update: Update, context: BillingContext, admin: Admin
) -> str | int:
    """Record the refund as made, with its reference."""
    typed = typed_text(update, 255)
    state = flow_state(context)
    if typed is None:
        return REFUND_REFERENCE
    if "refund_id" not in state:
        return await out_of_date(update, context)
    try:
        reference = validation.void_reason(typed)  # one line of plain text, not empty
        made = await card_payments.mark_refund_made(
            context.admin_db,
            int(state["refund_id"]),
            admin_id=admin.admin_id,
            provider_reference=reference,
        )
    except DomainError as exc:
        await reply(
            update, f"{explain_html(exc, context)} Please type the reference again, or /cancel."
        )
        return REFUND_REFERENCE
    refund_id = state["refund_id"]
    if not made:
        await reply(update, f"Refund #{refund_id} was already marked as made. See /refunds.")
    else:
        await reply(
            update,
            f"✅ Refund #{refund_id} marked as made (reference <code>{esc(reference)}</code>).",
        )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# /refundcredit <meter>


@staff_only(write=True)
async def refundcredit(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Show the customer's credit and ask how much of it is paid back."""
    if not context.args:
        await reply(update, "Send /refundcredit followed by the customer's meter number.")
        return end_flow(context)
    try:
        customer = await customers.get_by_meter(context.admin_db, context.args[0][:64])
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return end_flow(context)
    money = context.config.currency.format
    if customer.credit <= 0:
        await reply(update, f"{esc(customer.full_name)} has no account credit to refund.")
        return end_flow(context)
    state = flow_state(context, fresh=True)
    state["customer_id"] = str(customer.customer_id)
    await reply(
        update,
        f"<b>{esc(customer.full_name)}</b> (<code>{esc(customer.meter_number)}</code>) has "
        f"{money(customer.credit)} of account credit.\nType the amount being paid back.",
        buttons([cancel_row()]),
    )
    return CREDIT_AMOUNT


@staff_only(write=True)
async def credit_amount_typed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    typed = typed_text(update, 100)
    state = flow_state(context)
    if typed is None:
        return CREDIT_AMOUNT
    if "customer_id" not in state:
        return await out_of_date(update, context)
    currency = context.config.currency
    try:
        amount = parse_amount(typed, currency=currency)
    except DomainError as exc:
        await reply(update, esc(explain(exc, currency)), buttons([cancel_row()]))
        return CREDIT_AMOUNT
    customer = await customers.get(context.admin_db, int(state["customer_id"]))
    if amount > customer.credit:
        await reply(
            update,
            f"The credit is only {currency.format(customer.credit)}. Type a smaller amount.",
            buttons([cancel_row()]),
        )
        return CREDIT_AMOUNT
    state["amount"] = str(amount)
    await reply(update, "Type the reason (e.g. “moved away, paid by transfer”).")
    return CREDIT_REASON


@staff_only(write=True)
async def credit_reason_typed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    typed = typed_text(update)
    state = flow_state(context)
    if typed is None:
        return CREDIT_REASON
    if "amount" not in state:
        return await out_of_date(update, context)
    try:
        reason = validation.void_reason(typed)
    except DomainError as exc:
        await reply(
            update, f"{explain_html(exc, context)} Please type the reason again, or /cancel."
        )
        return CREDIT_REASON
    state["reason"] = reason
    money = context.config.currency.format
    await reply(
        update,
        f"Refund {money(Decimal(state['amount']))} of account credit because “{esc(reason)}”?\n"
        "Pay it to the customer outside the bot; this records that you did.",
        buttons([[("✅ Record refund", f"{CREDIT_OK}:{state['customer_id']}")], cancel_row()]),
    )
    return CREDIT_CONFIRM


@staff_only(write=True)
async def credit_confirm(update: Update, context: BillingContext, admin: Admin) -> int:
    await answer_query(update)
    query = update.callback_query
    parts = callback_parts(query, CREDIT_OK, 1) if query else None
    state = flow_state(context)
    if not parts or state.get("customer_id") != parts[0] or "reason" not in state:
        return await out_of_date(update, context)
    customer_id, amount = int(state["customer_id"]), Decimal(state["amount"])
    reason = state["reason"]
    end_flow(context)  # one press records; a second finds no flow
    try:
        left = await card_payments.refund_credit(
            context.admin_db, customer_id, amount=amount, admin_id=admin.admin_id, reason=reason
        )
    except DomainError as exc:
        await reply(update, f"Not recorded: {explain_html(exc, context)}")
        return end_flow(context)
    money = context.config.currency.format
    customer = await customers.get(context.admin_db, customer_id)
    told = customer.telegram_user_id is not None and await send_one(
        context.bot,
        Notice(
            customer.telegram_user_id,
            f"💸 {money(amount)} of your account credit was paid back to you.\n"
            f"Reason: {esc(reason)}\nAccount credit now: {money(left)}.",
        ),
    )
    await reply(
        update,
        f"✅ Credit refund of {money(amount)} recorded for {esc(customer.full_name)}; credit "
        f"now {money(left)}." + (" The customer was told." if told else ""),
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("refunds", refunds_command, filters=admin_filter)]


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(refund_made_pressed, pattern=rf"^{REFUND_MADE}:"),
        CommandHandler("refundcredit", refundcredit, filters=admin_filter),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        REFUND_REFERENCE: [MessageHandler(TEXT, refund_reference_typed)],
        CREDIT_AMOUNT: [MessageHandler(TEXT, credit_amount_typed)],
        CREDIT_REASON: [MessageHandler(TEXT, credit_reason_typed)],
        CREDIT_CONFIRM: [CallbackQueryHandler(credit_confirm, pattern=rf"^{CREDIT_OK}:")],
    }
