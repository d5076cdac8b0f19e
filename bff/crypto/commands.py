"""`bff keys create-data | rotate-data | rewrap | retire-data`: the data key ring's life."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bff.config import Settings
from bff.crypto.ring import (
    DataKeyRingError,
    create_data_key_ring_file,
    next_data_key_version,
    retire_from_ring_file,
    rotate_data_key_ring_file,
)
from bff.db.data_keys import not_current, rewrap_batch
from bff.db.data_keys import retire as retire_version
from bff.db.data_keys import rotate as rotate_version
from bff.db.database import Database


def create(path: Path) -> None:
    create_data_key_ring_file(path)
    print(f"created data key ring {path} (owner-only); point BFF_DATA_KEYS_FILE at it")


def _ring_file(settings: Settings) -> Path:
    if settings.data_keys:
        raise DataKeyRingError("BFF_DATA_KEYS holds the ring: change it where that secret is kept")
    return settings.data_keys_path


def rotate(settings: Settings, url: str) -> None:
    """Add a KEK to the ring (audited)."""
    path = _ring_file(settings)
    version = next_data_key_version(path, production=settings.is_production)

    def add() -> None:
        rotate_data_key_ring_file(path, version, production=settings.is_production)

    async def run() -> None:
        database = Database(settings, url)
        try:
            await rotate_version(database.engine, version, add)
        finally:
            await database.dispose()

    asyncio.run(run())
    print(
        f"added key-encryption key version {version}; servers wrap new data keys with it within "
        "a second; `bff keys rewrap` moves the existing ones onto it"
    )


def rewrap(settings: Settings, url: str, batch: int) -> None:
    """Re-wrap every data key under the current KEK, `batch` per transaction, showing progress.
    Safe to interrupt and to run again (or twice at once): what is done stays done."""

    async def run() -> None:
        database = Database(settings, url)
        vault = database.sealing.vault
        try:
            left = await not_current(database.engine, vault)
            print(f"{left} data keys to re-wrap under version {vault.keys.ring.current_version}")
            done = 0
            while count := await rewrap_batch(database.engine, vault, batch):
                done += count
                print(f"  re-wrapped {done} of {left}", flush=True)
            print(f"done: {await not_current(database.engine, vault)} left under older versions")
        finally:
            await database.dispose()

    asyncio.run(run())


def retire(settings: Settings, url: str, version: int) -> None:
    """Drop KEK `version` from the ring, once no data key uses it (audited)."""
    path = _ring_file(settings)

    def drop() -> None:
        retire_from_ring_file(path, version, production=settings.is_production)

    async def run() -> int:
        database = Database(settings, url)
        try:
            return await retire_version(database.engine, version, drop)
        finally:
            await database.dispose()

    still = asyncio.run(run())
    if still:
        raise DataKeyRingError(
            f"{still} data keys still use version {version}: run `bff keys rewrap`"
        )
    print(f"retired key-encryption key version {version}")
