"""The one payment flow: a bill → full or another amount → how it is paid → what that means.

/pay (a customer paying their own bill) and /recordpayment (staff recording money taken at
the office) are the same state machine. What differs is data, a :class:`Payer`: who may act
(the linked customer, or an admin with a write role, looked up again at every step), where the
flow keeps its scratchpad, its state names and callback prefixes, and which methods it offers
with what each one leads to (:class:`Outcome`):

- ``INVOICE``: a Telegram invoice for the amount (card; handlers/card_payments.py records the
  charge when Telegram reports it);
- ``CLAIM``: where to send the money, then the transfer's reference, filed as a claim that
  counts only once staff confirm it;
- ``RECORD``: a confirm screen whose button carries a fresh idempotency key; pressing it
  records the payment once (domain.payments.pay_bill) and sends its receipt.

A Confirm pressed again after the payment was acknowledged (a double tap, the same update
delivered twice, an old screen) records nothing and sends no second document: it answers
with a short notice. One pressed again after "outcome unknown" (the database went away around
the COMMIT) finds the payment made with its key, or makes it, and acknowledges it in full.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, ConversationHandler, MessageHandler
from telegram.ext import filters as ptb_filters

from bot.context import BillingContext
from bot.update_processor import after_update
from domain import bills, claims, customers, payments
from domain.claims import ReferenceAlreadyClaimed
from domain.db import Database
from domain.errors import DatabaseUnavailable, DomainError, InvalidInput
from domain.models import OFFICE_METHODS, Admin, Bill, Customer, Payment, PaymentMethod, now_utc
from domain.money import parse_amount
from domain.payments import PaymentResult
from handlers.admin_gate import FLOW_KEY, end_flow, flow_state, staff_member
from handlers.card_payments import card_unavailable, send_invoice
from handlers.common import (
    answer_query,
    buttons,
    callback_parts,
    cancel_row,
    current_customer,
    esc,
    int_part,
    local_today,
    month_label,
    reply,
)
from handlers.notifications import notify_admins_of_payment
from handlers.receipts import ReceiptDocument, deliver_receipt, draw_receipt
from handlers.render.formatting import due_text
from handlers.words import explain, explain_html

log = logging.getLogger(__name__)

TEXT = ptb_filters.TEXT & ~ptb_filters.COMMAND


class Outcome(Enum):
    """What choosing a method leads to."""

    INVOICE = "invoice"
    CLAIM = "claim"
    RECORD = "record"


@dataclass(frozen=True)
class Payer:
    """Everything that differs between the customer's /pay and the office's /recordpayment."""

    prefix: str  # state names are "<prefix>:<step>"
    scratch_key: str  # the flow's scratchpad in context.flow
    staff: bool  # True: an admin with a write role acts; False: the linked customer
    methods: Mapping[PaymentMethod, Outcome]  # offered in this order
    bill_data: str  # callback prefixes: <bill_data>:<bill_id>, …
    amount_data: str
    method_data: str
    confirm_data: str
    confirm_label: str
    start_again: str  # what to send to begin again

    def state(self, step: str) -> str:
        return f"{self.prefix}:{step}"

    @property
    def bill_state(self) -> str:
        return self.state("bill")


CUSTOMER = Payer(
    prefix="pay",
    scratch_key="pay",
    staff=False,
    methods={
        PaymentMethod.CARD: Outcome.INVOICE,
        PaymentMethod.BANK_TRANSFER: Outcome.CLAIM,
        PaymentMethod.MOBILE_MONEY: Outcome.CLAIM,
        PaymentMethod.CREDIT: Outcome.RECORD,
    },
    bill_data="paybill",
    amount_data="payamt",
    method_data="paymethod",
    confirm_data="payok",
    confirm_label="✅ Confirm payment",
    start_again="Send /pay to start again.",
)

OFFICE = Payer(
    prefix="apay:rp",
    scratch_key=FLOW_KEY,
    staff=True,
    methods={method: Outcome.RECORD for method in OFFICE_METHODS},
    bill_data="arpb",
    amount_data="arpa",
    method_data="arpm",
    confirm_data="arpok",
    confirm_label="✅ Record payment",
    start_again="Send /recordpayment to start again.",
)

METHOD_ICONS = {
    PaymentMethod.CARD: "💳 ",
    PaymentMethod.BANK_TRANSFER: "🏦 ",
    PaymentMethod.MOBILE_MONEY: "📱 ",
}


@dataclass(frozen=True)
class Actor:
    """Who is acting at this step, and through which database account."""

    db: Database
    customer: Customer | None = None  # the customer paying their own bill
    admin: Admin | None = None  # the admin recording an office payment

    @property
    def customer_id(self) -> int | None:
        return self.customer.customer_id if self.customer is not None else None

    @property
    def admin_id(self) -> int | None:
        return self.admin.admin_id if self.admin is not None else None


class PaymentFlow:
    """The steps, for one :class:`Payer`. Every step looks the actor up again and checks the
    bill is still theirs (customer) and still open; the scratchpad holds plain strings."""

    def __init__(self, payer: Payer) -> None:
        self.payer = payer

    # -- who, what, where -------------------------------------------------------------------

    async def actor(self, update: Update, context: BillingContext) -> Actor | None:
        """The customer or admin behind this update, or None after telling them why not."""
        if self.payer.staff:
            admin = await staff_member(update, context, write=True)
            return Actor(context.admin_db, admin=admin) if admin is not None else None
        customer = await current_customer(update, context)
        return Actor(context.customer_db, customer=customer) if customer is not None else None

    def scratch(self, context: BillingContext, *, fresh: bool = False) -> dict[str, str]:
        return flow_state(context, fresh=fresh, key=self.payer.scratch_key)

    def forget(self, context: BillingContext) -> int:
        return end_flow(context, key=self.payer.scratch_key)

    async def out_of_date(self, update: Update, context: BillingContext) -> int:
        await answer_query(update)
        await reply(update, f"That payment screen is out of date. {self.payer.start_again}")
        return self.forget(context)

    async def open_bill(
        self, update: Update, context: BillingContext, actor: Actor, bill_id: int
    ) -> Bill | None:
        """The bill, if the actor may pay it and something is owed on it; else say why."""
        try:
            bill = await bills.get(actor.db, bill_id, customer_id=actor.customer_id)
        except DomainError as exc:
            await reply(update, explain_html(exc, context))
            return None
        if bill.outstanding <= 0:
            await reply(update, "This bill is already fully paid.")
            return None
        return bill

    async def _flow_bill(
        self, update: Update, context: BillingContext, needs: str
    ) -> tuple[Actor, dict[str, str], Bill] | int:
        """The actor, scratchpad and bill of a step that needs ``needs`` in the scratchpad."""
        actor = await self.actor(update, context)
        if actor is None:
            return self.forget(context)
        state = self.scratch(context)
        if needs not in state:
            return await self.out_of_date(update, context)
        bill = await self.open_bill(update, context, actor, int(state["bill_id"]))
        if bill is None:
            return self.forget(context)
        return actor, state, bill

    # -- steps --------------------------------------------------------------------------------

    async def choose_bill(self, update: Update, context: BillingContext) -> str | int:
        """A bill button: check it, start the flow afresh at it, ask how much."""
        actor = await self.actor(update, context)
        if actor is None:
            return self.forget(context)
        await answer_query(update)
        query = update.callback_query
        parts = callback_parts(query, self.payer.bill_data, 1) if query else None
        bill_id = int_part(parts[0]) if parts else None
        bill = (
            await self.open_bill(update, context, actor, bill_id) if bill_id is not None else None
        )
        if bill is None:
            return self.forget(context)
        state = self.scratch(context, fresh=True)
        state["bill_id"] = str(bill.bill_id)
        money = context.config.currency.format
        heading = f"<b>Bill for {month_label(bill.billing_month)}</b>"
        if self.payer.staff:
            customer = await customers.get(actor.db, bill.customer_id)
            state["customer"] = f"{customer.full_name} ({customer.meter_number})"
            heading = f"<b>{esc(state['customer'])}</b>\nBill #{bill.bill_id} for " + (
                month_label(bill.billing_month)
            )
        text = (
            f"{heading}\nTotal: {money(bill.total_amount)}\nPaid so far: "
            f"{money(bill.amount_paid)}\n<b>Outstanding: {money(bill.outstanding)}</b>\n"
            f"Due: {due_text(bill, local_today(context))}\n\n"
            + ("How much was paid?" if self.payer.staff else "How much would you like to pay?")
        )
        keyboard = [
            [(f"Pay in full · {money(bill.outstanding)}", f"{self.payer.amount_data}:full")],
            [("Another amount", f"{self.payer.amount_data}:other")],
            cancel_row(),
        ]
        await reply(update, text, buttons(keyboard))
        return self.payer.state("amount")

    async def choose_amount(self, update: Update, context: BillingContext) -> str | int:
        """Full amount → the methods; another amount → ask for it."""
        found = await self._flow_bill(update, context, "bill_id")
        if isinstance(found, int):
            return found
        await answer_query(update)
        query = update.callback_query
        parts = callback_parts(query, self.payer.amount_data, 1) if query else None
        if not parts:
            return await self.out_of_date(update, context)
        actor, state, bill = found
        if parts[0] == "full":
            state["amount"] = str(bill.outstanding)
            return await self.ask_method(update, context, actor)
        money = context.config.currency.format
        await reply(
            update,
            f"Please type the amount (up to {money(bill.outstanding)}), e.g. 1500.50.",
            buttons([cancel_row()]),
        )
        return self.payer.state("typed_amount")

    async def type_amount(self, update: Update, context: BillingContext) -> str | int:
        """A typed amount: more than zero, in the utility's currency, at most what is owed."""
        message = update.effective_message
        if message is None or message.text is None:
            return self.payer.state("typed_amount")
        found = await self._flow_bill(update, context, "bill_id")
        if isinstance(found, int):
            return found
        actor, state, bill = found
        currency = context.config.currency
        try:
            amount = parse_amount(message.text[:100], currency=currency)
        except DomainError as exc:
            await reply(update, esc(explain(exc, currency)), buttons([cancel_row()]))
            return self.payer.state("typed_amount")
        if amount > bill.outstanding:
            await reply(
                update,
                f"That is more than the {currency.format(bill.outstanding)} owed. "
                "Please type a smaller amount.",
                buttons([cancel_row()]),
            )
            return self.payer.state("typed_amount")
        state["amount"] = str(amount)
        return await self.ask_method(update, context, actor)

    def offered(
        self, context: BillingContext, actor: Actor, amount: Decimal
    ) -> tuple[list[tuple[PaymentMethod, str]], list[str]]:
        """The methods this payer may use for this amount (with their button labels), and why
        any other is not offered."""
        config = context.config
        money = config.currency.format
        offered: list[tuple[PaymentMethod, str]] = []
        notes: list[str] = []
        for method in self.payer.methods:
            label = METHOD_ICONS.get(method, "") + method.label
            if method is PaymentMethod.CARD:
                if not config.payment_provider_token or config.currency.card_limits is None:
                    continue
                why_not = card_unavailable(amount, config.currency)
                if why_not is not None:
                    notes.append(why_not)
                    continue
            if method is PaymentMethod.CREDIT:
                credit = actor.customer.credit if actor.customer is not None else Decimal(0)
                if credit <= 0:
                    continue
                label = f"{label} · {money(credit)}"
            offered.append((method, label))
        return offered, notes

    async def ask_method(self, update: Update, context: BillingContext, actor: Actor) -> str:
        state = self.scratch(context)
        amount = Decimal(state["amount"])
        offered, notes = self.offered(context, actor, amount)
        rows = [[(label, f"{self.payer.method_data}:{m.value}")] for m, label in offered]
        money = context.config.currency.format
        question = "How was it paid?" if self.payer.staff else f"How will you pay {money(amount)}?"
        text = "\n".join([question, *(esc(note) for note in notes)])
        await reply(update, text, buttons([*rows, cancel_row()]))
        return self.payer.state("method")

    async def choose_method(self, update: Update, context: BillingContext) -> str | int:
        """Go where the method leads: the invoice, the transfer details, or the confirm screen."""
        found = await self._flow_bill(update, context, "amount")
        if isinstance(found, int):
            return found
        await answer_query(update)
        query = update.callback_query
        parts = callback_parts(query, self.payer.method_data, 1) if query else None
        actor, state, bill = found
        amount = Decimal(state["amount"])
        offered = {method.value: method for method, _ in self.offered(context, actor, amount)[0]}
        if not parts or parts[0] not in offered:
            return self.payer.state("method")
        method = offered[parts[0]]
        outcome = self.payer.methods[method]
        if outcome is Outcome.INVOICE:
            return await self._send_invoice(update, context, actor, bill, amount)
        state["method"] = method.value
        money = context.config.currency.format
        if outcome is Outcome.CLAIM:
            details = context.config.transfer_details or "Ask our office for the account details."
            await reply(
                update,
                f"<b>Pay {money(amount)} by {method.label.lower()}</b>\n{esc(details)}\n\n"
                "Then type the reference of your transfer (as on your bank or mobile-money "
                "receipt). Our staff check it against the account; until then it does not "
                "reduce your balance.",
                buttons([cancel_row()]),
            )
            return self.payer.state("reference")
        lines = ["<b>Please confirm</b>"]
        if "customer" in state:
            lines.append(f"Customer: {esc(state['customer'])}")
        if method is PaymentMethod.CREDIT and actor.customer is not None:
            amount = min(amount, actor.customer.credit)
            state["amount"] = str(amount)
            lines.append(f"From your account credit ({money(actor.customer.credit)})")
        state["key"] = payments.new_idempotency_key()
        lines += [
            f"Bill #{bill.bill_id} for {month_label(bill.billing_month)}"
            if self.payer.staff
            else f"Bill for {month_label(bill.billing_month)}",
            f"Amount: <b>{money(amount)}</b> by {method.label}",
            f"Balance after this payment: {money(bill.outstanding - amount)}",
        ]
        keyboard = [
            [(self.payer.confirm_label, f"{self.payer.confirm_data}:{state['key']}")],
            cancel_row(),
        ]
        await reply(update, "\n".join(lines), buttons(keyboard))
        return self.payer.state("confirm")

    async def _send_invoice(
        self, update: Update, context: BillingContext, actor: Actor, bill: Bill, amount: Decimal
    ) -> int:
        """Send the invoice; Telegram's own payment screen takes it from there."""
        self.forget(context)
        chat = update.effective_chat
        if actor.customer is None or chat is None:
            return ConversationHandler.END
        try:
            invoice = await send_invoice(context, chat.id, actor.customer, bill, amount)
        except DomainError as exc:
            await reply(update, f"{explain_html(exc, context)}\nNothing was charged.")
            return ConversationHandler.END
        except TelegramError as exc:
            log.warning("invoice not sent: %r", exc)
            await reply(
                update, "I could not create the card payment just now. Nothing was charged."
            )
            return ConversationHandler.END
        minutes = int((invoice.expires_at - now_utc()).total_seconds() // 60) + 1
        await reply(
            update,
            f"Here is your invoice for {context.config.currency.format(amount)}. Tap <b>Pay</b> "
            f"on it to pay by card; it can be paid for {minutes} minutes. Nothing is charged "
            "until you pay.",
        )
        return ConversationHandler.END

    async def claim_reference(self, update: Update, context: BillingContext) -> str | int:
        """File the transfer claim: it changes no balance until staff confirm it."""
        message = update.effective_message
        if message is None or message.text is None:
            return self.payer.state("reference")
        found = await self._flow_bill(update, context, "method")
        if isinstance(found, int):
            return found
        actor, state, bill = found
        if actor.customer_id is None:
            return self.forget(context)
        method = PaymentMethod(state["method"])
        retry = buttons([cancel_row()])
        try:
            claim = await claims.submit(
                actor.db,
                customer_id=actor.customer_id,
                bill_id=bill.bill_id,
                amount=Decimal(state["amount"]),
                method=method,
                reference=message.text[:200],
            )
        except ReferenceAlreadyClaimed:
            await reply(
                update,
                "That transfer reference has already been claimed. Please check it and type "
                "it again, or /cancel.",
                retry,
            )
            return self.payer.state("reference")
        except InvalidInput as exc:
            await reply(
                update,
                f"{explain_html(exc, context)} Please type the reference again, or /cancel.",
                retry,
            )
            return self.payer.state("reference")
        except DomainError as exc:
            self.forget(context)
            await reply(update, f"{explain_html(exc, context)}\nNo claim was filed.")
            return ConversationHandler.END
        self.forget(context)
        await reply(
            update,
            f"📝 Claim filed: {context.config.currency.format(claim.amount)} by "
            f"{method.label.lower()}, reference <code>{esc(claim.reference)}</code>.\n"
            "It is <b>pending</b>: it does not reduce your balance until our staff confirm the "
            "money reached us. You will get the receipt then.",
        )
        return ConversationHandler.END

    async def confirm(self, update: Update, context: BillingContext) -> str | int:
        """Record the payment once and acknowledge it; a repeat press gets a short notice."""
        actor = await self.actor(update, context)
        if actor is None:
            return self.forget(context)
        await answer_query(update)
        query = update.callback_query
        parts = callback_parts(query, self.payer.confirm_data, 1) if query else None
        chat = update.effective_chat
        if not parts or chat is None:
            return self.forget(context)
        key = parts[0]
        state = context.flow.get(self.payer.scratch_key)
        if not isinstance(state, dict) or state.get("key") != key:
            return await self._repeat(update, context, actor, key)
        try:
            result = await payments.pay_bill(
                actor.db,
                bill_id=int(state["bill_id"]),
                amount=Decimal(state["amount"]),
                method=state["method"],
                idempotency_key=key,
                customer_id=actor.customer_id,
                admin_id=actor.admin_id,
            )
        except DatabaseUnavailable as exc:
            # Keep the flow and its button: pressing it again with the same key records the
            # payment once, or finds the one whose COMMIT answer was lost.
            shown = query.message if query is not None else None
            await reply(
                update,
                explain_html(exc, context),
                shown.reply_markup if isinstance(shown, Message) else None,
            )
            return self.payer.state("confirm")
        except DomainError as exc:
            self.forget(context)
            what = "recorded" if self.payer.staff else "charged"
            await reply(update, f"{explain_html(exc, context)}\nNothing was {what}.")
            return ConversationHandler.END
        self.forget(context)
        # The payment is recorded. Its receipt (~20 ms of drawing in a worker process, longer
        # when many are queued) is sent right after this handler, before this chat's next
        # update, without holding one of the bot's slots meanwhile.
        await after_update(
            context.application,
            update,
            self.acknowledge(update, context, actor, result),
        )
        return ConversationHandler.END

    async def _repeat(
        self, update: Update, context: BillingContext, actor: Actor, key: str
    ) -> int:
        """A Confirm whose flow is over: the payment it made was acknowledged already."""
        found = await payments.find_by_key(actor.db, key, customer_id=actor.customer_id)
        if found is None:
            await reply(update, f"This confirmation is no longer valid. {self.payer.start_again}")
            return ConversationHandler.END
        where = "See /payments." if self.payer.staff else "Send /receipt to get it again."
        chat = update.effective_chat
        if chat is None:
            return ConversationHandler.END
        # A new short message: the screen pressed already says what was recorded.
        await chat.send_message(
            f"Already recorded: {context.config.currency.format(found.amount_paid)}, receipt "
            f"<code>{esc(found.receipt_number)}</code>; nothing more was "
            f"{'recorded' if self.payer.staff else 'charged'}. {where}",
        )
        return ConversationHandler.END

    async def acknowledge(
        self, update: Update, context: BillingContext, actor: Actor, result: PaymentResult
    ) -> None:
        """Say the payment is recorded and send its receipt (to the customer too, when staff
        recorded it).

        The payment is already committed, so nothing that fails here (Telegram or the
        database) may read as "nothing was charged/recorded": the payer is pointed at
        /receipt or /payments instead.
        """
        payment, bill = result.payment, result.bill
        chat = update.effective_chat
        if chat is None:
            return
        money = context.config.currency.format
        paid = (
            f"{money(payment.amount_paid)} for {month_label(payment.billing_month)} "
            f"({payment.payment_method.label})"
        )
        words = (
            f"✅ Payment of {money(payment.amount_paid)} recorded for "
            f"{month_label(payment.billing_month)} ({payment.payment_method.label}).\n"
            + (f"Payment ID {payment.payment_id} · " if self.payer.staff else "")
            + f"Receipt: <code>{esc(payment.receipt_number)}</code>\n"
            f"Balance on this bill: {money(bill.outstanding)}"
        )
        try:
            # Drawn before the words are sent, so the receipt follows them at once (a bot
            # stopped in between would leave the payer told of a receipt that never comes).
            drawn = await draw_receipt(context, payment.payment_id, customer_id=actor.customer_id)
            await reply(update, words)  # in place of the confirm screen
            if self.payer.staff:
                await self._tell_customer(context, chat.id, payment, bill, paid, drawn)
            await deliver_receipt(context, chat.id, drawn)
        except Exception as exc:
            if isinstance(exc, TelegramError | DomainError):
                log.warning(
                    "payment %s recorded; receipt not delivered: %r", payment.payment_id, exc
                )
            else:
                log.error("payment %s recorded; receipt failed", payment.payment_id, exc_info=exc)
            where = (
                "Do not record it again: see /payments."
                if self.payer.staff
                else "Send /receipt to get it."
            )
            with contextlib.suppress(TelegramError):
                await chat.send_message(
                    f"✅ Payment {payment.payment_id} of {money(payment.amount_paid)} is recorded "
                    f"(receipt <code>{esc(payment.receipt_number)}</code>), but I could not "
                    f"send everything just now. {where}",
                )
        if result.created:
            # Not tied to the update: a failure there must not reach the payer as an error.
            context.application.create_task(notify_admins_of_payment(context, payment.payment_id))

    async def _tell_customer(
        self,
        context: BillingContext,
        staff_chat_id: int,
        payment: Payment,
        bill: Bill,
        paid: str,
        drawn: ReceiptDocument,
    ) -> None:
        """The customer of an office payment: what happened, then its receipt."""
        customer = await customers.get(context.admin_db, bill.customer_id)
        if customer.telegram_user_id is None:
            return
        money = context.config.currency.format
        try:
            await context.bot.send_message(
                customer.telegram_user_id,
                f"🧾 {esc(context.config.utility_name)} recorded your payment of {paid}.\n"
                f"Balance on this bill: {money(bill.outstanding)}. Your receipt follows.",
            )
            await deliver_receipt(context, customer.telegram_user_id, drawn)
        except TelegramError as exc:
            log.info("receipt %s not delivered to the customer: %r", payment.payment_id, exc)
            await context.bot.send_message(
                staff_chat_id,
                "The customer could not be sent the receipt (they may have blocked the bot); "
                "the payment is recorded.",
            )

    # -- wiring -------------------------------------------------------------------------------

    def states(self) -> dict[object, list[BaseHandler[Update, BillingContext, object]]]:
        payer = self.payer
        return {
            payer.bill_state: [
                CallbackQueryHandler(self.choose_bill, pattern=rf"^{payer.bill_data}:")
            ],
            # The amount's buttons, then (after "Another amount") the typed amount: a prompt
            # waits for text only where it asks for it (the sandbox reads this to decide
            # whether a typed number is text or a button's number).
            payer.state("amount"): [
                CallbackQueryHandler(self.choose_amount, pattern=rf"^{payer.amount_data}:")
            ],
            payer.state("typed_amount"): [MessageHandler(TEXT, self.type_amount)],
            payer.state("method"): [
                CallbackQueryHandler(self.choose_method, pattern=rf"^{payer.method_data}:")
            ],
            payer.state("confirm"): [
                CallbackQueryHandler(self.confirm, pattern=rf"^{payer.confirm_data}:")
            ],
            payer.state("reference"): [MessageHandler(TEXT, self.claim_reference)],
        }

    def after_flow_handlers(self) -> list[BaseHandler[Update, BillingContext, object]]:
        """Buttons pressed after their flow ended: Confirm answers with the payment already
        made; the others say the screen is out of date."""
        payer = self.payer
        confirm: BaseHandler[Update, BillingContext, object] = CallbackQueryHandler(
            self.confirm, pattern=rf"^{payer.confirm_data}:"
        )
        if payer.staff:  # the bot's catch-all answers staff buttons as for a stranger
            return [confirm]
        stale = rf"^({payer.bill_data}|{payer.amount_data}|{payer.method_data}):"
        return [confirm, CallbackQueryHandler(self._stale, pattern=stale)]

    async def _stale(self, update: Update, context: BillingContext) -> None:
        await answer_query(update)
        await reply(update, f"That payment screen is out of date. {self.payer.start_again}")


CUSTOMER_FLOW = PaymentFlow(CUSTOMER)
OFFICE_FLOW = PaymentFlow(OFFICE)
