"""scripts/common.sh ensure_mariadb and scripts/install-mariadb.sh on a machine without a
running MariaDB, without touching this one's: the real scripts run in a throw-away copy of the
repository with PATH holding only stand-ins (mysqladmin, apt-get, id, sudo, service,
systemctl, start-stop-daemon, mariadb) that record how they were called, and the few real
tools the scripts need. Whatever is not stood in for is not found, so nothing is installed,
started or changed here."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Each stand-in appends "name args" to $FAKE_LOG; the machine's state is files in $FAKE_STATE:
# "up" (the server answers), "root-tcp" (root may log in over TCP). $MARIADBD is the server
# binary: apt-get install creates it.
FAKES = {
    "mysqladmin": '[ -e "$FAKE_STATE/up" ]',
    "id": 'echo "$FAKE_UID"',
    "sudo": """[ "$1" = -n ] && shift
[ "$FAKE_SUDO" = yes ] || exit 1
[ "$1" = true ] && exit 0
FAKE_UID=0 exec "$@\"""",
    "apt-get": """case "$*" in
*install*mariadb-server*) printf '#!/bin/sh\\n' > "$MARIADBD"; chmod +x "$MARIADBD" ;;
esac""",
    "service": '[ -x "$MARIADBD" ] && [ "$FAKE_START" = yes ] && touch "$FAKE_STATE/up"; true',
    "systemctl": '[ -x "$MARIADBD" ] && [ "$FAKE_START" = yes ] && touch "$FAKE_STATE/up"; true',
    "start-stop-daemon": "true",
    "mariadb": """if [ -t 0 ] || [ "$*" != -uroot ]; then [ -e "$FAKE_STATE/root-tcp" ]; exit; fi
cat >> "$FAKE_STATE/sql"
[ "$FAKE_GRANT" = yes ] && touch "$FAKE_STATE/root-tcp\"""",
    "sleep": "true",
}
REAL_TOOLS = ("bash", "dirname", "seq", "cat", "touch", "chmod", "printf")


@dataclass
class Machine:
    """A pretend machine: who runs the script and what is installed."""

    root: Path  # the repository copy
    bin: Path
    state: Path
    uid: str = "1000"
    sudo: bool = False
    apt: bool = True
    installed: bool = False
    starts: bool = True
    grants: bool = True  # the SQL that lets root in over TCP works
    up: bool = False

    @property
    def mariadbd(self) -> Path:
        return self.state / "mariadbd"

    def run(self) -> subprocess.CompletedProcess[str]:
        if not self.apt:
            (self.bin / "apt-get").unlink()
        if self.installed:
            self.mariadbd.write_text("#!/bin/sh\n")
            self.mariadbd.chmod(0o755)
        if self.up:
            (self.state / "up").touch()
        env = {
            "PATH": str(self.bin),
            "FAKE_LOG": str(self.state / "calls"),
            "FAKE_STATE": str(self.state),
            "FAKE_UID": self.uid,
            "FAKE_SUDO": "yes" if self.sudo else "no",
            "FAKE_START": "yes" if self.starts else "no",
            "FAKE_GRANT": "yes" if self.grants else "no",
            "MARIADBD": str(self.mariadbd),
        }
        return subprocess.run(  # noqa: S603 - the repository's own script, in a copy
            [str(self.bin / "bash"), "-c", "source scripts/common.sh && ensure_mariadb"],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[str]:
        log = self.state / "calls"
        return log.read_text().splitlines() if log.exists() else []

    def ran(self, name: str) -> list[str]:
        return [call for call in self.calls() if call.split()[0] == name]


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("scripts/common.sh", "scripts/install-mariadb.sh"):
        shutil.copy(REPO / name, root / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        fake = bin_dir / name
        fake.write_text(f'#!/bin/sh\necho "{name} $*" >> "$FAKE_LOG"\n{body}\n')
        fake.chmod(0o755)
    for name in REAL_TOOLS:
        real = shutil.which(name)
        assert real is not None, name
        (bin_dir / name).symlink_to(real)
    state = tmp_path / "state"
    state.mkdir()
    return Machine(root, bin_dir, state)


def test_as_root_without_mariadb_it_is_installed_started_and_opened_to_init_db(
    machine: Machine,
) -> None:
    machine.uid = "0"
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert machine.ran("apt-get") == ["apt-get update -q", "apt-get install -y -q mariadb-server"]
    assert machine.ran("service") == ["service mariadb start"] or machine.ran("systemctl")
    assert "installing MariaDB: apt-get install -y mariadb-server" in done.stdout
    assert "starting MariaDB" in done.stdout and "MariaDB is running" in done.stdout
    # A server installed just now: root may log in over TCP from 127.0.0.1, as init-db needs.
    sql = (machine.state / "sql").read_text()
    assert "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'" in sql
    assert "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR" in sql
    assert "letting root in over TCP" in done.stdout
    assert not machine.ran("sudo")


def test_when_root_still_cannot_log_in_over_tcp_it_says_what_to_set(machine: Machine) -> None:
    """An older server refusing the SQL: MariaDB runs, and the warning names the setting."""
    machine.uid = "0"
    machine.grants = False
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert "root still cannot log in over TCP" in done.stderr
    assert "DATABASE_ROOT_URL" in done.stderr


def test_with_passwordless_sudo_the_same_is_done_through_sudo(machine: Machine) -> None:
    machine.sudo = True
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert "sudo -n bash scripts/install-mariadb.sh" in machine.calls()
    assert "apt-get install -y -q mariadb-server" in machine.calls()
    assert "(with sudo -n)" in done.stdout


def test_without_root_nothing_is_run_and_the_one_command_is_printed(machine: Machine) -> None:
    done = machine.run()
    assert done.returncode == 1
    assert "sudo bash scripts/install-mariadb.sh" in done.stderr
    assert "starting it needs root" in done.stderr
    assert not machine.ran("apt-get") and not machine.ran("service")
    assert machine.ran("sudo") == ["sudo -n true"]  # only asked whether it may


def test_an_installed_server_that_is_down_is_started_not_reinstalled_nor_changed(
    machine: Machine,
) -> None:
    machine.uid = "0"
    machine.installed = True
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert not machine.ran("apt-get")
    assert "starting MariaDB" in done.stdout
    assert not (machine.state / "sql").exists()  # its accounts are left as they are


def test_a_server_that_does_not_come_up_ends_with_an_error(machine: Machine) -> None:
    machine.uid = "0"
    machine.installed = True
    machine.starts = False
    done = machine.run()
    assert done.returncode == 1
    assert machine.ran("start-stop-daemon")  # tried directly after the service manager
    assert "did not come up" in done.stderr


def test_as_root_without_apt_get_it_says_what_to_do_instead(machine: Machine) -> None:
    machine.uid = "0"
    machine.apt = False
    done = machine.run()
    assert done.returncode == 1
    assert "no apt-get here" in done.stderr and "docker compose up" in done.stderr
    assert not machine.ran("service")


def test_a_running_server_is_left_alone(machine: Machine) -> None:
    machine.up = True
    done = machine.run()
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert [call.split()[0] for call in machine.calls()] == ["mysqladmin"]
