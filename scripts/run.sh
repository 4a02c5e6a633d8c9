#!/usr/bin/env bash
# Run the bot: with BOT_TOKEN set, against Telegram; without it, the terminal sandbox.
source "$(dirname "$0")/common.sh"
ensure_venv
ensure_mariadb
ensure_env_file
.venv/bin/python run_bot.py init-db
token=$(.venv/bin/python -c 'from bot.config import load_config; print(load_config().bot_token or "")')
if [ -n "$token" ]; then
    exec .venv/bin/python run_bot.py run "$@"
fi
exec .venv/bin/python run_bot.py sandbox "$@"
