"""A persistence round writes the state file once, whatever the number of chats in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from telegram import Bot
from telegram.ext import PersistenceInput

from bot.persistence import AtomicPicklePersistence
from fake_telegram import DEFAULT_TOKEN


def _persistence(path: Path) -> AtomicPicklePersistence:
    persistence = AtomicPicklePersistence(
        filepath=path, store_data=PersistenceInput(bot_data=False, callback_data=False)
    )
    persistence.set_bot(Bot(DEFAULT_TOKEN))
    return persistence


async def test_a_round_of_a_thousand_chats_is_written_once_and_completely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside writes_batched, 2,000 changes (user data and conversation states) make one
    write, at the end, holding all of them; outside it, every change is written at once."""
    path = tmp_path / "state.pickle"
    persistence = _persistence(path)
    writes: list[int] = []
    real_write = AtomicPicklePersistence._write

    def counted(self: AtomicPicklePersistence) -> None:
        writes.append(1)
        real_write(self)

    monkeypatch.setattr(AtomicPicklePersistence, "_write", counted)
    with persistence.writes_batched():
        for chat in range(1000):
            await persistence.update_user_data(chat, {"pay": {"bill_id": str(chat)}})
            await persistence.update_conversation("customer_flow", (chat, chat), "pay:amount")
        assert writes == []
    assert writes == [1]
    reread = _persistence(path)
    assert len(await reread.get_user_data()) == 1000
    assert len(await reread.get_conversations("customer_flow")) == 1000

    await persistence.update_user_data(1, {"pay": {"bill_id": "x"}})
    assert writes == [1, 1]  # outside a round: written straight away, as before
