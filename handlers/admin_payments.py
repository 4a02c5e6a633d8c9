"""Staff: payments. /payments [YYYY-MM|meter] paged; /recordpayment (office payments: the
meter, then the office's side of the one payment flow, handlers/payment_flow.py: bill →
amount → method → confirm); /voidpayment <payment_id> (reason → confirm; the customer is told).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.context import BillingContext
from domain import bills, customers, payments, receipts, validation
from domain.errors import DomainError, InvalidInput
from domain.models import Admin, Customer
from handlers.admin_gate import end_flow, flow_state, out_of_date, staff_only, typed_text
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    cancel_row,
    esc,
    int_part,
    local_time,
    local_today,
    month_label,
    pager_row,
    reply,
)
from handlers.notifications import Notice, send_one
from handlers.payment_flow import OFFICE, OFFICE_FLOW
from handlers.render.tables import admin_payments_html
from handlers.words import explain_html

log = logging.getLogger(__name__)

# Conversation states.
RP_METER = "apay:rp_meter"
VOID_REASON = "apay:void_reason"
VOID_CONFIRM = "apay:void_confirm"

# Callback data prefixes.
RP_CUSTOMER = "arpc"  # arpc:<customer_id> (from a customer's card)
# The bill buttons (arpb:<bill_id>, here and from /pending) and the flow's own are OFFICE's.
VOID_OK = "avok"  # avok:<payment_id>
PAYMENTS_PAGE = "apl"  # apl:<page>:<a|m|c>:<YYYYMM|customer_id|0>

PAGE_SIZE = 8
TEXT = filters.TEXT & ~filters.COMMAND


# ---------------------------------------------------------------------------------------------
# /payments


@staff_only(write=False)
async def payments_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """/payments [YYYY-MM|meter]: payments, newest first."""
    arg = context.args[0] if context.args else ""
    if not arg:
        await _show_payments(update, context, page=0, kind="a", value="0")
        return
    try:
        month = validation.billing_month(arg)
        await _show_payments(update, context, page=0, kind="m", value=f"{month:%Y%m}")
        return
    except DomainError:
        pass
    try:
        customer = await customers.get_by_meter(context.admin_db, arg[:64])
    except DomainError as exc:
        await reply(update, f"{explain_html(exc, context)}\nUse /payments [YYYY-MM|meter].")
        return
    await _show_payments(update, context, page=0, kind="c", value=str(customer.customer_id))


@staff_only(write=False)
async def payments_page(update: Update, context: BillingContext, admin: Admin) -> None:
    """Turn a page of the payments list."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, PAYMENTS_PAGE, 3) if update.callback_query else None
    )
    page = int_part(parts[0], maximum=100_000) if parts else None
    if parts is None or page is None or parts[1] not in ("a", "m", "c"):
        return
    await _show_payments(update, context, page=page, kind=parts[1], value=parts[2])


async def _show_payments(
    update: Update, context: BillingContext, *, page: int, kind: str, value: str
) -> None:
    title = "Payments"
    month = None
    customer_id = None
    try:
        if kind == "m":
            month = validation.billing_month(f"{value[:4]}-{value[4:]}")
            title = f"Payments in {month_label(month)}"
        elif kind == "c":
            number = int_part(value)
            if number is None:
                return
            customer = await customers.get(context.admin_db, number)
            customer_id = customer.customer_id
            title = f"Payments of {customer.full_name} ({customer.meter_number})"
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return
    found = await payments.list_payments(
        context.admin_db, month=month, customer_id=customer_id, page=page, page_size=PAGE_SIZE
    )
    text = admin_payments_html(
        found, context.config.currency, timezone=context.config.timezone, title=title
    )
    if found.items:
        text += "\nVoid one with /voidpayment &lt;ID&gt;."
    keyboard = [pager_row(PAYMENTS_PAGE, page, found.pages, f":{kind}:{value}")]
    await reply(update, text, buttons(keyboard) if found.pages > 1 else None)


# ---------------------------------------------------------------------------------------------
# /recordpayment


