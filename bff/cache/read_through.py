"""Read-through loading: one MGET for a batch of keys, one batched fetch for the misses, one
fenced write-back. Concurrent requests in this process for the same key share one look-up, so
a stampede on a cold key costs one database load per process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from bff.cache import CacheStats, CacheStore, CacheUnavailable, Versioned, decode_entry

log = logging.getLogger("bff.cache")

Fetched = dict[str, tuple[int, bytes]]  # key -> (version, payload), for the keys that exist


class ReadThrough:
    def __init__(self, store: CacheStore, ttl_s: int) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.stats = CacheStats()
        self._inflight: dict[str, asyncio.Future[bytes | None]] = {}

    async def load(
        self, keys: Sequence[str], fetch: Callable[[list[str]], Awaitable[Fetched]]
    ) -> list[bytes | None]:
        """The payload of each key (None when it does not exist), from the cache or `fetch`.

        A key already being looked up by another request in this process is not looked up
        again: this request waits for that answer.
        """
        others = {key: self._inflight[key] for key in keys if key in self._inflight}
        mine = list(dict.fromkeys(key for key in keys if key not in others))
        found: dict[str, bytes] = {}
        if mine:
            loop = asyncio.get_running_loop()
            futures = {key: loop.create_future() for key in mine}
            self._inflight.update(futures)
            try:
                found = await self._look_up(mine, fetch)
            except BaseException as error:
                for future in futures.values():
                    future.set_exception(error)
                    future.exception()  # waiters re-raise it; nobody else needs to
                raise
            finally:
                for key in mine:
                    self._inflight.pop(key, None)
            for key, future in futures.items():
                if not future.done():
                    future.set_result(found.get(key))
        for key, waiting in others.items():
            payload = await waiting
            if payload is not None:
                found[key] = payload
        return [found.get(key) for key in keys]

    async def _look_up(
        self, keys: list[str], fetch: Callable[[list[str]], Awaitable[Fetched]]
    ) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for key, raw in zip(keys, await self._cached(keys), strict=True):
            payload = decode_entry(raw)[1] if raw is not None else b""
            if payload:
                found[key] = payload
            else:
                missing.append(key)
        self.stats.hits += len(found)
        self.stats.misses += len(missing)
        if missing:
            fetched = await fetch(missing)
            found |= {key: payload for key, (_, payload) in fetched.items()}
            await self._write_back(fetched)
        return found

    async def _cached(self, keys: Sequence[str]) -> list[bytes | None]:
        self.stats.reads += 1
        try:
            return await self.store.get_many(keys)
        except CacheUnavailable:
            self.stats.errors += 1
            return [None] * len(keys)

    async def _write_back(self, fetched: Fetched) -> None:
        entries = [Versioned(key, version, payload) for key, (version, payload) in fetched.items()]
        try:
            await self.store.put_many(entries, self.ttl_s)
        except CacheUnavailable:
            self.stats.errors += 1

    async def fence(self, fences: Sequence[tuple[str, int]]) -> None:
        """After a commit: make sure no reader can keep or store what the commit replaced."""
        try:
            await self.store.fence(fences, self.ttl_s)
        except CacheUnavailable as error:
            self.stats.errors += 1
            log.warning(
                "cache invalidation deferred to the next epoch", extra={"error": str(error)}
            )
