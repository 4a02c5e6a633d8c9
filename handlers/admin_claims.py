"""Staff: /claims — payment claims (bank transfer, mobile money) to confirm or reject.

The list pages oldest first with ◀ ▶ that edit the same message. Confirm records the payment
(``domain.claims.confirm``: once, however often it is pressed, by however many staff) and
sends the customer the receipt; Reject asks for the reason (a step of the staff conversation,
with Cancel and its timeout) and tells the customer. Button data is ``<prefix>:<claim_id>``:
every press looks the admin up again, checks the role, and re-reads the claim.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import BillingContext
from domain import claims
from domain.claims import (
    Claim,
    ClaimAlreadyDecided,
    ClaimExceedsOutstanding,
    ClaimStatus,
    ClaimWithCustomer,
)
from domain.errors import DatabaseUnavailable, DomainError, InvalidInput
from domain.models import Admin, Page, PaymentMethod, now_utc
from domain.money import Currency
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
from handlers.notifications import Notice, notify_admins_of_payment, send_one
from handlers.receipts import send_receipt
from handlers.words import explain_html

log = logging.getLogger(__name__)

# Conversation state.
REJECT_REASON = "aclaim:reject_reason"

# Callback data prefixes.
CLAIMS_PAGE = "aclp"  # aclp:<page>
CLAIM_CONFIRM = "aclok"  # aclok:<claim_id>
CLAIM_REJECT = "aclrj"  # aclrj:<claim_id>

PAGE_SIZE = 5
TEXT = filters.TEXT & ~filters.COMMAND

# What the customer's money was, in a sentence ("Your bank transfer of ₦… was confirmed").
PAID_BY = {
    PaymentMethod.BANK_TRANSFER: "bank transfer",
    PaymentMethod.MOBILE_MONEY: "mobile money payment",
}


# ---------------------------------------------------------------------------------------------
# Rendering (pure)


def age_text(created_at: datetime, now: datetime) -> str:
    """How long a claim has waited, as a phone screen has room for: ``3 h ago``."""
    seconds = max(0, int((now - created_at).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def claim_card(item: ClaimWithCustomer, currency: Currency, now: datetime) -> str:
    """One claim as a few short lines (a card: names and references do not fit a table)."""
    claim = item.claim
    return (
        f"<b>#{claim.claim_id}</b> · {esc(item.full_name)} "
        f"(<code>{esc(item.meter_number)}</code>)\n"
        f"{month_label(item.billing_month)} bill · <b>{currency.format(claim.amount)}</b>\n"
        f"{claim.payment_method.label} · ref <code>{esc(claim.reference)}</code>\n"
        f"Filed {age_text(claim.created_at, now)}"
    )


def claims_html(found: Page[ClaimWithCustomer], currency: Currency, now: datetime) -> str:
    """The page of pending claims, oldest first."""
    if not found.items:
        return "<b>Payment claims</b>\nNo claims are waiting to be checked. 🎉"
    head = (
        f"<b>Payment claims to check</b> ({found.total} waiting, oldest first)\n"
        "Confirm only once the money is in the utility's account."
    )
    return "\n\n".join([head, *(claim_card(item, currency, now) for item in found.items)])


def claim_line(item: ClaimWithCustomer, currency: Currency) -> str:
    """A claim in one line, for the answers to Confirm and Reject."""
    claim = item.claim
    return (
        f"{currency.format(claim.amount)} by {claim.payment_method.label} from "
        f"{esc(item.full_name)} (<code>{esc(item.meter_number)}</code>) for "
        f"{month_label(item.billing_month)}, ref <code>{esc(claim.reference)}</code>"
    )


def _back_button() -> list[tuple[str, str]]:
    return [("◀ Back to claims", f"{CLAIMS_PAGE}:0")]


# ---------------------------------------------------------------------------------------------
# /claims and its pages


@staff_only(write=False)
async def claims_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """/claims: the pending payment claims, oldest first."""
    await _show_claims(update, context, admin, page=0)


@staff_only(write=False)
async def claims_page(update: Update, context: BillingContext, admin: Admin) -> None:
    """Turn a page of the claims list (or come back to it)."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, CLAIMS_PAGE, 1) if update.callback_query else None
    )
    page = int_part(parts[0], maximum=100_000) if parts else None
    if page is not None:
        await _show_claims(update, context, admin, page=page)


