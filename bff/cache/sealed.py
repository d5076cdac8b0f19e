"""A cache store whose values are sealed (AES-256-GCM, bound to their key): what the loaders and
the response cache put in Redis (users, accounts, whole responses) is personal data, and a copy
of Redis must not reveal it. The versions stay in the clear, for the store's own comparisons.

In-process memory needs no such store: it is the process's own.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag

from bff.cache import CacheStore, Versioned, decode_entry, encode_entry
from bff.crypto.envelope import SealError, Vault

_VERSION = struct.Struct(">H")
_NONCE = 12


class SealedStore:
    def __init__(self, inner: CacheStore, vault: Vault) -> None:
        self._inner = inner
        self._vault = vault

    @property
    def namespace(self) -> bytes:
        return self._inner.namespace

    def _seal(self, key: str, payload: bytes) -> bytes:
        version, cipher = self._vault.cache_cipher()
        nonce = secrets.token_bytes(_NONCE)
        return _VERSION.pack(version) + nonce + cipher.encrypt(nonce, payload, key.encode())

    def _open(self, key: str, sealed: bytes) -> bytes | None:
        try:
            (version,) = _VERSION.unpack(sealed[: _VERSION.size])
            _, cipher = self._vault.cache_cipher(version)
            body = sealed[_VERSION.size :]
            return cipher.decrypt(body[:_NONCE], body[_NONCE:], key.encode())
        except (struct.error, SealError, InvalidTag, ValueError):
            return None  # unreadable (a retired key, another key's value): a miss

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        opened: list[bytes | None] = []
        for key, raw in zip(keys, await self._inner.get_many(keys), strict=True):
            if raw is None:
                opened.append(None)
                continue
            version, payload = decode_entry(raw)
            if not payload:  # a fence: nothing to open
                opened.append(raw)
                continue
            plain = self._open(key, payload)
            opened.append(encode_entry(version, plain) if plain is not None else None)
        return opened

    async def put_many(
        self, entries: Sequence[Versioned], ttl_s: int, namespace: bytes | None = None
    ) -> None:
        sealed = [
            Versioned(entry.key, entry.version, self._seal(entry.key, entry.payload))
            for entry in entries
        ]
        await self._inner.put_many(sealed, ttl_s, namespace)

    async def fence(self, fences: Sequence[tuple[str, int]], ttl_s: int) -> None:
        await self._inner.fence(fences, ttl_s)

    async def close(self) -> None:
        await self._inner.close()
