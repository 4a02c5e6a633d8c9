"""Staff: customers. /customers (paged, searchable), /customer <meter> (the customer's card),
/addcustomer (step by step, answered with the activation deep link), /editcustomer <meter>
(pick a field by button, type the new value), and a fresh activation link from the card.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.context import BillingContext
from domain import bills, customers, statements, tariffs, validation
from domain.errors import CustomerNotFound, DomainError
from domain.models import Admin, BillFilter, Customer
from handlers.admin_gate import (
    end_flow,
    flow_state,
    note_saved,
    out_of_date,
    saved_so_far,
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
    local_today,
    month_label,
    pager_row,
    reply,
)
from handlers.render.bill_lines import lines_html, shows_lines
from handlers.render.formatting import date_label, rate_text
from handlers.render.tables import customers_html, phone_table
from handlers.words import explain_html

# Conversation states.
ADD_METER = "acust:add_meter"
ADD_NAME = "acust:add_name"
ADD_ADDRESS = "acust:add_address"
ADD_PHONE = "acust:add_phone"
ADD_EMAIL = "acust:add_email"
ADD_CONFIRM = "acust:add_confirm"
EDIT_FIELD = "acust:edit_field"
EDIT_VALUE = "acust:edit_value"

# Callback data prefixes.
LIST_PAGE = "acl"  # acl:<page>
CARD = "acu"  # acu:<customer_id>
ADD = "aadd"  # aadd:skip | aadd:ok
EDIT_START = "aedc"  # aedc:<customer_id>
EDIT_FIELD_DATA = "aecf"  # aecf:<field> | aecf:done
ACTIVATION = "aact"  # aact:<customer_id>

PAGE_SIZE = 8
TEXT = filters.TEXT & ~filters.COMMAND
SEARCH_KEY = "admin_customer_search"

FIELD_LABELS = {
    "full_name": "Name",
    "meter_number": "Meter number",
    "phone_number": "Phone",
    "email": "Email",
    "address": "Address",
}


def deep_link(context: BillingContext, code: str) -> str:
    return f"https://t.me/{context.bot.username}?start={code}"


# ---------------------------------------------------------------------------------------------
# /customers and /customer


@staff_only(write=False)
async def customers_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """List customers, optionally those whose name or meter contains the text given."""
    text = " ".join(context.args or [])[:100]
    context.flow[SEARCH_KEY] = text
    await _show_list(update, context, page=0)


@staff_only(write=False)
async def customers_page(update: Update, context: BillingContext, admin: Admin) -> None:
    """Turn a page of the customer list."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, LIST_PAGE, 1) if update.callback_query else None
    page = int_part(parts[0], maximum=100_000) if parts else None
    if page is not None:
        await _show_list(update, context, page=page)


async def _show_list(update: Update, context: BillingContext, *, page: int) -> None:
    text = str(context.flow.get(SEARCH_KEY) or "")
    found = await customers.search(context.admin_db, text, page=page, page_size=PAGE_SIZE)
    heading = f"Customers matching “{text}”" if text else "Customers"
    if not found.items:
        hint = "" if text else "\nSend /addcustomer to add the first one."
        await reply(update, customers_html(found, title=heading) + hint)
        return
    body = customers_html(found, title=heading) + "\nTap a meter for the details."
    keyboard = [
        [(c.meter_number, f"{CARD}:{c.customer_id}") for c in found.items[i : i + 2]]
        for i in range(0, len(found.items), 2)
    ]
    if found.pages > 1:
        keyboard.append(pager_row(LIST_PAGE, page, found.pages))
    await reply(update, body, buttons(keyboard))


@staff_only(write=False)
async def customer_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """Show one customer's card: details, balance and latest bills."""
    if not context.args:
        await reply(update, "Send /customer followed by a meter number, e.g. /customer MTR-10001.")
        return
    try:
        customer = await customers.get_by_meter(context.admin_db, context.args[0][:64])
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return
    await show_card(update, context, customer)


@staff_only(write=False)
async def card_pressed(update: Update, context: BillingContext, admin: Admin) -> None:
    """Open a customer's card from a list."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, CARD, 1) if update.callback_query else None
    customer_id = int_part(parts[0]) if parts else None
    if customer_id is None:
        return
    try:
        customer = await customers.get(context.admin_db, customer_id)
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return
    await show_card(update, context, customer)


def customer_details(customer: Customer) -> str:
    return (
        f"<b>{esc(customer.full_name)}</b>\n"
        f"Meter: <code>{esc(customer.meter_number)}</code>\n"
        f"Address: {esc(customer.address or '—')}\n"
        f"Phone: {esc(customer.phone_number or '—')}\n"
        f"Email: {esc(customer.email or '—')}\n"
        f"Telegram: {'linked' if customer.telegram_user_id else 'not linked'}"
    )


def tariff_line(on: tariffs.TariffSummary | None, context: BillingContext) -> str:
    """The card's tariff: its code and name, or the flat default with its rate."""
    if on is None:
        rate = rate_text(context.config.default_tariff, context.config.currency)
        return f"Tariff: flat default ({rate}/kWh)"
    line = f"Tariff: <b>{esc(on.code)}</b> · {esc(on.name)}"
    if on.in_force_from is None:
        line += " (no version in force yet: billed at the flat default)"
    return line


