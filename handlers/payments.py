"""/pay: choose an own unpaid bill → full or other amount → how to pay.

Money is taken, not declared (issue 13): "Card" sends a Telegram invoice for the amount
(handlers/card_payments.py records the charge when Telegram reports it); "Bank transfer" and
"Mobile money" show where to send the money and file a claim with its reference, which
counts only once staff confirm it; "Account credit" pays from money already received, after
a confirm screen. The confirm button carries the payment's idempotency key: a second press (or
the same update delivered twice) finds the payment already made with that key and sends the
same receipt.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import BillingContext
from bot.update_processor import after_update
from domain import bills, claims, payments
from domain.claims import ReferenceAlreadyClaimed
from domain.errors import DatabaseUnavailable, DomainError, InvalidInput, WrongCurrency
from domain.models import CUSTOMER_METHODS, Bill, Customer, Payment, PaymentMethod, now_utc
from domain.money import Currency, parse_amount
from handlers.card_payments import card_unavailable, send_invoice
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    cancel_row,
    current_customer,
    esc,
    int_part,
    month_label,
    reply,
)
from handlers.receipts import deliver_receipt, draw_receipt

log = logging.getLogger(__name__)

# Conversation states.
PAY_BILL = "pay:bill"
PAY_AMOUNT = "pay:amount"
PAY_TYPE_AMOUNT = "pay:type_amount"
PAY_METHOD = "pay:method"
PAY_CONFIRM = "pay:confirm"
PAY_CLAIM_REFERENCE = "pay:claim_reference"

# Callback data: paybill:<bill_id>, payamt:full|other, paymethod:<method>, payok:<key>
PAY_BILL_DATA = "paybill"
PAY_AMOUNT_DATA = "payamt"
PAY_METHOD_DATA = "paymethod"
PAY_CONFIRM_DATA = "payok"
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
    rows = [
        [
            (
                f"{month_label(b.billing_month)} · {money(b.outstanding)} owed",
                f"{PAY_BILL_DATA}:{b.bill_id}",
            )
        ]
        for b in open_bills
    ]
    await reply(update, "Which bill would you like to pay?", buttons([*rows, cancel_row()]))
    return PAY_BILL


async def _own_open_bill(update: Update, context: BillingContext, bill_id: int) -> Bill | None:
    customer = await current_customer(update, context)
    if customer is None:
        return None
    try:
        bill = await bills.get(context.customer_db, bill_id, customer_id=customer.customer_id)
    except DomainError as exc:
        await reply(update, esc(exc))
        return None
    if bill.outstanding <= 0:
        await reply(update, "This bill is already fully paid.")
        return None
    return bill


async def choose_bill(update: Update, context: BillingContext) -> str | int:
    """Check the bill is the customer's own and open; offer full or other amount."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, PAY_BILL_DATA, 1) if update.callback_query else None
    )
    bill_id = int_part(parts[0]) if parts else None
    bill = await _own_open_bill(update, context, bill_id) if bill_id is not None else None
    if bill is None:
        return _forget(context)
    context.flow["pay"] = {"bill_id": bill.bill_id}
    money = context.config.currency.format
    text = (
        f"<b>Bill for {month_label(bill.billing_month)}</b>\n"
        f"Total: {money(bill.total_amount)}\nPaid so far: {money(bill.amount_paid)}\n"
        f"<b>Outstanding: {money(bill.outstanding)}</b>\nDue: {bill.due_date:%d %b %Y}\n\n"
        "How much would you like to pay?"
    )
    keyboard = [
        [(f"Pay in full · {money(bill.outstanding)}", f"{PAY_AMOUNT_DATA}:full")],
        [("Another amount", f"{PAY_AMOUNT_DATA}:other")],
        cancel_row(),
    ]
    await reply(update, text, buttons(keyboard))
    return PAY_AMOUNT


