"""The data key ring: versioned AES-256 key-encryption keys (KEKs) that wrap each customer's data
key, and the HMAC key of the blind indexes.

Like the JWT ring it is a file (or an environment variable) in production and generated into the
data directory in development. The newest key that is not retired wraps new data keys; every key
in the ring unwraps. `bff keys rotate-data` appends a key, `bff keys rewrap` moves every data key
onto it, and `bff keys retire-data` drops a version that no data key uses any more.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bff.config import Settings


class DataKeyRingError(Exception):
    """The data key ring is missing, malformed, or not acceptable in this environment."""


@dataclass(frozen=True, slots=True)
class DataKeyRing:
    keks: dict[int, bytes]
    current_version: int
    index_key: bytes
    development: bool

    @property
    def current(self) -> bytes:
        return self.keks[self.current_version]


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _kek_entry(version: int) -> dict[str, Any]:
    return {"version": version, "key": _new_key(), "created_at": datetime.now(UTC).isoformat()}


def parse_data_key_ring(raw: str, *, production: bool) -> DataKeyRing:
    """A ring from its JSON form: `{"keys": [{"version", "key", "created_at"}], "index_key"}`,
    keys base64 of 32 random bytes."""
    try:
        data = json.loads(raw)
        keks = {int(entry["version"]): base64.b64decode(entry["key"]) for entry in data["keys"]}
        index_key = base64.b64decode(data["index_key"])
    except (KeyError, TypeError, ValueError) as error:
        raise DataKeyRingError(f"malformed data key ring: {error}") from None
    if not keks:
        raise DataKeyRingError("the data key ring holds no key")
    if any(len(key) != 32 for key in (*keks.values(), index_key)):
        raise DataKeyRingError("data keys are 32 bytes (AES-256, HMAC-SHA256)")
    development = bool(data.get("development", False))
    if production and development:
        raise DataKeyRingError("refusing a development data key ring in production")
    return DataKeyRing(keks, max(keks), index_key, development)


def load_data_key_ring_file(path: Path, *, production: bool) -> DataKeyRing:
    """Read the ring file; in development a missing ring is generated (and marked as such)."""
    if not path.exists():
        if production:
            raise DataKeyRingError(
                f"data key ring {path} does not exist (create one with "
                f"`bff keys create-data --file {path}`)"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"development": True, "keys": [_kek_entry(1)], "index_key": _new_key()}
        _write(path, data, exclusive=True)
    return parse_data_key_ring(path.read_text(), production=production)


def create_data_key_ring_file(path: Path) -> None:
    """A new production ring (one KEK, one index key), mode 0600; never replaces a file."""
    try:
        _write(path, {"keys": [_kek_entry(1)], "index_key": _new_key()}, exclusive=True)
    except FileExistsError:
        raise DataKeyRingError(f"{path} already exists") from None


def next_data_key_version(path: Path, *, production: bool) -> int:
    """The version the next rotation of the ring at `path` adds."""
    return max(load_data_key_ring_file(path, production=production).keks) + 1


def rotate_data_key_ring_file(path: Path, version: int, *, production: bool) -> None:
    """Append KEK `version` (the next one); it wraps every data key created from now on."""
    if version != next_data_key_version(path, production=production):
        raise DataKeyRingError(f"the ring changed meanwhile: version {version} is not next")
    data = json.loads(path.read_text())
    data["keys"].append(_kek_entry(version))
    _write(path, data)


def retire_from_ring_file(path: Path, version: int, *, production: bool) -> None:
    """Remove KEK `version` (the caller has checked that no data key uses it)."""
    ring = load_data_key_ring_file(path, production=production)
    if version == ring.current_version:
        raise DataKeyRingError(f"version {version} is the current key: rotate first")
    if version not in ring.keks:
        raise DataKeyRingError(f"the ring holds no version {version}")
    data = json.loads(path.read_text())
    data["keys"] = [entry for entry in data["keys"] if int(entry["version"]) != version]
    _write(path, data)


def _write(path: Path, data: dict[str, Any], *, exclusive: bool = False) -> None:
    if exclusive:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        return
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    temporary.replace(path)


class DataKeyStore:
    """The live ring, re-read every `refresh_s` seconds (the file is small, so a rotated-in KEK
    wraps new data keys within a second) and when a wrapped key names an unknown version."""

    def __init__(self, load: Callable[[], DataKeyRing], refresh_s: float = 1.0) -> None:
        self._load = load
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._ring = load()
        self._loaded_at = time.monotonic()

    def _reload_if_older_than(self, age_s: float) -> DataKeyRing:
        with self._lock:
            if time.monotonic() - self._loaded_at >= age_s:
                self._loaded_at = time.monotonic()
                # A broken edit keeps the last good ring until the file is fixed.
                with suppress(DataKeyRingError, OSError):
                    self._ring = self._load()
            return self._ring

    @property
    def ring(self) -> DataKeyRing:
        return self._reload_if_older_than(self._refresh_s)

    def kek(self, version: int) -> bytes | None:
        key = self._ring.keks.get(version)
        if key is None:
            key = self._reload_if_older_than(1.0).keks.get(version)
        return key

    def reload(self) -> DataKeyRing:
        return self._reload_if_older_than(0.0)


def data_key_loader(settings: Settings) -> Callable[[], DataKeyRing]:
    """How to (re)read the ring: from BFF_DATA_KEYS when set, else from the ring file."""
    production = settings.is_production
    if settings.data_keys:
        return partial(parse_data_key_ring, settings.data_keys, production=production)
    return partial(load_data_key_ring_file, settings.data_keys_path, production=production)
