"""Several bot instances behind one webhook URL, for the benchmarks: N ``run_bot.py run
--webhook`` processes and HAProxy in front of them (the same layout as ``scripts/cluster.sh
up``, on ports of their own).

Every instance registers the same URL (HAProxy's) and the same secret token with setWebhook
when it starts; stopping one leaves the webhook in place for the others (nothing in the bot
deletes it, and pending updates are never dropped). Each instance answers an update's webhook
request once the update is handled (bot/webhook_server.py).
HAProxy checks each instance's webhook path every second (a GET there answers 405: the
server is up) and sends each update to one of the healthy ones: by chat (``affinity``, the
hash of the chat id read from the JSON body, consistent so that a dead instance's chats move
and no others), or in turn (``roundrobin``: the steps of one conversation land on different
instances, which needs the conversation state in the database).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from benchmarks.harness import PROJECT

WEBHOOK_PATH = "/telegram"
Balance = Literal["affinity", "roundrobin"]

# The chat an update belongs to, for HAProxy (fake_telegram.webhook.chat_key says the same).
_CHAT_PATHS = (
    "$.message.chat.id",
    "$.edited_message.chat.id",
    "$.callback_query.message.chat.id",
    "$.callback_query.from.id",
    "$.pre_checkout_query.from.id",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def haproxy_config(
    front_port: int,
    instance_ports: list[int],
    *,
    balance: Balance,
    state_dir: Path,
    path: str = WEBHOOK_PATH,
) -> str:
    """HAProxy's configuration for the bot tier (scripts/cluster.sh writes the same)."""
    chat = [
        f"    http-request set-var(txn.chat) req.body,json_query('{json_path}','int')"
        + ("" if n == 0 else " unless { var(txn.chat) -m found }")
        for n, json_path in enumerate(_CHAT_PATHS)
    ]
    method = (
        "balance hash var(txn.chat)\n    hash-type consistent"
        if balance == "affinity"
        else ("balance roundrobin")
    )
    servers = [
        f"    server bot{n} 127.0.0.1:{port} check"
        for n, port in enumerate(instance_ports, start=1)
    ]
    return "\n".join(
        [
            "global",
            "    maxconn 4000",
            f"    pidfile {state_dir / 'haproxy-bots.pid'}",
            f"    stats socket {state_dir / 'haproxy-bots.sock'} mode 600 level admin",
            "",
            "defaults",
            "    mode http",
            "    timeout connect 1s",
            "    timeout client 30s",
            "    timeout server 30s",
            "    retries 2",
            "    option redispatch 1",
            "",
            "frontend telegram",
            f"    bind 127.0.0.1:{front_port}",
            "    option http-buffer-request",
            *chat,
            "    default_backend bots",
            "",
            "backend bots",
            f"    {method}",
            f"    option httpchk GET {path}",
            "    http-check expect status 405",
            "    default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions",
            *servers,
            "",
        ]
    )


@dataclass
class Instance:
    number: int
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


