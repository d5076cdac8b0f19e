"""Which PostgreSQL to use: the configured one, or an embedded one in development."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bff.config import Settings
from bff.db.embedded import embedded_postgres


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """Yield the database URL; an embedded server lives exactly as long as the block."""
    if settings.database_url:
        yield settings.database_url
        return
    # Settings refuse production without DATABASE_URL, so only development gets here.
    with embedded_postgres(settings.data_dir) as url:
        yield url
