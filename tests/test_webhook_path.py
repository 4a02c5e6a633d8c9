"""Webhook mode serves the path of the URL it registers with Telegram (SPEC §7): the real
Application started with ``webhook_options`` (what ``run_bot.py run --webhook URL`` uses),
updates POSTed over HTTP with the secret token, answers read from the fake Bot API server."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.e2e_support import Harness, command_update, free_port, harness, running_webhook_bot

__all__ = ["harness"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.mark.timeout(60)
async def test_a_webhook_url_with_a_path_is_served_at_that_path_and_not_at_the_root(
    harness: Harness,
) -> None:
    """``--webhook http://127.0.0.1:<port>/tg/hook.v1``: the URL is registered as given; a POST
    with the secret token to /tg/hook.v1 (and /tg/hook.v1/) is answered by the bot, while the
    same POST to /, or to a path that differs in one character, is 404 and not handled."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook.v1"
    user = harness.server.user(74950, "Hook")
    statuses: dict[str, int] = {}
    answers = []
    async with running_webhook_bot(harness.config, url) as (_, options):
        headers = {SECRET_HEADER: options.secret_token}
        async with aiohttp.ClientSession() as http:
            for number, path in enumerate(("/", "/tg/hookXv1", "/tg/hook"), start=1):
                body = command_update(910_000 + number, user.id, "/help")
                async with http.post(
                    f"http://127.0.0.1:{port}{path}", json=body, headers=headers
                ) as response:
                    statuses[path] = response.status
            await asyncio.sleep(0.3)
            assert user.messages() == [], "the bot handled a POST to a path it must not serve"
            for number, path in enumerate(("/tg/hook.v1", "/tg/hook.v1/"), start=10):
                body = command_update(910_000 + number, user.id, "/help")
                async with http.post(
                    f"http://127.0.0.1:{port}{path}", json=body, headers=headers
                ) as response:
                    statuses[path] = response.status
                answers.append(await user.wait_for_reply(10))
    assert statuses == {
        "/": 404,
        "/tg/hookXv1": 404,
        "/tg/hook": 404,
        "/tg/hook.v1": 200,
        "/tg/hook.v1/": 200,
    }
    assert all("What I can do" in answer.body for answer in answers)
    assert len(user.messages()) == 2
    assert harness.server.webhook_url == url


@pytest.mark.timeout(60)
async def test_the_webhook_refuses_what_is_not_an_update_and_answers_a_get_with_405(
    harness: Harness,
) -> None:
    """As PTB's webhook server did: a body that is not JSON by its content type is 403, one
    that is not an update 400, neither handled; a GET of the path (HAProxy's health check,
    benchmarks/bot_tier.py) is 405; an update with the secret is answered 200 once its
    reply went out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    user = harness.server.user(74951, "Hook")
    async with running_webhook_bot(harness.config, url) as (_, options):
        headers = {SECRET_HEADER: options.secret_token}
        async with aiohttp.ClientSession() as http:
            text = await http.post(url, data="/help", headers=headers)
            not_update = await http.post(url, json=[1, 2], headers=headers)
            broken = await http.post(
                url, data="{", headers={**headers, "Content-Type": "application/json"}
            )
            check = await http.get(url)
            body = command_update(910_100, user.id, "/help")
            handled = await http.post(url, json=body, headers=headers)
            replies = len(user.messages())
    assert [r.status for r in (text, not_update, broken, check, handled)] == [
        403,
        400,
        400,
        405,
        200,
    ]
    assert replies == 1
