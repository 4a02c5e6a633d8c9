"""Staff access: /adminlogin (email → password), /adminlogout, /notify, the staff menu.

Staff commands are routed by ``bot_data.admin_filter`` (the Telegram ids of linked admins);
a customer or stranger sending them falls through to the "unknown command" reply. The filter
follows the admins table at once (issue 14): :func:`sync_staff` looks the sender of every
message up just before the update is routed, so an admin created, linked, unlinked or deleted
by another process (the CLI, a second instance, SQL) is staff in the chat, or no longer, from
their next message on, with no restart. What a staff member may do (the role) is read from the
database by each handler (``handlers.admin_gate``), so a role change also applies at once.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import BillingContext
from domain import admins
from domain.errors import DatabaseUnavailable, DomainError
from domain.models import Admin
from handlers.admin_gate import UNKNOWN_COMMAND
from handlers.admin_help import ADMIN_HELP
from handlers.common import (
    answer_query,
    buttons,
    cancel_row,
    conversation,
    current_admin,
    delete_message_quietly,
    esc,
    reply,
    try_again_text,
)

log = logging.getLogger(__name__)

ADMIN_EMAIL = "admin:email"
ADMIN_PASSWORD = "admin:password"

ADMIN_COMMANDS = [
    BotCommand("customers", "List or search customers"),
    BotCommand("customer", "One customer's details"),
    BotCommand("addcustomer", "Add a customer"),
    BotCommand("editcustomer", "Change a customer's details"),
    BotCommand("newbill", "Issue a bill"),
    BotCommand("editbill", "Correct a bill"),
    BotCommand("bills", "List bills"),
    BotCommand("pending", "A customer's open bills"),
    BotCommand("payments", "List payments"),
    BotCommand("recordpayment", "Record an office payment"),
    BotCommand("voidpayment", "Void a payment"),
    BotCommand("waive", "Waive a late fee"),
    BotCommand("claims", "Transfer claims to confirm"),
    BotCommand("refunds", "Card refunds owed at the provider"),
    BotCommand("refundcredit", "Pay a customer's credit back"),
    BotCommand("reconcile", "A month's money by day and channel"),
    BotCommand("revenue", "Revenue report"),
    BotCommand("outstanding", "Outstanding balances"),
    BotCommand("trend", "Monthly usage trend"),
    BotCommand("tariffs", "Tariffs and their versions in force"),
    BotCommand("tariff", "One tariff's bands and history"),
    BotCommand("newtariff", "Add a tariff version"),
    BotCommand("settariff", "Put a customer on a tariff"),
    BotCommand("importbills", "Bills or readings from a CSV file"),
    BotCommand("reading", "Enter a meter reading"),
    BotCommand("readings", "Customers' readings to check"),
    BotCommand("billrun", "Issue a month's bills from readings"),
    BotCommand("audit", "Audit log"),
    BotCommand("notify", "Payment notifications on/off"),
    BotCommand("adminlogout", "Log out of the staff account"),
    BotCommand("help", "Staff commands"),
    BotCommand("cancel", "Stop what you are doing"),
]


async def _set_staff_menu(
    application: Application[Any, Any, Any, Any, Any, Any], telegram_user_id: int
) -> None:
    """Give this chat the staff command menu (a failure only costs the menu)."""
    try:
        await application.bot.set_my_commands(
            ADMIN_COMMANDS, scope=BotCommandScopeChat(telegram_user_id)
        )
    except TelegramError as exc:
        log.warning("could not set the staff menu of a chat: %s", exc)


async def _drop_staff_menu(
    application: Application[Any, Any, Any, Any, Any, Any], telegram_user_id: int
) -> None:
    """Take the staff menu from this chat: it shows the customers' menu again."""
    try:
        await application.bot.delete_my_commands(scope=BotCommandScopeChat(telegram_user_id))
    except TelegramError as exc:
        log.warning("could not remove the staff menu of a chat: %s", exc)


async def show_admin_menu(
    application: Application[Any, Any, Any, Any, Any, Any], admin: Admin
) -> None:
    """Give a linked admin's chat the staff command menu and route their commands."""
    if admin.telegram_user_id is None:
        return
    application.bot_data.admin_filter.add_user_ids(admin.telegram_user_id)
    await _set_staff_menu(application, admin.telegram_user_id)


