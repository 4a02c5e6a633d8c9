"""Staff: payments. /payments [YYYY-MM|meter] paged; /recordpayment (office payments: meter →
bill → amount → method → confirm, the same domain function and receipt as the customer's own
payments); /voidpayment <payment_id> (reason → confirm; the customer is told).

The confirm button of /recordpayment carries the payment's idempotency key: a second press,
or the same update delivered twice, finds the payment already made and records nothing.
"""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.context import BillingContext
from domain import bills, customers, payments, validation
from domain.errors import DatabaseUnavailable, DomainError, InvalidInput
from domain.models import OFFICE_METHODS, Admin, Bill, Customer, PaymentMethod
from domain.money import parse_amount
from handlers.admin_gate import FLOW_KEY, end_flow, flow_state, out_of_date, staff_only, typed_text
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    cancel_row,
    esc,
    int_part,
    local_time,
    month_label,
    pager_row,
    reply,
)
from handlers.notifications import Notice, send_one
from handlers.payments import amount_refusal
from handlers.receipts import send_receipt
from handlers.render.tables import admin_payments_html

log = logging.getLogger(__name__)

# Conversation states.
RP_METER = "apay:rp_meter"
RP_BILL = "apay:rp_bill"
RP_AMOUNT = "apay:rp_amount"
RP_METHOD = "apay:rp_method"
RP_CONFIRM = "apay:rp_confirm"
VOID_REASON = "apay:void_reason"
VOID_CONFIRM = "apay:void_confirm"

# Callback data prefixes.
RP_CUSTOMER = "arpc"  # arpc:<customer_id> (from a customer's card)
RP_BILL_DATA = "arpb"  # arpb:<bill_id> (from the bill choice or /pending)
RP_AMOUNT_DATA = "arpa"  # arpa:full | arpa:other
RP_METHOD_DATA = "arpm"  # arpm:<method>
RP_OK = "arpok"  # arpok:<idempotency key>
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
        await reply(update, f"{esc(exc)}\nUse /payments [YYYY-MM|meter].")
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
        await reply(update, esc(exc))
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
        await reply(update, esc(exc))
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
        await reply(update, f"{esc(exc)} Send another meter number.", buttons([cancel_row()]))
        return RP_METER
    return await _offer_bills(update, context, customer)


