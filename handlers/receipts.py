"""Receipts as PDF documents: sent after a payment, and again on /receipt."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import BillingContext
from domain import payments, receipts
from domain.errors import DomainError
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    current_customer,
    esc,
    int_part,
    pager_row,
    reply,
)
from handlers.render.receipt import receipt_filename, render_receipt_pdf
from handlers.words import explain_html

RECEIPT = "rcpt"  # rcpt:<payment_id>
RECEIPT_PAGE = "rcptp"  # rcptp:<page>
PAGE_SIZE = 5


@dataclass(frozen=True)
class ReceiptDocument:
    """A receipt drawn and ready to send."""

    receipt_number: str
    filename: str
    caption: str
    pdf: bytes


async def draw_receipt(
    context: BillingContext, payment_id: int, *, customer_id: int | None = None
) -> ReceiptDocument:
    """Draw a payment's receipt off the event loop (in a worker process).

    With ``customer_id`` the payment must be that customer's (else PaymentNotFound).
    """
    db = context.customer_db if customer_id is not None else context.admin_db
    receipt = await receipts.receipt(db, payment_id, customer_id=customer_id)
    config = context.config
    renderer = context.bot_data.receipt_renderer
    if renderer is not None:  # a worker process: the event loop never waits on fpdf2
        pdf = await renderer.render(
            receipt,
            utility_name=config.utility_name,
            currency=config.currency,
            timezone=config.timezone,
            contact=config.utility_contact,
        )
    else:
        pdf = await asyncio.to_thread(
            render_receipt_pdf,
            receipt,
            utility_name=config.utility_name,
            currency=config.currency,
            timezone=config.timezone,
            contact=config.utility_contact,
        )
    caption = f"Receipt {esc(receipt.receipt_number)}"
    if receipt.voided:
        caption += " — VOIDED"
    return ReceiptDocument(
        receipt.receipt_number, receipt_filename(receipt.receipt_number), caption, pdf
    )


async def deliver_receipt(context: BillingContext, chat_id: int, drawn: ReceiptDocument) -> str:
    """Send a drawn receipt as a chat document; return its number."""
    await context.bot.send_document(
        chat_id, document=drawn.pdf, filename=drawn.filename, caption=drawn.caption
    )
    return drawn.receipt_number


async def send_receipt(
    context: BillingContext, chat_id: int, payment_id: int, *, customer_id: int | None = None
) -> str:
    """Draw a payment's receipt off the event loop and send it; return its number."""
    drawn = await draw_receipt(context, payment_id, customer_id=customer_id)
    return await deliver_receipt(context, chat_id, drawn)


async def receipt_command(update: Update, context: BillingContext) -> None:
    """List the customer's payments so any receipt can be sent again."""
    await _show_payments(update, context, page=0)


async def receipt_page(update: Update, context: BillingContext) -> None:
    """Turn a page of the payments list."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, RECEIPT_PAGE, 1) if update.callback_query else None
    )
    page = int_part(parts[0], maximum=10_000) if parts else None
    if page is not None:
        await _show_payments(update, context, page=page)


async def _show_payments(update: Update, context: BillingContext, *, page: int) -> None:
    customer = await current_customer(update, context)
    if customer is None:
        return
    found = await payments.customer_payments(
        context.customer_db, customer.customer_id, page=page, page_size=PAGE_SIZE
    )
    if not found.items:
        await reply(update, "You have no payments yet. Send /pay to pay a bill.")
        return
    money = context.config.currency.format
    rows = [
        [
            (
                f"{p.date_of_payment.astimezone(context.config.timezone):%d %b} · "
                f"{money(p.amount_paid)} · {p.billing_month:%b %Y}"
                + (" · void" if p.is_void else "")
            ),
            f"{RECEIPT}:{p.payment_id}",
        ]
        for p in found.items
    ]
    keyboard = [[(label, data)] for label, data in rows]
    if found.pages > 1:
        keyboard.append(pager_row(RECEIPT_PAGE, page, found.pages))
    await reply(update, "<b>Your payments</b>\nChoose one to get its receipt:", buttons(keyboard))


async def receipt_pressed(update: Update, context: BillingContext) -> None:
    """Send the chosen receipt, if the payment is this customer's."""
    await answer_query(update)
    query = update.callback_query
    parts = callback_parts(query, RECEIPT, 1) if query else None
    payment_id = int_part(parts[0]) if parts else None
    customer = await current_customer(update, context)
    chat = update.effective_chat
    if customer is None or chat is None:
        return
    if payment_id is None:
        await chat.send_message("That receipt could not be found.")
        return
    try:
        await send_receipt(context, chat.id, payment_id, customer_id=customer.customer_id)
    except DomainError as exc:
        await chat.send_message(explain_html(exc, context))


def handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("receipt", receipt_command),
        CallbackQueryHandler(receipt_pressed, pattern=rf"^{RECEIPT}:"),
        CallbackQueryHandler(receipt_page, pattern=rf"^{RECEIPT_PAGE}:"),
    ]
