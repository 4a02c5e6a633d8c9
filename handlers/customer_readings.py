"""Customers: /reading — send this month's meter reading, optionally with a photo of the meter.

A step of the customer conversation (Cancel, timeout, survives a restart): the customer types
the number (or sends the photo with the number as its caption, or the photo first), the bot
shows the units it makes, then takes a photo or "send without a photo". The reading is stored
pending on the customer account (``domain.readings.submit``); staff accept, correct or reject
it (/readings) and the customer is told.
"""

from __future__ import annotations

from datetime import date, datetime

from telegram import Message, Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import BillingContext
from domain import readings
from domain.errors import DomainError, InvalidInput, ReadingBelowPrevious
from domain.models import Customer
from domain.readings import (
    InvalidReading,
    MonthAlreadyBilled,
    ReadingAboveNext,
    ReadingAlreadySent,
    ReadingStatus,
    ReadingTooLarge,
    figure,
)
from handlers.common import (
    answer_query,
    buttons,
    cancel_row,
    current_customer,
    esc,
    local_time,
    month_label,
    reply,
)

# Conversation states.
READING_VALUE = "creading:value"
READING_PHOTO = "creading:photo"

# Callback data.
SEND_WITHOUT_PHOTO = "crdsend"

FLOW_KEY = "reading"  # in context.flow: {"reading": "12345", "photo": "<file_id>"}
TEXT = filters.TEXT & ~filters.COMMAND


def _month(context: BillingContext) -> date:
    return datetime.now(context.config.timezone).date().replace(day=1)


def _state(context: BillingContext, *, fresh: bool = False) -> dict[str, str]:
    state = context.flow.get(FLOW_KEY)
    if fresh or not isinstance(state, dict):
        state = {}
        context.flow[FLOW_KEY] = state
    return state


def end(context: BillingContext) -> int:
    context.flow.pop(FLOW_KEY, None)
    return ConversationHandler.END


def refusal_text(exc: DomainError) -> str:
    """Why the bot cannot take a customer's reading, in their words."""
    if isinstance(exc, ReadingBelowPrevious):
        when = f" in {month_label(exc.previous_month)}" if exc.previous_month else ""
        return (
            f"{figure(exc.current)} is lower than your last reading, "
            f"{figure(exc.previous)}{when}. Please check the number on the meter."
        )
    if isinstance(exc, ReadingTooLarge):
        return f"Your meter shows {exc.digits} digits; {figure(exc.reading)} has more."
    if isinstance(exc, ReadingAboveNext):
        return f"{figure(exc.current)} is higher than a later reading, {figure(exc.next_reading)}."
    if isinstance(exc, InvalidReading):
        return (
            "Please type just the number your meter shows, e.g. 12345 (digits only, no letters)."
        )
    return esc(exc)


def already_text(existing: readings.Reading, context: BillingContext) -> str:
    month = month_label(existing.billing_month)
    if existing.status is ReadingStatus.ACCEPTED:
        return f"Your reading for {month} is already recorded: <b>{figure(existing.reading)}</b>."
    if existing.status is ReadingStatus.PENDING:
        return (
            f"You sent <b>{figure(existing.reading)}</b> for {month} on "
            f"{local_time(existing.created_at, context)}; our staff are checking it and will "
            "let you know."
        )
    return (
        f"Your reading for {month} was not accepted; our staff will read the meter. Please "
        "contact the utility office if you have questions."
    )


async def reading_command(update: Update, context: BillingContext) -> str | int:
    """Show the last reading and ask for this month's."""
    customer = await current_customer(update, context)
    if customer is None:
        return end(context)
    month = _month(context)
    existing = await readings.reading_of_month(context.customer_db, customer.customer_id, month)
    if existing is not None:
        await reply(update, already_text(existing, context))
        return end(context)
    bill_id = await readings.bill_of_month(context.customer_db, customer.customer_id, month)
    if bill_id is not None:
        await reply(
            update,
            f"Your bill for {month_label(month)} is already issued, so no reading is needed "
            "this month. Thank you!",
        )
        return end(context)
    _state(context, fresh=True)
    previous = await readings.previous_reading(context.customer_db, customer.customer_id, month)
    last = (
        f"Your last reading: <b>{figure(previous.reading)}</b> "
        f"({month_label(previous.billing_month)}).\n"
        if previous is not None
        else ""
    )
    await reply(
        update,
        f"<b>Meter reading for {month_label(month)}</b>\n{last}"
        "Type the number your meter shows now. You can also send a photo of the meter (with "
        "the number as its caption, or before you type it).",
        buttons([cancel_row()]),
    )
    return READING_VALUE