async def load_admin_menus(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """At start-up: every linked admin gets the staff menu."""
    for admin in await admins.linked_admins(application.bot_data.admin_db):
        await show_admin_menu(application, admin)


async def sync_staff(update: Update, context: BillingContext) -> None:
    """Before routing: the sender is in ``admin_filter`` exactly when the admins table has
    their Telegram id linked now (one lookup in its unique index).

    Registered by ``bot.application`` in the handler group right before the one that routes
    (group 0), for every update. Only commands are looked up: ``admin_filter`` routes only
    staff commands (CommandHandler), so a typed answer, a document or a successful payment
    needs no lookup (and a payment's acknowledgement does not wait for the admin pool behind
    one), and button presses are checked by their handlers anyway.

    Concurrency: this adds or removes only the sender's own id, so updates of other users do
    not disturb it; and between the add/remove below and the routing of this same update there
    is no ``await`` (the rest of this handler, then PTB's check of the group-0 handlers, all
    synchronous), so another update of the same person cannot change the id in between: each
    message is routed by its own fresh lookup. No cache: the lookup is cheap enough (see the
    commit that added it for the benchmark figures).

    If the lookup fails (database down) the filter is left as it was: the handler the message
    reaches checks the admin in the database itself and reports the failure once.
    """
    message = update.effective_message
    if update.callback_query is not None or message is None or message.from_user is None:
        return
    if not (message.text or "").startswith("/"):
        return  # not a command: nothing the filter routes
    user_id = message.from_user.id
    try:
        staff = await admins.is_staff(context.admin_db, user_id)
    except DatabaseUnavailable:
        log.warning("could not check whether a sender is staff (database unavailable)")
        return
    except Exception:  # never let routing fail here: the handlers check again
        log.exception("could not check whether a sender is staff")
        return
    admin_filter = context.bot_data.admin_filter
    known = user_id in admin_filter.user_ids
    if staff and not known:
        admin_filter.add_user_ids(user_id)
        # The menu in the background: the command itself is answered without waiting for it.
        context.application.create_task(
            _set_staff_menu(context.application, user_id), update=update
        )
    elif known and not staff:
        admin_filter.remove_user_ids(user_id)
        context.application.create_task(
            _drop_staff_menu(context.application, user_id), update=update
        )


async def adminlogin(update: Update, context: BillingContext) -> str | int:
    """Ask for the staff email address."""
    if update.effective_message is None:
        return ConversationHandler.END
    await update.effective_message.reply_text(
        "Staff login. Please send your email address.", reply_markup=buttons([cancel_row()])
    )
    return ADMIN_EMAIL


async def adminlogin_email(update: Update, context: BillingContext) -> str | int:
    """Remember the email; ask for the password."""
    message = update.effective_message
    if message is None or message.text is None:
        return ADMIN_EMAIL
    context.flow["admin_email"] = message.text.strip()[:254]
    await message.reply_text(
        "Now send your password. I will delete your message right away.",
        reply_markup=buttons([cancel_row()]),
    )
    return ADMIN_PASSWORD


async def adminlogin_password(update: Update, context: BillingContext) -> int:
    """Check email + password (throttled); link this Telegram account; show the staff menu."""
    message, chat, user = update.effective_message, update.effective_chat, update.effective_user
    if message is None or chat is None or user is None or message.text is None:
        return ConversationHandler.END
    password = message.text
    await delete_message_quietly(message)
    email = str(context.flow.pop("admin_email", ""))
    try:
        admin = await admins.authenticate(context.admin_db, email, password, user.id)
    except DomainError as exc:
        await chat.send_message(try_again_text(exc, "/adminlogin"))
        return ConversationHandler.END
    await show_admin_menu(context.application, admin)
    await chat.send_message(
        f"Welcome, {esc(admin.admin_name)} ({admin.role.value}).\n\n{ADMIN_HELP}"
    )
    return ConversationHandler.END


async def adminlogin_cancel(update: Update, context: BillingContext) -> int:
    """Stop the staff login."""
    await answer_query(update)
    context.flow.pop("admin_email", None)
    await reply(update, "Cancelled. Nothing was changed.")
    return ConversationHandler.END


async def adminlogout(update: Update, context: BillingContext) -> None:
    """Unlink this Telegram account from its admin."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    was_staff = await admins.logout(context.admin_db, user.id)
    context.bot_data.admin_filter.remove_user_ids(user.id)
    if was_staff:
        await _drop_staff_menu(context.application, user.id)
    # To anyone who was not staff this is an unknown command, like every staff command.
    await message.reply_text(
        "You are logged out of the staff account." if was_staff else UNKNOWN_COMMAND
    )


async def notify(update: Update, context: BillingContext) -> None:
    """/notify on|off: be told of payments as they happen."""
    admin = await current_admin(update, context)
    message = update.effective_message
    if admin is None or message is None:
        return
    choice = context.args[0].lower() if context.args else ""
    if choice not in ("on", "off"):
        state = "on" if admin.notify_payments else "off"
        await message.reply_text(
            f"Payment notifications are {state}. Send /notify on or /notify off."
        )
        return
    await admins.set_notify(context.admin_db, admin.admin_id, choice == "on")
    await message.reply_text(f"Payment notifications are now {choice}.")


def handlers() -> list[BaseHandler[Update, BillingContext, Any]]:
    return [
        conversation(
            entry_points=[CommandHandler("adminlogin", adminlogin)],
            states={
                ADMIN_EMAIL: [MessageHandler(filters.TEXT & ~filters.COMMAND, adminlogin_email)],
                ADMIN_PASSWORD: [
                    MessageHandler(filters.TEXT & ~filters.COMMAND, adminlogin_password)
                ],
            },
            fallbacks=[
                CommandHandler("cancel", adminlogin_cancel),
                CallbackQueryHandler(adminlogin_cancel, pattern=r"^cancel$"),
            ],
            allow_reentry=True,
            name="admin_login",
            persistent=True,
            conversation_timeout=15 * 60,
        ),
        CommandHandler("adminlogout", adminlogout),
    ]


def gated_handlers(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, Any]]:
    """Staff-only commands (routed only for linked admins), the staff flows and buttons."""
    from handlers.admin_flow import staff_handlers

    return [CommandHandler("notify", notify, filters=admin_filter), *staff_handlers(admin_filter)]
