"""Long-lived resources of one server process: settings, engines, token issuer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bff.auth import actors
from bff.auth.keys import load_key_ring
from bff.auth.tokens import AccessClaims, TokenIssuer
from bff.config import Settings
from bff.db.engine import create_engine
from bff.db.uow import SqlUnitOfWork
from bff.domain.actor import Actor
from bff.domain.models import User


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    # The same pool in autocommit mode: single reads skip BEGIN/ROLLBACK round trips.
    read_engine: AsyncEngine
    tokens: TokenIssuer

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    async def resolve_actor(self, claims: AccessClaims) -> tuple[Actor, User] | None:
        return await actors.resolve_actor(self.read_engine, claims)

    async def close(self) -> None:
        await self.engine.dispose()


def build_runtime(settings: Settings, database_url: str) -> Runtime:
    engine = create_engine(settings, database_url)
    keys = load_key_ring(settings.keys_file, production=settings.is_production)
    return Runtime(
        settings=settings,
        engine=engine,
        read_engine=engine.execution_options(isolation_level="AUTOCOMMIT"),
        tokens=TokenIssuer(
            keys=keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=timedelta(seconds=settings.access_token_ttl_s),
        ),
    )
