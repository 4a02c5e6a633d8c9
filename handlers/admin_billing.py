"""Staff: bills. /newbill (meter → month → units → rate → confirm, the rate step skipped for
a customer on a tariff, whose bands, fixed charge and tax make the bill; the customer is told),
/editbill <bill_id> (month, units or rate, recalculated), /bills [owed|unpaid|partial|paid|all]
[YYYY-MM] paged, /pending <meter> (a customer's open bills, each with a Record payment button).
Overdue bills are flagged on every screen that lists or shows one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

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
from domain.billing import Charges, Line
from domain.errors import DomainError
from domain.models import Admin, Bill, BillFilter, Customer
from domain.money import bill_total, parse_decimal
from domain.reports import month_add
from handlers.admin_gate import (
    end_flow,
    flow_state,
    month_answer,
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
    local_today,
    month_label,
    pager_row,
    reply,
)
from handlers.notifications import (
    Notice,
    corrected_bill_notice,
    new_bill_notice,
    send_one,
)
from handlers.render.bill_lines import lines_html, shows_lines
from handlers.render.csv_export import bill_lines_csv
from handlers.render.formatting import date_label, due_text, rate_text, units_text
from handlers.render.tables import admin_bills_html, phone_table
from handlers.statements import with_statement
from handlers.words import explain_html

# Conversation states.
NB_METER = "abill:nb_meter"
NB_MONTH = "abill:nb_month"
NB_UNITS = "abill:nb_units"
NB_RATE = "abill:nb_rate"
NB_CONFIRM = "abill:nb_confirm"
EB_FIELD = "abill:eb_field"
EB_VALUE = "abill:eb_value"
EB_CONFIRM = "abill:eb_confirm"

# Callback data prefixes.
NEW_FOR = "anb"  # anb:<customer_id> (from a customer's card)
NB_MONTH_DATA = "anbm"  # anbm:<YYYYMM>
NB_RATE_DATA = "anbr"  # anbr:default
NB_OK = "anbok"  # anbok
EB_FIELD_DATA = "aebf"  # aebf:month|units|rate
EB_OK = "aebok"  # aebok
BILLS_PAGE = "abl"  # abl:<page>:<filter>:<YYYYMM|0>
BILL_LINES_CSV = "ablx"  # ablx:<filter>:<YYYYMM|0>

PAGE_SIZE = 8
TEXT = filters.TEXT & ~filters.COMMAND


def bill_summary(bill: Bill, context: BillingContext, lines: Sequence[Line] = ()) -> str:
    """A bill in a few lines: units × rate = total, or each of its ``lines`` (when it has
    several: bands, fixed charge, tax, late fee…) and the total; paid, owed, due."""
    money = context.config.currency.format
    if shows_lines(lines):
        shown = lines_html(lines, context.config.currency)
        figures = f"{shown}\nTotal <b>{money(bill.total_amount)}</b>"
    else:
        figures = (
            f"{units_text(bill.units_used)} units × "
            f"{rate_text(bill.rate_per_unit, context.config.currency)} = "
            f"<b>{money(bill.total_amount)}</b>"
        )
    return (
        f"Bill #{bill.bill_id} · {month_label(bill.billing_month)}\n"
        f"{figures}\n"
        f"Paid {money(bill.amount_paid)} · owed {money(bill.outstanding)} · "
        f"{bill.payment_status.label}\n"
        f"Due {due_text(bill, local_today(context))}"
    )


async def lines_of(context: BillingContext, bill: Bill) -> tuple[Line, ...]:
    """The lines of ``bill``, for :func:`bill_summary`."""
    return (await statements.lines_of_bills(context.admin_db, [bill.bill_id]))[bill.bill_id]


async def tell_customer(
    context: BillingContext, customer_id: int, notice_for: Callable[[int], Notice]
) -> bool:
    """Send a notice to the customer's linked chat, if they have one."""
    customer = await customers.get(context.admin_db, customer_id)
    if customer.telegram_user_id is None:
        return False
    return await send_one(context.bot, notice_for(customer.telegram_user_id))


# ---------------------------------------------------------------------------------------------
# /newbill


