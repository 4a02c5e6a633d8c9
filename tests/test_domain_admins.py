"""Admins on the real MariaDB: creation, uniqueness, email + password login with roles."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import admins, passwords
from domain.db import Database
from domain.errors import AuthenticationFailed, DuplicateAdmin, InvalidInput, TooManyAttempts
from domain.models import Role

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def _admin_rows(db: Database) -> list[dict[str, Any]]:
    async with db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "SELECT admin_name, email, role, password_hash, telegram_user_id FROM admins "
                "ORDER BY admin_id"
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]


async def test_create_admin_stores_a_hashed_password_and_the_role(admin_db: Database) -> None:
    """The admin is stored with a cleaned name, a lower-case email and a pbkdf2 hash."""
    created = await admins.create_admin(
        admin_db,
        admin_name=" Chief  Cashier ",
        email="Cashier@Utility.example",
        password="cashier-pass-1",
        role="viewer",
        telegram_user_id=9001,
    )
    assert (created.admin_name, created.email, created.role) == (
        "Chief Cashier",
        "cashier@utility.example",
        Role.VIEWER,
    )
    assert created.telegram_user_id == 9001 and not created.role.can_write
    [row] = await _admin_rows(admin_db)
    assert row["password_hash"].startswith("pbkdf2_sha256$")
    assert "cashier-pass-1" not in row["password_hash"]
    found = await admins.find_by_telegram(admin_db, 9001)
    assert found == created


async def test_a_second_admin_with_the_same_name_or_email_is_refused(admin_db: Database) -> None:
    """Names and emails are unique (emails in any case); the refused admin is not stored."""
    await admins.create_admin(
        admin_db, admin_name="Ada", email="ada@utility.example", password="ada-pass-1"
    )
    with pytest.raises(DuplicateAdmin):
        await admins.create_admin(
            admin_db, admin_name="Ada", email="other@utility.example", password="ada-pass-2"
        )
    with pytest.raises(DuplicateAdmin):
        await admins.create_admin(
            admin_db, admin_name="Ada Two", email="ADA@Utility.example", password="ada-pass-3"
        )
    assert [r["admin_name"] for r in await _admin_rows(admin_db)] == ["Ada"]


async def test_an_unknown_role_or_weak_password_is_refused_before_anything_is_stored(
    admin_db: Database,
) -> None:
    """Only the known roles, and passwords of at least eight characters."""
    with pytest.raises(InvalidInput, match="Role"):
        await admins.create_admin(
            admin_db,
            admin_name="Root",
            email="root@utility.example",
            password="root-pass-1",
            role="superuser",
        )
    with pytest.raises(InvalidInput):
        await admins.create_admin(
            admin_db, admin_name="Root", email="root@utility.example", password="short"
        )
    assert await _admin_rows(admin_db) == []


async def test_authenticate_returns_the_admin_with_its_role_and_links_telegram(
    admin_db: Database,
) -> None:
    """The right email (any case) and password log in as that admin, with that role."""
    viewer = await admins.create_admin(
        admin_db,
        admin_name="Report Reader",
        email="reader@utility.example",
        password="reader-pass-1",
        role=Role.VIEWER.value,
    )
    logged_in = await admins.authenticate(
        admin_db, " Reader@Utility.EXAMPLE ", "reader-pass-1", 9101, now=NOW
    )
    assert logged_in.admin_id == viewer.admin_id
    assert logged_in.role is Role.VIEWER
    assert logged_in.telegram_user_id == 9101
    assert await admins.find_by_telegram(admin_db, 9101) == logged_in
    assert await admins.logout(admin_db, 9101)
    assert await admins.find_by_telegram(admin_db, 9101) is None


async def test_authenticate_refuses_a_wrong_password_or_unknown_email(admin_db: Database) -> None:
    """Wrong details fail alike and link nothing."""
    await admins.create_admin(
        admin_db, admin_name="Boss", email="boss@utility.example", password="boss-pass-1"
    )
    with pytest.raises(AuthenticationFailed):
        await admins.authenticate(admin_db, "boss@utility.example", "boss-pass-2", 9201, now=NOW)
    with pytest.raises(AuthenticationFailed):
        await admins.authenticate(admin_db, "nobody@utility.example", "boss-pass-1", 9201, now=NOW)
    assert await admins.find_by_telegram(admin_db, 9201) is None


async def test_admin_logins_are_throttled_by_email(admin_db: Database) -> None:
    """Five wrong passwords for an email lock it, even for the right password from elsewhere."""
    await admins.create_admin(
        admin_db, admin_name="Target", email="target@utility.example", password="target-pass-1"
    )
    async with admin_db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            # A weak hash keeps five wrong guesses cheap to verify.
            await cur.execute(
                "UPDATE admins SET password_hash = %s",
                (passwords.hash_password_sync("target-pass-1", iterations=1_000),),
            )
        await uow.commit()
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await admins.authenticate(admin_db, "target@utility.example", "guess", 9301, now=NOW)
    with pytest.raises(TooManyAttempts):
        await admins.authenticate(
            admin_db, "target@utility.example", "target-pass-1", 9302, now=NOW
        )


async def test_a_legacy_sha256_admin_password_is_accepted_and_upgraded(
    admin_db: Database,
) -> None:
    """An imported admin with the seed's sha256 hash logs in; the hash becomes pbkdf2."""
    await admins.create_admin(
        admin_db, admin_name="Imported", email="imported@utility.example", password="placeholder1"
    )
    async with admin_db.unit_of_work() as uow:
        async with uow.connection.cursor() as cur:
            await cur.execute(
                "UPDATE admins SET password_hash = %s",
                (hashlib.sha256(b"seed-admin-pw").hexdigest(),),
            )
        await uow.commit()
    admin = await admins.authenticate(
        admin_db, "imported@utility.example", "seed-admin-pw", None, now=NOW
    )
    assert admin.role is Role.ADMIN and admin.telegram_user_id is None
    [row] = await _admin_rows(admin_db)
    assert row["password_hash"].startswith("pbkdf2_sha256$")
