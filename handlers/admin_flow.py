"""Every staff handler, in the order they must be registered.

One conversation holds every multi-step staff flow (add/edit a customer, issue/correct a
bill, record/void a payment, waive a late fee, bulk billing): starting a flow replaces the
one in progress, the state survives a restart (persistent), and a flow left alone times out.
One-shot commands and buttons come after it.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    TypeHandler,
    filters,
)

from bot.context import BillingContext
from handlers import (
    admin_audit,
    admin_billing,
    admin_billrun,
    admin_claims,
    admin_customers,
    admin_late_fees,
    admin_payments,
    admin_readings,
    admin_reconcile,
    admin_refunds,
    admin_tariffs,
    import_bills,
    reports,
)
from handlers.admin_gate import closing_words, end_flow
from handlers.common import (
    CANCEL_DATA,
    FLOW_TIMEOUT_SECONDS,
    answer_query,
    conversation,
    reply,
)


async def cancel(update: Update, context: BillingContext) -> int:
    """Stop the staff flow in progress; say what it had already saved, if anything."""
    await answer_query(update)
    await reply(update, closing_words(context, "Cancelled."))
    return end_flow(context)


async def timed_out(update: Update, context: BillingContext) -> int:
    """Close a staff flow left alone too long; say what it had already saved, if anything."""
    if update.effective_chat is not None:
        await update.effective_chat.send_message(
            closing_words(context, "That took a while, so I closed it.") + " Start again any time."
        )
    return end_flow(context)


def staff_conversation(admin_filter: filters.User) -> ConversationHandler[BillingContext]:
    states: dict[object, list[BaseHandler[Update, BillingContext, Any]]] = {}
    for module_states in (
        admin_customers.states(),
        admin_billing.states(),
        admin_payments.states(),
        admin_claims.states(),
        admin_refunds.states(),
        admin_tariffs.states(),
        admin_late_fees.states(),
        admin_readings.states(),
        import_bills.states(),
    ):
        states.update(module_states)
    states[ConversationHandler.TIMEOUT] = [TypeHandler(Update, timed_out)]
    return conversation(
        entry_points=[
            *admin_customers.entry_points(admin_filter),
            *admin_billing.entry_points(admin_filter),
            *admin_payments.entry_points(admin_filter),
            *admin_claims.entry_points(admin_filter),
            *admin_refunds.entry_points(admin_filter),
            *admin_tariffs.entry_points(admin_filter),
            *admin_late_fees.entry_points(admin_filter),
            *admin_readings.entry_points(admin_filter),
            *import_bills.entry_points(admin_filter),
        ],
        states=states,
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancel, pattern=rf"^{CANCEL_DATA}$"),
        ],
        allow_reentry=True,
        name="staff_flow",
        persistent=True,
        conversation_timeout=FLOW_TIMEOUT_SECONDS,
    )


def staff_handlers(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, Any]]:
    """The staff conversation first (it owns a flow's typed replies), then commands, buttons.

    Commands are routed only for linked admins (``admin_filter``); buttons carry no filter,
    so each button handler checks the admin and the role itself (handlers.admin_gate).
    """
    return [
        staff_conversation(admin_filter),
        *admin_customers.commands(admin_filter),
        *admin_billing.commands(admin_filter),
        *admin_billrun.commands(admin_filter),
        *admin_payments.commands(admin_filter),
        *admin_claims.commands(admin_filter),
        *admin_reconcile.commands(admin_filter),
        *admin_refunds.commands(admin_filter),
        *admin_tariffs.commands(admin_filter),
        *admin_readings.commands(admin_filter),
        *reports.commands(admin_filter),
        *admin_audit.commands(admin_filter),
        *admin_customers.buttons_handlers(),
        *admin_billing.buttons_handlers(),
        *admin_billrun.buttons_handlers(),
        *admin_payments.buttons_handlers(),
        *admin_claims.buttons_handlers(),
        *admin_reconcile.buttons_handlers(),
        *admin_tariffs.buttons_handlers(),
        *admin_readings.buttons_handlers(),
        *reports.buttons_handlers(),
        *admin_audit.buttons_handlers(),
    ]
