"""argon2id password hashing at OWASP parameters, off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP Password Storage Cheat Sheet: argon2id, 19 MiB of memory, 2 iterations, 1 lane.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the email is unknown, so that both failures cost the same time.
_DUMMY_HASH = _HASHER.hash("timing-equaliser-for-unknown-users")

MIN_LENGTH = 12
MAX_LENGTH = 1024  # bounds the hashing work an attacker can request


async def hash_password(password: str) -> str:
    """An argon2id hash of `password` (computed in a worker thread)."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown user (None) takes the same time and fails."""

    def verify() -> bool:
        try:
            return (
                _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
