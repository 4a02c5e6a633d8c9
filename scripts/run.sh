#!/usr/bin/env bash
# Run the bot: with BOT_TOKEN set, against Telegram; without it, the terminal sandbox.
source "$(dirname "$0")/common.sh"
ensure_venv
ensure_mariadb
if [ ! -f .env ]; then
    echo "==> creating .env from .env.example with fresh database passwords"
    admin_pw=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')
    customer_pw=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(18))')
    sed -e "s/change-me-admin/$admin_pw/" -e "s/change-me-customer/$customer_pw/" \
        .env.example > .env
fi
.venv/bin/python run_bot.py init-db
token=$(.venv/bin/python -c 'from bot.config import load_config; print(load_config().bot_token or "")')
if [ -n "$token" ]; then
    exec .venv/bin/python run_bot.py run "$@"
fi
exec .venv/bin/python run_bot.py sandbox "$@"
