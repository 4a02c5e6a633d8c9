"""The chat state store's version check (domain/chat_states.py, migration 0025): of writers
that read the same version, exactly one writes; the others change nothing and are told."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import pytest

from domain import chat_states
from domain.db import Database


async def test_of_many_writers_of_one_version_exactly_one_wins(admin_db: Database) -> None:
    """Twenty concurrent first writes of one chat, then twenty concurrent writes over the
    version they all read: one of each lands, the rest get None, and the row holds the
    winner's state whole."""
    firsts = await asyncio.gather(
        *(chat_states.save(admin_db, 42, 0, {"n": n}, None) for n in range(20))
    )
    assert firsts.count(1) == 1 and firsts.count(None) == 19
    first = await chat_states.load(admin_db, 42)
    assert first.version == 1 and firsts.index(1) == first.state["n"]

    seconds = await asyncio.gather(
        *(chat_states.save(admin_db, 42, 1, {"m": m}, None) for m in range(20))
    )
    assert seconds.count(2) == 1 and seconds.count(None) == 19
    second = await chat_states.load(admin_db, 42)
    assert second.version == 2 and second.state == {"m": seconds.index(2)}


async def test_a_stale_version_changes_nothing_and_expiry_is_found(admin_db: Database) -> None:
    assert await chat_states.load(admin_db, 7) == chat_states.StoredState(0, {})
    due = datetime(2026, 1, 1, 12, 0, 0)
    assert await chat_states.save(admin_db, 7, 0, {"a": "1"}, due) == 1
    assert await chat_states.save(admin_db, 7, 1, {"a": "2"}, due) == 2
    assert await chat_states.save(admin_db, 7, 1, {"a": "stale"}, None) is None
    assert (await chat_states.load(admin_db, 7)).state == {"a": "2"}
    assert await chat_states.expired(admin_db, datetime(2026, 1, 1, 11, 59)) == []
    assert await chat_states.expired(admin_db, datetime(2026, 1, 1, 12, 0, 1)) == [7]


def test_only_plain_json_is_kept() -> None:
    """A value another instance could not read back as it was (a Decimal) is refused."""
    with pytest.raises(TypeError):
        chat_states.encode({"amount": Decimal("1.00")})
