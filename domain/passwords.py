"""Password hashing (PBKDF2-HMAC-SHA256, OWASP strength) and the seed's legacy sha256 format.

Stored format: ``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``. A bare 64-hex-digit
string is the seed's unsalted sha256; it is accepted and must be upgraded after login.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import re
import secrets

ALGORITHM = "pbkdf2_sha256"
# OWASP Password Storage Cheat Sheet: 600,000 iterations for PBKDF2-HMAC-SHA256.
ITERATIONS = 600_000
_LEGACY_RE = re.compile(r"^[0-9a-fA-F]{64}$")

MIN_LENGTH = 8
MAX_LENGTH = 128


def validate_new_password(password: str) -> str | None:
    """Return why ``password`` is not acceptable, or None when it is."""
    if len(password) < MIN_LENGTH:
        return f"Please choose a password of at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Please choose a password of at most {MAX_LENGTH} characters."
    if password.strip() != password or not password.isprintable():
        return "Please do not start or end the password with spaces or use control characters."
    return None


def hash_password_sync(password: str, *, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return "$".join(
        (
            ALGORITHM,
            str(iterations),
            base64.b64encode(salt).decode("ascii"),
            base64.b64encode(digest).decode("ascii"),
        )
    )


def verify_password_sync(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    if _LEGACY_RE.match(stored):
        legacy = hashlib.sha256(password.encode("utf-8")).hexdigest()
        return hmac.compare_digest(legacy, stored.lower())
    try:
        algorithm, iterations, salt_b64, digest_b64 = stored.split("$")
        if algorithm != ALGORITHM:
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        rounds = int(iterations)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, rounds)
    return hmac.compare_digest(actual, expected)


def is_legacy_sha256(stored: str | None) -> bool:
    """True for the seed's format, a bare sha256 hex digest (kept as it is by import-legacy)."""
    return bool(stored and _LEGACY_RE.match(stored))


def needs_upgrade(stored: str | None, *, iterations: int = ITERATIONS) -> bool:
    """True for the legacy sha256 format or a hash made with fewer iterations than now."""
    if not stored or _LEGACY_RE.match(stored):
        return True
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit():
        return True  # not a hash we could have made: replace it
    return int(parts[1]) < iterations


async def hash_password(password: str) -> str:
    """Hash off the event loop (PBKDF2 at this strength takes a few hundred ms)."""
    return await asyncio.to_thread(hash_password_sync, password)


async def verify_password(password: str, stored: str | None) -> bool:
    """Verify off the event loop, comparing in constant time."""
    return await asyncio.to_thread(verify_password_sync, password, stored)


@functools.cache
def dummy_hash() -> str:
    """A real hash of a random password: verified against when the account does not exist,
    so a wrong meter number or email takes as long as a wrong password."""
    return hash_password_sync(secrets.token_hex(16))
