"""Customer identity: /start (and activation deep links), /login, /logout, /password,
/profile, /help and /cancel.

Passwords are read, the message deleted at once, and never kept: between the two entries of a
new password only a salted hash of the first one is held in the conversation.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import BillingContext
from domain import customers, passwords
from domain.errors import DomainError
from handlers.common import (
    NOT_LINKED,
    answer_query,
    buttons,
    callback_parts,
    cancel_row,
    current_admin,
    current_customer,
    delete_message_quietly,
    esc,
    reply,
    try_again_text,
)
from handlers.words import explain_html

# Conversation states (strings, so persisted state reads well).
ACTIVATE_PASSWORD = "activate:password"
ACTIVATE_REPEAT = "activate:repeat"
LOGIN_METER = "login:meter"
LOGIN_PASSWORD = "login:password"
PASSWORD_CURRENT = "password:current"
PASSWORD_NEW = "password:new"
PASSWORD_REPEAT = "password:repeat"
PROFILE_MENU = "profile:menu"
PROFILE_VALUE = "profile:value"

# Callback data prefix.
PROFILE = "profile"

TEXT = filters.TEXT & ~filters.COMMAND

CUSTOMER_HELP = (
    "<b>What I can do</b>\n"
    "/dashboard — your balance, last bill and payment\n"
    "/bills — what you owe, unpaid and part-paid (/bills all for every bill)\n"
    "/pay — pay a bill, in full or in part\n"
    "/statement — your latest bill's statement as a PDF (/statement YYYY-MM for another)\n"
    "/receipt — get a receipt again\n"
    "/reading — send your meter reading (with a photo if you like)\n"
    "/profile — your phone, email and address\n"
    "/password — change your password\n"
    "/login — link this Telegram account with a meter number and password\n"
    "/logout — unlink this Telegram account\n"
    "/help — this list\n"
    "/cancel — stop what you are doing"
)


async def start(update: Update, context: BillingContext) -> str | int:
    """Greet; with an activation code, begin choosing a password."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return ConversationHandler.END
    code = context.args[0] if context.args else None
    if code:
        try:
            customer = await customers.check_activation_code(context.customer_db, code[:64])
        except DomainError as exc:
            await message.reply_text(explain_html(exc, context))
            return ConversationHandler.END
        # Only the code's hash is kept: the state file never holds a usable code.
        context.flow["activation_code_hash"] = customers.activation_code_hash(code[:64])
        await message.reply_text(
            f"Welcome, {esc(customer.full_name)}! Your meter is "
            f"<code>{esc(customer.meter_number)}</code>.\n\n"
            f"Please choose a password (at least {passwords.MIN_LENGTH} characters) and send "
            "it. I will delete your message right away.",
            reply_markup=buttons([cancel_row()]),
        )
        return ACTIVATE_PASSWORD
    linked = await customers.find_by_telegram(context.customer_db, user.id)
    if linked is not None:
        await message.reply_text(f"Welcome back, {esc(linked.full_name)}!\n\n{CUSTOMER_HELP}")
    elif await current_admin(update, context) is not None:
        await message.reply_text("Welcome back! Send /help for the staff commands.")
    else:
        await message.reply_text(f"Welcome to {esc(context.config.utility_name)}.\n\n{NOT_LINKED}")
    return ConversationHandler.END


async def _read_password(update: Update) -> str | None:
    """Take the text of a password message and delete the message."""
    message = update.effective_message
    if message is None or message.text is None:
        return None
    password = message.text
    await delete_message_quietly(message)
    return password


async def activation_password(update: Update, context: BillingContext) -> str | int:
    """Check the first entry of the new password; keep only its hash."""
    password = await _read_password(update)
    chat = update.effective_chat
    if password is None or chat is None:
        return ACTIVATE_PASSWORD
    problem = passwords.validate_new_password(password)
    if problem:
        await chat.send_message(f"{problem} Please send another one.")
        return ACTIVATE_PASSWORD
    context.flow["pending_password_hash"] = await passwords.hash_password(password)
    await chat.send_message(
        "Please type the same password again.", reply_markup=buttons([cancel_row()])
    )
    return ACTIVATE_REPEAT


