"""An embedded PostgreSQL (the `pgserver` wheel) for machines without a database server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start PostgreSQL in `data_dir/pgdata`, yield its URL, stop it on exit."""
    import pgserver  # imported lazily: only development without DATABASE_URL needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir.resolve() / "pgdata", cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
