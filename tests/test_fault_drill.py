"""The fault drill's phones (benchmarks/fault_drill.py) judge each step honestly: a step with
no answer is counted unanswered, one answered "try again" is counted told, and the receipts a
bot sends are the ones it reports. The bot here is a Bot API client over real HTTP to the fake
server (the drill itself needs the cluster: `scripts/cluster.sh drill`, docs/scaling.md)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from benchmarks.fault_drill import Phone, Restart, shown_receipts, step
from fake_telegram import FakeTelegramServer, FakeUser


async def bot_says(server: FakeTelegramServer, chat_id: int, text: str) -> None:
    """What a bot does: sendMessage over HTTP."""
    async with aiohttp.ClientSession() as http:
        url = f"{server.url}/bot{server.token}/sendMessage"
        async with http.post(url, json={"chat_id": chat_id, "text": text}) as response:
            assert (await response.json())["ok"]


async def answered_by(server: FakeTelegramServer, user: FakeUser, text: str) -> None:
    await asyncio.sleep(0.05)  # after the phone's action
    await bot_says(server, user.id, text)


async def test_a_step_nobody_answers_is_counted_unanswered() -> None:
    async with FakeTelegramServer() as server:
        user = server.user(7001, "Ann")
        phone = Phone("payer")
        with pytest.raises(Restart):
            await step(user, phone, 0.3, lambda: user.send("/dashboard"), "Balance due")
        assert (phone.steps, phone.unanswered, phone.told_again) == (1, 1, 0)
        assert phone.last == "unanswered" and len(phone.unanswered_at) == 1


async def test_a_step_told_to_start_again_is_counted_told_and_says_what() -> None:
    async with FakeTelegramServer() as server:
        user = server.user(7002, "Bo")
        phone = Phone("payer")
        told = "That payment screen is out of date. Send /pay to start again."
        answer = asyncio.create_task(answered_by(server, user, told))
        with pytest.raises(Restart, match="out of date"):
            await step(user, phone, 5, lambda: user.send("/pay"), "Which bill")
        await answer
        assert (phone.unanswered, phone.told_again, phone.last) == (0, 1, "told")
        assert phone.told == {told: 1} and len(phone.told_at) == 1


async def test_an_answered_step_and_the_receipts_shown() -> None:
    async with FakeTelegramServer() as server:
        user = server.user(7003, "Cy")
        phone = Phone("payer")
        done = "✅ Payment of 5.00 recorded.\nReceipt: EB-261204-7KQ2M9XA\nBalance: 1.00"
        answer = asyncio.create_task(answered_by(server, user, done))
        event = await step(user, phone, 5, lambda: user.send("ok"), "recorded")
        await answer
        assert event.message is not None and phone.last == "answered"
        await bot_says(server, user.id, "Already recorded: 5.00, receipt EB-261204-ABCDEFGH;")
        await user.send("my own note: EB-261204-ZZZZZZZZ")  # the phone's own words do not count
        assert shown_receipts(user) == {"EB-261204-7KQ2M9XA", "EB-261204-ABCDEFGH"}
