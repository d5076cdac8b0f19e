"""The live trusted documents, held in process memory so a request never waits on PostgreSQL
for them: reloaded when older than a few seconds, and at once (at most once a second) when asked
for a hash it does not know, so a build registered by another process is served within moments
and a retired one stops within `_FRESH_S`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

_FRESH_S = 10.0
_MISS_RELOAD_S = 1.0


class TrustedDocuments:
    def __init__(self, load: Callable[[], Awaitable[dict[str, str]]]) -> None:
        """`load`: every live document by hash (from PostgreSQL)."""
        self._load = load
        self._documents: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._loading = asyncio.Lock()

    async def get(self, digest: str) -> str | None:
        """The text of the live document named `digest`, or None."""
        age = time.monotonic() - self._loaded_at
        if age > _FRESH_S or (digest not in self._documents and age > _MISS_RELOAD_S):
            await self._reload(self._loaded_at)
        return self._documents.get(digest)

    def cached(self, digest: str) -> str | None:
        """The text if it is known without loading (for requests that also carry it)."""
        return self._documents.get(digest)

    async def _reload(self, seen: float) -> None:
        async with self._loading:
            if self._loaded_at != seen:
                return  # another request reloaded while this one waited: one load serves both
            self._documents = await self._load()
            self._loaded_at = time.monotonic()
