# Shared by scripts/run.sh and scripts/test.sh: a virtualenv with the project installed, a
# running MariaDB and a private .env. Sourced, not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

ensure_venv() {
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv"
        "$PYTHON" -m venv .venv
    fi
    # Reinstall only when pyproject.toml changed since the last install.
    local stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
    if [ ! -f "$stamp" ]; then
        echo "==> installing packages into .venv"
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e '.[dev]'
        rm -f .venv/.installed-*
        touch "$stamp"
    fi
}

mariadb_up() {
    mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1
}

# How to run a command as root here: nothing (we are root) or sudo without a password.
# Fails when neither is possible.
root_prefix() {
    if [ "$(id -u)" = 0 ]; then
        echo ""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
        echo "sudo -n"
    else
        return 1
    fi
}

# MariaDB on 127.0.0.1:3306. When it is not there and this user may act as root, install it
# (apt-get, on Debian and Ubuntu) and/or start it through scripts/install-mariadb.sh, which
# says what it does; otherwise say the one command that does it.
ensure_mariadb() {
    if mariadb_up; then
        return 0
    fi
    local root
    if root=$(root_prefix); then
        echo "==> MariaDB is not reachable at 127.0.0.1:3306; setting it up${root:+ (with $root)}"
        $root bash scripts/install-mariadb.sh && mariadb_up && return 0
        echo "error: MariaDB could not be installed or started (see above)." >&2
        exit 1
    fi
    echo "error: MariaDB is not reachable at 127.0.0.1:3306, and starting it needs root." >&2
    if command -v apt-get >/dev/null 2>&1; then
        echo "Run this once (it installs mariadb-server with apt-get if needed and starts it):" >&2
        echo "    sudo bash scripts/install-mariadb.sh" >&2
    else
        echo "Install MariaDB (tested with 10.11) with this system's package manager and start it" \
            "(or run everything with \`docker compose up\`, see README)." >&2
    fi
    exit 1
}

# What the Galera and multi-instance tests start beside the MariaDB on 3306 (issue 16):
# galera-4 (the nodes' replication), haproxy (in front of the nodes and of the bot
# instances), rsync (a node's full state transfer) and socat (cluster.sh status). Installed
# with apt-get when missing and this user may act as root; otherwise the tests that need them
# fail and say so.
ensure_cluster_packages() {
    local missing=()
    [ -f /usr/lib/galera/libgalera_smm.so ] || missing+=(galera-4)
    command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
    command -v rsync >/dev/null 2>&1 || missing+=(rsync)
    command -v socat >/dev/null 2>&1 || missing+=(socat)
    [ ${#missing[@]} -eq 0 ] && return 0
    local root
    if command -v apt-get >/dev/null 2>&1 && root=$(root_prefix); then
        echo "==> installing ${missing[*]} (apt-get)"
        $root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
            || { $root apt-get update -q >/dev/null \
                 && $root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
                    >/dev/null; } \
            || echo "warning: could not install ${missing[*]}: the cluster tests will fail" >&2
    else
        echo "warning: ${missing[*]} missing (sudo apt-get install ${missing[*]}):" \
            "the cluster tests will fail" >&2
    fi
}

# .env holds both database passwords and the bot token: only its owner may read it. A new one
# is written to a mktemp file (always 0600) under umask 077 and renamed into place, so it is
# never readable by others, not even for a moment; one left readable by others (an old
# checkout, a copy) is narrowed to 0600 with a notice.
ensure_env_file() {
    if [ -f .env ]; then
        local mode
        mode=$(stat -L -c '%a' .env)
        if (( 8#$mode & 8#077 )); then
            chmod 600 .env
            echo "==> .env was readable by others (mode $mode); changed it to 600"
        fi
        return 0
    fi
    echo "==> creating .env from .env.example with fresh database passwords"
    local admin_pw customer_pw
    admin_pw=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')
    customer_pw=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')
    (
        umask 077
        new=$(mktemp .env.XXXXXX)
        if ! sed -e "s/change-me-admin/$admin_pw/" -e "s/change-me-customer/$customer_pw/" \
            .env.example > "$new"; then
            rm -f "$new"
            exit 1
        fi
        mv "$new" .env
    )
}
