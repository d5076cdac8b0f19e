"""Long-lived resources of one server process: settings, engines, keys, actor resolution."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine

from bff.auth.actors import ActorResolver
from bff.auth.keys import KeyRing, KeyStore, load_key_ring_file, parse_key_ring
from bff.auth.tokens import TokenIssuer
from bff.config import Settings
from bff.db.engine import create_engine
from bff.db.uow import SqlUnitOfWork


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    # The same pool in autocommit mode: single reads skip BEGIN/ROLLBACK round trips.
    read_engine: AsyncEngine
    tokens: TokenIssuer
    actors: ActorResolver

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()


def key_ring_loader(settings: Settings) -> partial[KeyRing]:
    """How to (re)read the key ring: from BFF_JWT_KEYS when set, else from the ring file."""
    if settings.jwt_keys:
        return partial(_parse_json, settings.jwt_keys, settings.is_production)
    return partial(load_key_ring_file, settings.keys_file, production=settings.is_production)


def _parse_json(raw: str, production: bool) -> KeyRing:
    return parse_key_ring(json.loads(raw), production=production)


def build_runtime(settings: Settings, database_url: str) -> Runtime:
    engine = create_engine(settings, database_url)
    read_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return Runtime(
        settings=settings,
        engine=engine,
        read_engine=read_engine,
        tokens=TokenIssuer(
            keys=KeyStore(key_ring_loader(settings)),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=timedelta(seconds=settings.access_token_ttl_s),
        ),
        actors=ActorResolver(read_engine, settings.session_cache_ttl_s),
    )
