"""Staff: bulk billing. /importbills, then the admin uploads a CSV file
(meter_number, billing_month, units_used[, rate_per_unit]) — or a file of meter readings
(meter_number, billing_month, reading), told apart by its first line, recorded the same way:
all or nothing, errors by line.

Every line is checked first and errors are reported by line number; one bad line means
nothing is written. A good file is issued in one transaction, then the linked customers are
told in the background, paced by the bot's rate limiter, and the admin gets a summary.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import date, datetime
from pathlib import Path

from telegram import Message, Update
from telegram.ext import BaseHandler, CommandHandler, MessageHandler, filters

from bot.context import BillingContext
from domain import bills, readings
from domain.errors import DomainError, ImportRejected
from domain.models import Admin
from domain.readings import figure
from handlers.admin_gate import end_flow, staff_only
from handlers.common import buttons, cancel_row, esc, local_today, reply
from handlers.notifications import new_bill_notice, send_many
from handlers.statements import with_statement
from handlers.words import explain_html

log = logging.getLogger(__name__)

# Conversation state.
IMPORT_FILE = "aimport:file"

MAX_FILE_BYTES = 20 * 1024 * 1024  # the most a bot may download from Telegram
ERRORS_SHOWN = 30  # a message stays well under Telegram's 4096 characters

INSTRUCTIONS = (
    "<b>Bulk billing</b>\n"
    "Send a CSV file whose first line names the columns:\n"
    "<code>meter_number,billing_month,units_used,rate_per_unit</code>\n"
    "billing_month is YYYY-MM, up to the current month ({month}); rate_per_unit is optional "
    "(empty or left out: the default tariff {tariff}).\n\n"
    "Every line is checked first. If any line is wrong, nothing is imported and you get the "
    "errors by line number.\n\n"
    "<b>Meter readings</b> come in the same way, in a file whose first line is:\n"
    "<code>meter_number,billing_month,reading</code>"
)


@staff_only(write=True)
async def importbills(update: Update, context: BillingContext, admin: Admin) -> str:
    """Explain the file format and wait for the upload."""
    tariff = context.config.currency.format(context.config.default_tariff)
    month = f"{_current_month(context):%Y-%m}"
    await reply(
        update, INSTRUCTIONS.format(tariff=esc(tariff), month=month), buttons([cancel_row()])
    )
    return IMPORT_FILE


@staff_only(write=True)
async def import_file(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the whole file; issue every bill in one transaction or none; notify customers."""
    message = update.effective_message
    document = message.document if message is not None else None
    if message is None or document is None:
        return IMPORT_FILE
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        await message.reply_text(
            f"That file is too large (at most {MAX_FILE_BYTES // (1024 * 1024)} MB). "
            "Send a smaller one, or /cancel.",
        )
        return IMPORT_FILE
    file = await document.get_file()
    with tempfile.TemporaryDirectory(prefix="ebb-import-") as directory:
        # On disk, read line by line: a 100,000-line file never sits in memory whole.
        path = Path(directory) / "bills.csv"
        await file.download_to_drive(path)
        if _is_readings_file(path):
            return await _import_readings(message, context, admin, path)
        try:
            result = await bills.import_bill_file(
                context.admin_db,
                lambda: path.open(encoding="utf-8-sig", newline=""),
                default_rate=context.config.default_tariff,
                due_days=context.config.due_days,
                issued_on=local_today(context),
                admin_id=admin.admin_id,
                latest_month=_current_month(context),
            )
        except UnicodeDecodeError:
            await message.reply_text(
                "That file is not UTF-8 text. Save it as CSV (UTF-8) and send it again, "
                "or /cancel."
            )
            return IMPORT_FILE
        except ImportRejected as exc:
            return await _rejected(message, exc)
        except DomainError as exc:
            await message.reply_text(f"❌ {explain_html(exc, context)}")
            return end_flow(context)
    money = context.config.currency.format
    linked = result.linked
    await message.reply_text(
        f"✅ Imported {result.count} bills totalling {money(result.total)}.\n"
        f"Notifying {len(linked)} linked customer{'s' if len(linked) != 1 else ''}…"
    )
    if linked and message.chat is not None:
        context.application.create_task(
            _notify_customers(context, message.chat.id, linked), update=update
        )
    return end_flow(context)


