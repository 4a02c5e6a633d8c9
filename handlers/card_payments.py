"""Card and wallet payments through Telegram Payments: the invoice, the pre-checkout answer and
the successful payment (issue 13).

/pay sends an invoice (:func:`send_invoice`) whose payload is only the invoice row's random
reference. Telegram asks before it charges: :func:`pre_checkout` answers at the top level
(a pre-checkout query has no chat, so a per-chat conversation would never see it). When
Telegram reports the charge, :func:`successful_payment` records it once per charge id and
sends the receipt; a re-delivered report changes nothing and sends nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from telegram import LabeledPrice, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, MessageHandler, PreCheckoutQueryHandler, filters

from bot.context import BillingContext
from bot.update_processor import after_update
from domain import card_payments, payments
from domain.errors import DomainError, InvoiceRefused
from domain.models import Bill, Customer
from domain.money import Currency
from handlers.common import esc, month_label
from handlers.notifications import notify_admins_of_payment
from handlers.receipts import deliver_receipt, draw_receipt
from handlers.words import explain

log = logging.getLogger(__name__)


def card_unavailable(amount: Decimal, currency: Currency) -> str | None:
    """Why card is not offered for ``amount`` (None: it is)."""
    bounds = card_payments.card_bounds(currency)
    if bounds is None:
        return None
    low, high = bounds
    if amount < low:
        return (
            f"Card payments start at {currency.format(low)}: pay by transfer for a smaller "
            "amount, or choose a larger one."
        )
    if amount > high:
        return (
            f"One card payment can be at most {currency.format(high)}: choose “Another "
            "amount” to pay in parts, or pay by transfer."
        )
    return None


async def send_invoice(
    context: BillingContext, chat_id: int, customer: Customer, bill: Bill, amount: Decimal
) -> card_payments.Invoice:
    """Write the invoice row and send Telegram's invoice for it (raises DomainError)."""
    config = context.config
    assert config.payment_provider_token is not None
    invoice = await card_payments.create_invoice(
        context.customer_db,
        customer_id=customer.customer_id,
        bill_id=bill.bill_id,
        amount=amount,
        currency=config.currency,
        lifetime=timedelta(minutes=config.invoice_lifetime_minutes),
    )
    month = month_label(bill.billing_month)
    await context.bot.send_invoice(
        chat_id,
        title=f"Electricity bill, {month}"[:32],
        description=(
            f"{config.utility_name} · meter {customer.meter_number} · {month} bill. "
            f"Pay within {config.invoice_lifetime_minutes} minutes."
        )[:255],
        payload=invoice.reference,
        provider_token=config.payment_provider_token,
        currency=config.currency.code,
        prices=[LabeledPrice(f"{month} bill", config.currency.to_minor(amount))],
    )
    return invoice


async def pre_checkout(update: Update, context: BillingContext) -> None:
    """Tell Telegram whether to charge: the invoice must still be good (well inside 10 s)."""
    query = update.pre_checkout_query
    if query is None:
        return
    config = context.config
    try:
        await card_payments.check_pre_checkout(
            context.customer_db,
            reference=query.invoice_payload,
            telegram_user_id=query.from_user.id,
            currency_code=query.currency,
            total_minor=query.total_amount,
            currency=config.currency,
        )
    except InvoiceRefused as exc:
        await query.answer(ok=False, error_message=explain(exc, config.currency))
        return
    except DomainError:
        await query.answer(
            ok=False,
            error_message="I could not check this payment just now — nothing was charged. "
            "Please try again in a minute.",
        )
        return
    await query.answer(ok=True)


async def successful_payment(update: Update, context: BillingContext) -> None:
    """Record the charge once (its bill's part as a card payment, the rest as credit) and
    send the receipt; a charge already recorded is not acknowledged again."""
    message = update.effective_message
    paid = message.successful_payment if message else None
    if message is None or paid is None:
        return
    config = context.config
    try:
        result = await card_payments.record_charge(
            context.payments_db,
            reference=paid.invoice_payload,
            charge=payments.ChargeIds(
                paid.telegram_payment_charge_id, paid.provider_payment_charge_id
            ),
            currency_code=paid.currency,
            total_minor=paid.total_amount,
            currency=config.currency,
        )
    except InvoiceRefused:
        log.error("a charge for an unknown invoice was reported; charge id kept in Telegram")
        await message.reply_text(
            "Your payment went through, but I cannot match it to a bill. Please contact "
            f"{esc(config.utility_name)} with this reference: "
            f"<code>{esc(paid.telegram_payment_charge_id)}</code>"
        )
        return
    if not result.created:
        return  # the same report delivered again: it was acknowledged the first time
    await after_update(context.application, update, _acknowledge(context, message.chat_id, result))


async def _acknowledge(
    context: BillingContext, chat_id: int, result: card_payments.ChargeResult
) -> None:
    """Tell the payer what became of the money; send the receipt of the bill's part."""
    money = context.config.currency.format
    lines = [f"✅ Card payment of {money(result.amount)} received."]
    if result.payment is not None:
        lines.append(
            f"{money(result.payment.amount_paid)} paid the "
            f"{month_label(result.payment.billing_month)} bill "
            f"(receipt <code>{esc(result.payment.receipt_number)}</code>); balance on it "
            f"{money(result.bill.outstanding)}."
        )
    if result.credited > 0:
        lines.append(
            f"{money(result.credited)} was more than the bill still owed, so it is kept as "
            f"account credit (now {money(result.credit_balance)}): it pays your next bill."
        )
    try:
        # The words first: the payer sees the money acknowledged at once, whatever the queue
        # at the receipt workers; the PDF follows (its number is already in the words).
        await context.bot.send_message(chat_id, "\n".join(lines))
        if result.payment is not None:
            drawn = await draw_receipt(context, result.payment.payment_id)
            await deliver_receipt(context, chat_id, drawn)
    except (TelegramError, DomainError) as exc:
        log.warning("charge %s recorded; acknowledgement not delivered: %r", result.charge_id, exc)
    if result.payment is not None:
        # Staff who asked to be told of payments (/notify on) hear of card payments too; not
        # tied to this update, so a failure there never reaches the payer.
        context.application.create_task(
            notify_admins_of_payment(context, result.payment.payment_id)
        )


def handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    """Top-level handlers: before the conversations, so no flow state can swallow them."""
    return [
        PreCheckoutQueryHandler(pre_checkout),
        MessageHandler(filters.SUCCESSFUL_PAYMENT, successful_payment),
    ]
