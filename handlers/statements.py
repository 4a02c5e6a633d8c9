"""Bill statements as PDF documents: sent with the new-bill notice, and on /statement
[YYYY-MM] (the customer's own bills only; the newest by default)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from functools import partial

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.context import BillingContext
from domain import statements, validation
from domain.db import Database
from domain.errors import BillNotFound, DomainError
from domain.models import now_utc
from handlers.common import current_customer, esc, month_label, reply
from handlers.notifications import Attachment, Notice
from handlers.render.statement import render_statement_pdf, statement_filename

log = logging.getLogger(__name__)

USAGE = "Send /statement for your latest bill, or /statement YYYY-MM for another month."


@dataclass(frozen=True)
class StatementDocument:
    """A statement drawn and ready to send."""

    filename: str
    caption: str
    pdf: bytes


async def draw_statement(
    context: BillingContext, bill_id: int, *, db: Database, customer_id: int | None = None
) -> StatementDocument:
    """Read a bill's statement and draw it off the event loop (in a worker process); with
    ``customer_id`` the bill must be that customer's (else BillNotFound)."""
    found = await statements.statement(db, bill_id, customer_id=customer_id)
    config = context.config
    draw = partial(
        render_statement_pdf,
        found,
        utility_name=config.utility_name,
        currency=config.currency,
        timezone=config.timezone,
        drawn_at=now_utc(),
        contact=config.utility_contact,
    )
    renderer = context.bot_data.receipt_renderer
    if renderer is not None:  # a worker process: the event loop never waits on fpdf2
        pdf = await renderer.draw(draw)
    else:
        pdf = await asyncio.to_thread(draw)
    caption = (
        f"Statement for {month_label(found.bill.billing_month)} · "
        f"amount due {esc(config.currency.format(found.amount_due))}"
    )
    return StatementDocument(statement_filename(found), caption, pdf)


def with_statement(notice: Notice, context: BillingContext, bill_id: int) -> Notice:
    """``notice`` (a new bill's) sent as the caption of the bill's statement, drawn when it
    is sent."""

    async def attachment() -> Attachment:
        drawn = await draw_statement(context, bill_id, db=context.admin_db)
        return Attachment(drawn.filename, drawn.pdf)

    return replace(notice, attachment=attachment)


async def statement_command(update: Update, context: BillingContext) -> None:
    """Send the statement of the customer's bill for the month typed, or of their newest."""
    customer = await current_customer(update, context)
    chat = update.effective_chat
    if customer is None or chat is None:
        return
    month = None
    if context.args:
        try:
            month = validation.billing_month(context.args[0][:20])
        except DomainError:
            await reply(update, f"That is not a month I know. {USAGE}")
            return
    try:
        bill_id = await statements.bill_of_month(context.customer_db, customer.customer_id, month)
        drawn = await draw_statement(
            context, bill_id, db=context.customer_db, customer_id=customer.customer_id
        )
    except BillNotFound:
        if month is None:
            await reply(update, "You have no bills yet, so there is no statement to send.")
        else:
            await reply(
                update,
                f"You have no bill for {month_label(month)}. Send /bills all to see your "
                "bills, or /statement for the latest.",
            )
        return
    await context.bot.send_document(
        chat.id, document=drawn.pdf, filename=drawn.filename, caption=drawn.caption
    )


def handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("statement", statement_command)]
