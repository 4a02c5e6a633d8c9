# The bot's image, for compose.yaml: Python 3.11 and the project's packages.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
COPY pyproject.toml README.md run_bot.py ./
COPY bot bot
COPY domain domain
COPY handlers handlers
# Not installed (pyproject leaves it out), but `run_bot.py sandbox` imports it from /app.
COPY fake_telegram fake_telegram
COPY sql sql
COPY scripts/docker-entrypoint.sh scripts/
RUN pip install --no-cache-dir -e . \
    && useradd --system --uid 10001 --home-dir /app ebb \
    && mkdir -p /app/data \
    && chown ebb /app/data
USER ebb

# init-db (safe on every start), then `run_bot.py run`, or the run_bot.py command given, e.g.
# `docker compose run --rm bot sandbox`.
ENTRYPOINT ["sh", "/app/scripts/docker-entrypoint.sh"]
CMD ["run"]