async def choose_amount(update: Update, context: BillingContext) -> str | int:
    """Full amount → choose a method; other amount → ask for it."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, PAY_AMOUNT_DATA, 1)
        if update.callback_query
        else None
    )
    state = context.flow.get("pay")
    if not parts or not isinstance(state, dict) or "bill_id" not in state:
        return await _restart(update, context)
    bill = await _own_open_bill(update, context, int(state["bill_id"]))
    if bill is None:
        return _forget(context)
    if parts[0] == "full":
        state["amount"] = str(bill.outstanding)
        return await _ask_method(update, context)
    money = context.config.currency.format
    await reply(
        update,
        f"Please type the amount to pay (up to {money(bill.outstanding)}), e.g. 1500.50.",
        buttons([cancel_row()]),
    )
    return PAY_TYPE_AMOUNT


def amount_refusal(exc: DomainError, currency: Currency) -> str:
    """The reply to a typed amount that was refused (also used by staff /recordpayment)."""
    if isinstance(exc, WrongCurrency):
        return (
            f"I can only take amounts in {esc(currency.code)} ({esc(currency.symbol)}); "
            f"“{esc(exc.typed)}” is not {esc(currency.code)}. Please type the amount in "
            f"{esc(currency.code)}, e.g. 1500.50 or {esc(currency.format(Decimal('1500.50')))}."
        )
    return esc(exc)


async def type_amount(update: Update, context: BillingContext) -> str | int:
    """Read a typed amount; it must be more than zero and at most the outstanding balance."""
    message = update.effective_message
    state = context.flow.get("pay")
    if message is None or message.text is None:
        return PAY_TYPE_AMOUNT
    if not isinstance(state, dict) or "bill_id" not in state:
        return await _restart(update, context)
    try:
        amount = parse_amount(message.text[:100], currency=context.config.currency)
    except DomainError as exc:
        await message.reply_text(
            amount_refusal(exc, context.config.currency), reply_markup=buttons([cancel_row()])
        )
        return PAY_TYPE_AMOUNT
    bill = await _own_open_bill(update, context, int(state["bill_id"]))
    if bill is None:
        return _forget(context)
    if amount > bill.outstanding:
        money = context.config.currency.format
        await message.reply_text(
            f"That is more than the {money(bill.outstanding)} outstanding. "
            "Please type a smaller amount.",
            reply_markup=buttons([cancel_row()]),
        )
        return PAY_TYPE_AMOUNT
    state["amount"] = str(amount)
    return await _ask_method(update, context)


async def _ask_method(update: Update, context: BillingContext) -> str | int:
    """Offer the ways to pay this amount: card (when a provider is set up and Telegram takes
    the amount), a transfer claim, or account credit (when there is some)."""
    state = context.flow.get("pay")
    customer = await current_customer(update, context)
    if customer is None or not isinstance(state, dict):
        return _forget(context)
    config = context.config
    amount = Decimal(state["amount"])
    notes: list[str] = []
    rows: list[list[tuple[str, str]]] = []
    if config.payment_provider_token and config.currency.card_limits is not None:
        why_not = card_unavailable(amount, config.currency)
        if why_not is None:
            rows.append([("💳 Card", f"{PAY_METHOD_DATA}:{PaymentMethod.CARD.value}")])
        else:
            notes.append(why_not)
    rows.append([("🏦 Bank transfer", f"{PAY_METHOD_DATA}:{PaymentMethod.BANK_TRANSFER.value}")])
    rows.append([("📱 Mobile money", f"{PAY_METHOD_DATA}:{PaymentMethod.MOBILE_MONEY.value}")])
    credit = customer.credit  # read with the customer, just now
    if credit > 0:
        rows.append(
            [
                (
                    f"Account credit · {config.currency.format(credit)}",
                    f"{PAY_METHOD_DATA}:{PaymentMethod.CREDIT.value}",
                )
            ]
        )
    text = "\n".join(
        [f"How will you pay {config.currency.format(amount)}?", *(esc(n) for n in notes)]
    )
    await reply(update, text, buttons([*rows, cancel_row()]))
    return PAY_METHOD


async def choose_method(update: Update, context: BillingContext) -> str | int:
    """Card → the invoice; transfer → where to send it, then its reference; credit → the
    confirm screen, whose button carries a fresh idempotency key."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, PAY_METHOD_DATA, 1)
        if update.callback_query
        else None
    )
    state = context.flow.get("pay")
    if not isinstance(state, dict) or "amount" not in state:
        return await _restart(update, context)
    if not parts or parts[0] not in {m.value for m in (*CUSTOMER_METHODS, PaymentMethod.CREDIT)}:
        return PAY_METHOD
    customer = await current_customer(update, context)
    chat = update.effective_chat
    bill = await _own_open_bill(update, context, int(state["bill_id"]))
    if bill is None or customer is None or chat is None:
        return _forget(context)
    method = PaymentMethod(parts[0])
    money = context.config.currency.format
    amount = Decimal(state["amount"])
    if method is PaymentMethod.CARD:
        return await _pay_by_card(update, context, chat.id, customer, bill, amount)
    if method in (PaymentMethod.BANK_TRANSFER, PaymentMethod.MOBILE_MONEY):
        state["method"] = method.value
        details = context.config.transfer_details or "Ask our office for the account details."
        await reply(
            update,
            f"<b>Pay {money(amount)} by {method.label.lower()}</b>\n{esc(details)}\n\n"
            "Then type the reference of your transfer (as on your bank or mobile-money "
            "receipt). Our staff check it against the account; until then it does not reduce "
            "your balance.",
            buttons([cancel_row()]),
        )
        return PAY_CLAIM_REFERENCE
    credit = customer.credit  # read with the customer, just now
    amount = min(amount, credit)
    if amount <= 0:
        await reply(update, "You have no account credit. Send /pay to choose another way.")
        return _forget(context)
    state.update(method=method.value, amount=str(amount), key=payments.new_idempotency_key())
    text = (
        "<b>Please confirm</b>\n"
        f"Pay {money(amount)} towards the {month_label(bill.billing_month)} bill\n"
        f"from your account credit ({money(credit)}).\n"
        f"Balance after this payment: {money(bill.outstanding - amount)}"
    )
    keyboard = [[("✅ Confirm payment", f"{PAY_CONFIRM_DATA}:{state['key']}")], cancel_row()]
    await reply(update, text, buttons(keyboard))
    return PAY_CONFIRM