@staff_only(write=True)
async def recordpayment(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Begin recording an office payment: ask for the meter (or take it from the card)."""
    await answer_query(update)
    flow_state(context, fresh=True)
    try:
        if update.callback_query is not None:
            parts = callback_parts(update.callback_query, RP_CUSTOMER, 1)
            customer_id = int_part(parts[0]) if parts else None
            if customer_id is None:
                return end_flow(context)
            return await _offer_bills(
                update, context, await customers.get(context.admin_db, customer_id)
            )
        if context.args:
            return await _offer_bills(
                update, context, await customers.get_by_meter(context.admin_db, context.args[0])
            )
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return end_flow(context)
    await reply(
        update,
        "<b>Record an office payment</b>\nSend the customer's meter number.",
        buttons([cancel_row()]),
    )
    return RP_METER


@staff_only(write=True)
async def rp_meter(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Find the customer; offer their open bills."""
    typed = typed_text(update)
    if typed is None:
        return RP_METER
    try:
        customer = await customers.get_by_meter(context.admin_db, typed[:64])
    except DomainError as exc:
        await reply(
            update,
            f"{explain_html(exc, context)} Send another meter number.",
            buttons([cancel_row()]),
        )
        return RP_METER
    return await _offer_bills(update, context, customer)


async def _offer_bills(update: Update, context: BillingContext, customer: Customer) -> str | int:
    open_bills = await bills.pending_bills(context.admin_db, customer.customer_id, limit=10)
    if not open_bills:
        await reply(update, f"{esc(customer.full_name)} owes nothing. 🎉")
        return end_flow(context)
    money = context.config.currency.format
    today = local_today(context)
    keyboard = [
        [
            (
                f"#{b.bill_id} · {month_label(b.billing_month)} · {money(b.outstanding)}"
                + (" · overdue" if b.is_overdue(today) else ""),
                f"{OFFICE.bill_data}:{b.bill_id}",
            )
        ]
        for b in open_bills
    ]
    await reply(
        update,
        f"Which bill of {esc(customer.full_name)} (<code>{esc(customer.meter_number)}</code>) "
        "is being paid?",
        buttons([*keyboard, cancel_row()]),
    )
    return OFFICE.bill_state


# ---------------------------------------------------------------------------------------------
# /voidpayment


@staff_only(write=True)
async def voidpayment(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Show the payment and ask why it is being voided."""
    payment_id = int_part(context.args[0].lstrip("#")) if context.args else None
    if payment_id is None:
        await reply(update, "Send /voidpayment followed by the payment ID (see /payments).")
        return end_flow(context)
    try:
        receipt = await receipts.receipt(context.admin_db, payment_id)
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return end_flow(context)
    if receipt.voided:
        await reply(update, "That payment has already been voided.")
        return end_flow(context)
    state = flow_state(context, fresh=True)
    state["payment_id"] = str(payment_id)
    money = context.config.currency.format
    await reply(
        update,
        f"<b>Void payment {payment_id}?</b>\n"
        f"{money(receipt.amount_paid)} by {receipt.payment_method.label} on "
        f"{local_time(receipt.date_of_payment, context)}\n"
        f"{esc(receipt.customer_name)} (<code>{esc(receipt.meter_number)}</code>), "
        f"{month_label(receipt.billing_month)} bill\n"
        f"Receipt <code>{esc(receipt.receipt_number)}</code>\n\n"
        "Type the reason for voiding it.",
        buttons([cancel_row()]),
    )
    return VOID_REASON


@staff_only(write=True)
async def void_reason(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Keep the reason; ask for confirmation."""
    typed = typed_text(update)
    state = flow_state(context)
    if typed is None:
        return VOID_REASON
    if "payment_id" not in state:
        return await out_of_date(update, context)
    try:
        reason = validation.void_reason(typed)
    except InvalidInput as exc:
        await reply(
            update, f"{explain_html(exc, context)} Please type the reason again, or /cancel."
        )
        return VOID_REASON
    state["reason"] = reason
    await reply(
        update,
        f"Void payment {state['payment_id']} because “{esc(reason)}”?\n"
        "The bill's balance goes back up; the payment stays on record as void.",
        buttons([[("⚠️ Void payment", f"{VOID_OK}:{state['payment_id']}")], cancel_row()]),
    )
    return VOID_CONFIRM


@staff_only(write=True)
async def void_confirm(update: Update, context: BillingContext, admin: Admin) -> int:
    """Void the payment (audited) and tell the customer."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, VOID_OK, 1) if update.callback_query else None
    state = flow_state(context)
    if not parts or state.get("payment_id") != parts[0] or "reason" not in state:
        return await out_of_date(update, context)
    try:
        result = await payments.void_payment(
            context.admin_db, int(parts[0]), admin_id=admin.admin_id, reason=state["reason"]
        )
    except DomainError as exc:
        await reply(update, f"Not voided: {explain_html(exc, context)}")
        return end_flow(context)
    reason = state["reason"]
    end_flow(context)
    payment, bill = result.payment, result.bill
    money = context.config.currency.format
    customer = await customers.get(context.admin_db, bill.customer_id)
    told = False
    if customer.telegram_user_id is not None:
        told = await send_one(
            context.bot,
            Notice(
                customer.telegram_user_id,
                f"⚠️ Your payment of {money(payment.amount_paid)} for "
                f"{month_label(payment.billing_month)} (receipt "
                f"<code>{esc(payment.receipt_number)}</code>) was voided by the utility "
                f"office.\nReason: {esc(reason)}\n"
                f"Owed on this bill now: <b>{money(bill.outstanding)}</b>.",
            ),
        )
    refund = (
        f"\n💳 It was a card payment: refund {money(result.refund_owed)} to the customer in "
        "your payment provider's dashboard (the bot cannot refund a card); it is recorded "
        "as a refund owed."
        if result.refund_owed
        else ""
    )
    await reply(
        update,
        f"✅ Payment {payment.payment_id} voided. Bill #{bill.bill_id} now owes "
        f"{money(bill.outstanding)}." + (" The customer was told." if told else "") + refund,
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("payments", payments_command, filters=admin_filter)]


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("recordpayment", recordpayment, filters=admin_filter),
        CallbackQueryHandler(recordpayment, pattern=rf"^{RP_CUSTOMER}:"),
        # The bill buttons (here and from /pending) start the flow afresh at that bill.
        CallbackQueryHandler(OFFICE_FLOW.choose_bill, pattern=rf"^{OFFICE.bill_data}:"),
        CommandHandler("voidpayment", voidpayment, filters=admin_filter),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        RP_METER: [MessageHandler(TEXT, rp_meter)],
        **OFFICE_FLOW.states(),
        VOID_REASON: [MessageHandler(TEXT, void_reason)],
        VOID_CONFIRM: [CallbackQueryHandler(void_confirm, pattern=rf"^{VOID_OK}:")],
    }


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(payments_page, pattern=rf"^{PAYMENTS_PAGE}:"),
        # A confirm pressed after its flow ended answers with the payment already made.
        *OFFICE_FLOW.after_flow_handlers(),
    ]
