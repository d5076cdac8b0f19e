"""Which PostgreSQL to use: the configured one, or an embedded one in development."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from bff.config import Settings
from bff.db.embedded import embedded_postgres
from bff.db.engine import connection_error, plain_postgres_url

PROBE_TIMEOUT_S = 5.0


class DatabaseUnavailable(Exception):
    """The database cannot be used. The message says why in one line, without the password."""


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """Yield the URL of a database that accepts connections; an embedded server lives exactly as
    long as the block. Raises DatabaseUnavailable when the configured one does not."""
    if settings.database_url:
        check_reachable(settings.database_url, embedded_allowed=not settings.is_production)
        yield settings.database_url
        return
    if settings.is_production:
        raise DatabaseUnavailable(
            "production needs DATABASE_URL (the embedded server is for development only)"
        )
    with embedded_postgres(settings.data_dir) as url:
        yield url


def check_reachable(url: str, *, embedded_allowed: bool) -> None:
    """Open and close one connection to `url`, or raise DatabaseUnavailable saying why."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # SQLAlchemy's message repeats the URL, password included.
        raise DatabaseUnavailable("DATABASE_URL is not a postgresql:// URL") from None
    error = asyncio.run(connection_error(plain_postgres_url(url), PROBE_TIMEOUT_S))
    if error is None:
        return
    reason = _reason(error, parsed, embedded_allowed)
    if parsed.password:
        reason = reason.replace(parsed.password, "***")
    where = parsed.render_as_string(hide_password=True)
    raise DatabaseUnavailable(f"cannot use the database at {where}: {reason}")


def _reason(error: Exception, url: URL, embedded_allowed: bool) -> str:
    address = f"{url.host or 'localhost'}:{url.port or 5432}"
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        alternative = (
            ", or unset DATABASE_URL to use the embedded server" if embedded_allowed else ""
        )
        return f"{error} (create it with createdb{alternative})"
    if isinstance(error, ConnectionRefusedError):
        return f"nothing accepts connections at {address} (is PostgreSQL running there?)"
    if isinstance(error, socket.gaierror):
        return f"unknown host {url.host!r} ({error.strerror})"
    if isinstance(error, TimeoutError):
        return f"no answer from {address} within {PROBE_TIMEOUT_S:g} s"
    return " ".join(str(error).split()) or type(error).__name__
