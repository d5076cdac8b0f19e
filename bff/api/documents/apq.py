"""Automatic persisted queries (open mode): documents clients registered by sending their text
with its hash. Bounded against registration spam: in process memory the least recently used go
first; in Redis each expires, and one that cannot be read is simply not found (the client then
sends its text again)."""

from __future__ import annotations

import logging
from typing import Protocol

from cachetools import LRUCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger("bff.documents")

_KEY_PREFIX = "bff:apq:"
_MAX_DOCUMENTS = 1_000
_TTL_S = 24 * 3600


class PersistedQueries(Protocol):
    async def get(self, digest: str) -> str | None: ...
    async def put(self, digest: str, body: str) -> None: ...


class MemoryPersistedQueries:
    def __init__(self, size: int = _MAX_DOCUMENTS) -> None:
        self._documents: LRUCache[str, str] = LRUCache(size)

    async def get(self, digest: str) -> str | None:
        return self._documents.get(digest)

    async def put(self, digest: str, body: str) -> None:
        self._documents[digest] = body


class RedisPersistedQueries:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def get(self, digest: str) -> str | None:
        try:
            body = await self._redis.get(_KEY_PREFIX + digest)
        except (RedisError, OSError) as error:
            log.warning("persisted queries unavailable", extra={"error": str(error)})
            return None
        return None if body is None else body.decode() if isinstance(body, bytes) else body

    async def put(self, digest: str, body: str) -> None:
        try:
            await self._redis.set(_KEY_PREFIX + digest, body.encode(), ex=_TTL_S)
        except (RedisError, OSError) as error:
            log.warning("persisted queries unavailable", extra={"error": str(error)})


def persisted_queries(redis: Redis | None) -> PersistedQueries:
    """Shared by every process with Redis, else this process's own."""
    return RedisPersistedQueries(redis) if redis is not None else MemoryPersistedQueries()
