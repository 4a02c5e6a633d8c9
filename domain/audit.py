"""The admin audit log: who changed what, with the before and after."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
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
) -> None:
    """Write an audit entry inside the caller's transaction (it commits with the change)."""
    await uow.insert(
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


@dataclass(frozen=True)
class Change:
    """One audited change among many written together (a bulk import)."""

    entity_id: int | str
    customer_id: int | None = None
    bill_id: int | None = None
    before: Any = None
    after: Any = None


async def record_many(
    uow: UnitOfWork,
    *,
    admin_id: int | None,
    action: str,
    entity_type: str,
    changes: Sequence[Change],
) -> None:
    """Write many audit entries in batched inserts, inside the caller's transaction."""
    moment = db_time(now_utc())
    await uow.execute_many(
        "insert_audit",
        [
            {
                "admin_id": admin_id,
                "action": action,
                "entity_type": entity_type,
                "entity_id": str(change.entity_id),
                "customer_id": change.customer_id,
                "bill_id": change.bill_id,
                "before_data": None
                if change.before is None
                else json.dumps(_plain(change.before), sort_keys=True),
                "after_data": None
                if change.after is None
                else json.dumps(_plain(change.after), sort_keys=True),
                "created_at": moment,
            }
            for change in changes
        ],
    )


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


async def entries(
    db: Database, *, customer_id: int | None = None, bill_id: int | None = None, limit: int = 20
) -> list[AuditEntry]:
    """The newest audit entries about a customer, a bill, or everything."""
    if customer_id is not None:
        rows = await db.fetch_all(
            "audit_for_customer", {"customer_id": customer_id, "limit": limit}
        )
    elif bill_id is not None:
        rows = await db.fetch_all("audit_for_bill", {"bill_id": bill_id, "limit": limit})
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
