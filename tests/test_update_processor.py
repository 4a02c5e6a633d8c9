"""The chat-ordered update processor: each chat's updates in order, many chats at once, and
work handed off after an update (a receipt) keeping its chat waiting but nobody else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, Update

from bot.update_processor import ChatOrderedUpdateProcessor


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, datetime.now(UTC), chat, text="x"))


async def test_handed_off_work_keeps_its_chat_waiting_but_holds_no_slot() -> None:
    """Two slots. Chat A's first update hands off slow work; meanwhile three updates of
    chat B and one of chat C run (the work holds no slot), and A's second update starts
    only after the work is done."""
    processor = ChatOrderedUpdateProcessor(2)
    events: list[str] = []
    release = asyncio.Event()
    a1, a2 = _update(1, 100), _update(2, 100)

    async def slow_receipt() -> None:
        events.append("a1 work starts")
        await release.wait()
        events.append("a1 work done")

    async def handle(name: str, update: Update) -> None:
        events.append(f"{name} runs")
        if name == "a1":
            assert processor.follow_up(update, slow_receipt())
        await asyncio.sleep(0)

    tasks = [asyncio.create_task(processor.process_update(a1, handle("a1", a1)))]
    await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(processor.process_update(a2, handle("a2", a2))))
    for i in range(3):
        b = _update(10 + i, 200)
        tasks.append(asyncio.create_task(processor.process_update(b, handle(f"b{i}", b))))
    c = _update(20, 300)
    tasks.append(asyncio.create_task(processor.process_update(c, handle("c", c))))
    await asyncio.sleep(0.05)
    assert {"b0 runs", "b1 runs", "b2 runs", "c runs"} <= set(events)
    assert "a2 runs" not in events  # chat A waits for its handed-off work
    assert processor.current_concurrent_updates == 0  # the waiting work holds no slot
    release.set()
    await asyncio.gather(*tasks)
    assert events.index("a1 work done") < events.index("a2 runs")
    assert [e for e in events if e.startswith("b")] == ["b0 runs", "b1 runs", "b2 runs"]
