"""The read-through cache of the dataloaders: Redis when `REDIS_URL` is set, process memory
otherwise, behind one small interface.

Entries carry a version: an account's is its sequence number. After a change commits, the
writer leaves a *fence* (a tombstone with the new version) in place of the entry, and a reader
may only store a value whose version is not older than what the cache holds. So a reader that
loaded the old row before the commit can never put it back after the invalidation: a read issued
after a write always sees the write, in every process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class CacheUnavailable(Exception):
    """The cache cannot be used right now; callers read from PostgreSQL instead."""


@dataclass(frozen=True, slots=True)
class Versioned:
    key: str
    version: int
    payload: bytes


class CacheStore(Protocol):
    @property
    def namespace(self) -> bytes:
        """The key namespace reads go to now; a write-back passes the one its read saw."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    async def put_many(
        self, entries: Sequence[Versioned], ttl_s: int, namespace: bytes | None = None
    ) -> None:
        """Store the entries (not over newer versions), unless `namespace` is no longer current."""

    async def fence(self, fences: Sequence[tuple[str, int]], ttl_s: int) -> None: ...
    async def close(self) -> None: ...


@dataclass
class CacheStats:
    """Counters for the metrics endpoint."""

    hits: int = 0
    misses: int = 0
    errors: int = 0
    reads: int = 0  # round trips to the store (one MGET each with Redis)


def encode_entry(version: int, payload: bytes) -> bytes:
    return b"%d|" % version + payload


def decode_entry(raw: bytes) -> tuple[int, bytes]:
    version, _, payload = raw.partition(b"|")
    return int(version), payload
