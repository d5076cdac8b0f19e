"""The in-process cache store (no REDIS_URL): one process only, same fencing rules as Redis."""

from __future__ import annotations

from collections.abc import Sequence

from cachetools import TTLCache

from bff.cache import Versioned, decode_entry, encode_entry

MAX_BYTES = 256 * 1024 * 1024


class MemoryStore:
    def __init__(self, ttl_s: int, max_bytes: int = MAX_BYTES) -> None:
        # One TTL for all entries: the store's callers use the configured cache TTL. Bounded by
        # size, not count: a cached response can be a thousand times larger than an account.
        self._entries: TTLCache[str, bytes] = TTLCache(max_bytes, ttl_s, getsizeof=len)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._entries.get(key) for key in keys]

    @property
    def namespace(self) -> bytes:
        return b"0"  # one process: nothing ever moves it on

    async def put_many(
        self, entries: Sequence[Versioned], ttl_s: int, namespace: bytes | None = None
    ) -> None:
        for entry in entries:
            current = self._entries.get(entry.key)
            if current is not None:
                version, payload = decode_entry(current)
                if entry.version < version or (entry.version == version and payload):
                    continue
            raw = encode_entry(entry.version, entry.payload)
            if len(raw) <= self._entries.maxsize:  # else it is simply not cached
                self._entries[entry.key] = raw

    async def fence(self, fences: Sequence[tuple[str, int]], ttl_s: int) -> None:
        for key, version in fences:
            current = self._entries.get(key)
            if current is None or decode_entry(current)[0] < version:
                self._entries[key] = encode_entry(version, b"")

    async def close(self) -> None:
        self._entries.clear()
