#!/usr/bin/env python3
"""Command line of the Electricity Billing Bot: set up the database, manage admins, run."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import pymysql

from bot.config import Config, ConfigError, load_config
from domain import legacy_import, report_totals, schema, tariffs
from domain.db import Database, DatabaseUrl
from domain.errors import DomainError, ImportRejected

T = TypeVar("T")


class Fatal(Exception):
    """Ends the program with one line on stderr."""


def _database_problem(exc: pymysql.err.OperationalError, url: DatabaseUrl) -> Fatal:
    """One line that says what to fix when MySQL cannot be used."""
    code = exc.args[0] if exc.args else None
    if code == 1045:
        return Fatal(f"MySQL refused the password of {url.user!r}: check the URLs in .env.")
    if code == 1049:
        return Fatal("The database does not exist yet: run `python run_bot.py init-db`.")
    return Fatal(f"Cannot reach MySQL at {url.host}:{url.port}: is it running?")


async def _with_database(url: DatabaseUrl, work: Callable[[Database], Awaitable[T]]) -> T:
    try:
        db = await Database.connect(url, minsize=1, maxsize=2)
    except pymysql.err.OperationalError as exc:
        raise _database_problem(exc, url) from exc
    try:
        return await work(db)
    except pymysql.err.ProgrammingError as exc:
        if exc.args and exc.args[0] == 1146:  # no such table
            raise Fatal(
                "The database is missing a table of a newer version: run "
                "`python run_bot.py migrate`."
            ) from exc
        raise
    finally:
        await db.close()


def cmd_init_db(config: Config, args: argparse.Namespace) -> None:
    report = schema.init_db(
        config.root_database,
        config.database,
        config.customer_database,
        account_host=config.database_account_host,
        max_user_connections=config.database_max_user_connections,
    )
    state = "created" if report.created_database else "already existed"
    print(f"Database {config.database.database!r} {state}; accounts and grants are in place.")
    print(f"Migrations applied now: {', '.join(report.applied_migrations) or 'none (up to date)'}")


def cmd_migrate(config: Config, args: argparse.Namespace) -> None:
    applied = schema.migrate(config.database)
    print(f"Migrations applied now: {', '.join(applied) or 'none (up to date)'}")


def cmd_create_admin(config: Config, args: argparse.Namespace) -> None:
    from domain import admins

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password for the new admin: ")
        if getpass.getpass("Type it again: ") != password:
            raise Fatal("The two passwords differ; nothing was created.")
    admin = asyncio.run(
        _with_database(
            config.database,
            lambda db: admins.create_admin(
                db,
                admin_name=args.name,
                email=args.email,
                password=password,
                role=args.role,
                telegram_user_id=args.telegram_id,
            ),
        )
    )
    print(f"Admin {admin.admin_name!r} <{admin.email}> created with role {admin.role.value}.")


def cmd_seed_demo(config: Config, args: argparse.Namespace) -> None:
    from domain.demo import seed_demo

    today = datetime.now(config.timezone).date()
    logins = asyncio.run(
        _with_database(
            config.database,
            lambda db: seed_demo(
                db, today=today, tariff=config.default_tariff, due_days=config.due_days
            ),
        )
    )
    print("Demo data is in place. Log in with:")
    for login in logins:
        kind = "email" if "@" in login.login else "meter"
        password = f"password {login.password}" if login.password else "(password changed)"
        print(f"  {login.role:<8} {login.who:<24} {kind} {login.login:<22} {password}")


def cmd_import_legacy(config: Config, args: argparse.Namespace) -> None:
    try:
        source = DatabaseUrl.parse(args.source)
    except ValueError as exc:
        raise Fatal(f"--from: {exc}") from exc

    async def work(db: Database) -> legacy_import.ImportReport:
        try:
            old = await Database.connect(source, minsize=1, maxsize=1)
        except pymysql.err.OperationalError as exc:
            reason = exc.args[1] if len(exc.args) > 1 else exc
            raise Fatal(f"Cannot read the old database {source.database!r}: {reason}") from exc
        try:
            return await legacy_import.import_legacy(
                db, old, dry_run=args.dry_run, due_days=config.due_days, timezone=config.timezone
            )
        finally:
            await old.close()

    report = asyncio.run(_with_database(config.database, work))
    print("\n".join(legacy_import.summary(report)))


RECOUNT_LISTED = 20  # totals printed by `recount`; the audit entry lists more


def cmd_recount(config: Config, args: argparse.Namespace) -> None:
    drift = asyncio.run(
        _with_database(
            config.database,
            lambda db: report_totals.rebuild(db, source="run_bot.py recount"),
        )
    )
    if not drift:
        print("Report totals recounted: they match the bills and payments; nothing to repair.")
        return
    print(
        f"Report totals recounted: {len(drift)} differed from the bills and payments and were "
        "repaired (written to the audit log):"
    )
    for found in drift[:RECOUNT_LISTED]:
        print(f"  {found}")
    if len(drift) > RECOUNT_LISTED:
        print(f"  … and {len(drift) - RECOUNT_LISTED} more")


def cmd_tariffs(config: Config, args: argparse.Namespace) -> None:
    if args.tariffs_command == "export":
        exported = asyncio.run(_with_database(config.database, tariffs.export_csv))
        if args.output is None:
            sys.stdout.write(exported.text)
            return
        try:
            Path(args.output).write_text(exported.text, encoding="utf-8")
        except OSError as exc:
            raise Fatal(f"Cannot write {args.output}: {exc.strerror or exc}") from exc
        count = exported.versions
        print(f"Exported {count} tariff version{'s' if count != 1 else ''} to {args.output}.")
        return
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Fatal(f"{args.file} is not UTF-8 text: save it as CSV (UTF-8).") from exc
    except OSError as exc:
        raise Fatal(f"Cannot read {args.file}: {exc.strerror or exc}") from exc

    async def work(db: Database) -> tariffs.ImportedTariffs:
        return await tariffs.import_csv(db, text, admin_id=None)

    try:
        imported = asyncio.run(_with_database(config.database, work))
    except ImportRejected as exc:
        for line, problem in exc.errors:
            print(f"  line {line}: {problem}", file=sys.stderr)
        raise Fatal(str(exc)) from exc
    count = len(imported.versions)
    print(f"Imported {count} tariff version{'s' if count != 1 else ''}:")
    for version in imported.versions:
        bands = len(version.bands)
        new = " (new tariff)" if version.code in imported.new_tariffs else ""
        print(
            f"  {version.code} from {version.effective_from}: {bands} "
            f"band{'s' if bands != 1 else ''}{new}"
        )


def cmd_run(config: Config, args: argparse.Namespace) -> None:
    try:
        from bot.application import WebhookInUse, run_bot
    except ImportError as exc:
        raise Fatal("`run` is not available yet in this build (the chat comes next).") from exc
    from telegram.error import InvalidToken, NetworkError

    # PTB logs the start-up failure with a traceback before raising it; we say it in one line.
    logging.getLogger("telegram.ext").addFilter(
        lambda record: "Bootstrap" not in record.getMessage()
    )
    try:
        run_bot(config, webhook_url=args.webhook, listen=args.listen, port=args.port)
    except InvalidToken as exc:
        raise Fatal(
            "Telegram refused BOT_TOKEN: copy the token from @BotFather into .env."
        ) from exc
    except NetworkError as exc:
        where = config.bot_api_base_url or "api.telegram.org"
        raise Fatal(f"Cannot reach the Bot API at {where} ({exc}): check the network.") from exc
    except WebhookInUse as exc:
        raise Fatal(
            f"This bot's updates go to a webhook ({exc.url}), which other instances serve "
            "(STATE_STORE=database): polling would delete it and take the updates away from "
            "them. Start this instance with `run --webhook URL` too. To move the bot to "
            "polling, stop the instances and delete the webhook (the Bot API's deleteWebhook) "
            "first."
        ) from exc
    except pymysql.err.OperationalError as exc:
        raise _database_problem(exc, config.database) from exc


def cmd_sandbox(config: Config, args: argparse.Namespace) -> None:
    if config.bot_token:
        # The sandbox seeds demo accounts with published passwords and links them to fixed
        # Telegram ids: never in a database a real bot (one with a token) may serve.
        raise Fatal(
            "The sandbox does not run with BOT_TOKEN set: it adds demo accounts with published "
            "passwords to the database, which a real bot must never serve. Use a configuration "
            "without BOT_TOKEN (and its own database) for the sandbox."
        )
    try:
        # Imported here, not at the top: fake_telegram is a development package, not installed
        # with the bot, and the other commands must run without it.
        from fake_telegram.sandbox import run_sandbox
    except ImportError as exc:
        raise Fatal(
            "`sandbox` needs the fake_telegram package of a source checkout; it is not part of "
            "an installed bot."
        ) from exc
    run_sandbox(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_bot.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="create the database, its two accounts and grants; migrate")
    sub.add_parser("migrate", help="apply pending migrations")
    admin = sub.add_parser("create-admin", help="create an admin")
    admin.add_argument("--name", required=True)
    admin.add_argument("--email", required=True)
    admin.add_argument("--role", default="admin", choices=["admin", "viewer"])
    admin.add_argument("--telegram-id", type=int, default=None)
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    sub.add_parser("seed-demo", help="add demo customers, bills, payments and admins")
    old = sub.add_parser("import-legacy", help="bring in the original system's database")
    old.add_argument("--from", dest="source", required=True, metavar="mysql://user:pass@host/db")
    old.add_argument(
        "--dry-run", action="store_true", help="report what it would do; change nothing"
    )
    sub.add_parser(
        "recount", help="repair the report totals from the bills and payments (bot may run)"
    )
    tariff = sub.add_parser("tariffs", help="import or export tariffs as CSV")
    tariff_sub = tariff.add_subparsers(dest="tariffs_command", required=True)
    tariff_import = tariff_sub.add_parser(
        "import", help="add the tariff versions of a CSV file (all or nothing)"
    )
    tariff_import.add_argument("file", metavar="FILE.csv")
    tariff_export = tariff_sub.add_parser("export", help="write every tariff version as CSV")
    tariff_export.add_argument(
        "--output", metavar="FILE", default=None, help="write to FILE instead of stdout"
    )
    run = sub.add_parser("run", help="start the bot (long polling, or --webhook URL)")
    run.add_argument("--webhook", metavar="URL", default=None)
    run.add_argument("--listen", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8443)
    sub.add_parser("sandbox", help="try the bot in this terminal with a local Bot API server")
    return parser


COMMANDS: dict[str, Callable[[Config, argparse.Namespace], None]] = {
    "init-db": cmd_init_db,
    "migrate": cmd_migrate,
    "create-admin": cmd_create_admin,
    "seed-demo": cmd_seed_demo,
    "import-legacy": cmd_import_legacy,
    "recount": cmd_recount,
    "tariffs": cmd_tariffs,
    "run": cmd_run,
    "sandbox": cmd_sandbox,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # LOG_LEVEL=INFO or DEBUG for more detail; secrets and chat contents are never logged.
    level = logging.getLevelNamesMapping().get(os.environ.get("LOG_LEVEL", "").upper())
    logging.basicConfig(
        level=level or logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config()
        COMMANDS[args.command](config, args)
    except (ConfigError, schema.SetupError, DomainError, Fatal) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