async def _show_claims(
    update: Update, context: BillingContext, admin: Admin, *, page: int
) -> None:
    found = await claims.pending(context.admin_db, page=page, page_size=PAGE_SIZE)
    if not found.items and found.total:  # claims were decided since: show the last page
        page = found.pages - 1
        found = await claims.pending(context.admin_db, page=page, page_size=PAGE_SIZE)
    keyboard = []
    if admin.role.can_write:  # a viewer reads the list; the buttons would only refuse
        keyboard = [
            [
                (f"✅ Confirm #{item.claim.claim_id}", f"{CLAIM_CONFIRM}:{item.claim.claim_id}"),
                (f"✖ Reject #{item.claim.claim_id}", f"{CLAIM_REJECT}:{item.claim.claim_id}"),
            ]
            for item in found.items
        ]
    if found.pages > 1:
        keyboard.append(pager_row(CLAIMS_PAGE, found.page, found.pages))
    text = claims_html(found, context.config.currency, now_utc())
    await reply(update, text, buttons(keyboard) if keyboard else None)


def _claim_id(update: Update, prefix: str) -> int | None:
    parts = callback_parts(update.callback_query, prefix, 1) if update.callback_query else None
    return int_part(parts[0]) if parts else None


def _decided_text(claim_id: int, status: ClaimStatus) -> str:
    return f"Claim #{claim_id} has already been {status.value}; nothing more was done."


# ---------------------------------------------------------------------------------------------
# Confirm


@staff_only(write=True)
async def claim_confirm(update: Update, context: BillingContext, admin: Admin) -> None:
    """Record the claim's payment once; the customer gets the receipt; staff see the outcome."""
    claim_id = _claim_id(update, CLAIM_CONFIRM)
    chat = update.effective_chat
    if claim_id is None or chat is None:
        await answer_query(update, STALE_BUTTON)
        return
    await answer_query(update)
    money = context.config.currency.format
    try:
        claim, result = await claims.confirm(context.admin_db, claim_id, admin_id=admin.admin_id)
    except ClaimAlreadyDecided as exc:
        await reply(update, _decided_text(claim_id, exc.status), buttons([_back_button()]))
        return
    except ClaimExceedsOutstanding as exc:
        why = (
            "its bill has been paid in full since"
            if exc.bill_paid
            else f"it claims {money(exc.amount)} but only {money(exc.outstanding)} is owed now"
        )
        await reply(
            update,
            f"Claim #{claim_id} was not confirmed: {why}. Nothing was recorded. If the money "
            "did arrive, record what is owed with /recordpayment and reject this claim.",
            buttons([[(f"✖ Reject #{claim_id}", f"{CLAIM_REJECT}:{claim_id}")], _back_button()]),
        )
        return
    except DatabaseUnavailable as exc:
        # Keep the buttons: pressing Confirm again records once or finds the payment.
        shown = update.callback_query.message if update.callback_query else None
        await reply(
            update,
            explain_html(exc, context),
            shown.reply_markup if isinstance(shown, Message) else None,
        )
        return
    except DomainError as exc:
        await reply(
            update,
            f"{explain_html(exc, context)} Nothing was recorded.",
            buttons([_back_button()]),
        )
        return
    payment, bill = result.payment, result.bill
    if not result.created:  # a double press, or another member of staff was first
        await reply(
            update,
            f"Claim #{claim_id} was already confirmed (payment ID {claim.payment_id}); "
            "nothing more was recorded.",
            buttons([_back_button()]),
        )
        return
    # The payment is committed: from here on a failed send must not hide it from staff.
    try:
        item = await claims.get(context.admin_db, claim_id)
        told = await _send_confirmation(context, item, claim)
        await reply(
            update,
            f"✅ Claim #{claim_id} confirmed: {claim_line(item, context.config.currency)}.\n"
            f"Payment ID {payment.payment_id} · receipt "
            f"<code>{esc(payment.receipt_number)}</code>\n"
            f"Owed on this bill now: {money(bill.outstanding)}\n"
            + (
                "The customer was sent the receipt."
                if told
                else "The customer could not be sent the receipt (no Telegram account on "
                "file, or the bot is blocked); the payment is recorded."
            ),
            buttons([_back_button()]),
        )
        context.application.create_task(notify_admins_of_payment(context, payment.payment_id))
    except (TelegramError, DomainError) as exc:
        log.warning("claim %s confirmed; confirmation not delivered: %r", claim_id, exc)
        with contextlib.suppress(TelegramError):
            await chat.send_message(
                f"Claim #{claim_id} is confirmed (payment ID {payment.payment_id}, receipt "
                f"<code>{esc(payment.receipt_number)}</code>), but I could not send everything "
                "just now. Do not record it again: see /payments."
            )