async def value_typed(update: Update, context: BillingContext) -> str | int:
    """A typed number, or a photo (with or without the number as its caption)."""
    message = update.effective_message
    customer = await current_customer(update, context)
    if message is None or customer is None:
        return end(context)
    state = _state(context)
    photo = _photo_id(message)
    if photo is not None:
        state["photo"] = photo
    text = message.text if message.text is not None else message.caption
    if text is None:  # a photo without a caption: the number next
        await message.reply_text(
            "📷 Thank you. Now type the number the meter shows.",
            reply_markup=buttons([cancel_row()]),
        )
        return READING_VALUE
    try:
        value = readings.parse_reading(text[:64])
        made = await readings.preview(
            context.customer_db,
            customer.customer_id,
            _month(context),
            value,
            current_month=_month(context),
        )
    except (InvalidInput, MonthAlreadyBilled) as exc:
        await message.reply_text(
            f"❌ {refusal_text(exc)}\nType the reading again, or press Cancel.",
            reply_markup=buttons([cancel_row()]),
        )
        return READING_VALUE
    state["reading"] = str(value)
    if "photo" in state:
        return await _submit(update, context, customer)
    used = (
        f"That is <b>{figure(made.units)} kWh</b> since your last reading.\n"
        if made.units is not None
        else ""
    )
    await message.reply_text(
        f"Reading <b>{figure(value)}</b>. {used}"
        "Send a photo of the meter to go with it (it helps our staff), or send it without one.",
        reply_markup=buttons([[("📤 Send without a photo", SEND_WITHOUT_PHOTO)], cancel_row()]),
    )
    return READING_PHOTO


def _photo_id(message: Message) -> str | None:
    """The file id of the largest size of a photo (or an image sent as a file)."""
    if message.photo:
        return message.photo[-1].file_id
    document = message.document
    if document is not None and (document.mime_type or "").startswith("image/"):
        return document.file_id
    return None


async def photo_sent(update: Update, context: BillingContext) -> str | int:
    """The photo of the meter: send the reading with it."""
    message = update.effective_message
    customer = await current_customer(update, context)
    if message is None or customer is None:
        return end(context)
    photo = _photo_id(message)
    if photo is None:
        await message.reply_text(
            "Please send a photo of the meter, or press “Send without a photo”.",
            reply_markup=buttons(
                [[("📤 Send without a photo", SEND_WITHOUT_PHOTO)], cancel_row()]
            ),
        )
        return READING_PHOTO
    _state(context)["photo"] = photo
    return await _submit(update, context, customer)


async def without_photo(update: Update, context: BillingContext) -> str | int:
    await answer_query(update)
    customer = await current_customer(update, context)
    if customer is None:
        return end(context)
    return await _submit(update, context, customer)


async def _submit(update: Update, context: BillingContext, customer: Customer) -> int:
    state = _state(context)
    if "reading" not in state:
        await reply(update, "That screen is out of date. Please send /reading again.")
        return end(context)
    try:
        sent = await readings.submit(
            context.customer_db,
            customer_id=customer.customer_id,
            reading=readings.parse_reading(state["reading"]),
            current_month=_month(context),
            photo_file_id=state.get("photo"),
        )
    except ReadingAlreadySent as exc:
        await reply(update, already_text(exc.existing, context))
        return end(context)
    except (InvalidInput, MonthAlreadyBilled) as exc:
        await reply(
            update, f"❌ {refusal_text(exc)} Nothing was sent; send /reading to try again."
        )
        return end(context)
    photo = " with its photo" if sent.reading.photo_file_id else ""
    await reply(
        update,
        f"📨 Thank you! Your reading <b>{figure(sent.reading.reading)}</b> for "
        f"{month_label(sent.reading.billing_month)} was sent{photo}. Our staff will check it "
        "and let you know.",
    )
    return end(context)


def entry_points() -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("reading", reading_command)]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    photo = filters.PHOTO | filters.Document.IMAGE
    return {
        READING_VALUE: [MessageHandler(TEXT | photo, value_typed)],
        READING_PHOTO: [
            MessageHandler(photo, photo_sent),
            CallbackQueryHandler(without_photo, pattern=rf"^{SEND_WITHOUT_PHOTO}$"),
            MessageHandler(TEXT, photo_sent),
        ],
    }