async def activation_repeat(update: Update, context: BillingContext) -> str | int:
    """Compare the second entry; redeem the code and link this Telegram account."""
    password = await _read_password(update)
    chat, user = update.effective_chat, update.effective_user
    if password is None or chat is None or user is None:
        return ACTIVATE_REPEAT
    pending = context.flow.get("pending_password_hash")
    code_hash = context.flow.get("activation_code_hash")
    if not pending or not code_hash:
        await chat.send_message("Please open your activation link again.")
        return _end(context)
    if not await passwords.verify_password(password, pending):
        context.flow.pop("pending_password_hash", None)
        await chat.send_message("The two passwords differ. Please choose a password again.")
        return ACTIVATE_PASSWORD
    customer = await customers.redeem_activation_code_hash(
        context.customer_db, code_hash, password, user.id
    )
    _end(context)
    await chat.send_message(
        f"All set, {esc(customer.full_name)}! This Telegram account is now linked to meter "
        f"<code>{esc(customer.meter_number)}</code>.\n\n{CUSTOMER_HELP}"
    )
    return ConversationHandler.END


async def login(update: Update, context: BillingContext) -> str | int:
    """Ask for the meter number."""
    if update.effective_message is None:
        return ConversationHandler.END
    await update.effective_message.reply_text(
        "Please send your meter number (e.g. MTR-10001).", reply_markup=buttons([cancel_row()])
    )
    return LOGIN_METER


async def login_meter(update: Update, context: BillingContext) -> str | int:
    """Remember the meter number; ask for the password."""
    message = update.effective_message
    if message is None or message.text is None:
        return LOGIN_METER
    context.flow["login_meter"] = message.text.strip()[:64]
    await message.reply_text(
        "Now send your password. I will delete your message right away.",
        reply_markup=buttons([cancel_row()]),
    )
    return LOGIN_PASSWORD


async def login_password(update: Update, context: BillingContext) -> str | int:
    """Check meter number + password and link this Telegram account."""
    password = await _read_password(update)
    chat, user = update.effective_chat, update.effective_user
    if password is None or chat is None or user is None:
        return LOGIN_PASSWORD
    meter = str(context.flow.get("login_meter", ""))
    try:
        customer = await customers.login(context.customer_db, meter, password, user.id)
    except DomainError as exc:
        _end(context)
        await chat.send_message(try_again_text(exc, "/login"))
        return ConversationHandler.END
    _end(context)
    await chat.send_message(
        f"Welcome, {esc(customer.full_name)}! You are logged in to meter "
        f"<code>{esc(customer.meter_number)}</code>.\n\n{CUSTOMER_HELP}"
    )
    return ConversationHandler.END


