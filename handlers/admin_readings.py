"""Staff: meter readings. /reading <meter> types a month's reading (accepted at once);
/readings reviews what customers submitted (Accept, Correct, Reject, see the photo).

/reading shows the meter's last readings and asks for this month's (or ``YYYY-MM reading``
for another month), then shows the units it makes before it is saved: a step of the staff
conversation, with Cancel and its timeout. Every refusal (lower than the last, a billed or
future month…) says the figures and asks again. /readings pages oldest first; button data is
``<prefix>:<reading_id>``: every press looks the admin up again, checks the role, and
re-reads the reading; the customer is told the outcome.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BillingContext
from domain import readings, validation
from domain.errors import CustomerNotFound, DomainError, InvalidInput, ReadingBelowPrevious
from domain.models import Admin, Page, now_utc
from domain.readings import (
    Consumption,
    InvalidReading,
    Meter,
    MonthAlreadyBilled,
    MonthReading,
    PendingReading,
    ReadingAboveNext,
    ReadingAlreadyReviewed,
    ReadingInFuture,
    ReadingNotFound,
    ReadingSource,
    ReadingStatus,
    ReadingTooLarge,
    figure,
)
from handlers.admin_claims import age_text
from handlers.admin_gate import (
    STALE_BUTTON,
    end_flow,
    flow_state,
    out_of_date,
    staff_only,
    typed_text,
)
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    cancel_row,
    esc,
    int_part,
    month_label,
    pager_row,
    reply,
)
from handlers.notifications import Notice, send_one

log = logging.getLogger(__name__)

# Conversation states.
READING_METER = "areading:meter"
READING_VALUE = "areading:value"
READING_CONFIRM = "areading:confirm"
READING_CORRECT = "areading:correct"

# Callback data prefixes.
READING_SAVE = "ardsave"  # ardsave (the reading typed in this flow)
READINGS_PAGE = "ardp"  # ardp:<page>
READING_ACCEPT = "ardok"  # ardok:<reading_id>
READING_FIX = "ardfix"  # ardfix:<reading_id>
READING_REJECT = "ardrj"  # ardrj:<reading_id>
READING_PHOTO = "ardph"  # ardph:<reading_id>

PAGE_SIZE = 5
TEXT = filters.TEXT & ~filters.COMMAND
_MONTH_AND_READING_RE = re.compile(r"^\s*(\d{4}-\d{1,2})\s+(.+)$")

SOURCE_WORDS = {
    ReadingSource.STAFF: "staff",
    ReadingSource.IMPORT: "file",
    ReadingSource.CUSTOMER: "customer",
    ReadingSource.ESTIMATE: "estimate",
}


def current_month(context: BillingContext) -> date:
    """The utility's current month (in its time zone): the latest a reading may be for."""
    return datetime.now(context.config.timezone).date().replace(day=1)


# ---------------------------------------------------------------------------------------------
# Rendering (pure)


def reading_line(reading: readings.Reading) -> str:
    """One reading of a meter's history: ``• Oct 2026: 12000 (staff)``."""
    status = {
        ReadingStatus.ACCEPTED: "",
        ReadingStatus.PENDING: ", waiting for review",
        ReadingStatus.REJECTED: ", rejected",
    }[reading.status]
    photo = " 📷" if reading.photo_file_id else ""
    return (
        f"• {month_label(reading.billing_month)}: <b>{figure(reading.reading)}</b> "
        f"({SOURCE_WORDS[reading.source]}{status}){photo}"
    )


def history_html(meter: Meter, recent: list[readings.Reading]) -> str:
    head = f"<b>Meter <code>{esc(meter.meter_number)}</code></b> · {esc(meter.full_name)}"
    if not recent:
        return f"{head}\nNo readings yet: the first one is this meter's baseline."
    return f"{head}\nLast readings:\n" + "\n".join(reading_line(r) for r in recent)


