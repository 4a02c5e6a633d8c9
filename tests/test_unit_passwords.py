"""Password hashing without a database: format, verification, the legacy format, upgrades."""

from __future__ import annotations

import base64
import hashlib

import pytest

from domain import passwords

# A low iteration count keeps these tests fast; the format and checks are the same.
FAST = 1_000


def test_a_new_hash_is_self_describing_pbkdf2_sha256_at_owasp_strength() -> None:
    """``pbkdf2_sha256$600000$<16-byte salt>$<32-byte digest>``, salt and digest in base64."""
    stored = passwords.hash_password_sync("correct horse")
    algorithm, iterations, salt, digest = stored.split("$")
    assert algorithm == "pbkdf2_sha256"
    assert int(iterations) == passwords.ITERATIONS >= 600_000
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert passwords.verify_password_sync("correct horse", stored)


def test_hashing_the_same_password_twice_gives_different_salted_hashes() -> None:
    """Two customers with the same password do not share a hash."""
    first = passwords.hash_password_sync("same password", iterations=FAST)
    second = passwords.hash_password_sync("same password", iterations=FAST)
    assert first != second
    assert passwords.verify_password_sync("same password", first)
    assert passwords.verify_password_sync("same password", second)


@pytest.mark.parametrize("wrong", ["correct hors", "Correct horse", "correct horse ", ""])
def test_verify_refuses_any_other_password(wrong: str) -> None:
    """Only the exact password verifies (case and spaces count)."""
    stored = passwords.hash_password_sync("correct horse", iterations=FAST)
    assert not passwords.verify_password_sync(wrong, stored)


def test_verify_handles_non_ascii_passwords_as_utf8() -> None:
    """Passwords in any script hash and verify (encoded as UTF-8)."""
    stored = passwords.hash_password_sync("пароль-₦-密码", iterations=FAST)
    assert passwords.verify_password_sync("пароль-₦-密码", stored)
    assert not passwords.verify_password_sync("пароль-N-密码", stored)


def test_the_hash_records_its_own_iteration_count_and_is_verified_with_it() -> None:
    """A hash made with other iterations still verifies: the count is read from the hash."""
    stored = passwords.hash_password_sync("secret-123", iterations=FAST)
    assert stored.split("$")[1] == str(FAST)
    assert passwords.verify_password_sync("secret-123", stored)


@pytest.mark.parametrize("stored", [None, "", "garbage", "md5$1$a$b", "pbkdf2_sha256$x$y$z"])
def test_verify_refuses_missing_unknown_and_malformed_hashes(stored: str | None) -> None:
    """No hash, another algorithm or a damaged hash never lets anyone in (and never raises)."""
    assert not passwords.verify_password_sync("anything", stored)


def test_a_legacy_plain_sha256_hex_hash_is_accepted_in_either_case() -> None:
    """The seed's unsalted sha256 hex digest (imported data) still verifies."""
    legacy = hashlib.sha256(b"seed-password").hexdigest()
    assert passwords.verify_password_sync("seed-password", legacy)
    assert passwords.verify_password_sync("seed-password", legacy.upper())
    assert not passwords.verify_password_sync("seed-passwordx", legacy)


def test_legacy_weak_and_missing_hashes_need_an_upgrade_current_ones_do_not() -> None:
    """After a good login the legacy format and weaker hashes are replaced."""
    legacy = hashlib.sha256(b"pw").hexdigest()
    weak = passwords.hash_password_sync("pw", iterations=FAST)
    current = passwords.hash_password_sync("pw")
    assert passwords.needs_upgrade(legacy)
    assert passwords.needs_upgrade(weak)
    assert passwords.needs_upgrade(None)
    assert passwords.needs_upgrade("")
    assert passwords.needs_upgrade("garbage")
    assert not passwords.needs_upgrade(current)
    assert not passwords.needs_upgrade(weak, iterations=FAST)


async def test_the_async_helpers_hash_and_verify_off_the_event_loop() -> None:
    """``hash_password`` and ``verify_password`` give the same results as the sync ones."""
    stored = await passwords.hash_password("off the loop")
    assert await passwords.verify_password("off the loop", stored)
    assert not await passwords.verify_password("on the loop", stored)


def test_the_dummy_hash_is_a_real_current_hash_that_no_guess_matches() -> None:
    """Unknown accounts are verified against a genuine hash, so timing does not leak them."""
    dummy = passwords.dummy_hash()
    assert dummy.startswith("pbkdf2_sha256$")
    assert not passwords.needs_upgrade(dummy)
    assert not passwords.verify_password_sync("", dummy)


@pytest.mark.parametrize(
    ("candidate", "acceptable"),
    [
        ("eight ch", True),
        ("short", False),
        ("x" * 128, True),
        ("x" * 129, False),
        (" leading-space", False),
        ("trailing-space ", False),
        ("tab\tinside", False),
        ("ünïcödé-pässwörd", True),
    ],
)
def test_new_passwords_need_eight_to_128_printable_characters(
    candidate: str, acceptable: bool
) -> None:
    """A new password is refused with a reason when too short, too long or oddly spaced."""
    assert (passwords.validate_new_password(candidate) is None) is acceptable


def test_a_damaged_stored_hash_is_marked_for_upgrade_instead_of_crashing() -> None:
    """``pbkdf2_sha256$x$y$z`` is not a hash we made: replace it on the next good login."""
    from domain.passwords import needs_upgrade

    assert needs_upgrade("pbkdf2_sha256$x$y$z")
    assert needs_upgrade("bcrypt$12$abc$def")
