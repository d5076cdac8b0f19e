"""One process's PostgreSQL: the pooled engine for units of work, the same pool in autocommit
mode for single reads, and the read statements."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.config import Settings
from bff.crypto.envelope import Vault
from bff.crypto.ring import DataKeyStore, data_key_loader
from bff.db.changes import AfterCommit
from bff.db.customer_events import SqlCustomerEvents, customer_events
from bff.db.engine import create_engine, plain_postgres_url
from bff.db.reads import Reads
from bff.db.replica import Replica, ReplicaReads
from bff.db.sealing import Sealing
from bff.db.uow import SqlUnitOfWork
from bff.domain.audit_models import AuditContext

_PING = text("SELECT 1")


class Database:
    def __init__(self, settings: Settings, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(settings, url)
        # Single reads skip BEGIN/ROLLBACK round trips.
        self.read_engine: AsyncEngine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.sealing = Sealing(Vault(DataKeyStore(data_key_loader(settings))))
        self.replica = (
            Replica(settings, settings.database_replica_url)
            if settings.database_replica_url
            else None
        )
        self.reads: Reads = (
            ReplicaReads(self.read_engine, self.sealing, self.replica)
            if self.replica is not None
            else Reads(self.read_engine, self.sealing)
        )

    @property
    def plain_url(self) -> str:
        """The URL for asyncpg itself (the outbox relay's own session)."""
        return plain_postgres_url(self.url)

    def unit_of_work(
        self, after_commit: AfterCommit | None = None, audit: AuditContext | None = None
    ) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.sealing, after_commit, audit)

    def customer_events(self) -> AbstractAsyncContextManager[SqlCustomerEvents]:
        """A transaction of the notification workers."""
        return customer_events(self.engine)

    async def ping(self) -> None:
        """Raise unless the database answers a trivial statement."""
        async with self.read_engine.connect() as connection:
            await connection.execute(_PING)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.replica is not None:
            await self.replica.dispose()