async def logout(update: Update, context: BillingContext) -> None:
    """Unlink this Telegram account from its customer."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    if await customers.logout(context.customer_db, user.id):
        await message.reply_text("You are logged out. Send /login to link this account again.")
    else:
        await message.reply_text("This Telegram account was not linked to any meter.")


async def password(update: Update, context: BillingContext) -> str | int:
    """Begin a password change: ask for the current password."""
    customer = await current_customer(update, context)
    if customer is None or update.effective_message is None:
        return ConversationHandler.END
    await update.effective_message.reply_text(
        "Please send your current password. I will delete your message right away.",
        reply_markup=buttons([cancel_row()]),
    )
    return PASSWORD_CURRENT


async def password_current(update: Update, context: BillingContext) -> str | int:
    """Check the current password (throttled), then ask for the new one."""
    typed = await _read_password(update)
    chat = update.effective_chat
    customer = await current_customer(update, context)
    if typed is None or chat is None or customer is None:
        return _end(context)
    try:
        await customers.check_password(context.customer_db, customer.customer_id, typed)
    except DomainError as exc:
        await chat.send_message(try_again_text(exc, "/password"))
        return _end(context)
    await chat.send_message(
        f"Now send the new password (at least {passwords.MIN_LENGTH} characters).",
        reply_markup=buttons([cancel_row()]),
    )
    return PASSWORD_NEW


async def password_new(update: Update, context: BillingContext) -> str | int:
    """Check the new password; keep only its hash until it is typed again."""
    typed = await _read_password(update)
    chat = update.effective_chat
    if typed is None or chat is None:
        return PASSWORD_NEW
    problem = passwords.validate_new_password(typed)
    if problem:
        await chat.send_message(f"{problem} Please send another one.")
        return PASSWORD_NEW
    context.flow["pending_password_hash"] = await passwords.hash_password(typed)
    await chat.send_message("Please type the new password again.")
    return PASSWORD_REPEAT


async def password_repeat(update: Update, context: BillingContext) -> str | int:
    """Store the new password when both entries match."""
    typed = await _read_password(update)
    chat = update.effective_chat
    customer = await current_customer(update, context)
    if typed is None or chat is None or customer is None:
        return _end(context)
    pending = context.flow.get("pending_password_hash")
    if not pending or not await passwords.verify_password(typed, pending):
        context.flow.pop("pending_password_hash", None)
        await chat.send_message("The two entries differ. Please send the new password again.")
        return PASSWORD_NEW
    await customers.set_password(context.customer_db, customer.customer_id, typed)
    _end(context)
    await chat.send_message("Your password has been changed.")
    return ConversationHandler.END


PROFILE_FIELDS = {"phone": "phone number", "email": "email address", "address": "address"}


def _profile_text(customer: customers.Customer) -> str:
    return (
        "<b>Your profile</b>\n"
        f"Name: {esc(customer.full_name)}\n"
        f"Meter: <code>{esc(customer.meter_number)}</code>\n"
        f"Address: {esc(customer.address or '—')}\n"
        f"Phone: {esc(customer.phone_number or '—')}\n"
        f"Email: {esc(customer.email or '—')}"
    )


_PROFILE_BUTTONS = buttons(
    [
        [("Edit phone", f"{PROFILE}:phone"), ("Edit email", f"{PROFILE}:email")],
        [("Edit address", f"{PROFILE}:address"), ("Done", f"{PROFILE}:done")],
    ]
)


async def profile(update: Update, context: BillingContext) -> str | int:
    """Show the customer's details with buttons to change them."""
    customer = await current_customer(update, context)
    if customer is None:
        return ConversationHandler.END
    context.flow.pop("profile_saved", None)
    await answer_query(update)
    await reply(update, _profile_text(customer), _PROFILE_BUTTONS)
    return PROFILE_MENU


async def profile_choose(update: Update, context: BillingContext) -> str | int:
    """Ask for the new value of the chosen field."""
    query = update.callback_query
    await answer_query(update)
    parts = callback_parts(query, PROFILE, 1) if query else None
    if not parts or parts[0] == "done" or parts[0] not in PROFILE_FIELDS:
        await reply(update, "Profile closed.")
        return _end(context)
    context.flow["profile_field"] = parts[0]
    await reply(
        update, f"Please send your new {PROFILE_FIELDS[parts[0]]}.", buttons([cancel_row()])
    )
    return PROFILE_VALUE


async def profile_value(update: Update, context: BillingContext) -> str | int:
    """Validate and store the new value; show the profile again."""
    message = update.effective_message
    customer = await current_customer(update, context)
    if message is None or message.text is None or customer is None:
        return _end(context)
    field = context.flow.get("profile_field")
    if field not in PROFILE_FIELDS:
        return _end(context)
    try:
        updated = await customers.update_contact(
            context.customer_db,
            customer.customer_id,
            phone_region=context.config.phone_region,
            **{_FIELD_ARG[field]: message.text[:600]},
        )
    except DomainError as exc:
        await message.reply_text(f"{explain_html(exc, context)} Please try again, or /cancel.")
        return PROFILE_VALUE
    saved = [f for f in str(context.flow.get("profile_saved", "")).split(", ") if f]
    context.flow["profile_saved"] = ", ".join(dict.fromkeys([*saved, PROFILE_FIELDS[field]]))
    await message.reply_text(f"Saved.\n\n{_profile_text(updated)}", reply_markup=_PROFILE_BUTTONS)
    return PROFILE_MENU


