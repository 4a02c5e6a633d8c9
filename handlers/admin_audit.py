"""Staff: /audit [meter|bill_id] — who changed what, with the before and after, in a clerk's
words: "Address: 1 Old Road → 12 New Road", "Rate: ₦68.50/kWh → ₦70.00/kWh"."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.context import BillingContext
from domain import audit, customers
from domain.audit import AuditEntry
from domain.errors import CustomerNotFound, DomainError
from domain.models import Admin, PaymentMethod
from domain.money import Currency
from handlers.admin_gate import staff_only
from handlers.common import answer_query, callback_parts, esc, int_part, local_time, reply
from handlers.render.formatting import rate_text, units_text
from handlers.words import explain_html

AUDIT_CUSTOMER = "aaud"  # aaud:<customer_id> (from a customer's card)
ENTRIES_SHOWN = 15
VALUE_LIMIT = 60  # characters of one before/after value
CHANGES_SHOWN = 8  # lines of changes under one entry

# What each kind of entry is, in a clerk's words.
ACTION_TITLES = {
    "customer.create": "Customer added",
    "customer.edit": "Customer details changed",
    audit.CUSTOMER_CONTACT: "Contact details changed",
    audit.CUSTOMER_PASSWORD: "Password changed",
    "bill.create": "Bill issued",
    "bill.edit": "Bill corrected",
    "bill.import": "Bills imported",
    "bill.late_fee": "Late fee charged",
    "bill.waive": "Late fee waived",
    "bill.run": "Monthly bill run",
    "payment.record": "Office payment recorded",
    audit.CUSTOMER_PAYMENT: "Payment by the customer",
    "payment.void": "Payment voided",
    "credit.refund": "Credit refunded",
    "refund.made": "Provider refund made",
    "totals.recount": "Report totals repaired",
    "claim.confirm": "Transfer claim confirmed",
    "claim.reject": "Transfer claim rejected",
    "tariff.version": "Tariff version added",
    "customer.tariff": "Tariff changed",
    "reading.record": "Meter reading recorded",
    "reading.correct": "Meter reading corrected",
    "reading.accept": "Customer's meter reading accepted",
    "reading.reject": "Customer's meter reading rejected",
    "reading.import": "Meter readings imported",
}
# The fields of the records entries keep, by name, in the order they are listed.
FIELD_LABELS = {
    "full_name": "Name",
    "meter_number": "Meter",
    "address": "Address",
    "phone_number": "Phone",
    "email": "Email",
    "password": "Password",
    "billing_month": "Month",
    "units_used": "Units",
    "rate_per_unit": "Rate",
    "total_amount": "Total",
    "amount_paid": "Paid",
    "payment_status": "Status",
    "due_date": "Due date",
    "payment_amount": "Payment",
    "amount": "Amount",
    "payment_method": "Method",
    "receipt_number": "Receipt",
    "payment_id": "Payment",
    "status": "Status",
    "reference": "Reference",
    "provider_reference": "Provider reference",
    "reason": "Reason",
    "refund_owed": "Refund owed",
    "credit": "Credit",
    "refunded": "Refunded",
    "bills": "Bills",
    "total": "Total",
    "import": "Import",
    "tariff": "Tariff",
    "reading": "Reading",
    "source": "Source",
    "readings": "Readings",
    "baselines": "First readings",
    "replaced": "Re-entered",
    "issued": "Bills issued",
    "estimated": "Estimated",
    "total_billed": "Total billed",
    "credit_applied": "Paid from credit",
    "already_billed": "Already billed",
}
# A record inside an entry (the bill of a void): its fields are named after it.
GROUP_LABELS = {"bill": "Bill"}
# Ids the entry's own heading already gives.
HIDDEN_FIELDS = frozenset({"bill_id", "customer_id"})
MONEY_FIELDS = frozenset(
    {
        "total_amount",
        "amount_paid",
        "payment_amount",
        "amount",
        "refund_owed",
        "credit",
        "refunded",
        "total",
        "total_billed",
        "credit_applied",
    }
)
STATUS_FIELDS = frozenset({"payment_status", "status"})
_ORDER = {name: index for index, name in enumerate(FIELD_LABELS)}


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_LIMIT else text[: VALUE_LIMIT - 1] + "…"


def _flat(data: dict[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """Nested records (a bill inside a void entry) as dotted keys: ``bill.amount_paid``."""
    flat: dict[str, Any] = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def field_label(key: str) -> str:
    """``address`` → ``Address``; ``bill.amount_paid`` → ``Bill paid``; a field no label is
    known for in plain words (``late_fee`` → ``Late fee``)."""
    group, _, name = key.rpartition(".")
    label = FIELD_LABELS.get(name) or name.replace("_", " ").capitalize()
    if not group:
        return label
    owner = GROUP_LABELS.get(group) or group.replace("_", " ").replace(".", " ").capitalize()
    return f"{owner} {label[:1].lower()}{label[1:]}"


def field_value(key: str, value: Any, currency: Currency) -> str:
    """A stored value as a clerk reads it: ``68.5000`` as a rate is ``₦68.50/kWh``, a month
    ``Nov 2026``, a status ``partly paid``; anything unexpected as it was stored."""
    name = key.rpartition(".")[2]
    if value is None or value == "":
        return "—"
    try:
        if name in MONEY_FIELDS:
            return currency.format(Decimal(str(value)))
        if name == "rate_per_unit":
            return f"{rate_text(Decimal(str(value)), currency)}/kWh"
        if name == "units_used":
            return f"{units_text(Decimal(str(value)))} kWh"
        if name == "billing_month":
            return f"{date.fromisoformat(str(value)):%b %Y}"
        if name == "due_date":
            return f"{date.fromisoformat(str(value)):%d %b %Y}"
        if name in STATUS_FIELDS:
            return str(value).replace("_", " ")
        if name == "payment_method":
            return PaymentMethod(str(value)).label
        if name in ("payment_id", "import"):
            return f"#{value}"
    except (ArithmeticError, ValueError):
        pass
    return _short(value)


def _sort_key(key: str) -> tuple[str, int, str]:
    group, _, name = key.rpartition(".")
    return (group, _ORDER.get(name, len(_ORDER)), name)


def _changes(entry: AuditEntry, currency: Currency) -> list[str]:
    """``Field: before → after`` for each value that changed; new values alone; gone ones."""
    before, after = _flat(entry.before), _flat(entry.after)
    lines = []
    for key in sorted(set(before) | set(after), key=_sort_key):
        if key.rpartition(".")[2] in HIDDEN_FIELDS:
            continue
        label = esc(field_label(key))
        if key in before and key in after:
            if before[key] != after[key]:
                old, new = (field_value(key, x[key], currency) for x in (before, after))
                lines.append(f"  {label}: {esc(old)} → {esc(new)}")
        elif key in after:
            lines.append(f"  {label}: {esc(field_value(key, after[key], currency))}")
        else:
            lines.append(f"  {label} was {esc(field_value(key, before[key], currency))}")
    return lines


def _who(entry: AuditEntry) -> str:
    if entry.admin_name:
        return entry.admin_name
    return "the customer, in the chat" if entry.by_customer else "the system"


def render_entries(entries: list[AuditEntry], title: str, context: BillingContext) -> str:
    if not entries:
        return f"<b>{esc(title)}</b>\nNo changes recorded."
    currency = context.config.currency
    blocks = []
    for entry in entries:
        what = ACTION_TITLES.get(entry.action, entry.action)
        head = (
            f"<b>{esc(what)}</b> · {esc(entry.entity_type)} #{esc(entry.entity_id)}\n"
            f"  by {esc(_who(entry))}, {local_time(entry.created_at, context)}"
        )
        blocks.append("\n".join([head, *_changes(entry, currency)[:CHANGES_SHOWN]]))
    return f"<b>{esc(title)}</b>\n\n" + "\n\n".join(blocks)


@staff_only(write=False)
async def audit_command(update: Update, context: BillingContext, admin: Admin) -> None:
    """/audit: the newest changes; /audit <meter>: a customer's; /audit <bill_id>: a bill's."""
    arg = context.args[0][:64] if context.args else ""
    db = context.admin_db
    if not arg:
        entries = await audit.entries(db, limit=ENTRIES_SHOWN)
        await reply(update, render_entries(entries, "Latest changes", context))
        return
    try:
        customer = await customers.get_by_meter(db, arg)
    except CustomerNotFound:
        bill_id = int_part(arg.lstrip("#"))
        if bill_id is None:
            await reply(update, "No customer has that meter number. Use /audit [meter|bill_id].")
            return
        entries = await audit.entries(db, bill_id=bill_id, limit=ENTRIES_SHOWN)
        await reply(update, render_entries(entries, f"Changes to bill #{bill_id}", context))
        return
    entries = await audit.entries(db, customer_id=customer.customer_id, limit=ENTRIES_SHOWN)
    title = f"Changes for {customer.full_name} ({customer.meter_number})"
    await reply(update, render_entries(entries, title, context))


@staff_only(write=False)
async def audit_pressed(update: Update, context: BillingContext, admin: Admin) -> None:
    """The Audit log button of a customer's card."""
    await answer_query(update)
    parts = (
        callback_parts(update.callback_query, AUDIT_CUSTOMER, 1) if update.callback_query else None
    )
    customer_id = int_part(parts[0]) if parts else None
    chat = update.effective_chat
    if customer_id is None or chat is None:
        return
    try:
        customer = await customers.get(context.admin_db, customer_id)
    except DomainError as exc:
        await chat.send_message(explain_html(exc, context))
        return
    entries = await audit.entries(
        context.admin_db, customer_id=customer.customer_id, limit=ENTRIES_SHOWN
    )
    title = f"Changes for {customer.full_name} ({customer.meter_number})"
    await chat.send_message(render_entries(entries, title, context))


def commands(admin_filter: filters.User) -> list[BaseHandler[Update, BillingContext, object]]:
    return [CommandHandler("audit", audit_command, filters=admin_filter)]


def buttons_handlers() -> list[BaseHandler[Update, BillingContext, object]]:
    return [CallbackQueryHandler(audit_pressed, pattern=rf"^{AUDIT_CUSTOMER}:")]