async def _send_confirmation(
    context: BillingContext, item: ClaimWithCustomer, claim: Claim
) -> bool:
    """Tell the customer their money was confirmed and send the receipt; False if they could
    not be reached (the payment stands either way)."""
    if item.telegram_user_id is None or claim.payment_id is None:
        return False
    money = context.config.currency.format
    try:
        await context.bot.send_message(
            item.telegram_user_id,
            f"✅ Your {PAID_BY[claim.payment_method]} of <b>{money(claim.amount)}</b> "
            f"(reference <code>{esc(claim.reference)}</code>) for "
            f"{month_label(item.billing_month)} was confirmed. Here is your receipt.",
        )
        await send_receipt(context, item.telegram_user_id, claim.payment_id)
    except TelegramError as exc:
        log.info("claim %s: the customer was not reached: %r", claim.claim_id, exc)
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Reject: the reason, then the customer is told


@staff_only(write=True)
async def claim_reject(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Show the claim and ask why it is rejected."""
    claim_id = _claim_id(update, CLAIM_REJECT)
    if claim_id is None:
        await answer_query(update, STALE_BUTTON)
        return end_flow(context)
    await answer_query(update)
    try:
        item = await claims.get(context.admin_db, claim_id)
    except DomainError as exc:
        await reply(update, explain_html(exc, context), buttons([_back_button()]))
        return end_flow(context)
    if not item.claim.is_pending:
        await reply(update, _decided_text(claim_id, item.claim.status), buttons([_back_button()]))
        return end_flow(context)
    state = flow_state(context, fresh=True)
    state["claim_id"] = str(claim_id)
    await reply(
        update,
        f"<b>Reject claim #{claim_id}?</b>\n{claim_line(item, context.config.currency)}\n\n"
        "Type the reason. The customer will be told it, so say what they should do "
        f"({claims.REASON_MIN}–{claims.REASON_MAX} characters).",
        buttons([cancel_row()]),
    )
    return REJECT_REASON


@staff_only(write=True)
async def reject_reason_typed(update: Update, context: BillingContext, admin: Admin) -> str | int:
    """Reject the claim with the typed reason and tell the customer."""
    typed = typed_text(update)
    state = flow_state(context)
    if typed is None:
        return REJECT_REASON
    claim_id = int_part(state.get("claim_id", ""))
    if claim_id is None:
        return await out_of_date(update, context)
    try:
        claim = await claims.reject(
            context.admin_db, claim_id, admin_id=admin.admin_id, reason=typed
        )
    except InvalidInput as exc:  # the reason's length or control characters
        await reply(
            update,
            f"{explain_html(exc, context)} Please type the reason again, or press Cancel.",
            buttons([cancel_row()]),
        )
        return REJECT_REASON
    except ClaimAlreadyDecided as exc:
        await reply(update, _decided_text(claim_id, exc.status), buttons([_back_button()]))
        return end_flow(context)
    except DomainError as exc:
        await reply(
            update, f"Not rejected: {explain_html(exc, context)}", buttons([_back_button()])
        )
        return end_flow(context)
    end_flow(context)
    item = await claims.get(context.admin_db, claim_id)
    told = False
    if item.telegram_user_id is not None:
        money = context.config.currency.format
        told = await send_one(
            context.bot,
            Notice(
                item.telegram_user_id,
                f"❌ Your {PAID_BY[claim.payment_method]} of <b>{money(claim.amount)}</b> "
                f"(reference <code>{esc(claim.reference)}</code>) for "
                f"{month_label(item.billing_month)} could not be confirmed.\n"
                f"Reason: {esc(claim.reject_reason)}\n"
                "Nothing was paid on this bill. If you did pay, please contact the utility "
                "office with your transfer receipt.",
            ),
        )
    await reply(
        update,
        f"Claim #{claim_id} rejected. Nothing was recorded on the bill. "
        + ("The customer was told why." if told else "The customer could not be told."),
        buttons([_back_button()]),
    )
    return end_flow(context)


# ---------------------------------------------------------------------------------------------
# Wiring


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("claims", claims_command, filters=admin_filter)]


def entry_points(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CallbackQueryHandler(claim_reject, pattern=rf"^{CLAIM_REJECT}:")]


def states() -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
    return {REJECT_REASON: [MessageHandler(TEXT, reject_reason_typed)]}


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [
        CallbackQueryHandler(claims_page, pattern=rf"^{CLAIMS_PAGE}:"),
        CallbackQueryHandler(claim_confirm, pattern=rf"^{CLAIM_CONFIRM}:"),
    ]
