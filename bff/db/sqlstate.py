"""PostgreSQL error codes the storage layer reacts to."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
LOCK_NOT_AVAILABLE = "55P03"

# Failures after which the whole transaction can simply be run again.
TRANSIENT = frozenset({SERIALIZATION_FAILURE, DEADLOCK_DETECTED, LOCK_NOT_AVAILABLE})


def sqlstate_of(error: BaseException) -> str | None:
    """The SQLSTATE of an error from the server, raised through SQLAlchemy or by asyncpg itself
    (statements sent on the driver connection); None for anything else."""
    origin = error.orig if isinstance(error, DBAPIError) else error
    sqlstate = getattr(origin, "sqlstate", None)
    return sqlstate if isinstance(sqlstate, str) else None


def constraint_of(error: DBAPIError) -> str | None:
    """The name of the violated constraint, when the driver reports it."""
    cause = getattr(error.orig, "__cause__", None)
    return getattr(cause, "constraint_name", None)