@dataclass
class BotTier:
    """N webhook instances of the bot and HAProxy in front, in ``workdir``; ``environ`` is
    what every instance is given (the Bot API and database URLs)."""

    environ: Mapping[str, str]
    workdir: Path
    count: int
    balance: Balance = "affinity"
    front_port: int = field(default_factory=free_port)
    # The WEBHOOK_SECRET every instance is given; None: none (each works one out itself).
    secret: str | None = field(default_factory=lambda: secrets.token_urlsafe(24))
    instances: list[Instance] = field(default_factory=list)
    haproxy_pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.front_port}{WEBHOOK_PATH}"

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.instances = [
            Instance(n, free_port(), self.workdir / f"bot{n}.log")
            for n in range(1, self.count + 1)
        ]
        config = self.workdir / "haproxy-bots.cfg"
        config.write_text(
            haproxy_config(
                self.front_port,
                [i.port for i in self.instances],
                balance=self.balance,
                state_dir=self.workdir,
            ),
            encoding="utf-8",
        )
        await asyncio.gather(*(self.start_instance(i.number) for i in self.instances))
        haproxy = await asyncio.create_subprocess_exec("haproxy", "-D", "-f", str(config))
        if await haproxy.wait() != 0:
            raise RuntimeError("haproxy did not start")
        self.haproxy_pid = int((self.workdir / "haproxy-bots.pid").read_text().split()[0])
        await self._until_healthy(len(self.instances))

    async def start_instance(self, number: int, timeout: float = 60) -> None:  # noqa: ASYNC109
        """Start instance ``number``; return once its webhook server listens."""
        instance = self.instances[number - 1]
        environ = {
            **self.environ,
            "WEBHOOK_SECRET": self.secret or "",
            "STATE_STORE": "database",
            "PERSISTENCE_FILE": str(self.workdir / f"bot{number}.pickle"),
            "PYTHONPATH": str(PROJECT),
            "PYTHONUNBUFFERED": "1",
        }
        with instance.log.open("ab") as out:
            instance.process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(PROJECT / "run_bot.py"),
                "run",
                "--webhook",
                self.url,
                "--listen",
                "127.0.0.1",
                "--port",
                str(instance.port),
                env=environ,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not await _listens(instance.port):
            if not instance.running or time.monotonic() > deadline:
                tail = instance.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"bot instance {number} did not start:\n{tail}")
            await asyncio.sleep(0.1)

    def kill_instance(self, number: int) -> None:
        """SIGKILL one instance (a fault drill)."""
        process = self.instances[number - 1].process
        if process is not None and process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)

    async def stop_instance(self, number: int, sig: signal.Signals = signal.SIGTERM) -> int:
        process = self.instances[number - 1].process
        if process is None:
            return 0
        if process.returncode is None:
            os.kill(process.pid, sig)
        try:
            return await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            os.kill(process.pid, signal.SIGKILL)
            return await process.wait()

    async def stop(self) -> None:
        await asyncio.gather(*(self.stop_instance(i.number) for i in self.instances))
        if self.haproxy_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.haproxy_pid, signal.SIGTERM)
            self.haproxy_pid = None

    async def _until_healthy(self, count: int, timeout: float = 15) -> None:  # noqa: ASYNC109
        """Wait until HAProxy counts ``count`` instances up (its first checks)."""
        deadline = time.monotonic() + timeout
        while self.healthy() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy sees {self.healthy()} of {count} instances up")
            await asyncio.sleep(0.2)

    def healthy(self) -> int:
        """Instances HAProxy has up now."""
        return sum(1 for row in instance_stats(self.workdir) if row[17].startswith("UP"))

    def sessions(self) -> dict[str, int]:
        """Requests HAProxy has sent to each instance so far, by name (bot1, bot2…)."""
        return {row[1]: int(row[7] or 0) for row in instance_stats(self.workdir)}

    async def __aenter__(self) -> BotTier:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def instance_stats(state_dir: Path) -> list[list[str]]:
    """HAProxy's "show stat" rows of the bot instances (name in [1], status in [17]), read
    from its admin socket in ``state_dir``; none if it is not running."""
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(state_dir / "haproxy-bots.sock"))
            conn.sendall(b"show stat\n")
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
    except OSError:
        return []
    rows = [line.split(",") for line in data.decode().splitlines()]
    return [r for r in rows if len(r) > 17 and r[0] == "bots" and r[1].startswith("bot")]


async def _listens(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.bot_tier haproxy-config …``: print HAProxy's configuration for
    the bot tier (scripts/cluster.sh writes it with this)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bot_tier")
    parser.add_argument("command", choices=["haproxy-config"])
    parser.add_argument("--front-port", type=int, required=True)
    parser.add_argument("--instance-ports", type=int, nargs="+", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--balance", choices=["affinity", "roundrobin"], default="affinity")
    args = parser.parse_args(argv)
    sys.stdout.write(
        haproxy_config(
            args.front_port, args.instance_ports, balance=args.balance, state_dir=args.state_dir
        )
    )


if __name__ == "__main__":
    main()
