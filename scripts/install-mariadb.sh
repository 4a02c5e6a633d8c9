#!/usr/bin/env bash
# Install MariaDB with apt-get (Debian, Ubuntu) if it is missing, start it, and wait until it
# answers on 127.0.0.1:3306. Run as root: `sudo bash scripts/install-mariadb.sh`.
# scripts/run.sh and scripts/test.sh run it themselves when they may (root, or sudo without a
# password); otherwise they print that command.
#
# A server installed here is new and holds nothing, and its root account takes only the
# local socket of the system's root. So that `run_bot.py init-db` (DATABASE_ROOT_URL in
# .env.example) and the tests (TEST_DATABASE_ROOT_URL) can create the bot's database and
# accounts, root is also let in over TCP from 127.0.0.1 without a password — as on the
# development machines this project is tested on. Give it a password (and put it in
# DATABASE_ROOT_URL) before the machine serves anyone else. A server that was already
# installed is started, never changed.
set -euo pipefail

MARIADBD=${MARIADBD:-/usr/sbin/mariadbd}

ping_tcp() {
    mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1
}

if [ "$(id -u)" != 0 ]; then
    echo "error: run this as root: sudo bash $0" >&2
    exit 1
fi

installed_now=no
if [ ! -x "$MARIADBD" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: MariaDB is not installed and there is no apt-get here. Install MariaDB" \
            "(tested with 10.11) with this system's package manager and start it, or use" \
            "\`docker compose up\` (see README)." >&2
        exit 1
    fi
    echo "==> installing MariaDB: apt-get install -y mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q mariadb-server
    installed_now=yes
fi

if ! ping_tcp; then
    echo "==> starting MariaDB"
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl start mariadb || true
    elif command -v service >/dev/null 2>&1; then
        service mariadb start || true
    fi
    if ! ping_tcp; then  # no service manager, or it failed: start the server directly
        start-stop-daemon --start --oknodo --background --exec "$MARIADBD" || true
    fi
    for _ in $(seq 1 60); do
        ping_tcp && break
        sleep 0.5
    done
fi
if ! ping_tcp; then
    echo "error: MariaDB did not come up on 127.0.0.1:3306; see its log" \
        "(journalctl -u mariadb, or /var/log/mysql/)." >&2
    exit 1
fi

root_over_tcp() {
    "$client" --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1' >/dev/null 2>&1
}

if [ "$installed_now" = yes ]; then
    client=$(command -v mariadb || command -v mysql)
    if ! root_over_tcp; then
        echo "==> letting root in over TCP from 127.0.0.1 without a password (for init-db" \
            "and the tests; set one before this machine serves anyone else)"
        # Through the socket, as the system's root. A login from 127.0.0.1 is
        # 'root'@'127.0.0.1' when the server skips name resolution and 'root'@'localhost'
        # when it does not: both are let in (localhost keeps its socket login too).
        "$client" -uroot <<'SQL' || true
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
SQL
        if ! root_over_tcp; then
            echo "warning: root still cannot log in over TCP; put an account that may create" \
                "databases and users in DATABASE_ROOT_URL in .env." >&2
        fi
    fi
fi
echo "==> MariaDB is running on 127.0.0.1:3306"