@staff_only(write=True)
async def newbill(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Begin issuing a bill: ask for the meter (or take it from the command or the card)."""
    await answer_query(update)
    flow_state(context, fresh=True)
    customer: Customer | None = None
    try:
        if update.callback_query is not None:
            parts = callback_parts(update.callback_query, NEW_FOR, 1)
            customer_id = int_part(parts[0]) if parts else None
            if customer_id is None:
                return end_flow(context)
            customer = await customers.get(context.admin_db, customer_id)
        elif context.args:
            customer = await customers.get_by_meter(context.admin_db, context.args[0][:64])
    except DomainError as exc:
        await reply(update, f"{explain_html(exc, context)} Send /newbill to start again.")
        return end_flow(context)
    if customer is None:
        await reply(
            update, "<b>New bill</b>\nSend the customer's meter number.", buttons([cancel_row()])
        )
        return NB_METER
    return await _ask_month(update, context, customer)


@staff_only(write=True)
async def nb_meter(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Find the customer by meter number."""
    typed = typed_text(update, 200)
    if typed is None:
        return NB_METER
    try:
        customer = await customers.get_by_meter(context.admin_db, typed)
    except DomainError as exc:
        await reply(
            update,
            f"{explain_html(exc, context)} Send another meter number.",
            buttons([cancel_row()]),
        )
        return NB_METER
    return await _ask_month(update, context, customer)


async def _ask_month(update: Update, context: BillingContext, customer: Customer) -> str:
    state = flow_state(context)
    state["customer_id"] = str(customer.customer_id)
    state["customer"] = f"{customer.full_name} ({customer.meter_number})"
    this_month = local_today(context).replace(day=1)
    choices = [month_add(this_month, -1), this_month]
    keyboard = [
        [(month_label(m), f"{NB_MONTH_DATA}:{m:%Y%m}") for m in choices],
        cancel_row(),
    ]
    await reply(
        update,
        f"New bill for <b>{esc(state['customer'])}</b>.\n"
        "Which billing month? Tap one or type it as YYYY-MM.",
        buttons(keyboard),
    )
    return NB_MONTH


@staff_only(write=True)
async def nb_month(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the month from a button or typed YYYY-MM; ask for the units."""
    state = flow_state(context)
    if "customer_id" not in state:
        return await out_of_date(update, context)
    raw = await month_answer(update, NB_MONTH_DATA)
    try:
        month = validation.billing_month(raw)
    except DomainError as exc:
        await reply(update, explain_html(exc, context), buttons([cancel_row()]))
        return NB_MONTH
    # Said now, not after the units and rate have been typed: the month is taken.
    existing = await bills.bill_for_month(context.admin_db, int(state["customer_id"]), month)
    if existing is not None:
        await reply(
            update,
            f"{esc(state['customer'])} already has a bill for {month_label(month)}:\n"
            f"{bill_summary(existing, context)}\n\n"
            f"Send /editbill {existing.bill_id} to correct it, or type another month "
            "(YYYY-MM).",
            buttons([cancel_row()]),
        )
        return NB_MONTH
    state["billing_month"] = month.isoformat()
    await reply(
        update,
        f"{month_label(month)} for {esc(state['customer'])}.\n"
        "How many units (kWh) were used? e.g. 245 or 245.5",
        buttons([cancel_row()]),
    )
    return NB_UNITS


@staff_only(write=True)
async def nb_units(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Read the units; offer the default tariff or a typed rate."""
    typed = typed_text(update, 200)
    state = flow_state(context)
    if typed is None:
        return NB_UNITS
    if "billing_month" not in state:
        return await out_of_date(update, context)
    try:
        units = parse_decimal(typed, places=2, what="units", maximum=bills.MAX_UNITS)
    except DomainError as exc:
        await reply(update, explain_html(exc, context), buttons([cancel_row()]))
        return NB_UNITS
    state["units_used"] = str(units)
    month = date.fromisoformat(state["billing_month"])
    customer_id = int(state["customer_id"])
    tariff = await context.admin_db.read(
        lambda uow: tariffs.in_force(
            uow, customer_id, month, default_rate=context.config.default_tariff
        )
    )
    if tariff.version_id is not None:
        # The customer is on a tariff: the bill is its bands, fixed charge and tax; no rate.
        try:
            charges = Charges.issue(tariff, units)
        except DomainError as exc:
            await reply(update, explain_html(exc, context), buttons([cancel_row()]))
            return NB_UNITS
        state["tariff_version_id"] = str(tariff.version_id)
        state["rate_per_unit"] = str(tariff.average_rate(units))
        figures = (
            f"Tariff {esc(tariff.code)} ({esc(tariff.name)}), {units_text(units)} units:\n"
            f"{lines_html(charges.lines, context.config.currency)}\n"
            f"Total <b>{context.config.currency.format(charges.total)}</b>"
        )
        return await _confirm_new_bill(update, context, figures)
    state.pop("tariff_version_id", None)
    rate = rate_text(context.config.default_tariff, context.config.currency)
    await reply(
        update,
        f"{units_text(units)} units. Which rate per unit? Tap the default tariff or type a rate.",
        buttons([[(f"Default tariff {rate}", f"{NB_RATE_DATA}:default")], cancel_row()]),
    )
    return NB_RATE


@staff_only(write=True)
async def nb_rate(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the rate (the default tariff or typed); show the bill for confirmation."""
    state = flow_state(context)
    if "units_used" not in state:
        return await out_of_date(update, context)
    if update.callback_query is not None:
        await answer_query(update)
        rate = context.config.default_tariff
    else:
        try:
            rate = parse_decimal(
                typed_text(update, 200) or "", places=4, what="rate", maximum=bills.MAX_RATE
            )
        except DomainError as exc:
            await reply(update, explain_html(exc, context), buttons([cancel_row()]))
            return NB_RATE
    units = Decimal(state["units_used"])
    state["rate_per_unit"] = str(rate)
    money = context.config.currency.format
    figures = (
        f"{units_text(units)} units × {rate_text(rate, context.config.currency)} = "
        f"<b>{money(bill_total(units, rate))}</b>"
    )
    return await _confirm_new_bill(update, context, figures)


async def _confirm_new_bill(update: Update, context: BillingContext, figures: str) -> str:
    """Show the bill to issue (``figures``: units × rate, or the tariff's lines) with its
    customer, month and due date, and ask for the go-ahead."""
    state = flow_state(context)
    month = date.fromisoformat(state["billing_month"])
    due = bills.default_due_date(month, context.config.due_days, issued_on=local_today(context))
    text = (
        "<b>Issue this bill?</b>\n"
        f"Customer: {esc(state['customer'])}\n"
        f"Month: {month_label(month)}\n"
        f"{figures}\n"
        f"Due {date_label(due)}"
    )
    await reply(update, text, buttons([[("✅ Issue bill", NB_OK)], cancel_row()]))
    return NB_CONFIRM


@staff_only(write=True)
async def nb_confirm(update: Update, context: BillingContext, admin: Admin) -> int:
    """Issue the bill (audited) and tell the customer."""
    await answer_query(update)
    state = flow_state(context)
    if "rate_per_unit" not in state:
        return await out_of_date(update, context)
    try:
        # The tariff version shown at the units step, never a newer one added meanwhile.
        version_id = state.get("tariff_version_id")
        tariff = None
        if version_id is not None:
            tariff = await context.admin_db.read(lambda uow: tariffs.version(uow, int(version_id)))
        bill = await bills.create_bill(
            context.admin_db,
            customer_id=int(state["customer_id"]),
            billing_month=date.fromisoformat(state["billing_month"]),
            units_used=Decimal(state["units_used"]),
            rate_per_unit=Decimal(state["rate_per_unit"]),
            due_days=context.config.due_days,
            issued_on=local_today(context),
            admin_id=admin.admin_id,
            tariff=tariff,
        )
    except DomainError as exc:
        await reply(update, f"{explain_html(exc, context)}\nNo bill was issued.")
        return end_flow(context)
    who = state["customer"]
    end_flow(context)
    told = await tell_customer(
        context,
        bill.customer_id,
        lambda chat: with_statement(
            new_bill_notice(chat, bill, context.config), context, bill.bill_id
        ),
    )
    await reply(
        update,
        f"✅ Bill issued for {esc(who)}.\n"
        f"{bill_summary(bill, context, await lines_of(context, bill))}\n"
        + ("The customer was notified." if told else "The customer has no linked Telegram."),
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# /editbill

EDIT_FIELDS = {"month": "billing month (YYYY-MM)", "units": "units", "rate": "rate per unit"}


@staff_only(write=True)
async def editbill(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Show the bill and ask which figure to correct."""
    bill_id = int_part(context.args[0].lstrip("#")) if context.args else None
    if bill_id is None:
        await reply(update, "Send /editbill followed by the bill number, e.g. /editbill 42.")
        return end_flow(context)
    try:
        bill = await bills.get(context.admin_db, bill_id)
        customer = await customers.get(context.admin_db, bill.customer_id)
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return end_flow(context)
    flow_state(context, fresh=True)["bill_id"] = str(bill.bill_id)
    keyboard = [
        [
            ("Month", f"{EB_FIELD_DATA}:month"),
            ("Units", f"{EB_FIELD_DATA}:units"),
            ("Rate", f"{EB_FIELD_DATA}:rate"),
        ],
        cancel_row(),
    ]
    await reply(
        update,
        f"<b>Correct a bill</b> of {esc(customer.full_name)} "
        f"(<code>{esc(customer.meter_number)}</code>)\n"
        f"{bill_summary(bill, context, await lines_of(context, bill))}\n\n"
        "What should change?",
        buttons(keyboard),
    )
    return EB_FIELD


@staff_only(write=True)
async def eb_field(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Ask for the new value of the chosen figure."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, EB_FIELD_DATA, 1) if update.callback_query else None
    )
    state = flow_state(context)
    if not parts or parts[0] not in EDIT_FIELDS or "bill_id" not in state:
        return await out_of_date(update, context)
    state["field"] = parts[0]
    await reply(update, f"Send the new {EDIT_FIELDS[parts[0]]}.", buttons([cancel_row()]))
    return EB_VALUE


@staff_only(write=True)
async def eb_value(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Check the value; show the corrected bill for confirmation."""
    typed = typed_text(update, 200)
    state = flow_state(context)
    if typed is None:
        return EB_VALUE
    if state.get("field") not in EDIT_FIELDS or "bill_id" not in state:
        return await out_of_date(update, context)
    try:
        bill = await bills.get(context.admin_db, int(state["bill_id"]))
        month, units, rate = bill.billing_month, bill.units_used, bill.rate_per_unit
        if state["field"] == "month":
            month = validation.billing_month(typed)
            state["value"] = month.isoformat()
        elif state["field"] == "units":
            units = parse_decimal(typed, places=2, what="units", maximum=bills.MAX_UNITS)
            state["value"] = str(units)
        else:
            rate = parse_decimal(typed, places=4, what="rate", maximum=bills.MAX_RATE)
            state["value"] = str(rate)
    except DomainError as exc:
        await reply(
            update, f"{explain_html(exc, context)} Please send it again.", buttons([cancel_row()])
        )
        return EB_VALUE
    money = context.config.currency.format
    total = bill_total(units, rate)
    field = EDIT_FIELDS[state["field"]]
    # What the save would refuse is said here, and no Save button is offered for it.
    refusal = None
    if total < bill.amount_paid:
        refusal = (
            f"⚠️ {money(bill.amount_paid)} is already paid on bill #{bill.bill_id}, more than "
            f"the new total {money(total)}, so this cannot be saved. Void a payment first if "
            f"the bill really is smaller, or send another {field}."
        )
    elif month != bill.billing_month:
        taken = await bills.bill_for_month(context.admin_db, bill.customer_id, month)
        if taken is not None:
            refusal = (
                f"⚠️ This customer already has bill #{taken.bill_id} for {month_label(month)}, "
                f"so this cannot be saved. Send another {field}."
            )
    if refusal is not None:
        state.pop("value", None)
        await reply(update, refusal, buttons([cancel_row()]))
        return EB_VALUE
    due_line = ""
    if month != bill.billing_month:
        due = bills.default_due_date(
            month, context.config.due_days, issued_on=local_today(context)
        )
        due_line = f"\nDue: {date_label(bill.due_date)} → {date_label(due)}"
    text = (
        f"<b>Correct bill #{bill.bill_id}?</b>\n"
        f"Month: {month_label(bill.billing_month)} → {month_label(month)}\n"
        f"Units: {units_text(bill.units_used)} → {units_text(units)}\n"
        f"Rate: {rate_text(bill.rate_per_unit, context.config.currency)} → "
        f"{rate_text(rate, context.config.currency)}\n"
        f"Total: {money(bill.total_amount)} → <b>{money(total)}</b>{due_line}"
    )
    await reply(update, text, buttons([[("✅ Save correction", EB_OK)], cancel_row()]))
    return EB_CONFIRM


@staff_only(write=True)
async def eb_confirm(update: Update, context: BillingContext, admin: Admin) -> int:
    """Save the correction (recalculated, audited); explain a refusal; tell the customer."""
    await answer_query(update)
    state = flow_state(context)
    if "value" not in state or state.get("field") not in EDIT_FIELDS:
        return await out_of_date(update, context)
    field, value = state["field"], state["value"]
    try:
        bill = await bills.update_bill(
            context.admin_db,
            int(state["bill_id"]),
            billing_month=date.fromisoformat(value) if field == "month" else None,
            units_used=Decimal(value) if field == "units" else None,
            rate_per_unit=Decimal(value) if field == "rate" else None,
            due_days=context.config.due_days,
            issued_on=local_today(context),
            admin_id=admin.admin_id,
        )
    except DomainError as exc:
        await reply(update, f"Not saved: {explain_html(exc, context)}")
        return end_flow(context)
    end_flow(context)
    told = await tell_customer(
        context, bill.customer_id, lambda chat: corrected_bill_notice(chat, bill, context.config)
    )
    await reply(
        update,
        f"✅ Bill corrected.\n{bill_summary(bill, context, await lines_of(context, bill))}"
        + ("\nThe customer was told." if told else ""),
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# /bills and /pending


BILLS_USAGE = (
    "Use /bills [owed|unpaid|partial|paid|all] [YYYY-MM], e.g. /bills owed 2026-10.\n"
    "owed (the default): unpaid and part-paid · unpaid: nothing paid yet · "
    "partial: part-paid · paid · all"
)
TITLES = {
    BillFilter.OWED: "Bills owed (unpaid and part-paid)",
    BillFilter.UNPAID: "Unpaid bills (nothing paid yet)",
    BillFilter.PARTIAL: "Part-paid bills",
    BillFilter.PAID: "Paid bills",
    BillFilter.ALL: "All bills",
}


@staff_only(write=False)
async def bills_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """/bills [owed|unpaid|partial|paid|all] [YYYY-MM]: every customer's bills, newest month
    first; by default every bill still owed."""
    bill_filter, month = BillFilter.OWED, None
    for arg in (context.args or [])[:2]:
        named = BillFilter.parse(arg)
        if named is not None:
            bill_filter = named
            continue
        try:
            month = validation.billing_month(arg)
        except DomainError:
            await reply(update, BILLS_USAGE)
            return
    await _show_bills(update, context, page=0, bill_filter=bill_filter, month=month)


@staff_only(write=False)
async def bills_page(update: Update, context: BillingContext, admin: Admin) -> None:
    """Turn a page of the bills list."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, BILLS_PAGE, 3) if update.callback_query else None
    page = int_part(parts[0], maximum=100_000) if parts else None
    bill_filter = BillFilter.parse(parts[1]) if parts else None
    if parts is None or page is None or bill_filter is None:
        return
    month = None
    if parts[2] != "0":
        try:
            month = validation.billing_month(f"{parts[2][:4]}-{parts[2][4:]}")
        except DomainError:
            return
    await _show_bills(update, context, page=page, bill_filter=bill_filter, month=month)


async def _show_bills(
    update: Update,
    context: BillingContext,
    *,
    page: int,
    bill_filter: BillFilter,
    month: date | None,
) -> None:
    found = await bills.list_bills(
        context.admin_db,
        bill_filter=bill_filter,
        billing_month=month,
        page=page,
        page_size=PAGE_SIZE,
    )
    title = TITLES[bill_filter] + (f", {month_label(month)}" if month else "")
    text = admin_bills_html(
        found, context.config.currency, today=local_today(context), title=title
    )
    keyboard = []
    which = f":{bill_filter}:{month:%Y%m}" if month else f":{bill_filter}:0"
    if found.pages > 1:
        keyboard.append(pager_row(BILLS_PAGE, page, found.pages, which))
    if found.items:
        keyboard.append([("⬇️ Bill lines CSV", f"{BILL_LINES_CSV}{which}")])
    await reply(update, text, buttons(keyboard) if keyboard else None)


@staff_only(write=False)
async def bill_lines_export(update: Update, context: BillingContext, admin: Admin) -> None:
    """Send every line of the bills the list shows (its filter and month) as a CSV file."""
    await answer_query(update)
    query = update.callback_query
    parts = callback_parts(query, BILL_LINES_CSV, 2) if query else None
    bill_filter = BillFilter.parse(parts[0]) if parts else None
    chat = update.effective_chat
    if parts is None or bill_filter is None or chat is None:
        return
    month = None
    if parts[1] != "0":
        try:
            month = validation.billing_month(f"{parts[1][:4]}-{parts[1][4:]}")
        except DomainError:
            return
    found = await statements.lines_export(
        context.admin_db, bill_filter=bill_filter, billing_month=month
    )
    name = (
        f"bill-lines-{bill_filter}-{month:%Y-%m}.csv" if month else f"bill-lines-{bill_filter}.csv"
    )
    caption = None
    if len(found) >= statements.MAX_EXPORT_LINES:
        caption = (
            f"The first {statements.MAX_EXPORT_LINES:,} lines, newest month first. "
            "Choose a month (/bills all YYYY-MM) for the rest."
        )
    await context.bot.send_document(
        chat.id,
        document=bill_lines_csv(found, context.config.currency),
        filename=name,
        caption=caption,
    )


@staff_only(write=False)
async def pending_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """/pending <meter>: the customer's open bills, each with a Record payment button."""
    if not context.args:
        await reply(update, "Send /pending followed by a meter number.")
        return
    try:
        customer = await customers.get_by_meter(context.admin_db, context.args[0][:64])
    except DomainError as exc:
        await reply(update, explain_html(exc, context))
        return
    open_bills = await bills.pending_bills(context.admin_db, customer.customer_id, limit=20)
    head = (
        f"<b>Open bills of {esc(customer.full_name)}</b> "
        f"(<code>{esc(customer.meter_number)}</code>)"
    )
    if not open_bills:
        await reply(update, f"{head}\nNothing is owed. 🎉")
        return
    money = context.config.currency.format
    today = local_today(context)
    rows = [
        [str(b.bill_id), month_label(b.billing_month), money(b.outstanding), due_text(b, today)]
        for b in open_bills
    ]
    owed = sum((b.outstanding for b in open_bills), Decimal("0"))
    overdue = [b for b in open_bills if b.is_overdue(today)]
    text = (
        f"{head}\n"
        + phone_table(["Bill", "Month", "Owed", "Due"], rows)
        + f"\n<b>Total owed: {money(owed)}</b>"
    )
    if overdue:
        late = sum((b.outstanding for b in overdue), Decimal("0"))
        text += (
            f"\n⚠️ <b>Overdue: {money(late)}</b> on {len(overdue)} "
            f"bill{'s' if len(overdue) != 1 else ''}"
        )
    keyboard = [
        [(f"💵 Record payment · {month_label(b.billing_month)}", f"arpb:{b.bill_id}")]
        for b in open_bills[:8]
    ]
    await reply(update, text, buttons(keyboard))


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("bills", bills_command, filters=admin_filter),
        CommandHandler("pending", pending_command, filters=admin_filter),
    ]


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("newbill", newbill, filters=admin_filter),
        CallbackQueryHandler(newbill, pattern=rf"^{NEW_FOR}:"),
        CommandHandler("editbill", editbill, filters=admin_filter),
    ]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        NB_METER: [MessageHandler(TEXT, nb_meter)],
        NB_MONTH: [
            MessageHandler(TEXT, nb_month),
            CallbackQueryHandler(nb_month, pattern=rf"^{NB_MONTH_DATA}:"),
        ],
        NB_UNITS: [MessageHandler(TEXT, nb_units)],
        NB_RATE: [
            MessageHandler(TEXT, nb_rate),
            CallbackQueryHandler(nb_rate, pattern=rf"^{NB_RATE_DATA}:default$"),
        ],
        NB_CONFIRM: [CallbackQueryHandler(nb_confirm, pattern=rf"^{NB_OK}$")],
        EB_FIELD: [CallbackQueryHandler(eb_field, pattern=rf"^{EB_FIELD_DATA}:")],
        EB_VALUE: [MessageHandler(TEXT, eb_value)],
        EB_CONFIRM: [CallbackQueryHandler(eb_confirm, pattern=rf"^{EB_OK}$")],
    }


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(bills_page, pattern=rf"^{BILLS_PAGE}:"),
        CallbackQueryHandler(bill_lines_export, pattern=rf"^{BILL_LINES_CSV}:"),
    ]
