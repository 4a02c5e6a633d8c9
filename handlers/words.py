"""The words people read when the domain refuses something: the one place that turns a domain
error into a sentence (issue 15).

Domain exceptions carry their figures as data — money as Decimal — and :func:`explain` says
them with the configured currency (``₦1,234.50``, not ``1,234.50``). An error with no figures
to word keeps the plain message the domain gave it. Handlers show ``explain_html(exc,
context)`` wherever a refusal is shown.
"""

from __future__ import annotations

import html
from decimal import Decimal

from bot.context import BillingContext
from domain.claims import ClaimExceedsOutstanding
from domain.errors import (
    AmountExceedsBalance,
    CardAmountOutOfBounds,
    CommitOutcomeUnknown,
    CreditRefundRefused,
    DatabaseUnavailable,
    DomainError,
    InsufficientCredit,
    InvoiceRefused,
    PaymentOutcomeUnknown,
    TotalBelowPaid,
    WrongCurrency,
)
from domain.money import Currency

# What Telegram's payment screen says when the bot tells it not to charge, by the check that
# failed (InvoiceRefused.reason); balance_changed names the new balance.
_INVOICE_REFUSALS = {
    "bill_paid": "This bill was paid meanwhile — nothing was charged.",
    "already_paid": "This invoice has already been paid — nothing was charged.",
    "expired": "This invoice has expired — nothing was charged. Send /pay for a new one.",
    "cancelled": "This invoice was cancelled — nothing was charged. Send /pay again.",
    "not_yours": "This invoice belongs to another account — nothing was charged.",
    "amount_mismatch": "This invoice does not match its bill — nothing was charged.",
    "unknown": "I do not know this invoice — nothing was charged. Send /pay again.",
}

UNAVAILABLE = (
    "The service is temporarily unavailable. Nothing was charged; please try again in a minute."
)
PAYMENT_OUTCOME_UNKNOWN = (
    "The service is temporarily unavailable and I could not confirm whether this payment went "
    "through. Please press Confirm again in a minute: if it was recorded you will get its "
    "receipt; it is never charged twice."
)
OUTCOME_UNKNOWN = (
    "The service is temporarily unavailable and I could not confirm whether this was saved. "
    "Please check again in a minute before repeating it."
)


def explain(error: DomainError, currency: Currency) -> str:
    """The sentence a person reads for ``error``, money in ``currency`` (plain text: escape
    it for an HTML reply, or use :func:`explain_html`)."""
    money = currency.format
    match error:
        case AmountExceedsBalance(outstanding=outstanding):
            return f"The amount is more than the outstanding balance of {money(outstanding)}."
        case InsufficientCredit(credit=credit):
            return f"Your account credit is {money(credit)}: that is not enough."
        case TotalBelowPaid(paid=paid):
            return (
                f"The new total would be less than the {money(paid)} already paid on this "
                "bill. Void a payment first if the bill really is smaller."
            )
        case ClaimExceedsOutstanding(amount=amount, outstanding=outstanding):
            if outstanding <= 0:
                return "That bill is already paid."
            return (
                f"The claimed {money(amount)} is more than the {money(outstanding)} still "
                "owed on the bill."
            )
        case InvoiceRefused():
            return invoice_refusal(error, currency)
        case CardAmountOutOfBounds(minimum=None) | CardAmountOutOfBounds(maximum=None):
            return f"Card payments are not available in {currency.code}."
        case CardAmountOutOfBounds(minimum=Decimal() as low, maximum=Decimal() as high):
            return f"Card payments must be between {money(low)} and {money(high)}."
        case CreditRefundRefused(credit=Decimal() as credit):
            return f"The customer's credit is only {money(credit)}."
        case WrongCurrency(typed=typed):
            return (
                f"I can only take amounts in {currency.code} ({currency.symbol}); “{typed}” is "
                f"not {currency.code}. Please type the amount in {currency.code}, e.g. 1500.50 "
                f"or {money(Decimal('1500.50'))}."
            )
        case PaymentOutcomeUnknown():
            return PAYMENT_OUTCOME_UNKNOWN
        case CommitOutcomeUnknown():
            return OUTCOME_UNKNOWN
        case DatabaseUnavailable():
            return UNAVAILABLE
    return str(error)


def invoice_refusal(error: InvoiceRefused, currency: Currency) -> str:
    """What the payer reads on Telegram's payment screen when the bot says not to charge
    (plain text, at most 255 characters)."""
    if error.reason == "balance_changed":
        owed = currency.format(error.outstanding) if error.outstanding is not None else "less"
        return (
            f"This bill's balance changed meanwhile (now {owed}) — nothing was charged. "
            "Send /pay for a new invoice."
        )
    return _INVOICE_REFUSALS.get(
        error.reason, "This payment cannot go ahead — nothing was charged."
    )


def explain_html(error: DomainError, context: BillingContext) -> str:
    """:func:`explain` in the bot's currency, escaped for an HTML reply."""
    return html.escape(explain(error, context.config.currency), quote=False)
