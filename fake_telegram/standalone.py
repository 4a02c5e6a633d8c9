"""``python -m fake_telegram``: the fake Bot API server on a port of its own, in a process of
its own, until SIGTERM or SIGINT: for bots run as separate processes (``run_bot.py run`` with
``BOT_API_BASE_URL`` pointing here), several of them behind a webhook included.

Its phone users live in this process, so whatever drives them runs here too: a control action
(``FakeTelegramServer.add_control``) is served at ``POST /control/<token>/<name>``, JSON in
and out. ``status`` is always there (the webhook and its delivery counts);
``benchmarks.webhook_load`` adds ``load``, simulated users paying through the webhook.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from collections.abc import Mapping
from pathlib import Path

from fake_telegram.records import JSONDict
from fake_telegram.server import DEFAULT_TOKEN, ControlAction, FakeTelegramServer
from fake_telegram.webhook import webhook_info


async def status(server: FakeTelegramServer, params: JSONDict) -> JSONDict:
    """The webhook as getWebhookInfo shows it, with the delivery counts and the users."""
    info = webhook_info(server)
    info.pop("allowed_updates", None)  # every type, as a rule: a long list
    return {
        **info,
        "delivered": server.webhook_delivered,
        "retries": server.webhook_retries,
        "users": len(server.users),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fake_telegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every Bot API call"
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=10.0,
        help="seconds the webhook has to answer 2xx before an update is sent again",
    )
    parser.add_argument("--pid-file", type=Path, help="write this process's id there")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace, actions: Mapping[str, ControlAction]) -> None:
    server = FakeTelegramServer(
        args.token, host=args.host, port=args.port, latency=args.latency, record_calls=False
    )
    server.webhook_timeout = args.webhook_timeout
    for name, action in {"status": status, **actions}.items():
        server.add_control(name, action)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        if args.pid_file is not None:
            args.pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
        print(f"fake Bot API server on {server.url}, token {server.token}", flush=True)
        await stop.wait()
    print("fake Bot API server stopped", flush=True)


def main(
    argv: list[str] | None = None, actions: Mapping[str, ControlAction] | None = None
) -> None:
    asyncio.run(serve(parse_args(argv), actions or {}))


if __name__ == "__main__":
    main()
