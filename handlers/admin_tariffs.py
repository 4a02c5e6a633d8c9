"""Staff: tariffs. /tariffs (paged list), /tariff <code> (the version in force, those to come
and the history), /newtariff (code → name and class if new → effective-from month → bands →
fixed charge → tax → late fee → confirm: adds a version, never overwrites one), and
/settariff <meter> <code|flat> (a customer's tariff). Reading is for every staff role;
adding and assigning need the admin role.
"""

from __future__ import annotations

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
from domain import customers, tariffs
from domain.billing import FLAT_TARIFF_CODE, LateFeeRule, Tariff
from domain.errors import (
    DomainError,
    InvalidTariff,
    TariffNotFound,
    TariffVersionExists,
)
from domain.models import Admin
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
from handlers.render.formatting import date_label, rate_text
from handlers.render.tariffs import tariff_html, tariffs_html, version_html

# Conversation states.
NT_CODE = "atar:code"
NT_NAME = "atar:name"
NT_CLASS = "atar:class"
NT_FROM = "atar:from"
NT_BANDS = "atar:bands"
NT_FIXED = "atar:fixed"
NT_TAX = "atar:tax"
NT_FEE_PERCENT = "atar:fee_percent"
NT_FEE_FIXED = "atar:fee_fixed"
NT_FEE_CAP = "atar:fee_cap"
NT_GRACE = "atar:grace"
NT_CONFIRM = "atar:confirm"

# Callback data prefixes.
LIST_PAGE = "atl"  # atl:<page>
SHOW = "ats"  # ats:<code>
NT_CODE_DATA = "antc"  # antc:<code> (an existing tariff)
NT_CLASS_DATA = "antk"  # antk:<class>
NT_FROM_DATA = "antf"  # antf:<YYYYMM>
NT_NONE = "antn"  # antn: none / zero / no cap, at the step it is offered
NT_NO_FEE = "antx"  # antx: no late fee at all
NT_OK = "antok"

PAGE_SIZE = 10
CODE_BUTTONS = 8
CLASSES = ("residential", "commercial", "industrial")
TEXT = filters.TEXT & ~filters.COMMAND
EXAMPLE_BANDS = "0-50 0.50, 50-150 0.75, 150+ 1.20"
EXAMPLE_UNITS = Decimal(200)  # the month the confirmation prices, as an example

# What each refused figure should be, in the chat's words.
TARIFF_WORDS = {
    "tariff_code": (
        "A tariff code is 1 to 32 letters, digits, - or _ (e.g. RES-1); FLAT is the "
        "default tariff's."
    ),
    "name": "Please give a name of 2 to 200 characters.",
    "customer_class": "Please give a customer class of 2 to 50 characters, e.g. residential.",
    "effective_from": (
        "A version starts on a month's first day: type the month as YYYY-MM, e.g. 2026-07."
    ),
    "bands": f"Type the bands from 0 kWh up, e.g. {EXAMPLE_BANDS} (150+ is open-ended).",
    "band_from_kwh": (
        "The bands must start at 0 and each must start where the one before ends, e.g. "
        f"{EXAMPLE_BANDS}."
    ),
    "band_to_kwh": (
        "Each band must end above where it starts, and only the last is open-ended (150+), "
        f"e.g. {EXAMPLE_BANDS}."
    ),
    "rate_per_kwh": "A rate is a number of at most 4 decimals, e.g. 0.75.",
    "fixed_charge": "Type the fixed monthly charge as an amount, e.g. 5.00 (0 for none).",
    "tax_percent": "Type the tax as a percentage from 0 to 100, e.g. 7.5.",
    "late_fee_percent": "Type the late fee as a percentage from 0 to 100, e.g. 5.",
    "late_fee_fixed": "Type the fixed late fee as an amount, e.g. 2.00 (0 for none).",
    "late_fee_cap": "Type the most a late fee may be, e.g. 50.00, or tap No cap.",
    "grace_days": "Type the grace days as a whole number from 0 to 365, e.g. 10.",
}


def tariff_words(exc: InvalidTariff) -> str:
    return TARIFF_WORDS.get(exc.field, "That figure is not valid; please check it.")


