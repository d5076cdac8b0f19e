"""Which failures mean "PostgreSQL cannot be reached right now", and their one typed form,
`ServiceUnavailable`.

What each fault raised, observed against a real PostgreSQL 15 stopped, restarted, paused and
crashed under SQLAlchemy 2.1 on asyncpg 0.32 (tests/test_db_failures.py replays each one):

- nothing listens (stopped, or between the two halves of a restart): `ConnectionRefusedError`,
  an `OSError` that `engine.connect()` raises unwrapped;
- the server is starting up, or shutting down with sessions still open: asyncpg
  `CannotConnectNowError` (SQLSTATE 57P03);
- a fast shutdown while a pooled connection is idle or mid-query: SQLAlchemy `DBAPIError` with
  `connection_invalidated`, caused by asyncpg `ConnectionDoesNotExistError` (08003), caused by
  `AdminShutdownError` (57P01);
- an immediate shutdown, or a backend crash that makes the server end every session: the same
  `ConnectionDoesNotExistError` without a server message, or, when asyncpg had already seen
  the socket close, `InterfaceError("connection is closed")` (wrapped by SQLAlchemy as its
  `InterfaceError` with `connection_invalidated`; `pg_terminate_backend` looks the same);
- a paused (SIGSTOP) or partitioned server: the builtin `TimeoutError` from asyncpg's connect
  `timeout` or its `command_timeout`, unwrapped;
- every pooled connection busy for the pool timeout: `sqlalchemy.exc.TimeoutError`;
- every server connection slot taken (`max_connections`): asyncpg `TooManyConnectionsError`
  (53300), seen when several test suites shared one server.

Under load, a restart also surfaced as asyncpg `InterfaceError("cannot call
PreparedStatement.fetch(): the underlying connection is closed")` and `InternalClientError
("cannot switch to state ...; another operation is in progress")`, both wrapped by SQLAlchemy
with `connection_invalidated`. `CrashShutdownError` (57P02) was never seen (the server closed the
socket before a client read the message), but it says the same and is classified with 57P01.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bff.domain.errors import ServiceUnavailable

POSTGRESQL = "postgresql"
# A restarting server answers again within about a second.
RETRY_AFTER_S = 1

_CONNECTION_EXCEPTION = "08"  # the SQLSTATE class "connection exception"
# Admin and crash shutdown, "cannot connect now", no connection slot left.
_CANNOT_SERVE = frozenset({"57P01", "57P02", "57P03", "53300"})
_MAX_CHAIN = 8

T = TypeVar("T")


def is_connection_failure(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says the server could not be reached or went away,
    as opposed to an answer from a working server (a constraint, a timeout it enforced)."""
    for link in _causes(error):
        if isinstance(link, OSError | PoolTimeout):  # OSError includes TimeoutError
            return True
        if isinstance(link, DBAPIError) and link.connection_invalidated:
            return True
        sqlstate = getattr(link, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith(_CONNECTION_EXCEPTION) or sqlstate in _CANNOT_SERVE
        ):
            return True
        if isinstance(link, asyncpg.InterfaceError) and "connection is closed" in str(link):
            return True
    return False


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: SQLAlchemy's `orig`, and explicit `raise ... from`."""
    link: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if link is None:
            return
        yield link
        original = link.orig if isinstance(link, DBAPIError) else None
        link = original if isinstance(original, BaseException) else link.__cause__


def as_unavailable(error: BaseException) -> ServiceUnavailable | None:
    """`error` in its typed form when it means PostgreSQL is unreachable, else None."""
    if isinstance(error, ServiceUnavailable):
        return error
    if is_connection_failure(error):
        unavailable = ServiceUnavailable(POSTGRESQL, RETRY_AFTER_S)
        unavailable.__cause__ = error
        return unavailable
    return None


@contextmanager
def unavailable_on_connection_failure() -> Iterator[None]:
    """Turn a connection-level failure inside the block into `ServiceUnavailable`."""
    try:
        yield
    except Exception as error:
        unavailable = as_unavailable(error)
        if unavailable is None or unavailable is error:
            raise
        raise unavailable from error


async def retrying(
    operation: Callable[[], Awaitable[T]],
    attempts: int = 3,
    backoff_s: float = 0.05,
    budget_s: float = 1.0,
) -> T:
    """Run `operation`, a read that is safe to run again, retrying connection failures after a
    jittered pause that doubles from `backoff_s`: at most `attempts` runs, and none that would
    start after `budget_s` (a failure that took a timeout to arrive has used the bound
    already). Raises `ServiceUnavailable` when the failures persist."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            with unavailable_on_connection_failure():
                return await operation()
        except ServiceUnavailable:
            pause = backoff_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)  # noqa: S311
            if attempt >= attempts or time.monotonic() - started + pause > budget_s:
                raise
            await asyncio.sleep(pause)
