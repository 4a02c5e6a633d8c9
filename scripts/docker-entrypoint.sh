#!/bin/sh
# The bot container's entrypoint (Dockerfile): bring the database, its accounts and grants up
# to date (init-db is safe to run on every start), then run `run_bot.py <command>`: `run` by
# default, `sandbox` for the terminal sandbox, or any other of its commands.
set -eu
python run_bot.py init-db
exec python run_bot.py "$@"
