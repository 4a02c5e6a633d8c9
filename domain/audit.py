"""The audit log: who changed what, with the before and after — staff (named), the system,
and customers changing their own details (recorded by the database: ``CUSTOMER_ACTIONS``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from domain.db import Database, UnitOfWork
from domain.models import db_time, now_utc, utc


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | date | datetime):
        return str(value)
    return value


async def record(
    uow: UnitOfWork,
    *,
    admin_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | str,
    customer_id: int | None = None,
    bill_id: int | None = None,
    before: Any = None,
    after: Any = None,
) -> int:
    """Write an audit entry inside the caller's transaction (it commits with the change);
    returns its id."""
    return await uow.insert(
        "insert_audit",
        {
            "admin_id": admin_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "customer_id": customer_id,
            "bill_id": bill_id,
            "before_data": None if before is None else json.dumps(_plain(before), sort_keys=True),
            "after_data": None if after is None else json.dumps(_plain(after), sort_keys=True),
            "created_at": db_time(now_utc()),
        },
    )


async def finish(uow: UnitOfWork, audit_id: int, *, after: Any) -> None:
    """Complete an entry written before its outcome was known (a bulk import's, whose bills
    name it), in the same transaction: its own id becomes its entity id, ``after`` its data."""
    await uow.execute(
        "finish_audit",
        {"audit_id": audit_id, "after_data": json.dumps(_plain(after), sort_keys=True)},
    )


# What customers do themselves: written by the database, not by this module (triggers, for
# changes made on the customer account, which holds nothing on the audit log): their phone,
# email or address, and their password (never its hash; migration 0012), and their own
# payments — from account credit, or a card charge's part (migration 0015).
CUSTOMER_CONTACT = "customer.contact"
CUSTOMER_PASSWORD = "customer.password"  # noqa: S105 (an action name)
CUSTOMER_PAYMENT = "payment.customer"
CUSTOMER_ACTIONS = frozenset({CUSTOMER_CONTACT, CUSTOMER_PASSWORD, CUSTOMER_PAYMENT})


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    admin_name: str | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime

    @property
    def by_customer(self) -> bool:
        """The customer made this change themselves (in the chat), not staff or the system."""
        return self.admin_name is None and self.action in CUSTOMER_ACTIONS


async def entries(
    db: Database, *, customer_id: int | None = None, bill_id: int | None = None, limit: int = 20
) -> list[AuditEntry]:
    """The newest audit entries about a customer, a bill, or everything."""
    if customer_id is not None or bill_id is not None:
        about = {"customer_id": customer_id, "bill_id": bill_id, "limit": limit}
        rows = await db.fetch_all("audit_about", about)
    else:
        rows = await db.fetch_all("audit_recent", {"limit": limit})
    return [
        AuditEntry(
            audit_id=int(r["audit_id"]),
            admin_name=r["admin_name"],
            action=r["action"],
            entity_type=r["entity_type"],
            entity_id=r["entity_id"],
            before=json.loads(r["before_data"]) if r["before_data"] else None,
            after=json.loads(r["after_data"]) if r["after_data"] else None,
            created_at=utc(r["created_at"]) or now_utc(),
        )
        for r in rows
    ]
