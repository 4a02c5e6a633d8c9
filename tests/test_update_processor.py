"""The chat-ordered update processor: each chat's updates in order, many chats at once, and
work handed off after an update (a receipt) keeping its chat waiting but nobody else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from telegram import Chat, Message, PreCheckoutQuery, SuccessfulPayment, Update, User

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


async def test_a_pre_checkout_query_and_a_successful_payment_do_not_queue_for_a_slot() -> None:
    """Two slots, both held by slow updates of chats A and C: a pre-checkout query (no chat)
    and chat B's successful payment are handled at once; chat D's ordinary message waits for
    a slot."""
    processor = ChatOrderedUpdateProcessor(2)
    events: list[str] = []
    release = asyncio.Event()
    user = User(7, "Payer", is_bot=False)
    chat_b = Chat(200, Chat.PRIVATE)
    checkout = Update(30, pre_checkout_query=PreCheckoutQuery("q1", user, "NGN", 50_000, "ref"))
    paid = Update(
        31,
        message=Message(
            31,
            datetime.now(UTC),
            chat_b,
            successful_payment=SuccessfulPayment("NGN", 50_000, "ref", "tg-1", "prov-1"),
        ),
    )
    text_d = _update(32, 400)

    async def handle(name: str) -> None:
        events.append(f"{name} runs")
        if name in ("a", "c"):
            await release.wait()

    held = [
        asyncio.create_task(processor.process_update(_update(1, 100), handle("a"))),
        asyncio.create_task(processor.process_update(_update(2, 300), handle("c"))),
    ]
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(processor.process_update(text_d, handle("d text")))
    await asyncio.sleep(0.01)
    # Queued behind the held slots they would never start: fail in a second, not hang.
    await asyncio.wait_for(processor.process_update(checkout, handle("pre-checkout")), 1)
    await asyncio.wait_for(processor.process_update(paid, handle("b paid")), 1)
    assert events == ["a runs", "c runs", "pre-checkout runs", "b paid runs"]
    release.set()
    await asyncio.gather(*held, waiting)
    assert events[-1] == "d text runs"


async def test_the_bot_s_own_work_for_a_chat_waits_for_its_turn_and_holds_a_slot() -> None:
    """The shared state's sweep closing a chat's timed-out conversation (no update delivered)
    runs between that chat's updates, never beside one, and takes one of the slots."""
    processor = ChatOrderedUpdateProcessor(1)
    events: list[str] = []
    release = asyncio.Event()

    async def handle(name: str) -> None:
        events.append(f"{name} starts")
        if name == "a1":
            await release.wait()
        events.append(f"{name} done")

    a1, b1 = _update(1, 100), _update(2, 200)
    first = asyncio.create_task(processor.process_update(a1, handle("a1")))
    await asyncio.sleep(0.01)
    sweep = asyncio.create_task(processor.in_chat_turn(100, handle("sweep")))
    other = asyncio.create_task(processor.process_update(b1, handle("b1")))
    await asyncio.sleep(0.05)
    assert events == ["a1 starts"]  # the chat's own update first; the one slot is taken
    release.set()
    await asyncio.gather(first, sweep, other)
    assert events.index("a1 done") < events.index("sweep starts")
    assert events.index("sweep done") < events.index("b1 starts") or events.index(
        "b1 done"
    ) < events.index("sweep starts")  # one slot: never both at once
