"""The JWT key ring: Ed25519 keys named by their RFC 7638 thumbprint (`kid`).

The newest key signs; every key in the ring verifies, so adding a key never invalidates tokens
that are still within their lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
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


class KeyRingError(Exception):
    """The key ring file is missing, malformed, or not acceptable in this environment."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class KeyRing:
    current: SigningKey
    public_keys: dict[str, Ed25519PublicKey]
    development: bool

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self.public_keys.get(kid)


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint: SHA-256 of the key's required members, canonically ordered."""
    jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps({name: jwk[name] for name in ("crv", "kty", "x")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _new_key_entry() -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return {
        "kid": thumbprint(key.public_key()),
        "private_key_pem": pem.decode(),
        "created_at": datetime.now(UTC).isoformat(),
    }


def _parse(data: dict[str, Any]) -> KeyRing:
    try:
        entries = data["keys"]
        signing: list[SigningKey] = []
        for entry in entries:
            private_key = load_pem_private_key(entry["private_key_pem"].encode(), password=None)
            if not isinstance(private_key, Ed25519PrivateKey):
                raise KeyRingError("only Ed25519 keys are accepted")
            signing.append(SigningKey(entry["kid"], private_key))
    except (KeyError, TypeError, ValueError) as error:
        raise KeyRingError(f"malformed key ring: {error}") from error
    if not signing:
        raise KeyRingError("the key ring holds no key")
    return KeyRing(
        current=signing[-1],
        public_keys={key.kid: key.private_key.public_key() for key in signing},
        development=bool(data.get("development", False)),
    )


def load_key_ring(path: Path, *, production: bool) -> KeyRing:
    """Read the ring; in development a missing ring is generated (and marked as such)."""
    if not path.exists():
        if production:
            raise KeyRingError(f"key ring {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, {"development": True, "keys": [_new_key_entry()]})
    ring = _parse(json.loads(path.read_text()))
    if production and ring.development:
        raise KeyRingError("refusing a development key ring in production")
    return ring


def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    temporary.replace(path)