async def _offer_bills(update: Update, context: BillingContext, customer: Customer) -> str | int:
    open_bills = await bills.pending_bills(context.admin_db, customer.customer_id, limit=10)
    if not open_bills:
        await reply(update, f"{esc(customer.full_name)} owes nothing. 🎉")
        return end_flow(context)
    money = context.config.currency.format
    keyboard = [
        [
            (
                f"#{b.bill_id} · {month_label(b.billing_month)} · {money(b.outstanding)}",
                f"{RP_BILL_DATA}:{b.bill_id}",
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
    return RP_BILL


async def _open_bill(update: Update, context: BillingContext, bill_id: int) -> Bill | None:
    try:
        bill = await bills.get(context.admin_db, bill_id)
    except DomainError as exc:
        await reply(update, esc(exc))
        return None
    if bill.outstanding <= 0:
        await reply(update, f"Bill #{bill.bill_id} is already fully paid.")
        return None
    return bill


@staff_only(write=True)
async def rp_bill(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """The bill chosen (here or from /pending): offer the full amount or another one."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, RP_BILL_DATA, 1) if update.callback_query else None
    )
    bill_id = int_part(parts[0]) if parts else None
    bill = await _open_bill(update, context, bill_id) if bill_id is not None else None
    if bill is None:
        return end_flow(context)
    customer = await customers.get(context.admin_db, bill.customer_id)
    state = flow_state(context, fresh=True)
    state["bill_id"] = str(bill.bill_id)
    state["customer"] = f"{customer.full_name} ({customer.meter_number})"
    money = context.config.currency.format
    keyboard = [
        [(f"Full · {money(bill.outstanding)}", f"{RP_AMOUNT_DATA}:full")],
        [("Another amount", f"{RP_AMOUNT_DATA}:other")],
        cancel_row(),
    ]
    await reply(
        update,
        f"<b>{esc(state['customer'])}</b>\nBill #{bill.bill_id} for "
        f"{month_label(bill.billing_month)}: total {money(bill.total_amount)}, "
        f"paid {money(bill.amount_paid)}, <b>owed {money(bill.outstanding)}</b>.\n\n"
        "How much was paid?",
        buttons(keyboard),
    )
    return RP_AMOUNT


@staff_only(write=True)
async def rp_amount(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Full amount → method; another amount → ask for it."""
    await answer_query(update)
    state = flow_state(context)
    parts = (
        callback_parts(update.callback_query, RP_AMOUNT_DATA, 1) if update.callback_query else None
    )
    if not parts or "bill_id" not in state:
        return await out_of_date(update, context)
    bill = await _open_bill(update, context, int(state["bill_id"]))
    if bill is None:
        return end_flow(context)
    if parts[0] == "full":
        state["amount"] = str(bill.outstanding)
        return await _ask_method(update)
    await reply(
        update,
        f"Type the amount paid (up to {context.config.currency.format(bill.outstanding)}).",
        buttons([cancel_row()]),
    )
    return RP_AMOUNT


@staff_only(write=True)
async def rp_type_amount(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Read a typed amount: more than zero and at most what is owed."""
    typed = typed_text(update)
    state = flow_state(context)
    if typed is None:
        return RP_AMOUNT
    if "bill_id" not in state:
        return await out_of_date(update, context)
    try:
        amount = parse_amount(typed[:100], currency=context.config.currency)
    except DomainError as exc:
        await reply(update, amount_refusal(exc, context.config.currency), buttons([cancel_row()]))
        return RP_AMOUNT
    bill = await _open_bill(update, context, int(state["bill_id"]))
    if bill is None:
        return end_flow(context)
    if amount > bill.outstanding:
        money = context.config.currency.format
        await reply(
            update,
            f"That is more than the {money(bill.outstanding)} owed. Type a smaller amount.",
            buttons([cancel_row()]),
        )
        return RP_AMOUNT
    state["amount"] = str(amount)
    return await _ask_method(update)


async def _ask_method(update: Update) -> str:
    methods = list(OFFICE_METHODS)
    keyboard = [
        [(m.label, f"{RP_METHOD_DATA}:{m.value}") for m in methods[i : i + 2]]
        for i in range(0, len(methods), 2)
    ]
    await reply(update, "How was it paid?", buttons([*keyboard, cancel_row()]))
    return RP_METHOD


@staff_only(write=True)
async def rp_method(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Show the confirm screen; its button carries a fresh idempotency key."""
    await answer_query(update)
    state = flow_state(context)
    parts = (
        callback_parts(update.callback_query, RP_METHOD_DATA, 1) if update.callback_query else None
    )
    if "amount" not in state:
        return await out_of_date(update, context)
    if not parts or parts[0] not in {m.value for m in OFFICE_METHODS}:
        return RP_METHOD
    bill = await _open_bill(update, context, int(state["bill_id"]))
    if bill is None:
        return end_flow(context)
    state["method"] = parts[0]
    state["key"] = payments.new_idempotency_key()
    money = context.config.currency.format
    amount = Decimal(state["amount"])
    text = (
        "<b>Record this payment?</b>\n"
        f"Customer: {esc(state['customer'])}\n"
        f"Bill #{bill.bill_id} for {month_label(bill.billing_month)}\n"
        f"Amount: <b>{money(amount)}</b> by {PaymentMethod(parts[0]).label}\n"
        f"Owed after this payment: {money(bill.outstanding - amount)}"
    )
    keyboard = [[("✅ Record payment", f"{RP_OK}:{state['key']}")], cancel_row()]
    await reply(update, text, buttons(keyboard))
    return RP_CONFIRM


@staff_only(write=True)
async def rp_confirm(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Record the payment once; the customer gets the receipt; admins who opted in are told."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, RP_OK, 1) if update.callback_query else None
    chat = update.effective_chat
    if not parts or chat is None:
        return end_flow(context)
    key = parts[0]
    state = context.flow.get(FLOW_KEY)
    money = context.config.currency.format
    if isinstance(state, dict) and state.get("key") == key:
        try:
            result = await payments.pay_bill(
                context.admin_db,
                bill_id=int(state["bill_id"]),
                amount=Decimal(state["amount"]),
                method=state["method"],
                idempotency_key=key,
                admin_id=admin.admin_id,
            )
        except DatabaseUnavailable as exc:
            # Keep the flow and its button: the same key records once or finds the payment.
            shown = update.callback_query.message if update.callback_query else None
            await reply(
                update, esc(exc), shown.reply_markup if isinstance(shown, Message) else None
            )
            return RP_CONFIRM
        except DomainError as exc:
            await reply(update, f"{esc(exc)}\nNothing was recorded.")
            return end_flow(context)
        end_flow(context)
        payment, bill, created = result.payment, result.bill, result.created
    else:
        # A second press, a re-delivered update or an old screen: never a second payment.
        found = await payments.find_by_key(context.admin_db, key)
        if found is None:
            await reply(update, "This confirmation is no longer valid. Please start again.")
            return end_flow(context)
        payment, created = found, False
        bill = await bills.get(context.admin_db, payment.bill_id)
    # The payment is committed: a failed message from here on must not read as "nothing was
    # recorded" (the admin would record it again), so each send is on its own.
    try:
        await reply(
            update,
            f"✅ Payment of {money(payment.amount_paid)} recorded "
            f"({payment.payment_method.label}) for {month_label(payment.billing_month)}.\n"
            f"Payment ID {payment.payment_id} · receipt "
            f"<code>{esc(payment.receipt_number)}</code>\n"
            f"Owed on this bill now: {money(bill.outstanding)}",
        )
        if created:
            from handlers.notifications import notify_admins_of_payment

            context.application.create_task(notify_admins_of_payment(context, payment.payment_id))
            customer = await customers.get(context.admin_db, bill.customer_id)
            if customer.telegram_user_id is not None:
                try:
                    await send_receipt(context, customer.telegram_user_id, payment.payment_id)
                except TelegramError as exc:
                    log.info(
                        "receipt %s not delivered to the customer: %r", payment.payment_id, exc
                    )
                    await chat.send_message(
                        "The customer could not be sent the receipt (they may have blocked "
                        "the bot); the payment is recorded."
                    )
        await send_receipt(context, chat.id, payment.payment_id)
    except (TelegramError, DomainError) as exc:
        log.warning("payment %s recorded; confirmation not delivered: %r", payment.payment_id, exc)
        with contextlib.suppress(TelegramError):
            await chat.send_message(
                f"Payment ID {payment.payment_id} is recorded (receipt "
                f"<code>{esc(payment.receipt_number)}</code>), but I could not send everything "
                "just now. Do not record it again: see /payments."
            )
    return end_flow(context)


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
        receipt = await payments.receipt(context.admin_db, payment_id)
    except DomainError as exc:
        await reply(update, esc(exc))
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
        await reply(update, f"{esc(exc)} Please type the reason again, or /cancel.")
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
        await reply(update, f"Not voided: {esc(exc)}")
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
        CallbackQueryHandler(rp_bill, pattern=rf"^{RP_BILL_DATA}:"),
        CommandHandler("voidpayment", voidpayment, filters=admin_filter),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        RP_METER: [MessageHandler(TEXT, rp_meter)],
        RP_AMOUNT: [
            CallbackQueryHandler(rp_amount, pattern=rf"^{RP_AMOUNT_DATA}:(full|other)$"),
            MessageHandler(TEXT, rp_type_amount),
        ],
        RP_METHOD: [CallbackQueryHandler(rp_method, pattern=rf"^{RP_METHOD_DATA}:")],
        RP_CONFIRM: [CallbackQueryHandler(rp_confirm, pattern=rf"^{RP_OK}:")],
        VOID_REASON: [MessageHandler(TEXT, void_reason)],
        VOID_CONFIRM: [CallbackQueryHandler(void_confirm, pattern=rf"^{VOID_OK}:")],
    }


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(payments_page, pattern=rf"^{PAYMENTS_PAGE}:"),
        # A confirm pressed after its flow ended answers with the payment already made.
        CallbackQueryHandler(rp_confirm, pattern=rf"^{RP_OK}:"),
    ]