def units_text(made: Consumption) -> str:
    """What a reading makes, in a line or two."""
    if made.previous is None or made.units is None:
        return (
            "This is the meter's first reading: it becomes the baseline, and units are counted "
            "from the next one."
        )
    source = "bill" if made.previous.from_bill else "reading"
    text = (
        f"Previous {source}: {figure(made.previous.reading)} "
        f"({month_label(made.previous.billing_month)})\n"
        f"Units: <b>{figure(made.units)} kWh</b>"
    )
    if made.rolled_over:
        text += "\nThe meter rolled over past its last digit."
    elif made.estimate is not None:
        text += "\n" + _after_estimate(made, made.estimate)
    return text


def _after_estimate(made: Consumption, estimate: MonthReading) -> str:
    """What the bill run makes of this reading after a month it estimated."""
    month, estimated = month_label(made.billing_month), month_label(estimate.billing_month)
    if made.current >= estimate.reading:
        return (
            f"{estimated} was estimated at {figure(estimate.reading)}: the bill run bills "
            f"{figure(made.current - estimate.reading)} kWh for {month}, what the estimate "
            "already billed taken off."
        )
    return (
        f"That is below {estimated}'s estimate of {figure(estimate.reading)}: the bill run "
        f"corrects {estimated}'s estimated bill down to this reading (unless it is already "
        "paid beyond that: then it is left for you)."
    )


def refusal_html(exc: DomainError) -> str:
    """Why a reading was refused, with its figures, in the chat's words."""
    if isinstance(exc, ReadingBelowPrevious):
        when = f" ({month_label(exc.previous_month)})" if exc.previous_month else ""
        return (
            f"{figure(exc.current)} is lower than the previous reading, "
            f"{figure(exc.previous)}{when}, and too far from the meter's end to be a rollover."
        )
    if isinstance(exc, ReadingAboveNext):
        return (
            f"{figure(exc.current)} is higher than {figure(exc.next_reading)}, already recorded "
            f"for {month_label(exc.next_month)}."
        )
    if isinstance(exc, ReadingInFuture):
        return (
            f"{month_label(exc.billing_month)} has not begun yet; readings go up to "
            f"{month_label(exc.current_month)}."
        )
    if isinstance(exc, MonthAlreadyBilled):
        return (
            f"{month_label(exc.billing_month)} is already billed (bill {exc.bill_id}), so its "
            f"reading can no longer change. Correct the bill with /editbill {exc.bill_id}."
        )
    if isinstance(exc, ReadingTooLarge):
        return f"{figure(exc.reading)} has more digits than this meter's {exc.digits}."
    if isinstance(exc, InvalidReading):
        return "That is not a meter reading: type the number on the meter, e.g. 12345."
    return esc(exc)


def pending_card(item: PendingReading, now: datetime) -> str:
    """A customer's submission as a few short lines."""
    reading, meter = item.reading, item.meter
    lines = [
        f"<b>#{reading.reading_id}</b> · {esc(meter.full_name)} "
        f"(<code>{esc(meter.meter_number)}</code>)",
        f"{month_label(reading.billing_month)}: <b>{figure(reading.reading)}</b>",
    ]
    previous = item.previous
    if previous is None:
        lines.append("First reading of this meter (the baseline)")
    else:
        try:
            used, _ = readings.consumption(previous.reading, reading.reading, digits=meter.digits)
            lines.append(
                f"{figure(used)} kWh since {figure(previous.reading)} "
                f"({month_label(previous.billing_month)})"
            )
        except ReadingBelowPrevious:
            lines.append(
                f"⚠ Lower than the previous {figure(previous.reading)} "
                f"({month_label(previous.billing_month)})"
            )
    photo = "📷 with a photo · " if reading.photo_file_id else ""
    lines.append(f"{photo}sent {age_text(reading.created_at, now)}")
    return "\n".join(lines)


