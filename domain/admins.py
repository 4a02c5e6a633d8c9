"""Admins: creation, email + password login, Telegram links, roles and notifications."""

from __future__ import annotations

from datetime import datetime

from domain import passwords, throttle, validation
from domain.db import Database, Row, UnitOfWork, error_code
from domain.errors import AdminNotFound, DuplicateAdmin, InvalidInput
from domain.models import Admin, Role


async def create_admin(
    db: Database,
    *,
    admin_name: str,
    email: str,
    password: str,
    role: str = Role.ADMIN.value,
    telegram_user_id: int | None = None,
) -> Admin:
    """Create an admin (name and email unique); the password is hashed off the loop."""
    try:
        role_value = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"Role must be one of: {', '.join(r.value for r in Role)}.") from exc
    problem = passwords.validate_new_password(password)
    if problem:
        raise InvalidInput(problem)
    values = {
        "admin_name": validation.admin_name(admin_name),
        "email": validation.email(email),
        "password_hash": await passwords.hash_password(password),
        "role": role_value.value,
        "telegram_user_id": telegram_user_id,
    }

    async def work(uow: UnitOfWork) -> Admin:
        try:
            admin_id = await uow.insert("insert_admin", values)
        except Exception as exc:
            if error_code(exc) == 1062:
                raise DuplicateAdmin() from exc
            raise
        row = await uow.fetch_one("get_admin", {"admin_id": admin_id})
        await uow.commit()
        assert row is not None
        return Admin.from_row(row)

    return await db.transaction(work)


async def find_by_telegram(db: Database, telegram_user_id: int) -> Admin | None:
    row = await db.fetch_one("get_admin_by_telegram", {"telegram_user_id": telegram_user_id})
    return Admin.from_row(row) if row else None


async def is_staff(db: Database, telegram_user_id: int) -> bool:
    """Whether this Telegram account is linked to an admin now (any role)."""
    return await db.fetch_one("is_staff", {"telegram_user_id": telegram_user_id}) is not None


async def find_by_email(db: Database, email: str) -> Admin | None:
    row = await db.fetch_one("get_admin_by_email", {"email": email.strip().lower()})
    return Admin.from_row(row) if row else None


async def get(db: Database, admin_id: int) -> Admin:
    row = await db.fetch_one("get_admin", {"admin_id": admin_id})
    if row is None:
        raise AdminNotFound()
    return Admin.from_row(row)


async def authenticate(
    db: Database,
    email: str,
    password: str,
    telegram_user_id: int | None,
    *,
    policy: throttle.ThrottlePolicy | None = None,
    now: datetime | None = None,
) -> Admin:
    """Check email + password (throttled); link the Telegram account when one is given."""
    typed = validation.clean_text(email).lower()[:254]
    keys = throttle.subjects(telegram_user_id, email=typed)

    async def load(uow: UnitOfWork) -> Row | None:
        return await uow.fetch_one("get_admin_by_email", {"email": typed})

    verified = await throttle.verify_login(db, keys, password, load, policy=policy, now=now)
    upgrade = verified.upgraded_hash
    admin_id = int(verified.row["admin_id"])

    async def succeed(uow: UnitOfWork) -> Admin:
        await throttle.reset(uow, keys)
        if upgrade:
            await uow.execute(
                "set_admin_password", {"admin_id": admin_id, "password_hash": upgrade}
            )
        if telegram_user_id is not None:
            await uow.execute(
                "unlink_telegram_from_admins", {"telegram_user_id": telegram_user_id}
            )
            await uow.execute(
                "link_admin_telegram",
                {"admin_id": admin_id, "telegram_user_id": telegram_user_id},
            )
        fresh = await uow.fetch_one("get_admin", {"admin_id": admin_id})
        await uow.commit()
        assert fresh is not None
        return Admin.from_row(fresh)

    return await db.transaction(succeed)


async def link_telegram(db: Database, admin_id: int, telegram_user_id: int) -> Admin:
    """Link a Telegram account to an admin without a password (the sandbox's demo chat);
    the account is first freed from any other admin."""

    async def work(uow: UnitOfWork) -> Admin:
        await uow.execute("unlink_telegram_from_admins", {"telegram_user_id": telegram_user_id})
        await uow.execute(
            "link_admin_telegram", {"admin_id": admin_id, "telegram_user_id": telegram_user_id}
        )
        row = await uow.fetch_one("get_admin", {"admin_id": admin_id})
        await uow.commit()
        if row is None:
            raise AdminNotFound()
        return Admin.from_row(row)

    return await db.transaction(work)


async def logout(db: Database, telegram_user_id: int) -> bool:
    async def work(uow: UnitOfWork) -> bool:
        changed = await uow.execute(
            "unlink_telegram_from_admins", {"telegram_user_id": telegram_user_id}
        )
        await uow.commit()
        return changed > 0

    return await db.transaction(work)


async def set_notify(db: Database, admin_id: int, notify: bool) -> None:
    async def work(uow: UnitOfWork) -> None:
        await uow.execute("set_admin_notify", {"admin_id": admin_id, "notify": notify})
        await uow.commit()

    await db.transaction(work)


async def to_notify_of_payments(db: Database) -> list[Admin]:
    return [Admin.from_row(r) for r in await db.fetch_all("admins_to_notify")]


async def linked_admins(db: Database) -> list[Admin]:
    """Admins with a Telegram account linked (for their command menus)."""
    return [Admin.from_row(r) for r in await db.fetch_all("linked_admins")]
