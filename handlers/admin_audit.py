"""Staff: /audit [meter|bill_id] — who changed what, with the before and after."""

from __future__ import annotations

import json
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, filters

from bot.context import BillingContext
from domain import audit, customers
from domain.audit import AuditEntry
from domain.errors import CustomerNotFound, DomainError
from domain.models import Admin
from handlers.admin_gate import staff_only
from handlers.common import answer_query, callback_parts, esc, int_part, local_time, reply

AUDIT_CUSTOMER = "aaud"  # aaud:<customer_id> (from a customer's card)
ENTRIES_SHOWN = 15
VALUE_LIMIT = 60  # characters of one before/after value


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


def _changes(entry: AuditEntry) -> list[str]:
    """``field: before → after`` for each value that changed; new values alone; gone ones."""
    before, after = _flat(entry.before), _flat(entry.after)
    lines = []
    for key in sorted(set(before) | set(after)):
        if key in before and key in after:
            if before[key] != after[key]:
                lines.append(
                    f"  {esc(key)}: {esc(_short(before[key]))} → {esc(_short(after[key]))}"
                )
        elif key in after:
            lines.append(f"  {esc(key)}: {esc(_short(after[key]))}")
        else:
            lines.append(f"  {esc(key)} was {esc(_short(before[key]))}")
    return lines


def render_entries(entries: list[AuditEntry], title: str, context: BillingContext) -> str:
    if not entries:
        return f"<b>{esc(title)}</b>\nNo changes recorded."
    blocks = []
    for entry in entries:
        who = esc(entry.admin_name or "system")
        head = (
            f"<b>{esc(entry.action)}</b> {esc(entry.entity_type)} #{esc(entry.entity_id)}\n"
            f"  by {who}, {local_time(entry.created_at, context)}"
        )
        blocks.append("\n".join([head, *_changes(entry)[:8]]))
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
        await chat.send_message(esc(exc))
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
