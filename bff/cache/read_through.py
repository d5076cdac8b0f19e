"""Read-through loading: one MGET for a batch of keys, one batched fetch for the misses, one
fenced write-back. Concurrent requests in this process for the same key share one look-up, so
a stampede on a cold key costs one database load per process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from bff.cache import CacheStats, CacheStore, CacheUnavailable, Versioned, decode_entry
from bff.cache.codec import Codec

log = logging.getLogger("bff.cache")

T = TypeVar("T")
Found = dict[str, tuple[int, T]]  # key -> (version, value), for the keys that exist


class ReadThrough:
    def __init__(self, store: CacheStore, ttl_s: int) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.stats = CacheStats()
        # Keys name their kind, so one table serves values of every type.
        self._inflight: dict[str, asyncio.Future[tuple[int, Any] | None]] = {}

    async def load(
        self,
        keys: Sequence[str],
        fetch: Callable[[list[str]], Awaitable[Found[T]]],
        codec: Codec[T],
    ) -> Found[T]:
        """The version and value of each key that exists, from the cache or from `fetch`.

        A key already being looked up by another request in this process is not looked up
        again: this request waits for that look-up, then checks that the cache holds nothing
        newer.
        """
        others = {key: self._inflight[key] for key in keys if key in self._inflight}
        mine = list(dict.fromkeys(key for key in keys if key not in others))
        found: Found[T] = {}
        if mine:
            loop = asyncio.get_running_loop()
            futures = {key: loop.create_future() for key in mine}
            self._inflight.update(futures)
            try:
                found = await self._look_up(mine, fetch, codec)
            except BaseException as error:
                for future in futures.values():
                    future.set_exception(error)
                    future.exception()  # waiters re-raise it; nobody else needs to
                raise
            finally:
                for key, future in futures.items():
                    if self._inflight.get(key) is future:  # not a newer look-up's, after a fence
                        del self._inflight[key]
            for key, future in futures.items():
                if not future.done():
                    future.set_result(found.get(key))
        joined: Found[T] = {}
        for key, waiting in others.items():
            shared = await waiting
            if shared is not None:
                joined[key] = shared
        return found | await self._still_current(joined, fetch, codec)

    async def _still_current(
        self, joined: Found[T], fetch: Callable[[list[str]], Awaitable[Found[T]]], codec: Codec[T]
    ) -> Found[T]:
        """A shared look-up may have begun before a commit in another process whose fence has
        landed since: whatever the cache now holds a newer version of is looked up again."""
        if not joined:
            return joined
        current = await self._cached(list(joined))
        outdated = [
            key
            for (key, (version, _)), raw in zip(joined.items(), current, strict=True)
            if raw is not None and decode_entry(raw)[0] > version
        ]
        if not outdated:
            return joined
        kept = {key: value for key, value in joined.items() if key not in outdated}
        return kept | await self._look_up(outdated, fetch, codec)

    async def _look_up(
        self, keys: list[str], fetch: Callable[[list[str]], Awaitable[Found[T]]], codec: Codec[T]
    ) -> Found[T]:
        found: Found[T] = {}
        missing: list[str] = []
        # Observed before anything is read: what is loaded below is at least this recent.
        namespace = self.store.namespace
        for key, raw in zip(keys, await self._cached(keys), strict=True):
            version, payload = decode_entry(raw) if raw is not None else (0, b"")
            if payload:
                found[key] = (version, codec.loads(payload))
            else:
                missing.append(key)
        self.stats.hits += len(found)
        self.stats.misses += len(missing)
        if missing:
            fetched = await fetch(missing)
            found |= fetched
            await self._write_back(
                [
                    Versioned(key, version, codec.dumps(value))
                    for key, (version, value) in fetched.items()
                ],
                namespace,
            )
        return found

    async def _cached(self, keys: Sequence[str]) -> list[bytes | None]:
        self.stats.reads += 1
        try:
            return await self.store.get_many(keys)
        except CacheUnavailable:
            self.stats.errors += 1
            return [None] * len(keys)

    async def _write_back(self, entries: list[Versioned], namespace: bytes) -> None:
        try:
            await self.store.put_many(entries, self.ttl_s, namespace)
        except CacheUnavailable:
            self.stats.errors += 1

    async def fence(self, fences: Sequence[tuple[str, int]]) -> None:
        """After a commit: make sure no reader can keep or store what the commit replaced."""
        # A look-up already under way may return what the commit replaced: later readers must
        # not join it.
        for key, _ in fences:
            self._inflight.pop(key, None)
        try:
            await self.store.fence(fences, self.ttl_s)
        except CacheUnavailable as error:
            self.stats.errors += 1
            log.warning(
                "cache invalidation deferred to the next epoch", extra={"error": str(error)}
            )