async def show_card(update: Update, context: BillingContext, customer: Customer) -> None:
    """The customer card with the actions staff take from it."""
    today = local_today(context)
    board = await customers.dashboard(context.admin_db, customer.customer_id, today=today)
    latest = await bills.customer_bills(
        context.admin_db, customer.customer_id, bill_filter=BillFilter.ALL, page_size=6
    )
    on = await tariffs.of_customer(context.admin_db, customer.customer_id, today=today)
    money = context.config.currency.format
    text = (
        customer_details(customer)
        + f"\n{tariff_line(on, context)}"
        + f"\n\n<b>Balance due: {money(board.balance_due)}</b> "
        f"({board.open_bills} open bill{'s' if board.open_bills != 1 else ''})"
    )
    if board.overdue_bills and board.next_due_date:
        text += (
            f"\n⚠️ <b>Overdue: {money(board.overdue)}</b> on {board.overdue_bills} "
            f"bill{'s' if board.overdue_bills != 1 else ''}, since "
            f"{date_label(board.next_due_date)}"
        )
    if board.customer.credit > 0:
        text += f"\nAccount credit: {money(board.customer.credit)}"
    if latest.items:
        # An overdue bill's status carries a "!", explained under the table: the card keeps
        # its four columns on a phone.
        rows = [
            [
                str(b.bill_id),
                month_label(b.billing_month),
                money(b.outstanding),
                b.payment_status.label + ("!" if b.is_overdue(today) else ""),
            ]
            for b in latest.items
        ]
        text += "\n" + phone_table(["Bill", "Month", "Owed", "Status"], rows)
        if any(b.is_overdue(today) for b in latest.items):
            text += "\n! overdue: past its due date"
        # The newest bill's lines, when it has more than units × rate (bands, fixed charge,
        # tax, late fee…): the table has no room for them.
        newest = max(latest.items, key=lambda b: b.billing_month)
        lines = (await statements.lines_of_bills(context.admin_db, [newest.bill_id]))[
            newest.bill_id
        ]
        if shows_lines(lines):
            text += (
                f"\nBill #{newest.bill_id} ({month_label(newest.billing_month)}):\n"
                + lines_html(lines, context.config.currency)
            )
    else:
        text += "\nNo bills yet."
    cid = customer.customer_id
    keyboard = [
        [("🧾 New bill", f"anb:{cid}"), ("💵 Record payment", f"arpc:{cid}")],
        [("✏️ Edit", f"{EDIT_START}:{cid}"), ("🔗 Activation link", f"{ACTIVATION}:{cid}")],
        [("📜 Audit log", f"aaud:{cid}")],
    ]
    await reply(update, text, buttons(keyboard))


@staff_only(write=True)
async def activation_pressed(update: Update, context: BillingContext, admin: Admin) -> None:
    """Issue a fresh single-use activation link for a customer."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, ACTIVATION, 1) if update.callback_query else None
    customer_id = int_part(parts[0]) if parts else None
    chat = update.effective_chat
    if customer_id is None or chat is None:
        return
    try:
        customer = await customers.get(context.admin_db, customer_id)
        code = await customers.issue_activation_code(
            context.admin_db, customer_id, admin_id=admin.admin_id
        )
    except DomainError as exc:
        await chat.send_message(explain_html(exc, context))
        return
    await chat.send_message(_activation_text(context, customer, code))


def _activation_text(context: BillingContext, customer: Customer, code: str) -> str:
    hours = int(customers.ACTIVATION_TTL.total_seconds() // 3600)
    return (
        f"Activation link for {esc(customer.full_name)} "
        f"(<code>{esc(customer.meter_number)}</code>):\n"
        f"{esc(deep_link(context, code))}\n\n"
        f"Give it to the customer only. It works once and expires in {hours} hours."
    )


# ---------------------------------------------------------------------------------------------
# /addcustomer


@staff_only(write=True)
async def addcustomer(update: Update, context: BillingContext, admin: Admin) -> str:
    """Begin adding a customer: ask for the meter number."""
    flow_state(context, fresh=True)
    await reply(
        update,
        "<b>New customer</b> (step 1 of 5)\nSend the meter number, e.g. MTR-10001.",
        buttons([cancel_row()]),
    )
    return ADD_METER


@staff_only(write=True)
async def add_meter(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the meter number is well-formed and new; ask for the name."""
    typed = typed_text(update)
    if typed is None:
        return ADD_METER
    try:
        meter = validation.meter_number(typed)
        await customers.get_by_meter(context.admin_db, meter)
    except CustomerNotFound:
        pass
    except DomainError as exc:
        await reply(
            update, f"{explain_html(exc, context)} Please send it again.", buttons([cancel_row()])
        )
        return ADD_METER
    else:
        await reply(
            update,
            f"A customer with meter <code>{esc(meter)}</code> already exists "
            f"(/customer {esc(meter)}). Send another meter number.",
            buttons([cancel_row()]),
        )
        return ADD_METER
    flow_state(context)["meter_number"] = meter
    await reply(update, "Step 2 of 5: the customer's full name.", buttons([cancel_row()]))
    return ADD_NAME


