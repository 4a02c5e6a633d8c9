"""Staff: late fees. /waive <bill_id> (admin role): the bill's late fees → the fee to waive
(a button, when there are several) → the reason → confirm; the waiver goes through the ledger
(domain.late_fees.waive) and the customer is told."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BillingContext
from domain import customers, late_fees
from domain.billing import Line
from domain.errors import BillNotFound, InvalidInput, TotalBelowPaid
from domain.models import Admin
from handlers.admin_gate import end_flow, flow_state, out_of_date, staff_only, typed_text
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    cancel_row,
    esc,
    int_part,
    month_label,
    reply,
)
from handlers.notifications import Notice, send_one
from handlers.words import explain_html

# Conversation states.
WAIVE_FEE = "alf:waive_fee"
WAIVE_REASON = "alf:waive_reason"
WAIVE_CONFIRM = "alf:waive_confirm"

# Callback data prefixes.
WAIVE_PICK = "alfp"  # alfp:<bill_id>:<line_id>
WAIVE_OK = "alfk"  # alfk:<bill_id>:<line_id>

TEXT = filters.TEXT & ~filters.COMMAND


def _fee_label(fee: Line, context: BillingContext) -> str:
    period = f" ({month_label(fee.fee_period)})" if fee.fee_period else ""
    return f"{context.config.currency.format(fee.amount)}{period}"


async def _ask_reason(
    update: Update, context: BillingContext, fees: late_fees.BillFees, fee: Line
) -> str:
    state = flow_state(context, fresh=True)
    state["bill_id"], state["line_id"] = str(fees.bill.bill_id), str(fee.line_id)
    await reply(
        update,
        f"Waive the late fee of {_fee_label(fee, context)} on bill #{fees.bill.bill_id}?\n\n"
        "Type the reason for waiving it (the customer is told).",
        buttons([cancel_row()]),
    )
    return WAIVE_REASON


@staff_only(write=True)
async def waive(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """/waive <bill_id>: show the bill's late fees; ask which (if several) and why."""
    bill_id = int_part(context.args[0].lstrip("#")) if context.args else None
    if bill_id is None:
        await reply(update, "Send /waive followed by the bill ID (see /bills or /customer).")
        return end_flow(context)
    try:
        fees = await late_fees.fees_of(context.admin_db, bill_id)
    except BillNotFound:
        await reply(update, f"There is no bill #{bill_id}.")
        return end_flow(context)
    money = context.config.currency.format
    bill = fees.bill
    if not fees.fees:
        await reply(update, f"Bill #{bill_id} has no late fee, so there is nothing to waive.")
        return end_flow(context)
    shown = "\n".join(
        f"• {_fee_label(fee, context)}" + (" — waived" if fee not in fees.to_waive else "")
        for fee in fees.fees
    )
    summary = (
        f"<b>Bill #{bill_id}</b>, {month_label(bill.billing_month)}, due "
        f"{bill.due_date:%d %b %Y}\nTotal {money(bill.total_amount)}, paid "
        f"{money(bill.amount_paid)}, owed {money(bill.outstanding)}\nLate fees:\n{shown}"
    )
    if not fees.to_waive:
        await reply(update, f"{summary}\n\nEvery late fee on this bill is already waived.")
        return end_flow(context)
    if len(fees.to_waive) == 1:
        await reply(update, summary)
        return await _ask_reason(update, context, fees, fees.to_waive[0])
    state = flow_state(context, fresh=True)
    state["bill_id"] = str(bill_id)
    await reply(
        update,
        f"{summary}\n\nWhich fee do you want to waive?",
        buttons(
            [
                [(_fee_label(fee, context), f"{WAIVE_PICK}:{bill_id}:{fee.line_id}")]
                for fee in fees.to_waive
            ]
            + [cancel_row()]
        ),
    )
    return WAIVE_FEE


