"""Conversation state kept in the database: one row per chat, written with a version check.

Several bot instances can handle the updates of one chat (STATE_STORE=database): each reads
the chat's state fresh before an update and writes it back after, naming the version it read.
A write that finds another version changes nothing and says so (None): the caller's update
lost a race with another instance, whose state stands. The state is plain JSON (what the
flows keep is plain strings; see bot/shared_state.py for its shape).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.db import Database, UnitOfWork, error_code

# A concurrent first write of the same chat (duplicate key), or, on a Galera cluster, a
# concurrent write of the same row on another node (certification failure, reported as a
# deadlock once every retry found the row changed).
_LOST_RACE = {1062, 1213}


@dataclass(frozen=True)
class StoredState:
    version: int  # 0: the chat has no row yet
    state: dict[str, Any]


def encode(state: dict[str, Any]) -> str:
    """The state as stored; a value that is not plain JSON (a Decimal, a date) is refused
    here, so no instance ever reads back something other than what was kept."""
    return json.dumps(state, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


async def load(db: Database, chat_id: int) -> StoredState:
    row = await db.fetch_one("get_chat_state", {"chat_id": chat_id})
    if row is None:
        return StoredState(0, {})
    state = json.loads(row["state"])
    return StoredState(int(row["version"]), state if isinstance(state, dict) else {})


async def save(
    db: Database,
    chat_id: int,
    seen_version: int,
    state: dict[str, Any],
    expires_at: datetime | None,
) -> int | None:
    """Write ``state`` over the version read (``seen_version``; 0: no row); return the new
    version, or None when another writer got there first (nothing is changed then).

    ``expires_at`` (UTC) is the earliest time a conversation of the chat times out.
    """
    text = encode(state)
    params = {"chat_id": chat_id, "version": seen_version, "state": text, "expires_at": expires_at}

    async def work(uow: UnitOfWork) -> int | None:
        if uow.earlier_commit_lost:  # an earlier attempt may have written it: look first
            row = await uow.fetch_one("get_chat_state", {"chat_id": chat_id})
            if row is not None and int(row["version"]) == seen_version + 1:
                if json.loads(row["state"]) == json.loads(text):
                    return seen_version + 1
        try:
            if seen_version == 0:
                await uow.execute("insert_chat_state", params)
            elif not await uow.execute("update_chat_state", params):
                return None
        except Exception as exc:
            if error_code(exc) == 1062:
                return None
            raise
        await uow.commit()
        return seen_version + 1

    try:
        return await db.transaction(work)
    except Exception as exc:
        if error_code(exc) in _LOST_RACE:
            return None
        raise


async def expired(db: Database, now: datetime) -> list[int]:
    """Chats with a conversation that timed out by ``now`` (UTC), at most 100, oldest first."""
    return [int(row["chat_id"]) for row in await db.fetch_all("expired_chat_states", {"now": now})]