@staff_only(write=True)
async def add_name(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the name; ask for the address."""
    typed = typed_text(update)
    if typed is None:
        return ADD_NAME
    try:
        flow_state(context)["full_name"] = validation.full_name(typed)
    except DomainError as exc:
        await reply(update, explain_html(exc, context), buttons([cancel_row()]))
        return ADD_NAME
    await reply(update, "Step 3 of 5: the supply address.", buttons([cancel_row()]))
    return ADD_ADDRESS


_SKIP = [("Skip", f"{ADD}:skip")]


@staff_only(write=True)
async def add_address(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the address; ask for a phone number (optional)."""
    typed = typed_text(update)
    if typed is None:
        return ADD_ADDRESS
    try:
        flow_state(context)["address"] = validation.address(typed)
    except DomainError as exc:
        await reply(update, explain_html(exc, context), buttons([cancel_row()]))
        return ADD_ADDRESS
    await reply(update, "Step 4 of 5: a phone number, or Skip.", buttons([_SKIP, cancel_row()]))
    return ADD_PHONE


@staff_only(write=True)
async def add_phone(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the phone number (or skip it); ask for an email address (optional)."""
    if update.callback_query is not None:
        await answer_query(update)
    else:
        typed = typed_text(update)
        if typed is None:
            return ADD_PHONE
        try:
            flow_state(context)["phone_number"] = validation.phone_number(
                typed, context.config.phone_region
            )
        except DomainError as exc:
            await reply(update, explain_html(exc, context), buttons([_SKIP, cancel_row()]))
            return ADD_PHONE
    await reply(update, "Step 5 of 5: an email address, or Skip.", buttons([_SKIP, cancel_row()]))
    return ADD_EMAIL


@staff_only(write=True)
async def add_email(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the email (or skip it); show everything for a final confirm."""
    state = flow_state(context)
    if update.callback_query is not None:
        await answer_query(update)
    else:
        typed = typed_text(update)
        if typed is None:
            return ADD_EMAIL
        try:
            state["email"] = validation.email(typed)
        except DomainError as exc:
            await reply(update, explain_html(exc, context), buttons([_SKIP, cancel_row()]))
            return ADD_EMAIL
    if "address" not in state:
        return await out_of_date(update, context)
    text = (
        "<b>Add this customer?</b>\n"
        f"Meter: <code>{esc(state['meter_number'])}</code>\n"
        f"Name: {esc(state['full_name'])}\n"
        f"Address: {esc(state['address'])}\n"
        f"Phone: {esc(state.get('phone_number') or '—')}\n"
        f"Email: {esc(state.get('email') or '—')}"
    )
    await reply(update, text, buttons([[("✅ Add customer", f"{ADD}:ok")], cancel_row()]))
    return ADD_CONFIRM


@staff_only(write=True)
async def add_confirm(update: Update, context: BillingContext, admin: Admin) -> int:
    """Create the customer and answer with their activation deep link."""
    await answer_query(update)
    state = flow_state(context)
    if "address" not in state:
        return await out_of_date(update, context)
    try:
        customer = await customers.add_customer(
            context.admin_db,
            meter_number=state["meter_number"],
            full_name=state["full_name"],
            address=state["address"],
            phone_number=state.get("phone_number"),
            email=state.get("email"),
            admin_id=admin.admin_id,
            phone_region=context.config.phone_region,
        )
        code = await customers.issue_activation_code(
            context.admin_db, customer.customer_id, admin_id=admin.admin_id
        )
    except DomainError as exc:
        await reply(
            update,
            f"{explain_html(exc, context)}\nNothing was added. Send /addcustomer to try again.",
        )
        return end_flow(context)
    await reply(
        update,
        f"✅ Customer added.\n\n{customer_details(customer)}\n\n"
        + _activation_text(context, customer, code),
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# /editcustomer


@staff_only(write=True)
async def editcustomer(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Begin editing a customer (from /editcustomer <meter> or the card's Edit button)."""
    await answer_query(update)
    try:
        if update.callback_query is not None:
            parts = callback_parts(update.callback_query, EDIT_START, 1)
            customer_id = int_part(parts[0]) if parts else None
            if customer_id is None:
                return end_flow(context)
            customer = await customers.get(context.admin_db, customer_id)
        elif context.args:
            customer = await customers.get_by_meter(context.admin_db, context.args[0][:64])
        else:
            await reply(update, "Send /editcustomer followed by a meter number.")
            return end_flow(context)
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return end_flow(context)
    flow_state(context, fresh=True)["customer_id"] = str(customer.customer_id)
    return await _field_menu(update, customer, "Which detail should change?")


async def _field_menu(update: Update, customer: Customer, prompt: str) -> str:
    labels = list(FIELD_LABELS.items())
    keyboard = [
        [(label, f"{EDIT_FIELD_DATA}:{field}") for field, label in labels[i : i + 2]]
        for i in range(0, len(labels), 2)
    ]
    keyboard.append([("Done", f"{EDIT_FIELD_DATA}:done")])
    await reply(update, f"{customer_details(customer)}\n\n{prompt}", buttons(keyboard))
    return EDIT_FIELD


@staff_only(write=True)
async def edit_field(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Ask for the new value of the chosen field."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, EDIT_FIELD_DATA, 1)
        if update.callback_query
        else None
    )
    state = flow_state(context)
    if not parts or parts[0] == "done" or "customer_id" not in state:
        saved = saved_so_far(context)
        done = f"Saved: {saved}." if saved else "Nothing was changed."
        await reply(update, f"Editing finished. {done}")
        return end_flow(context)
    if parts[0] not in FIELD_LABELS:
        return EDIT_FIELD
    state["field"] = parts[0]
    await reply(
        update,
        f"Send the new {FIELD_LABELS[parts[0]].lower()}.",
        buttons([cancel_row()]),
    )
    return EDIT_VALUE


@staff_only(write=True)
async def edit_value(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Validate and save the new value (audited); offer the field menu again."""
    typed = typed_text(update)
    state = flow_state(context)
    if typed is None:
        return EDIT_VALUE
    if "customer_id" not in state or state.get("field") not in FIELD_LABELS:
        return await out_of_date(update, context)
    try:
        customer = await customers.edit_by_admin(
            context.admin_db,
            int(state["customer_id"]),
            state["field"],
            typed,
            admin_id=admin.admin_id,
            phone_region=context.config.phone_region,
        )
    except DomainError as exc:
        await reply(
            update, f"{explain_html(exc, context)} Please send it again.", buttons([cancel_row()])
        )
        return EDIT_VALUE
    label = FIELD_LABELS[state.pop("field")]
    note_saved(context, label)
    return await _field_menu(update, customer, f"✅ {label} saved. Anything else?")


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("customers", customers_command, filters=admin_filter),
        CommandHandler("customer", customer_command, filters=admin_filter),
    ]


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("addcustomer", addcustomer, filters=admin_filter),
        CommandHandler("editcustomer", editcustomer, filters=admin_filter),
        CallbackQueryHandler(editcustomer, pattern=rf"^{EDIT_START}:"),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        ADD_METER: [MessageHandler(TEXT, add_meter)],
        ADD_NAME: [MessageHandler(TEXT, add_name)],
        ADD_ADDRESS: [MessageHandler(TEXT, add_address)],
        ADD_PHONE: [
            MessageHandler(TEXT, add_phone),
            CallbackQueryHandler(add_phone, pattern=rf"^{ADD}:skip$"),
        ],
        ADD_EMAIL: [
            MessageHandler(TEXT, add_email),
            CallbackQueryHandler(add_email, pattern=rf"^{ADD}:skip$"),
        ],
        ADD_CONFIRM: [CallbackQueryHandler(add_confirm, pattern=rf"^{ADD}:ok$")],
        EDIT_FIELD: [CallbackQueryHandler(edit_field, pattern=rf"^{EDIT_FIELD_DATA}:")],
        EDIT_VALUE: [MessageHandler(TEXT, edit_value)],
    }


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(customers_page, pattern=rf"^{LIST_PAGE}:"),
        CallbackQueryHandler(card_pressed, pattern=rf"^{CARD}:"),
        CallbackQueryHandler(activation_pressed, pattern=rf"^{ACTIVATION}:"),
    ]