# ---------------------------------------------------------------------------------------------
# /tariffs and /tariff


@staff_only(write=False)
async def tariffs_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """List the tariffs with the version in force today."""
    await _show_list(update, context, page=0)


@staff_only(write=False)
async def tariffs_page(update: Update, context: BillingContext, admin: Admin) -> None:
    """Turn a page of the tariff list."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, LIST_PAGE, 1) if update.callback_query else None
    page = int_part(parts[0], maximum=10_000) if parts else None
    if page is not None:
        await _show_list(update, context, page=page)


async def _show_list(update: Update, context: BillingContext, *, page: int) -> None:
    found = await tariffs.list_tariffs(context.admin_db, today=local_today(context))
    pages = max(1, -(-len(found.tariffs) // PAGE_SIZE))
    page = min(page, pages - 1)
    shown = found.tariffs[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    text = tariffs_html(
        shown,
        flat_customers=found.flat_customers,
        default_rate=context.config.default_tariff,
        currency=context.config.currency,
        page=page,
        pages=pages,
    )
    keyboard = [
        [(t.code, f"{SHOW}:{t.code}") for t in shown[i : i + 3]] for i in range(0, len(shown), 3)
    ]
    if pages > 1:
        keyboard.append(pager_row(LIST_PAGE, page, pages))
    await reply(update, text, buttons(keyboard) if keyboard else None)


@staff_only(write=False)
async def tariff_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """/tariff <code>: one tariff's version in force and its history."""
    if not context.args:
        await reply(update, "Send /tariff followed by a tariff code, e.g. /tariff RES-1.")
        return
    await _show_tariff(update, context, context.args[0][:64])


@staff_only(write=False)
async def tariff_pressed(update: Update, context: BillingContext, admin: Admin) -> None:
    """Open a tariff from the list."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, SHOW, 1) if update.callback_query else None
    chat = update.effective_chat
    if parts is None or chat is None:
        return
    await _show_tariff(update, context, parts[0], new_message=True)


async def _show_tariff(
    update: Update, context: BillingContext, code: str, *, new_message: bool = False
) -> None:
    try:
        history = await tariffs.history(context.admin_db, code)
    except TariffNotFound:
        text = f"No tariff has the code {esc(code)}. /tariffs lists them."
    else:
        text = tariff_html(history, context.config.currency, today=local_today(context))
    chat = update.effective_chat
    if new_message and chat is not None:
        await chat.send_message(text)  # the list stays where it is, to tap the next one
    else:
        await reply(update, text)


# ---------------------------------------------------------------------------------------------
# /newtariff


@staff_only(write=True)
async def newtariff(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Begin adding a version: ask for the tariff's code (an existing one or a new one)."""
    flow_state(context, fresh=True)
    found = await tariffs.list_tariffs(context.admin_db, today=local_today(context))
    codes = [t.code for t in found.tariffs[:CODE_BUTTONS]]
    keyboard = [
        [(code, f"{NT_CODE_DATA}:{code}") for code in codes[i : i + 4]]
        for i in range(0, len(codes), 4)
    ]
    keyboard.append(cancel_row())
    ask = (
        "Tap the tariff to add a version to, or type its code; a new code (e.g. RES-1) "
        "starts a new tariff."
        if codes
        else "Type the new tariff's code (e.g. RES-1)."
    )
    await reply(update, f"<b>New tariff version</b>\n{ask}", buttons(keyboard))
    return NT_CODE


