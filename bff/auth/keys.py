"""The JWT key ring: Ed25519 keys named by their RFC 7638 thumbprint (`kid`).

The newest key signs; every key in the ring verifies, so adding a key (`bff keys rotate`) never
invalidates tokens that are still within their lifetime. Running servers re-read the ring, so a
rotation reaches them without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import OKPAlgorithm

log = logging.getLogger("bff.keys")


class KeyRingError(Exception):
    """The key ring is missing, malformed, or not acceptable in this environment."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class KeyRing:
    current: SigningKey
    public_keys: dict[str, Ed25519PublicKey]
    development: bool


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint: SHA-256 of the key's required members, canonically ordered."""
    jwk = _jwk(public_key)
    canonical = json.dumps({name: jwk[name] for name in ("crv", "kty", "x")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _jwk(public_key: Ed25519PublicKey) -> dict[str, Any]:
    return OKPAlgorithm.to_jwk(public_key, as_dict=True)


def _new_key_entry() -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return {
        "kid": thumbprint(key.public_key()),
        "private_key_pem": pem.decode(),
        "created_at": datetime.now(UTC).isoformat(),
    }


def parse_key_ring(raw: str, *, production: bool) -> KeyRing:
    """A ring from its JSON form: `{"keys": [{"kid", "private_key_pem", "created_at"}, ...]}`."""
    try:
        data = json.loads(raw)
        signing: list[SigningKey] = []
        for entry in data["keys"]:
            private_key = load_pem_private_key(entry["private_key_pem"].encode(), password=None)
            if not isinstance(private_key, Ed25519PrivateKey):
                raise KeyRingError("only Ed25519 keys are accepted")
            if entry["kid"] != thumbprint(private_key.public_key()):
                raise KeyRingError(f"kid {entry['kid']!r} is not the key's thumbprint")
            signing.append(SigningKey(entry["kid"], private_key))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise KeyRingError(f"malformed key ring: {error}") from error
    if not signing:
        raise KeyRingError("the key ring holds no key")
    ring = KeyRing(
        current=signing[-1],
        public_keys={key.kid: key.private_key.public_key() for key in signing},
        development=bool(data.get("development", False)),
    )
    if production and ring.development:
        raise KeyRingError("refusing a development key ring in production")
    return ring


def load_key_ring_file(path: Path, *, production: bool) -> KeyRing:
    """Read the ring file; in development a missing ring is generated (and marked as such)."""
    if not path.exists():
        if production:
            raise KeyRingError(
                f"key ring {path} does not exist (create one with `bff keys create --file {path}`)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, {"development": True, "keys": [_new_key_entry()]})
    return parse_key_ring(path.read_text(), production=production)


def create_key_ring_file(path: Path) -> str:
    """Write a new ring of one signing key to `path`, readable by its owner only and acceptable in
    production; refuses to replace an existing file. Returns the key's kid."""
    entry = _new_key_entry()
    try:
        # O_EXCL: an existing ring (whose keys still verify live tokens) is never replaced.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyRingError(
            f"{path} already exists: add a key with `bff keys rotate`, or remove the file first"
        ) from None
    with os.fdopen(fd, "w") as handle:
        json.dump({"keys": [entry]}, handle, indent=2)
    return str(entry["kid"])


def rotate_key_ring_file(path: Path, *, production: bool) -> str:
    """Append a new signing key to the ring file; older keys keep verifying. Returns its kid."""
    load_key_ring_file(path, production=production)  # refuses a missing or malformed ring
    data = json.loads(path.read_text())
    entry = _new_key_entry()
    data["keys"].append(entry)
    _write(path, data)
    return str(entry["kid"])


def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    temporary.replace(path)


class KeyStore:
    """The live ring. It is re-read every `refresh_s` seconds (so a rotated-in key starts
    signing) and when a token names an unknown key, at most once a second (so tokens signed by
    a server that already rotated verify here too)."""

    def __init__(self, load: Callable[[], KeyRing], refresh_s: float = 30.0) -> None:
        self._load = load
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._ring = load()
        self._loaded_at = time.monotonic()

    def _reload_if_older_than(self, age_s: float) -> KeyRing:
        with self._lock:
            if time.monotonic() - self._loaded_at >= age_s:
                self._loaded_at = time.monotonic()
                try:
                    self._ring = self._load()
                except (KeyRingError, OSError) as error:
                    # A broken edit of the ring must not take the service down: keep the last
                    # good ring until the file is fixed.
                    log.error("key ring reload failed, keeping the loaded ring: %s", error)
            return self._ring

    @property
    def signing_key(self) -> SigningKey:
        return self._reload_if_older_than(self._refresh_s).current

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._ring.public_keys.get(kid)
        if key is None:
            key = self._reload_if_older_than(1.0).public_keys.get(kid)
        return key

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set, for `/.well-known/jwks.json`."""
        ring = self._reload_if_older_than(self._refresh_s)
        return {
            "keys": [
                {**_jwk(key), "kid": kid, "alg": "EdDSA", "use": "sig"}
                for kid, key in ring.public_keys.items()
            ]
        }
