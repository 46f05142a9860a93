"""Passwords: argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile), salted per hash."""

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified when no person has the name, so that a wrong name costs as long as a wrong password.
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))


def generate() -> str:
    """A password to hand over once: 96 random bits, URL-safe, 16 characters."""
    return secrets.token_urlsafe(12)


async def hash_password(password: str) -> str:
    # About 50 ms of CPU and 64 MiB: off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _NOBODY, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)