async def _rejected(message: Message, exc: ImportRejected) -> str:
    """A file with bad lines: the errors by line number; the admin may send it again."""
    shown = exc.errors[:ERRORS_SHOWN]
    lines = "\n".join(f"Line {number}: {esc(problem)}" for number, problem in shown)
    more = len(exc.errors) - len(shown)
    await message.reply_text(
        f"❌ {esc(exc)}\n\n{lines}"
        + (f"\n…and {more} more." if more > 0 else "")
        + "\n\nFix the file and send it again, or /cancel.",
        reply_markup=buttons([cancel_row()]),
    )
    return IMPORT_FILE


def _is_readings_file(path: Path) -> bool:
    """Whether the file's first non-blank line is the readings header (not UTF-8: not
    readings; the bills import says what is wrong with it)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as lines:
            first = next((line for line in lines if line.strip()), "")
    except UnicodeDecodeError:
        return False
    return readings.is_readings_header(first)


async def _import_readings(
    message: Message, context: BillingContext, admin: Admin, path: Path
) -> str | int:
    """Record every reading of the file in one transaction, or none."""
    try:
        result = await readings.import_reading_file(
            context.admin_db,
            lambda: path.open(encoding="utf-8-sig", newline=""),
            admin_id=admin.admin_id,
            latest_month=_current_month(context),
        )
    except UnicodeDecodeError:
        await message.reply_text(
            "That file is not UTF-8 text. Save it as CSV (UTF-8) and send it again, or /cancel."
        )
        return IMPORT_FILE
    except ImportRejected as exc:
        return await _rejected(message, exc)
    except DomainError as exc:
        await message.reply_text(f"❌ {esc(exc)}")
        return end_flow(context)
    plural = "s" if result.count != 1 else ""
    details = [f"{figure(result.units)} kWh in all"]
    if result.baselines:
        details.append(
            f"{result.baselines} first reading{'s' if result.baselines != 1 else ''} of "
            "a meter (baselines, no units yet)"
        )
    if result.replaced:
        details.append(f"{result.replaced} month{'s' if result.replaced != 1 else ''} re-entered")
    await message.reply_text(
        f"✅ Recorded {result.count} meter reading{plural}: " + "; ".join(details) + "."
    )
    return end_flow(context)


def _current_month(context: BillingContext) -> date:
    """The utility's current month (in its time zone): the latest a file may bill."""
    return datetime.now(context.config.timezone).date().replace(day=1)


async def _notify_customers(
    context: BillingContext, admin_chat_id: int, imported: list[bills.ImportedBill]
) -> None:
    notices = [
        with_statement(
            new_bill_notice(item.telegram_user_id, item.bill, context.config),
            context,
            item.bill.bill_id,
        )
        for item in imported
        if item.telegram_user_id is not None
    ]
    sent = await send_many(context.bot, notices)
    log.info("bulk billing: notified %d of %d customers", sent, len(notices))
    failed = len(notices) - sent
    await context.bot.send_message(
        admin_chat_id,
        f"📨 Bulk billing: {sent} customer{'s' if sent != 1 else ''} notified"
        + (f", {failed} could not be reached." if failed else "."),
    )


@staff_only(write=True)
async def not_a_file(update: Update, context: BillingContext, admin: Admin) -> str:
    """Text while a file is expected."""
    await reply(update, "Please send the CSV file as a document, or /cancel.")
    return IMPORT_FILE


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("importbills", importbills, filters=admin_filter)]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        IMPORT_FILE: [
            MessageHandler(filters.Document.ALL, import_file),
            MessageHandler(filters.TEXT & ~filters.COMMAND, not_a_file),
        ]
    }
