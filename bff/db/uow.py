"""The SQL unit of work: one connection and one transaction per `async with` block, and what
must happen once that transaction has committed."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bff.db.changes import AfterCommit, Changes
from bff.db.failures import (
    as_unavailable,
    is_connection_failure,
    unavailable_on_connection_failure,
)
from bff.db.repositories.accounts import SqlAccounts
from bff.db.repositories.audit import SqlAudit
from bff.db.repositories.documents import SqlDocuments
from bff.db.repositories.fraud import SqlFraud
from bff.db.repositories.ledger import SqlLedger
from bff.db.repositories.notifications import SqlNotifications
from bff.db.repositories.oauth import SqlOAuth
from bff.db.repositories.privacy import SqlPrivacy
from bff.db.repositories.second_factors import SqlSecondFactors
from bff.db.repositories.security_events import SqlSecurityEvents
from bff.db.repositories.sessions import SqlSessions
from bff.db.repositories.step_up import SqlStepUp
from bff.db.repositories.throttles import SqlThrottles
from bff.db.repositories.users import SqlUsers
from bff.db.sealing import Sealing
from bff.db.sqlstate import TRANSIENT, sqlstate_of
from bff.domain.audit_models import AuditContext
from bff.domain.errors import TransientConflict


class SqlUnitOfWork:
    """Rolls back unless `commit()` was called; translates retryable failures for the domain
    (`TransientConflict`) and an unreachable server (`ServiceUnavailable`).

    Re-enterable: each `async with` opens a fresh transaction, which lets the domain retry.
    The transaction begins with the block's first SQLAlchemy statement (SQLAlchemy's
    autobegin), so a block whose only statement is the ledger's `post_once`, sent on the
    driver connection, sends no BEGIN and no COMMIT: that statement is its own transaction.
    """

    users: SqlUsers
    sessions: SqlSessions
    accounts: SqlAccounts
    ledger: SqlLedger
    throttles: SqlThrottles
    security_events: SqlSecurityEvents
    notifications: SqlNotifications
    documents: SqlDocuments
    audit: SqlAudit
    privacy: SqlPrivacy
    fraud: SqlFraud
    oauth: SqlOAuth
    second_factors: SqlSecondFactors
    step_up: SqlStepUp

    def __init__(
        self,
        engine: AsyncEngine,
        sealing: Sealing,
        after_commit: AfterCommit | None = None,
        audit_context: AuditContext | None = None,
    ) -> None:
        self._engine = engine
        self._sealing = sealing
        self._after_commit = after_commit
        # Where the request came from: every audit entry of this unit of work names it, the
        # address by its blind index.
        context = audit_context or AuditContext()
        self._audit_context = replace(context, address=sealing.address(context.address))
        self._connection: AsyncConnection | None = None
        self._changes = Changes()
        self._committed: list[Changes] = []

    async def __aenter__(self) -> Self:
        if self._connection is not None:
            raise RuntimeError("unit of work is already open")
        with unavailable_on_connection_failure():
            connection = await self._engine.connect()
        self._connection = connection
        changes = self._changes = Changes()
        sealing = self._sealing
        self.users = SqlUsers(connection, changes, sealing)
        self.sessions = SqlSessions(connection, changes, sealing)
        self.accounts = SqlAccounts(connection, changes.fences, sealing)
        self.ledger = SqlLedger(connection, changes.fences, self._audit_context, sealing)
        self.throttles = SqlThrottles(connection, sealing)
        self.security_events = SqlSecurityEvents(connection)
        self.notifications = SqlNotifications(connection)
        self.documents = SqlDocuments(connection)
        self.audit = SqlAudit(connection, self._audit_context)
        self.privacy = SqlPrivacy(connection, sealing)
        self.fraud = SqlFraud(connection, sealing)
        self.oauth = SqlOAuth(connection, changes)
        self.second_factors = SqlSecondFactors(connection, sealing)
        self.step_up = SqlStepUp(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        assert connection is not None
        try:
            if connection.in_transaction():
                await connection.rollback()
        except Exception as error:
            # A connection that is gone took its transaction with it: nothing to roll back.
            if not is_connection_failure(error):
                raise
        finally:
            await _close_quietly(connection)
        # Once the connection is back in the pool, not while holding it: the effects wait on
        # Redis, and a burst of writes must not starve the pool for that long.
        committed, self._committed = self._committed, []
        if self._after_commit is not None:
            for changes in committed:
                # Shielded: a client that hangs up right after the commit must not cancel it.
                await asyncio.shield(self._after_commit(changes))
        if exc is not None and sqlstate_of(exc) in TRANSIENT:
            raise TransientConflict(str(getattr(exc, "orig", exc))) from exc
        unavailable = as_unavailable(exc) if exc is not None else None
        if unavailable is not None and unavailable is not exc:
            raise unavailable from exc

    async def commit(self) -> None:
        assert self._connection is not None, "commit() outside of the unit of work"
        # If the connection drops during COMMIT the outcome is unknown: only idempotent writes,
        # whose replay finds what did commit, retry it. A block that sent no SQLAlchemy
        # statement began no transaction, and has nothing to send.
        if self._connection.in_transaction():
            with unavailable_on_connection_failure():
                await self._connection.commit()
        changes, self._changes = self._changes, Changes()
        # After commit, not before: a reader must not re-cache what the commit replaces. The
        # effects run when the block ends (see __aexit__), before its caller sees the result.
        if changes:
            self._committed.append(changes)


async def _close_quietly(connection: AsyncConnection) -> None:
    """Return the connection to the pool; one that is already gone is only discarded."""
    try:
        await connection.close()
    except Exception as error:
        if not is_connection_failure(error):
            raise