@staff_only(write=True)
async def nt_code(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the code: an existing tariff goes on to the date, a new one asks for its name."""
    state = flow_state(context)
    if update.callback_query is not None:
        await answer_query(update)
        parts = callback_parts(update.callback_query, NT_CODE_DATA, 1)
        raw = parts[0] if parts else ""
    else:
        raw = typed_text(update, 100) or ""
    try:
        code = tariffs.tariff_code(raw)
    except InvalidTariff as exc:
        await reply(update, tariff_words(exc), buttons([cancel_row()]))
        return NT_CODE
    state.clear()
    state["code"] = code
    try:
        history = await tariffs.history(context.admin_db, code)
    except TariffNotFound:
        await reply(
            update,
            f"<b>{esc(code)}</b> is a new tariff. What is its name? (e.g. Residential tiered)",
            buttons([cancel_row()]),
        )
        return NT_NAME
    state["name"] = history.name
    state["customer_class"] = history.customer_class
    current = history.in_force(local_today(context))
    if current is not None:
        state["current_bands"] = tariffs.bands_text(current.bands)
    return await _ask_from(update, context)


@staff_only(write=True)
async def nt_name(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take a new tariff's name; ask for its customer class."""
    state = flow_state(context)
    typed = typed_text(update, 300)
    if typed is None:
        return NT_NAME
    if "code" not in state:
        return await out_of_date(update, context)
    try:
        state["name"] = tariffs.tariff_name(typed)
    except InvalidTariff as exc:
        await reply(update, tariff_words(exc), buttons([cancel_row()]))
        return NT_NAME
    except DomainError as exc:
        await reply(update, esc(exc), buttons([cancel_row()]))
        return NT_NAME
    keyboard = [[(c.capitalize(), f"{NT_CLASS_DATA}:{c}") for c in CLASSES], cancel_row()]
    await reply(
        update, "Which customers is it for? Tap one or type another class.", buttons(keyboard)
    )
    return NT_CLASS


@staff_only(write=True)
async def nt_class(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the customer class; ask from which month the version applies."""
    state = flow_state(context)
    if "name" not in state:
        return await out_of_date(update, context)
    if update.callback_query is not None:
        await answer_query(update)
        parts = callback_parts(update.callback_query, NT_CLASS_DATA, 1)
        raw = parts[0] if parts else ""
    else:
        raw = typed_text(update, 100) or ""
    try:
        state["customer_class"] = tariffs.customer_class(raw)
    except InvalidTariff as exc:
        await reply(update, tariff_words(exc), buttons([cancel_row()]))
        return NT_CLASS
    except DomainError as exc:
        await reply(update, esc(exc), buttons([cancel_row()]))
        return NT_CLASS
    return await _ask_from(update, context)


async def _ask_from(update: Update, context: BillingContext) -> str:
    state = flow_state(context)
    this_month = local_today(context).replace(day=1)
    choices = [this_month, month_add(this_month, 1)]
    keyboard = [
        [(month_label(m), f"{NT_FROM_DATA}:{m:%Y%m}") for m in choices],
        cancel_row(),
    ]
    await reply(
        update,
        f"<b>{esc(state['code'])}</b> · {esc(state['name'])} ({esc(state['customer_class'])})\n"
        "From which billing month does this version apply? Tap one or type YYYY-MM.\n"
        "Bills already issued keep the version they were computed with.",
        buttons(keyboard),
    )
    return NT_FROM


@staff_only(write=True)
async def nt_from(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the effective-from month (refused at once if the tariff has a version then)."""
    state = flow_state(context)
    if "customer_class" not in state:
        return await out_of_date(update, context)
    raw = await month_answer(update, NT_FROM_DATA)
    try:
        start = tariffs.effective_from(raw)
    except InvalidTariff as exc:
        await reply(update, tariff_words(exc), buttons([cancel_row()]))
        return NT_FROM
    try:
        history = await tariffs.history(context.admin_db, state["code"])
    except TariffNotFound:
        pass
    else:
        if any(v.effective_from == start for v in history.versions):
            await reply(
                update,
                f"{esc(state['code'])} already has a version from {date_label(start)}, and a "
                "version is never overwritten. Type another month (YYYY-MM).",
                buttons([cancel_row()]),
            )
            return NT_FROM
    state["effective_from"] = start.isoformat()
    now = state.get("current_bands")
    await reply(
        update,
        f"From {date_label(start)}. Type the bands from 0 kWh up, each with its rate per kWh, "
        f"e.g. <code>{EXAMPLE_BANDS}</code> (150+ is open-ended), or one rate for all units."
        + (f"\nIn force now: <code>{esc(now)}</code>" if now else ""),
        buttons([cancel_row()]),
    )
    return NT_BANDS


@staff_only(write=True)
async def nt_bands(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the bands; ask for the fixed monthly charge."""
    state = flow_state(context)
    typed = typed_text(update, 600)
    if typed is None:
        return NT_BANDS
    if "effective_from" not in state:
        return await out_of_date(update, context)
    try:
        bands = tariffs.bands_from_text(typed)
    except InvalidTariff as exc:
        await reply(update, tariff_words(exc), buttons([cancel_row()]))
        return NT_BANDS
    state["bands"] = tariffs.bands_text(bands)
    return await _ask(
        update,
        "Fixed monthly charge? e.g. 5.00",
        NT_FIXED,
        none_label="No fixed charge",
    )


async def _ask(update: Update, text: str, step: str, *, none_label: str | None = None) -> str:
    rows = [[(none_label, NT_NONE)]] if none_label else []
    await reply(update, text, buttons([*rows, cancel_row()]))
    return step


def _typed_or_CallbackQueryHandler(update: Update) -> str | None:
    """The figure typed at this step, "0" for its None button, None for anything else."""
    if update.callback_query is not None:
        return "0" if update.callback_query.data == NT_NONE else None
    return typed_text(update, 100)


async def _figure(update: Update, field: str) -> Decimal | None:
    """The figure of this step, or None (after saying why, if it was refused)."""
    await answer_query(update)
    raw = _typed_or_CallbackQueryHandler(update)
    if raw is None:
        return None
    try:
        return tariffs.figure(raw, field)
    except InvalidTariff as exc:
        await reply(update, tariff_words(exc), buttons([cancel_row()]))
        return None


@staff_only(write=True)
async def nt_fixed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the fixed charge; ask for the tax."""
    if "bands" not in flow_state(context):
        return await out_of_date(update, context)
    value = await _figure(update, "fixed_charge")
    if value is None:
        return NT_FIXED
    flow_state(context)["fixed_charge"] = str(value)
    return await _ask(update, "Tax, as a percentage? e.g. 7.5", NT_TAX, none_label="No tax")


@staff_only(write=True)
async def nt_tax(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the tax; ask for the late fee's percentage."""
    if "fixed_charge" not in flow_state(context):
        return await out_of_date(update, context)
    value = await _figure(update, "tax_percent")
    if value is None:
        return NT_TAX
    flow_state(context)["tax_percent"] = str(value)
    await reply(
        update,
        "Late fee: what percentage of the overdue balance? e.g. 5 (type 0 for a fixed fee only).",
        buttons([[("No late fee", NT_NO_FEE)], cancel_row()]),
    )
    return NT_FEE_PERCENT


@staff_only(write=True)
async def nt_fee_percent(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the late fee's percentage (or no late fee at all: straight to the confirmation)."""
    state = flow_state(context)
    if "tax_percent" not in state:
        return await out_of_date(update, context)
    if update.callback_query is not None and update.callback_query.data == NT_NO_FEE:
        await answer_query(update)
        state.update(late_fee_percent="0", late_fee_fixed="0", late_fee_cap="", grace_days="0")
        return await _confirm(update, context)
    value = await _figure(update, "late_fee_percent")
    if value is None:
        return NT_FEE_PERCENT
    state["late_fee_percent"] = str(value)
    return await _ask(
        update,
        "And a fixed amount on top? e.g. 2.00",
        NT_FEE_FIXED,
        none_label="No fixed amount",
    )


@staff_only(write=True)
async def nt_fee_fixed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the fixed late fee; ask for the cap (no fee at all: straight to the confirmation)."""
    state = flow_state(context)
    if "late_fee_percent" not in state:
        return await out_of_date(update, context)
    value = await _figure(update, "late_fee_fixed")
    if value is None:
        return NT_FEE_FIXED
    state["late_fee_fixed"] = str(value)
    if value == 0 and Decimal(state["late_fee_percent"]) == 0:
        state.update(late_fee_cap="", grace_days="0")
        return await _confirm(update, context)
    return await _ask(
        update, "The most one late fee may be? e.g. 50.00", NT_FEE_CAP, none_label="No cap"
    )


@staff_only(write=True)
async def nt_fee_cap(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the cap (None: no cap); ask for the grace days."""
    state = flow_state(context)
    if "late_fee_fixed" not in state:
        return await out_of_date(update, context)
    if update.callback_query is not None and update.callback_query.data == NT_NONE:
        await answer_query(update)
        state["late_fee_cap"] = ""
    else:
        raw = typed_text(update, 100)
        if raw is None:
            return NT_FEE_CAP
        try:
            cap = tariffs.figure(raw, "late_fee_cap")
            if cap <= 0:
                raise InvalidTariff("late_fee_cap", raw)
        except InvalidTariff as exc:
            await reply(update, tariff_words(exc), buttons([[("No cap", NT_NONE)], cancel_row()]))
            return NT_FEE_CAP
        state["late_fee_cap"] = str(cap)
    return await _ask(
        update,
        "How many days after the due date before the fee is charged? e.g. 10",
        NT_GRACE,
        none_label="None (the next day)",
    )


@staff_only(write=True)
async def nt_grace(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Take the grace days; show the version for confirmation."""
    state = flow_state(context)
    if "late_fee_cap" not in state:
        return await out_of_date(update, context)
    await answer_query(update)
    raw = _typed_or_CallbackQueryHandler(update)
    if raw is None:
        return NT_GRACE
    try:
        state["grace_days"] = str(tariffs.grace_days(raw))
    except InvalidTariff as exc:
        await reply(update, tariff_words(exc), buttons([cancel_row()]))
        return NT_GRACE
    return await _confirm(update, context)


def _version(state: dict[str, str]) -> Tariff:
    """The version the flow has gathered (checked again, as every version is)."""
    cap = state["late_fee_cap"]
    return Tariff(
        code=state["code"],
        name=state["name"],
        customer_class=state["customer_class"],
        effective_from=date.fromisoformat(state["effective_from"]),
        bands=tariffs.bands_from_text(state["bands"]),
        fixed_charge=Decimal(state["fixed_charge"]),
        tax_percent=Decimal(state["tax_percent"]),
        late_fee=LateFeeRule(
            grace_days=int(state["grace_days"]),
            percent=Decimal(state["late_fee_percent"]),
            fixed=Decimal(state["late_fee_fixed"]),
            cap=Decimal(cap) if cap else None,
        ),
    )


async def _confirm(update: Update, context: BillingContext) -> str | int:
    state = flow_state(context)
    try:
        version = _version(state)
    except (KeyError, ValueError, ArithmeticError):
        return await out_of_date(update, context)
    except InvalidTariff as exc:
        await reply(update, f"{tariff_words(exc)}\nSend /newtariff to start again.")
        return end_flow(context)
    currency = context.config.currency
    example = sum((line.amount for line in version.charges(EXAMPLE_UNITS)), Decimal(0))
    text = (
        f"<b>Add this version of {esc(version.code)}?</b>\n"
        f"{esc(version.name)} ({esc(version.customer_class)})\n\n"
        f"{version_html(version, currency)}\n\n"
        f"A month of {EXAMPLE_UNITS} kWh would be billed {currency.format(example)}."
    )
    await reply(update, text, buttons([[("✅ Add version", NT_OK)], cancel_row()]))
    return NT_CONFIRM


@staff_only(write=True)
async def nt_confirm(update: Update, context: BillingContext, admin: Admin) -> int:
    """Add the version (audited); a version from the same month is refused, not replaced."""
    await answer_query(update)
    state = flow_state(context)
    try:
        version = _version(state)
    except (KeyError, ValueError, ArithmeticError):
        return await out_of_date(update, context)
    except InvalidTariff as exc:
        await reply(update, f"{tariff_words(exc)}\nNothing was added.")
        return end_flow(context)
    try:
        added = await tariffs.add_version(context.admin_db, version, admin_id=admin.admin_id)
    except TariffVersionExists as exc:
        await reply(
            update,
            f"{esc(exc.code)} already has a version from {date_label(exc.effective_from)}; "
            "a version is never overwritten. Nothing was added.",
        )
        return end_flow(context)
    except DomainError as exc:
        await reply(update, f"{esc(exc)}\nNothing was added.")
        return end_flow(context)
    await reply(
        update,
        f"✅ Version of <b>{esc(added.code)}</b> added.\n\n"
        f"{version_html(added, context.config.currency)}\n\n"
        f"/tariff {esc(added.code)} shows its history; /settariff &lt;meter&gt; "
        f"{esc(added.code)} puts a customer on it.",
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# /settariff

SETTARIFF_USAGE = (
    "Send /settariff followed by a meter number and a tariff code, e.g. "
    "/settariff MTR-10001 RES-1 (or flat for the default tariff)."
)


@staff_only(write=True)
async def settariff(update: Update, context: BillingContext, admin: Admin) -> None:
    """/settariff <meter> <code|flat>: put a customer on a tariff (audited)."""
    args = context.args or []
    if len(args) != 2:
        await reply(update, SETTARIFF_USAGE)
        return
    meter, code = args[0][:64], args[1][:64]
    flat = code.upper() in (FLAT_TARIFF_CODE, "DEFAULT")
    try:
        customer = await customers.get_by_meter(context.admin_db, meter)
        await tariffs.assign(
            context.admin_db,
            customer.customer_id,
            None if flat else code,
            admin_id=admin.admin_id,
        )
        now = await tariffs.of_customer(
            context.admin_db, customer.customer_id, today=local_today(context)
        )
    except TariffNotFound:
        await reply(update, f"No tariff has the code {esc(code)}. /tariffs lists them.")
        return
    except DomainError as exc:
        await reply(update, esc(exc))
        return
    who = f"{esc(customer.full_name)} (<code>{esc(customer.meter_number)}</code>)"
    if now is None:
        on = (
            "the flat default tariff "
            f"({rate_text(context.config.default_tariff, context.config.currency)}/kWh)"
        )
    else:
        on = f"tariff <b>{esc(now.code)}</b> · {esc(now.name)}"
    await reply(
        update,
        f"✅ {who} is now on {on}.\nBills already issued keep the tariff they were computed with.",
    )


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CommandHandler("tariffs", tariffs_command, filters=admin_filter),
        CommandHandler("tariff", tariff_command, filters=admin_filter),
        CommandHandler("settariff", settariff, filters=admin_filter),
    ]


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("newtariff", newtariff, filters=admin_filter)]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        NT_CODE: [
            MessageHandler(TEXT, nt_code),
            CallbackQueryHandler(nt_code, pattern=rf"^{NT_CODE_DATA}:"),
        ],
        NT_NAME: [MessageHandler(TEXT, nt_name)],
        NT_CLASS: [
            MessageHandler(TEXT, nt_class),
            CallbackQueryHandler(nt_class, pattern=rf"^{NT_CLASS_DATA}:"),
        ],
        NT_FROM: [
            MessageHandler(TEXT, nt_from),
            CallbackQueryHandler(nt_from, pattern=rf"^{NT_FROM_DATA}:"),
        ],
        NT_BANDS: [MessageHandler(TEXT, nt_bands)],
        NT_FIXED: [
            MessageHandler(TEXT, nt_fixed),
            CallbackQueryHandler(nt_fixed, pattern=rf"^{NT_NONE}$"),
        ],
        NT_TAX: [
            MessageHandler(TEXT, nt_tax),
            CallbackQueryHandler(nt_tax, pattern=rf"^{NT_NONE}$"),
        ],
        NT_FEE_PERCENT: [
            MessageHandler(TEXT, nt_fee_percent),
            CallbackQueryHandler(nt_fee_percent, pattern=rf"^{NT_NO_FEE}$"),
        ],
        NT_FEE_FIXED: [
            MessageHandler(TEXT, nt_fee_fixed),
            CallbackQueryHandler(nt_fee_fixed, pattern=rf"^{NT_NONE}$"),
        ],
        NT_FEE_CAP: [
            MessageHandler(TEXT, nt_fee_cap),
            CallbackQueryHandler(nt_fee_cap, pattern=rf"^{NT_NONE}$"),
        ],
        NT_GRACE: [
            MessageHandler(TEXT, nt_grace),
            CallbackQueryHandler(nt_grace, pattern=rf"^{NT_NONE}$"),
        ],
        NT_CONFIRM: [CallbackQueryHandler(nt_confirm, pattern=rf"^{NT_OK}$")],
    }


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(tariffs_page, pattern=rf"^{LIST_PAGE}:"),
        CallbackQueryHandler(tariff_pressed, pattern=rf"^{SHOW}:"),
    ]