async def _pay_by_card(
    update: Update,
    context: BillingContext,
    chat_id: int,
    customer: Customer,
    bill: Bill,
    amount: Decimal,
) -> int:
    """Send the invoice; Telegram's own payment screen takes it from there."""
    _forget(context)
    if not context.config.payment_provider_token:
        await reply(update, "Card payments are not available. Send /pay to choose another way.")
        return ConversationHandler.END
    try:
        invoice = await send_invoice(context, chat_id, customer, bill, amount)
    except DomainError as exc:
        await reply(update, f"{esc(exc)}\nNothing was charged.")
        return ConversationHandler.END
    except TelegramError as exc:
        log.warning("invoice not sent: %r", exc)
        await reply(update, "I could not create the card payment just now. Nothing was charged.")
        return ConversationHandler.END
    minutes = int((invoice.expires_at - now_utc()).total_seconds() // 60) + 1
    await reply(
        update,
        f"Here is your invoice for {context.config.currency.format(amount)}. Tap <b>Pay</b> "
        f"on it to pay by card; it can be paid for {minutes} minutes. Nothing is charged "
        "until you pay.",
    )
    return ConversationHandler.END


async def claim_reference(update: Update, context: BillingContext) -> str | int:
    """File the transfer claim: it changes no balance until staff confirm it."""
    message = update.effective_message
    state = context.flow.get("pay")
    if message is None or message.text is None:
        return PAY_CLAIM_REFERENCE
    if not isinstance(state, dict) or "method" not in state:
        return await _restart(update, context)
    customer = await current_customer(update, context)
    if customer is None:
        return _forget(context)
    money = context.config.currency.format
    try:
        claim = await claims.submit(
            context.customer_db,
            customer_id=customer.customer_id,
            bill_id=int(state["bill_id"]),
            amount=Decimal(state["amount"]),
            method=PaymentMethod(state["method"]),
            reference=message.text[:200],
        )
    except ReferenceAlreadyClaimed:
        await message.reply_text(
            "That transfer reference has already been claimed. Please check it and type it "
            "again, or /cancel.",
            reply_markup=buttons([cancel_row()]),
        )
        return PAY_CLAIM_REFERENCE
    except InvalidInput as exc:
        await message.reply_text(
            f"{esc(exc)} Please type the reference again, or /cancel.",
            reply_markup=buttons([cancel_row()]),
        )
        return PAY_CLAIM_REFERENCE
    except DomainError as exc:
        _forget(context)
        await message.reply_text(f"{esc(exc)}\nNo claim was filed.")
        return ConversationHandler.END
    _forget(context)
    await message.reply_text(
        f"📝 Claim filed: {money(claim.amount)} by {PaymentMethod(state['method']).label.lower()}"
        f", reference <code>{esc(claim.reference)}</code>.\n"
        "It is <b>pending</b>: it does not reduce your balance until our staff confirm the "
        "money reached us. You will get the receipt then."
    )
    return ConversationHandler.END


async def confirm(update: Update, context: BillingContext) -> str | int:
    """Record the payment once and send its receipt; a repeat sends the same receipt."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, PAY_CONFIRM_DATA, 1)
        if update.callback_query
        else None
    )
    customer = await current_customer(update, context)
    chat = update.effective_chat
    if not parts or customer is None or chat is None:
        return ConversationHandler.END
    key = parts[0]
    state = context.flow.get("pay")
    if isinstance(state, dict) and state.get("key") == key:
        try:
            result = await payments.pay_bill(
                context.customer_db,
                bill_id=int(state["bill_id"]),
                amount=Decimal(state["amount"]),
                method=state["method"],
                idempotency_key=key,
                customer_id=customer.customer_id,
            )
        except DatabaseUnavailable as exc:
            # Keep the flow and its Confirm button: pressing it again with the same key
            # records the payment once, or finds the one whose COMMIT answer was lost.
            shown = update.callback_query.message if update.callback_query else None
            await reply(
                update, esc(exc), shown.reply_markup if isinstance(shown, Message) else None
            )
            return PAY_CONFIRM
        except DomainError as exc:
            _forget(context)
            await reply(update, f"{esc(exc)}\nNothing was charged.")
            return ConversationHandler.END
        payment, bill = result.payment, result.bill
        _forget(context)
        if result.created:
            from handlers.notifications import notify_admins_of_payment

            # Not tied to the update: a failure here must not reach the customer as an error.
            context.application.create_task(notify_admins_of_payment(context, payment.payment_id))
    else:
        # Not the flow in progress: a second press, a re-delivered update, or a stale screen.
        found = await payments.find_by_key(
            context.customer_db, key, customer_id=customer.customer_id
        )
        if found is None:
            await reply(update, "This confirmation is no longer valid. Send /pay to start again.")
            return ConversationHandler.END
        payment = found
        bill = await bills.get(context.customer_db, payment.bill_id)
    # The payment is recorded. Its receipt (~20 ms of drawing in a worker process, longer
    # when many are queued) is sent right after this handler, before this chat's next
    # update, without holding one of the bot's slots meanwhile.
    await after_update(
        context.application,
        update,
        _acknowledge(update, context, chat.id, customer, payment, bill),
    )
    return ConversationHandler.END


async def _acknowledge(
    update: Update,
    context: BillingContext,
    chat_id: int,
    customer: Customer,
    payment: Payment,
    bill: Bill,
) -> None:
    """Say the payment is recorded and send its receipt.

    The payment is already committed, so nothing that fails here (Telegram or the database)
    may reach the customer as "nothing was charged": they are pointed at /receipt instead.
    """
    money = context.config.currency.format
    try:
        # Drawn before "recorded" is shown, so the receipt follows the words at once (a bot
        # stopped in between would leave the customer told of a receipt that never comes).
        drawn = await draw_receipt(context, payment.payment_id, customer_id=customer.customer_id)
        await reply(
            update,
            f"✅ Payment of {money(payment.amount_paid)} recorded for "
            f"{month_label(payment.billing_month)}.\n"
            f"Receipt: <code>{esc(payment.receipt_number)}</code>\n"
            f"Balance on this bill: {money(bill.outstanding)}",
        )
        await deliver_receipt(context, chat_id, drawn)
    except Exception as exc:
        if isinstance(exc, TelegramError | DomainError):
            log.warning("payment %s recorded; receipt not delivered: %r", payment.payment_id, exc)
        else:
            log.error("payment %s recorded; receipt failed", payment.payment_id, exc_info=exc)
        try:
            await context.bot.send_message(
                chat_id,
                f"✅ Your payment of {money(payment.amount_paid)} is recorded (receipt "
                f"<code>{esc(payment.receipt_number)}</code>), but I could not send the PDF "
                "just now. Send /receipt to get it.",
            )
        except TelegramError as again:
            log.warning("payment %s: could not tell the customer: %r", payment.payment_id, again)


async def _restart(update: Update, context: BillingContext) -> int:
    _forget(context)
    await reply(update, "That payment screen is out of date. Send /pay to start again.")
    return ConversationHandler.END


def _forget(context: BillingContext) -> int:
    context.flow.pop("pay", None)
    return ConversationHandler.END


def entry_points() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("pay", pay),
        CallbackQueryHandler(pay, pattern=rf"^{MENU_PAY}$"),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    text = filters.TEXT & ~filters.COMMAND
    return {
        PAY_BILL: [CallbackQueryHandler(choose_bill, pattern=rf"^{PAY_BILL_DATA}:")],
        PAY_AMOUNT: [CallbackQueryHandler(choose_amount, pattern=rf"^{PAY_AMOUNT_DATA}:")],
        PAY_TYPE_AMOUNT: [MessageHandler(text, type_amount)],
        PAY_METHOD: [CallbackQueryHandler(choose_method, pattern=rf"^{PAY_METHOD_DATA}:")],
        PAY_CONFIRM: [CallbackQueryHandler(confirm, pattern=rf"^{PAY_CONFIRM_DATA}:")],
        PAY_CLAIM_REFERENCE: [MessageHandler(text, claim_reference)],
    }


def standalone_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    """Buttons pressed after their flow ended (a double tap on Confirm, an old bill list)."""
    return [
        CallbackQueryHandler(confirm, pattern=rf"^{PAY_CONFIRM_DATA}:"),
        CallbackQueryHandler(
            _stale, pattern=rf"^({PAY_BILL_DATA}|{PAY_AMOUNT_DATA}|{PAY_METHOD_DATA}):"
        ),
    ]


async def _stale(update: Update, context: BillingContext) -> None:
    """A button from a payment screen whose flow is over."""
    await answer_query(update)
    await reply(update, "That payment screen is out of date. Send /pay to start again.")
