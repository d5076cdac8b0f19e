"""Signed anchors of the audit chains: the head (position and hash) of every chain, signed with
an Ed25519 key, to be kept outside the database. A later verification against an anchor shows
that nothing up to those heads was rewritten, even by someone who recomputed every hash."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

Head = tuple[int, int, str]  # chain, position, hash


class AnchorError(Exception):
    """The anchor key or an anchor document is missing, malformed, or does not verify."""


def load_anchor_key(path: Path, *, production: bool) -> Ed25519PrivateKey:
    """The signing key from its PEM file; in development a missing one is generated (mode 0600)."""
    if not path.exists():
        if production:
            raise AnchorError(f"audit anchor key {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as error:
        raise AnchorError(f"malformed audit anchor key {path}: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorError("the audit anchor key must be an Ed25519 key")
    return key


def _canonical(statement: dict[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def _raw_public(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def sign_heads(heads: Sequence[Head], entries: int, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The anchor document: the statement (heads, entry count, time) and its signature."""
    statement = {
        "heads": [{"chain": c, "position": p, "hash": h} for c, p, h in heads],
        "entries": entries,
        "signed_at": datetime.now(UTC).isoformat(),
    }
    return {
        "statement": statement,
        "signature": base64.b64encode(key.sign(_canonical(statement))).decode(),
        "public_key": _raw_public(key.public_key()),
    }


def anchored_heads(document: dict[str, Any], key: Ed25519PublicKey) -> list[Head]:
    """The heads an anchor vouches for, once its signature verifies under `key` (the configured
    key, never the one the document names)."""
    try:
        statement = document["statement"]
        signature = base64.b64decode(document["signature"])
        key.verify(signature, _canonical(statement))
        return [(h["chain"], h["position"], h["hash"]) for h in statement["heads"]]
    except InvalidSignature:
        raise AnchorError("the anchor's signature does not verify under the anchor key") from None
    except (KeyError, TypeError, ValueError) as error:
        raise AnchorError(f"malformed anchor: {error}") from None
