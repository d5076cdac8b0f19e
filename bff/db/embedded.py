"""An embedded PostgreSQL (the `pgserver` wheel) for machines without a database server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start PostgreSQL in `data_dir/pgdata`, yield its URL, and stop it on exit unless another
    process (say, a `bff serve` in another terminal) had already started it."""
    # Imported lazily: only development without DATABASE_URL needs them.
    import pgserver
    from pgserver._commands import pg_ctl

    pgdata = data_dir.resolve() / "pgdata"
    data_dir.mkdir(parents=True, exist_ok=True)
    already_running = (pgdata / "postmaster.pid").exists()
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    try:
        yield str(server.get_uri())
    finally:
        # pgserver's own "stop with the last handle" bookkeeping does not stop it reliably, so
        # the process that started the server stops it.
        if not already_running:
            pg_ctl(["-w", "stop"], pgdata=pgdata, user=server.system_user)