def pending_html(found: Page[PendingReading], now: datetime) -> str:
    if not found.items:
        return "<b>Meter readings from customers</b>\nNo readings are waiting to be checked. 🎉"
    head = f"<b>Meter readings from customers</b> ({found.total} waiting, oldest first)"
    return "\n\n".join([head, *(pending_card(item, now) for item in found.items)])


def _back_button() -> list[tuple[str, str]]:
    return [("◀ Back to readings", f"{READINGS_PAGE}:0")]


# ---------------------------------------------------------------------------------------------
# /reading <meter>: type a month's reading


@staff_only(write=True)
async def reading_command(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Show the meter's last readings and ask for this month's (or ask for the meter)."""
    flow_state(context, fresh=True)
    if not context.args:
        await reply(
            update,
            "Which meter? Type its meter number (e.g. MTR-10001).",
            buttons([cancel_row()]),
        )
        return READING_METER
    return await _ask_reading(update, context, " ".join(context.args)[:64])


@staff_only(write=True)
async def meter_typed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    typed = typed_text(update, 64)
    if typed is None:
        return READING_METER
    return await _ask_reading(update, context, typed)


async def _ask_reading(update: Update, context: BillingContext, meter_text: str) -> str | int:
    try:
        meter = await readings.meter(context.admin_db, meter_text)
    except (CustomerNotFound, InvalidInput):
        await reply(
            update,
            f"No customer has meter number <code>{esc(meter_text.strip())}</code>. Type the "
            "meter number again, or press Cancel.",
            buttons([cancel_row()]),
        )
        return READING_METER
    recent = await readings.recent(context.admin_db, meter.customer_id)
    state = flow_state(context, fresh=True)
    state["customer_id"] = str(meter.customer_id)
    month = current_month(context)
    await reply(
        update,
        f"{history_html(meter, recent)}\n\n"
        f"Type the reading for <b>{month_label(month)}</b>, or a month and its reading "
        f"for another month (e.g. <code>{_last_month(month):%Y-%m} 12345</code>).",
        buttons([cancel_row()]),
    )
    return READING_VALUE


def _last_month(month: date) -> date:
    return (
        date(month.year - 1, 12, 1) if month.month == 1 else month.replace(month=month.month - 1)
    )


@staff_only(write=True)
async def value_typed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the typed reading and show the units it makes, with Save."""
    typed = typed_text(update, 64)
    state = flow_state(context)
    customer_id = int_part(state.get("customer_id", ""))
    if typed is None:
        return READING_VALUE
    if customer_id is None:
        return await out_of_date(update, context)
    month = current_month(context)
    text = typed
    found = _MONTH_AND_READING_RE.match(typed)
    try:
        if found:
            month = validation.billing_month(found.group(1))
            text = found.group(2)
        value = readings.parse_reading(text)
        made = await readings.preview(
            context.admin_db, customer_id, month, value, current_month=current_month(context)
        )
    except (InvalidInput, MonthAlreadyBilled) as exc:  # the figure, the month, the checks
        return await _again(update, refusal_html(exc))
    state["billing_month"] = month.isoformat()
    state["reading"] = str(value)
    existing = await readings.reading_of_month(context.admin_db, customer_id, month)
    replaces = ""
    if existing is not None and existing.status is not ReadingStatus.REJECTED:
        whose = "the customer's" if existing.source is ReadingSource.CUSTOMER else "the"
        replaces = f"\nReplaces {whose} {figure(existing.reading)} recorded before."
    await reply(
        update,
        f"<b>{month_label(month)}</b> reading <b>{figure(value)}</b>\n"
        f"{units_text(made)}{replaces}\n\nSave it?",
        buttons([[("✅ Save", READING_SAVE)], cancel_row()]),
    )
    return READING_CONFIRM


async def _again(update: Update, why: str) -> str:
    await reply(
        update, f"❌ {why}\nType the reading again, or press Cancel.", buttons([cancel_row()])
    )
    return READING_VALUE


@staff_only(write=True)
async def save_pressed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Record the reading shown (checked again: the meter may have moved on meanwhile)."""
    await answer_query(update)
    state = flow_state(context)
    customer_id = int_part(state.get("customer_id", ""))
    if customer_id is None or "reading" not in state or "billing_month" not in state:
        return await out_of_date(update, context)
    try:
        recorded = await readings.record(
            context.admin_db,
            customer_id=customer_id,
            billing_month=date.fromisoformat(state["billing_month"]),
            reading=readings.parse_reading(state["reading"]),
            admin_id=admin.admin_id,
            current_month=current_month(context),
        )
    except (InvalidInput, MonthAlreadyBilled) as exc:
        return await _again(update, refusal_html(exc))
    made = recorded.consumption
    await reply(
        update,
        f"✅ Saved: {month_label(made.billing_month)} reading <b>{figure(made.current)}</b> for "
        f"<code>{esc(recorded.meter.meter_number)}</code>.\n{units_text(made)}",
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# /readings: customers' submissions to review


@staff_only(write=False)
async def readings_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """/readings: the customers' readings waiting for review, oldest first."""
    await _show_pending(update, context, admin, page=0)


@staff_only(write=False)
async def readings_page(update: Update, context: BillingContext, admin: Admin) -> None:
    await answer_query(update)
    page = _reading_id(update, READINGS_PAGE)
    if page is not None and page <= 100_000:
        await _show_pending(update, context, admin, page=page)


async def _show_pending(
    update: Update, context: BillingContext, admin: Admin, *, page: int
) -> None:
    found = await readings.pending(context.admin_db, page=page, page_size=PAGE_SIZE)
    if not found.items and found.total:  # decided since: show the last page
        found = await readings.pending(context.admin_db, page=found.pages - 1, page_size=PAGE_SIZE)
    keyboard: list[list[tuple[str, str]]] = []
    for item in found.items:
        reading_id = item.reading.reading_id
        if admin.role.can_write:  # a viewer reads the list; these buttons would only refuse
            keyboard.append(
                [
                    (f"✅ #{reading_id}", f"{READING_ACCEPT}:{reading_id}"),
                    (f"✏️ #{reading_id}", f"{READING_FIX}:{reading_id}"),
                    (f"✖ #{reading_id}", f"{READING_REJECT}:{reading_id}"),
                ]
            )
        if item.reading.photo_file_id:
            keyboard.append([(f"📷 Photo #{reading_id}", f"{READING_PHOTO}:{reading_id}")])
    if found.pages > 1:
        keyboard.append(pager_row(READINGS_PAGE, found.page, found.pages))
    text = pending_html(found, now_utc())
    if found.items and admin.role.can_write:
        text += "\n\n✅ accept · ✏️ correct (type the right figure) · ✖ reject"
    await reply(update, text, buttons(keyboard) if keyboard else None)


def _reading_id(update: Update, prefix: str) -> int | None:
    parts = callback_parts(update.callback_query, prefix, 1) if update.callback_query else None
    return int_part(parts[0]) if parts else None


def _reviewed_text(exc: ReadingAlreadyReviewed) -> str:
    return f"Reading #{exc.reading_id} has already been {exc.status.value}; nothing more was done."


async def _tell_customer(context: BillingContext, meter: Meter, text: str) -> bool:
    if meter.telegram_user_id is None:
        return False
    return await send_one(context.bot, Notice(meter.telegram_user_id, text))


def _told(told: bool) -> str:
    return "The customer was told." if told else "The customer could not be told."


@staff_only(write=True)
async def accept_pressed(update: Update, context: BillingContext, admin: Admin) -> None:
    """Accept a customer's reading as sent; tell them."""
    reading_id = _reading_id(update, READING_ACCEPT)
    if reading_id is None:
        await answer_query(update, STALE_BUTTON)
        return
    await answer_query(update)
    try:
        recorded = await readings.accept(
            context.admin_db,
            reading_id,
            admin_id=admin.admin_id,
            current_month=current_month(context),
        )
    except ReadingAlreadyReviewed as exc:
        await reply(update, _reviewed_text(exc), buttons([_back_button()]))
        return
    except (InvalidInput, MonthAlreadyBilled, ReadingNotFound) as exc:
        await reply(
            update,
            f"Reading #{reading_id} was not accepted: {refusal_html(exc)} Correct it (✏️) or "
            "reject it.",
            buttons(
                [
                    [
                        (f"✏️ Correct #{reading_id}", f"{READING_FIX}:{reading_id}"),
                        (f"✖ Reject #{reading_id}", f"{READING_REJECT}:{reading_id}"),
                    ],
                    _back_button(),
                ]
            ),
        )
        return
    made = recorded.consumption
    told = await _tell_customer(
        context,
        recorded.meter,
        f"✅ Your meter reading <b>{figure(made.current)}</b> for "
        f"{month_label(made.billing_month)} was accepted. Thank you!",
    )
    await reply(
        update,
        f"✅ Reading #{reading_id} accepted: {month_label(made.billing_month)} "
        f"<b>{figure(made.current)}</b> for <code>{esc(recorded.meter.meter_number)}</code>.\n"
        f"{units_text(made)}\n{_told(told)}",
        buttons([_back_button()]),
    )


@staff_only(write=True)
async def fix_pressed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Ask for the right figure of a customer's reading."""
    reading_id = _reading_id(update, READING_FIX)
    if reading_id is None:
        await answer_query(update, STALE_BUTTON)
        return end_flow(context)
    await answer_query(update)
    try:
        reading = await readings.get(context.admin_db, reading_id)
    except ReadingNotFound as exc:
        await reply(update, esc(exc), buttons([_back_button()]))
        return end_flow(context)
    if reading.status is not ReadingStatus.PENDING:
        decided = ReadingAlreadyReviewed(reading_id, reading.status)
        await reply(update, _reviewed_text(decided), buttons([_back_button()]))
        return end_flow(context)
    state = flow_state(context, fresh=True)
    state["reading_id"] = str(reading_id)
    await reply(
        update,
        f"<b>Correct reading #{reading_id}</b>\nThe customer sent "
        f"<b>{figure(reading.reading)}</b> for {month_label(reading.billing_month)}. "
        "Type the right reading (the customer's figure is kept beside it).",
        buttons([cancel_row()]),
    )
    return READING_CORRECT


@staff_only(write=True)
async def correction_typed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Accept the submission with the typed figure; tell the customer."""
    typed = typed_text(update, 64)
    state = flow_state(context)
    reading_id = int_part(state.get("reading_id", ""))
    if typed is None:
        return READING_CORRECT
    if reading_id is None:
        return await out_of_date(update, context)
    try:
        value = readings.parse_reading(typed)
        recorded = await readings.accept(
            context.admin_db,
            reading_id,
            admin_id=admin.admin_id,
            current_month=current_month(context),
            corrected=value,
        )
    except InvalidInput as exc:
        await reply(
            update,
            f"❌ {refusal_html(exc)}\nType the right reading again, or press Cancel.",
            buttons([cancel_row()]),
        )
        return READING_CORRECT
    except ReadingAlreadyReviewed as exc:
        await reply(update, _reviewed_text(exc), buttons([_back_button()]))
        return end_flow(context)
    except (MonthAlreadyBilled, ReadingNotFound) as exc:
        await reply(update, f"Not corrected: {refusal_html(exc)}", buttons([_back_button()]))
        return end_flow(context)
    made, sent = recorded.consumption, recorded.reading.submitted_reading
    if sent is not None:
        note = (
            f"✏️ Your meter reading for {month_label(made.billing_month)} was corrected by our "
            f"staff to <b>{figure(made.current)}</b> (you sent {figure(sent)})."
        )
    else:
        note = (
            f"✅ Your meter reading <b>{figure(made.current)}</b> for "
            f"{month_label(made.billing_month)} was accepted. Thank you!"
        )
    told = await _tell_customer(context, recorded.meter, note)
    await reply(
        update,
        f"✅ Reading #{reading_id} saved as <b>{figure(made.current)}</b>"
        + (f" (the customer sent {figure(sent)})" if sent is not None else "")
        + f".\n{units_text(made)}\n{_told(told)}",
        buttons([_back_button()]),
    )
    return end_flow(context)


@staff_only(write=True)
async def reject_pressed(update: Update, context: BillingContext, admin: Admin) -> None:
    """Reject a customer's reading; tell them."""
    reading_id = _reading_id(update, READING_REJECT)
    if reading_id is None:
        await answer_query(update, STALE_BUTTON)
        return
    await answer_query(update)
    try:
        reading, meter = await readings.reject(
            context.admin_db, reading_id, admin_id=admin.admin_id
        )
    except ReadingAlreadyReviewed as exc:
        await reply(update, _reviewed_text(exc), buttons([_back_button()]))
        return
    except ReadingNotFound as exc:
        await reply(update, esc(exc), buttons([_back_button()]))
        return
    told = await _tell_customer(
        context,
        meter,
        f"❌ Your meter reading <b>{figure(reading.reading)}</b> for "
        f"{month_label(reading.billing_month)} could not be accepted. Our staff will read the "
        "meter; if you think it was right, please contact the utility office.",
    )
    await reply(
        update,
        f"Reading #{reading_id} rejected; nothing was recorded for "
        f"<code>{esc(meter.meter_number)}</code>. {_told(told)}",
        buttons([_back_button()]),
    )


@staff_only(write=False)
async def photo_pressed(update: Update, context: BillingContext, admin: Admin) -> None:
    """Send the photo a customer took of their meter."""
    reading_id = _reading_id(update, READING_PHOTO)
    chat = update.effective_chat
    if reading_id is None or chat is None:
        await answer_query(update, STALE_BUTTON)
        return
    try:
        reading = await readings.get(context.admin_db, reading_id)
    except ReadingNotFound:
        await answer_query(update, STALE_BUTTON)
        return
    if reading.photo_file_id is None:
        await answer_query(update, "That reading came without a photo.")
        return
    await answer_query(update)
    meter = await readings.meter_of_customer(context.admin_db, reading.customer_id)
    try:
        await chat.send_photo(
            reading.photo_file_id,
            caption=f"#{reading_id} · <code>{esc(meter.meter_number)}</code> · "
            f"{month_label(reading.billing_month)}: {figure(reading.reading)}",
        )
    except TelegramError as exc:
        log.info("reading %s: its photo could not be sent: %r", reading_id, exc)
        await chat.send_message(f"The photo of reading #{reading_id} could not be shown.")


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("readings", readings_command, filters=admin_filter)]


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("reading", reading_command, filters=admin_filter),
        CallbackQueryHandler(fix_pressed, pattern=rf"^{READING_FIX}:"),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        READING_METER: [MessageHandler(TEXT, meter_typed)],
        READING_VALUE: [MessageHandler(TEXT, value_typed)],
        READING_CONFIRM: [
            CallbackQueryHandler(save_pressed, pattern=rf"^{READING_SAVE}$"),
            MessageHandler(TEXT, value_typed),  # a new figure instead of Save
        ],
        READING_CORRECT: [MessageHandler(TEXT, correction_typed)],
    }


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(readings_page, pattern=rf"^{READINGS_PAGE}:"),
        CallbackQueryHandler(accept_pressed, pattern=rf"^{READING_ACCEPT}:"),
        CallbackQueryHandler(reject_pressed, pattern=rf"^{READING_REJECT}:"),
        CallbackQueryHandler(photo_pressed, pattern=rf"^{READING_PHOTO}:"),
    ]