@staff_only(write=True)
async def waive_pick(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """The fee chosen: ask why it is waived."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, WAIVE_PICK, 2) if update.callback_query else None
    state = flow_state(context)
    if not parts or state.get("bill_id") != parts[0] or int_part(parts[1]) is None:
        return await out_of_date(update, context)
    fees = await late_fees.fees_of(context.admin_db, int(parts[0]))
    fee = next((f for f in fees.to_waive if f.line_id == int(parts[1])), None)
    if fee is None:
        return await out_of_date(update, context)
    return await _ask_reason(update, context, fees, fee)


@staff_only(write=True)
async def waive_reason(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Keep the reason; ask for confirmation."""
    typed = typed_text(update)
    state = flow_state(context)
    if typed is None:
        return WAIVE_REASON
    if "line_id" not in state:
        return await out_of_date(update, context)
    try:
        reason = late_fees.waiver_reason(typed)
    except InvalidInput as exc:
        await reply(
            update, f"{explain_html(exc, context)} Please type the reason again, or /cancel."
        )
        return WAIVE_REASON
    state["reason"] = reason
    await reply(
        update,
        f"Waive the late fee on bill #{state['bill_id']} because “{esc(reason)}”?\n"
        "The bill's total goes down by the fee; the fee stays on record as waived.",
        buttons(
            [[("✅ Waive fee", f"{WAIVE_OK}:{state['bill_id']}:{state['line_id']}")], cancel_row()]
        ),
    )
    return WAIVE_CONFIRM


@staff_only(write=True)
async def waive_confirm(update: Update, context: BillingContext, admin: Admin) -> int:
    """Write the waiver (audited) and tell the customer."""
    await answer_query(update)
    parts = callback_parts(update.callback_query, WAIVE_OK, 2) if update.callback_query else None
    state = flow_state(context)
    if not parts or [state.get("bill_id"), state.get("line_id")] != parts or "reason" not in state:
        return await out_of_date(update, context)
    bill_id, line_id, reason = int(parts[0]), int(parts[1]), state["reason"]
    end_flow(context)
    money = context.config.currency.format
    try:
        bill, waiver = await late_fees.waive(
            context.admin_db, bill_id, line_id, reason=reason, admin_id=admin.admin_id
        )
    except late_fees.LateFeeAlreadyWaived:
        await reply(update, "Not waived: that late fee has already been waived.")
        return end_flow(context)
    except late_fees.NoLateFee:
        await reply(update, f"Not waived: bill #{bill_id} has no such late fee.")
        return end_flow(context)
    except TotalBelowPaid as exc:
        await reply(
            update,
            f"Not waived: {money(exc.paid)} has already been paid on bill #{bill_id}, and "
            "without the fee the bill would be less than that. Refund the difference as "
            "account credit instead, if that is what you mean to do.",
        )
        return end_flow(context)
    except BillNotFound:
        await reply(update, f"Not waived: there is no bill #{bill_id}.")
        return end_flow(context)
    fee = -waiver.amount
    customer = await customers.get(context.admin_db, bill.customer_id)
    told = False
    if customer.telegram_user_id is not None:
        told = await send_one(
            context.bot,
            Notice(
                customer.telegram_user_id,
                f"✅ The late fee of {money(fee)} on your bill for "
                f"{month_label(bill.billing_month)} was waived by the utility office.\n"
                f"Reason: {esc(reason)}\n"
                f"Owed on this bill now: <b>{money(bill.outstanding)}</b>.",
            ),
        )
    await reply(
        update,
        f"✅ Late fee of {money(fee)} on bill #{bill_id} waived. The bill now totals "
        f"{money(bill.total_amount)} and owes {money(bill.outstanding)}."
        + (" The customer was told." if told else ""),
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# Wiring


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("waive", waive, filters=admin_filter)]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {
        WAIVE_FEE: [CallbackQueryHandler(waive_pick, pattern=rf"^{WAIVE_PICK}:")],
        WAIVE_REASON: [MessageHandler(TEXT, waive_reason)],
        WAIVE_CONFIRM: [CallbackQueryHandler(waive_confirm, pattern=rf"^{WAIVE_OK}:")],
    }