_FIELD_ARG = {"phone": "phone_number", "email": "email", "address": "address"}


async def help_command(update: Update, context: BillingContext) -> None:
    """List the commands this person may use: the staff's to staff (and, to staff who are
    also a linked customer, the customer commands their staff commands do not replace)."""
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    if await current_admin(update, context) is not None:
        from handlers.admin_help import ADMIN_HELP

        linked = user is not None and (
            await customers.find_by_telegram(context.customer_db, user.id) is not None
        )
        await message.reply_text(
            f"{ADMIN_HELP}\n\n{_help_beside_staff()}" if linked else ADMIN_HELP
        )
        return
    await message.reply_text(CUSTOMER_HELP)


def _help_beside_staff() -> str:
    """CUSTOMER_HELP less the commands already in the staff list: for a staff member those
    are staff commands (/bills is the staff's list of bills), or listed once already."""
    from handlers.admin_help import ADMIN_HELP

    staff = {line.split()[0] for line in ADMIN_HELP.splitlines() if line.startswith("/")}
    lines = CUSTOMER_HELP.splitlines()
    kept = [line for line in lines[1:] if line.split()[0] not in staff]
    return "\n".join(["<b>Your electricity account</b>", *kept])


def _end(context: BillingContext) -> int:
    """Forget everything a flow kept and end it."""
    for key in (
        "activation_code_hash",
        "pending_password_hash",
        "login_meter",
        "profile_field",
        "profile_saved",
        "pay",
        "reading",
    ):
        context.flow.pop(key, None)
    return ConversationHandler.END


def _left_as_is(context: BillingContext) -> str:
    """What a stopped flow leaves: the profile details it already saved, or nothing."""
    saved = context.flow.get("profile_saved")
    if saved:
        verb = "are" if ", " in str(saved) else "is"
        return f"Your new {saved} {verb} already saved; nothing else was changed."
    return "Nothing was changed."


async def cancel(update: Update, context: BillingContext) -> int:
    """Stop the current flow; say what it had already saved, if anything."""
    await answer_query(update)
    left = _left_as_is(context)
    _end(context)
    await reply(update, f"Cancelled. {left}")
    return ConversationHandler.END


async def timed_out(update: Update, context: BillingContext) -> int:
    """Tell the person the flow was closed after a long silence."""
    left = _left_as_is(context)
    _end(context)
    if update.effective_chat is not None:
        await update.effective_chat.send_message(
            f"That took a while, so I closed it. {left} Start again any time."
        )
    return ConversationHandler.END


def entry_points() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("start", start),
        CommandHandler("login", login),
        CommandHandler("password", password),
        CommandHandler("profile", profile),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        ACTIVATE_PASSWORD: [MessageHandler(TEXT, activation_password)],
        ACTIVATE_REPEAT: [MessageHandler(TEXT, activation_repeat)],
        LOGIN_METER: [MessageHandler(TEXT, login_meter)],
        LOGIN_PASSWORD: [MessageHandler(TEXT, login_password)],
        PASSWORD_CURRENT: [MessageHandler(TEXT, password_current)],
        PASSWORD_NEW: [MessageHandler(TEXT, password_new)],
        PASSWORD_REPEAT: [MessageHandler(TEXT, password_repeat)],
        PROFILE_MENU: [CallbackQueryHandler(profile_choose, pattern=rf"^{PROFILE}:")],
        PROFILE_VALUE: [MessageHandler(TEXT, profile_value)],
    }


def fallbacks() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("cancel", cancel),
        CallbackQueryHandler(cancel, pattern=r"^cancel$"),
    ]


def standalone_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("logout", logout),
        CommandHandler("help", help_command),
        CommandHandler("cancel", cancel),
        CallbackQueryHandler(cancel, pattern=r"^cancel$"),
    ]
