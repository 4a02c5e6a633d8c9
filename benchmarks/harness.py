"""What every benchmark shares: its own database, figures with their references, the machine.

A benchmark measures a figure and, in the same run and the same harness, the reference it is
compared with (a bare SQL transaction, the best raw query, a bare bot, LOAD DATA…). A
:class:`Figure` holds both, the ratio between them and the target from issue 6.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pymysql
import sqlparse

from domain import schema
from domain.db import DatabaseUrl

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
PROJECT = Path(__file__).resolve().parent.parent  # for the child processes' PYTHONPATH


# ---------------------------------------------------------------------------------------------
# Figures


@dataclass
class Figure:
    """One measured figure and the reference it is compared with (measured in the same run)."""

    benchmark: str
    name: str
    value: float
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    # A rate is better when higher; a time or a size when lower.
    higher_is_better: bool = True
    # The target as text (e.g. "≥ 0.7× bare") and whether this run met it.
    target: str | None = None
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """value ÷ reference (for a time, < 1 means faster than the reference)."""
        if not self.reference_value:
            return None
        return self.value / self.reference_value


def fmt(value: float | None, unit: str = "") -> str:
    """A figure for people: thousands separators, few decimals, its unit."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:,.1f}"
    elif abs(value) >= 1:
        text = f"{value:,.2f}"
    else:
        text = f"{value:,.3f}"
    return f"{text} {unit}".strip()


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def show(figure: Figure) -> None:
    """Print one figure as soon as it is measured."""
    parts = [f"  {figure.name}: {fmt(figure.value, figure.unit)}"]
    if figure.reference is not None:
        parts.append(f"{figure.reference}: {fmt(figure.reference_value, figure.unit)}")
        parts.append(f"ratio {fmt_ratio(figure.ratio)}")
    if figure.target is not None:
        verdict = "" if figure.met is None else (" ✓" if figure.met else " ✗ MISSED")
        parts.append(f"target {figure.target}{verdict}")
    if figure.note:
        parts.append(figure.note)
    print(" | ".join(parts), flush=True)


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        show(figure)
        return figure

    def markdown(self) -> str:
        """The results table for docs/benchmarks.md."""
        lines = [
            "| benchmark | figure | value | reference | reference value | ratio | target | met |",
            "|---|---|---:|---|---:|---:|---|:-:|",
        ]
        for f in self.figures:
            met = "" if f.met is None else ("yes" if f.met else "**no**")
            note = f" ({f.note})" if f.note else ""
            lines.append(
                f"| {f.benchmark} | {f.name}{note} | {fmt(f.value, f.unit)} | {f.reference or ''} "
                f"| {fmt(f.reference_value, f.unit) if f.reference else ''} "
                f"| {fmt_ratio(f.ratio) if f.reference else ''} | {f.target or ''} | {met} |"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Timing


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0–100) of ``samples`` by linear interpolation."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def time_async(
    work: Callable[[], Awaitable[object]], *, repeat: int, warmup: int = 2
) -> list[float]:
    """Seconds each of ``repeat`` sequential calls took (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        await work()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        samples.append(time.perf_counter() - started)
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


# ---------------------------------------------------------------------------------------------
# The benchmark database


@dataclass(frozen=True)
class BenchDatabase:
    root: DatabaseUrl
    admin: DatabaseUrl
    customer: DatabaseUrl

    @property
    def name(self) -> str:
        return self.admin.database


def check_loopback(url: DatabaseUrl) -> None:
    if url.host not in LOOPBACK_HOSTS:
        raise SystemExit(f"benchmarks only run against a database on loopback, not {url.host}")


def create_bench_database(root: DatabaseUrl, name: str) -> BenchDatabase:
    """Create (or bring up to date) the benchmark database with its own two accounts.

    Uses ``init-db``'s own code; passwords are fresh on every run.
    """
    check_loopback(root)
    admin = DatabaseUrl(f"{name}_a", secrets.token_urlsafe(12), root.host, root.port, name)
    customer = DatabaseUrl(f"{name}_c", secrets.token_urlsafe(12), root.host, root.port, name)
    schema.init_db(root, admin, customer)
    return BenchDatabase(root, admin, customer)


def drop_bench_database(database: BenchDatabase) -> None:
    schema.drop_db(database.root, database.admin, database.customer)


def connect(url: DatabaseUrl, *, local_infile: bool = False) -> pymysql.connections.Connection:
    """A synchronous PyMySQL connection (loading and EXPLAIN; never inside timed code)."""
    return pymysql.connect(
        host=url.host,
        port=url.port,
        user=url.user,
        password=url.password,
        database=url.database or None,
        charset="utf8mb4",
        autocommit=True,
        local_infile=local_infile,
    )


def _trigger_statements() -> list[tuple[str, str]]:
    """Every trigger the migrations leave, in the order the database has them (a trigger that
    FOLLOWS another comes after it): (name, CREATE TRIGGER statement) each. A trigger a later
    migration drops and creates again (0016 remakes 0012's receipt trigger) counts once, as
    that migration made it, in its place: last, or where it was when the remake PRECEDES the
    trigger that followed it (0026), which is then created after it anyway."""
    found: dict[str, str] = {}
    for path in sorted(schema.MIGRATIONS_DIR.glob("*.sql")):
        for statement in sqlparse.split(path.read_text(encoding="utf-8")):
            body = sqlparse.format(statement, strip_comments=True).strip().rstrip(";")
            if match := re.match(r"CREATE TRIGGER (\w+)", body):
                name = match.group(1)
                keeps_place = re.search(r"\sPRECEDES\s+\w+", body)
                if name in found and keeps_place:
                    found[name] = body.replace(keeps_place.group(0), "", 1)
                else:
                    found.pop(name, None)  # remade: it now comes last
                    found[name] = body
    return list(found.items())


@contextmanager
def triggers_set_aside(conn: pymysql.connections.Connection) -> Iterator[None]:
    """Bulk-load a data set as it stands (bills already paid, then their payments) with the
    money triggers dropped, and create them again afterwards: the classic load-then-constrain.
    The caller rebuilds the report totals (the triggers did not move them)."""
    triggers = _trigger_statements()
    with conn.cursor() as cur:
        for name, _ in reversed(triggers):
            cur.execute(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield
    finally:
        with conn.cursor() as cur:
            for _, create in triggers:
                cur.execute(create)


def settle(root: DatabaseUrl, *, timeout: float = 120.0) -> float:
    """Wait until InnoDB has purged every row deleted or changed so far (its history list
    is empty); return the seconds waited.

    Undoing a benchmark's writes leaves the server purging the old rows for a few seconds;
    a figure timed meanwhile shares the server's cores with that purge (seen here: LOAD DATA
    of 100,000 bills at 61k rows/s during it, 92–120k after). Every timed write waits.
    """
    started = time.perf_counter()
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            while time.perf_counter() - started < timeout:
                cur.execute(
                    "SELECT `count` FROM information_schema.innodb_metrics "
                    "WHERE name = 'trx_rseg_history_len'"
                )
                found = cur.fetchone()
                if not found or int(found[0]) == 0:
                    break
                time.sleep(0.2)
    finally:
        conn.close()
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# The machine


def _meminfo_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine(root: DatabaseUrl) -> dict[str, str]:
    """Cores, RAM, MariaDB and its settings that matter here, Python and library versions."""
    conn = connect(root)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
            server = str(row[0]) if row else "unknown"
            cur.execute(
                "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('innodb_buffer_pool_size', "
                "'innodb_flush_log_at_trx_commit', 'innodb_flush_method', 'max_allowed_packet')"
            )
            variables = {str(k): str(v) for k, v in cur.fetchall()}
    finally:
        conn.close()
    pool_mib = int(variables.get("innodb_buffer_pool_size", "0")) // (1024 * 1024)
    load = os.getloadavg()
    return {
        "cpu": f"{os.cpu_count()} cores, {_cpu_model()}",
        "ram": f"{_meminfo_gib():.1f} GiB",
        "os": platform.platform(),
        "database": (
            f"{server} (buffer pool {pool_mib} MiB, flush_log_at_trx_commit "
            f"{variables.get('innodb_flush_log_at_trx_commit')}, flush method "
            f"{variables.get('innodb_flush_method')})"
        ),
        "python": sys.version.split()[0],
        "libraries": ", ".join(
            f"{name} {_version(name)}"
            for name in (
                "python-telegram-bot",
                "httpx",
                "httpcore",
                "sniffio",
                "aiomysql",
                "PyMySQL",
                "fpdf2",
                "aiohttp",
            )
        ),
        "load average at start": f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
    }


# ---------------------------------------------------------------------------------------------
# What a benchmark is given


@dataclass
class Context:
    database: BenchDatabase
    customers: int  # the data set's size
    months: int
    quick: bool
    results: Results
    workdir: Path

    def seconds(self, full: float, quick: float) -> float:
        """How long a timed phase runs at this size."""
        return quick if self.quick else full


# ---------------------------------------------------------------------------------------------
# Memory of a process and its children


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (its children, their children…), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class RssSampler:
    """Peak resident memory of a process (its own high-water mark) and of it with its
    children (sampled), in MiB."""

    pid: int
    peak_tree_kib: int = 0

    def sample(self) -> None:
        tree = _status_kib(self.pid, "VmRSS") + sum(
            _status_kib(child, "VmRSS") for child in descendants(self.pid)
        )
        self.peak_tree_kib = max(self.peak_tree_kib, tree)

    @property
    def peak_mib(self) -> float:
        return _status_kib(self.pid, "VmHWM") / 1024

    @property
    def peak_tree_mib(self) -> float:
        return self.peak_tree_kib / 1024


# ---------------------------------------------------------------------------------------------
# A Galera cluster of one's own (scripts/cluster.sh, issue 16)


def cluster_command(
    command: str, *, port: int, directory: str
) -> subprocess.CompletedProcess[str]:
    """``scripts/cluster.sh COMMAND`` for the cluster on base ``port`` in ``directory`` (SQL on
    port+1..3, HAProxy on port; the data tier alone, no bot instances); its output is
    returned, never raised."""
    env = {
        **os.environ,
        "EBB_CLUSTER_PORT": str(port),
        "EBB_CLUSTER_DIR": directory,
        "EBB_CLUSTER_BOTS": "0",
    }
    return subprocess.run(  # noqa: S603 - the project's own script, fixed arguments
        ["bash", str(PROJECT / "scripts" / "cluster.sh"), command],  # noqa: S607
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


class RetryLog(logging.Handler):
    """The error code of every attempt the transaction retry policy ran again, read from its
    own log line (domain.db: "transaction attempt %d failed with %s; retrying")."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.codes: Counter[int | None] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("transaction attempt") and isinstance(record.args, tuple):
            code = record.args[1]
            self.codes[code if isinstance(code, int) else None] += 1


@contextmanager
def counting_retries() -> Iterator[RetryLog]:
    """A :class:`RetryLog` on domain.db's logger while the block runs."""
    handler = RetryLog()
    logger = logging.getLogger("domain.db")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
