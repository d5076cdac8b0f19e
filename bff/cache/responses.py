"""Whole responses to queries, cached per user and proven fresh on every hit.

A response is stored with the versions of the mutable cache entries it was built from (an
account's sequence, an owner's account-list version). It is served again only when every one of
those entries still holds that version in the shared cache, so the fences that commits leave
(see `bff.cache`) retire responses exactly as they retire data: a read issued after a write never
gets the response from before it, in any process. A response that read anything the cache does not
version (a user row, sessions, an object that did not exist) is never stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bff.cache import CacheStore, CacheUnavailable, Versioned, decode_entry


class Reads:
    """What one request's loaders read: the version of every mutable entry, and whether
    everything they read is versioned at all."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.versioned = True

    def saw(
        self, keys: Sequence[str], found: Mapping[str, tuple[int, Any]], *, mutable: bool
    ) -> None:
        """`keys` were looked up and `found` came back (key -> (version, value))."""
        if len(found) < len(keys):
            self.versioned = False  # an absence has no version: the object may appear later
        if not mutable:
            return
        for key in keys:
            if key in found:
                version = found[key][0]
                if self.versions.setdefault(key, version) != version:
                    self.versioned = False  # read at two versions: the response mixes both

    def uncached(self) -> None:
        """Something was read straight from the database."""
        self.versioned = False


@dataclass
class ResponseStats:
    """Counters for the metrics endpoint."""

    hits: int = 0
    misses: int = 0
    stale: int = 0  # found, but something it was built from has changed since
    stored: int = 0


def code_fingerprint(packages: Sequence[Path]) -> str:
    """A digest of every Python source file under `packages`: responses computed by one release
    are never served by another, whose schema or read policies may differ."""
    digest = hashlib.sha256()
    for package in packages:
        for source in sorted(package.rglob("*.py")):
            digest.update(str(source.relative_to(package.parent)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def response_key(
    identity: Sequence[object], document: str, operation_name: str | None, variables: object
) -> str:
    """The cache key of a response: who asked (everything authorization looks at), and what."""
    material = json.dumps(
        [list(map(str, identity)), document, operation_name, variables], sort_keys=True
    )
    return "response:" + hashlib.sha256(material.encode()).hexdigest()


class ResponseCache:
    def __init__(self, store: CacheStore, ttl_s: int) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.stats = ResponseStats()

    async def get(self, key: str) -> bytes | None:
        """The stored response (JSON of the operation's `data`), if it is still current."""
        try:
            entry = (await self.store.get_many([key]))[0]
            _, payload = decode_entry(entry) if entry is not None else (0, b"")
            if not payload:
                self.stats.misses += 1
                return None
            header, _, data = payload.partition(b"\n")
            built_from: list[list[Any]] = json.loads(header)
            current = await self.store.get_many([dependency for dependency, _ in built_from])
        except CacheUnavailable:
            self.stats.misses += 1
            return None
        for (_, version), raw in zip(built_from, current, strict=True):
            if raw is None or decode_entry(raw)[0] != version:
                self.stats.stale += 1
                return None
        self.stats.hits += 1
        return data

    async def put(self, key: str, reads: Reads, data: bytes) -> None:
        """Store a response built from `reads`, unless something it read is unversioned."""
        if not reads.versioned:
            return
        header = json.dumps(sorted(reads.versions.items()), separators=(",", ":")).encode()
        # Versioned by time: of two responses stored concurrently the later wins; both are
        # checked against the current versions before they are served anyway.
        stored_at = time.time_ns() // 1_000_000
        try:
            await self.store.put_many(
                [Versioned(key, stored_at, header + b"\n" + data)], self.ttl_s
            )
        except CacheUnavailable:
            return
        self.stats.stored += 1
