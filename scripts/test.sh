#!/usr/bin/env bash
# The whole test suite: lint, type-check, then pytest against the real MariaDB.
source "$(dirname "$0")/common.sh"
ensure_venv
ensure_mariadb
ensure_cluster_packages
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
