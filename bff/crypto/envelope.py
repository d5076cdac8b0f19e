"""Envelope encryption with AES-256-GCM (the `cryptography` package): each customer has a data key,
stored only wrapped by a key-encryption key of the ring; their personal fields are sealed with it.

A sealed field is `0x01 | data key version (2 bytes) | nonce (12) | ciphertext and tag`, and its
associated data names the table, column and row, so a ciphertext copied to another row or column
does not open. Blind indexes (HMAC-SHA256 under the ring's own index key) serve the lookups that
need equality: login by email, transfer by account number.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bff.crypto.ring import DataKeyStore

_FORMAT = 1
_HEADER = struct.Struct(">BH")
_NONCE = 12


class SealError(Exception):
    """A sealed value does not open: wrong row or column, altered, or its key is gone."""


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key as stored: wrapped by KEK `kek_version`."""

    owner_id: UUID
    version: int
    kek_version: int
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class DataKey:
    owner_id: UUID
    version: int
    key: bytes


def _wrap_aad(owner_id: UUID, version: int) -> bytes:
    return b"data-key:" + owner_id.bytes + struct.pack(">H", version)


class Vault:
    """Wraps, unwraps and uses data keys with the live ring."""

    def __init__(self, keys: DataKeyStore) -> None:
        self.keys = keys
        self._cache_ciphers: dict[int, AESGCM] = {}

    def new_key(self, owner_id: UUID) -> tuple[DataKey, WrappedKey]:
        key = DataKey(owner_id, 1, AESGCM.generate_key(bit_length=256))
        return key, self.wrap(key)

    def wrap(self, key: DataKey) -> WrappedKey:
        """`key` wrapped by the current KEK."""
        ring = self.keys.ring
        nonce = secrets.token_bytes(_NONCE)
        sealed = AESGCM(ring.current).encrypt(nonce, key.key, _wrap_aad(key.owner_id, key.version))
        return WrappedKey(key.owner_id, key.version, ring.current_version, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey) -> DataKey:
        kek = self.keys.kek(wrapped.kek_version)
        if kek is None:
            raise SealError(f"KEK version {wrapped.kek_version} is not in the ring")
        nonce, sealed = wrapped.wrapped[:_NONCE], wrapped.wrapped[_NONCE:]
        try:
            key = AESGCM(kek).decrypt(nonce, sealed, _wrap_aad(wrapped.owner_id, wrapped.version))
        except InvalidTag:
            raise SealError("the data key does not unwrap") from None
        return DataKey(wrapped.owner_id, wrapped.version, key)

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key, wrapped by the current KEK."""
        return self.wrap(self.unwrap(wrapped))

    @staticmethod
    def seal(key: DataKey, field: str, row_id: UUID, plaintext: str) -> bytes:
        """`plaintext` sealed for column `field` (`table.column`) of row `row_id`."""
        nonce = secrets.token_bytes(_NONCE)
        aad = f"{field}:{row_id}".encode()
        header = _HEADER.pack(_FORMAT, key.version)
        return header + nonce + AESGCM(key.key).encrypt(nonce, plaintext.encode(), header + aad)

    @staticmethod
    def open(key: DataKey, field: str, row_id: UUID, sealed: bytes) -> str:
        """What `seal` sealed for this column and row; SealError for anything else."""
        header, rest = sealed[: _HEADER.size], sealed[_HEADER.size :]
        try:
            form, version = _HEADER.unpack(header)
        except struct.error:
            raise SealError("not a sealed value") from None
        if form != _FORMAT or version != key.version:
            raise SealError("sealed under another data key")
        aad = f"{field}:{row_id}".encode()
        try:
            return AESGCM(key.key).decrypt(rest[:_NONCE], rest[_NONCE:], header + aad).decode()
        except InvalidTag:
            raise SealError(f"the value does not open as {field} of this row") from None

    def index(self, purpose: str, value: str) -> bytes:
        """The blind index of `value` for `purpose` (`email`, `account_number`, `address`)."""
        message = purpose.encode() + b"\x00" + value.encode()
        return hmac.new(self.keys.ring.index_key, message, hashlib.sha256).digest()

    def cache_cipher(self, kek_version: int | None = None) -> tuple[int, AESGCM]:
        """The cipher that seals cache entries, keyed from KEK `kek_version` (the current one by
        default), with that version: a KEK that leaves the ring takes its cache entries along."""
        version = kek_version or self.keys.ring.current_version
        cipher = self._cache_ciphers.get(version)
        if cipher is None:
            kek = self.keys.kek(version)
            if kek is None:
                raise SealError(f"KEK version {version} is not in the ring")
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"bff cache")
            cipher = self._cache_ciphers[version] = AESGCM(hkdf.derive(kek))
        return version, cipher
