"""Where the tests' PostgreSQL comes from: the machine's server when reachable, else embedded."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

from bff.db.engine import postgres_reachable

SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def _embedded(data_dir: Path) -> Iterator[str]:
    from bff.db.embedded import embedded_postgres

    with embedded_postgres(data_dir) as url:
        yield url


@asynccontextmanager
async def fresh_database(scratch: Path) -> AsyncIterator[str]:
    """A new, empty database for this test run, dropped afterwards."""
    if await postgres_reachable(SERVER_URL):
        name = f"bff_test_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(SERVER_URL)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        try:
            yield SERVER_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin = await asyncpg.connect(SERVER_URL)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
        return
    if in_ci():
        raise RuntimeError(f"CI=true but PostgreSQL at {SERVER_URL} is unreachable")
    with _embedded(scratch) as url:
        yield url


async def require_redis(url: str) -> None:
    """Redis at `url` answers; otherwise the test is skipped, or fails when CI=true."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        if in_ci():
            raise RuntimeError(f"CI=true but Redis at {url} is unreachable: {error}") from error
        import pytest

        pytest.skip(f"Redis at {url} is unreachable: {error}")
    finally:
        await client.aclose()
