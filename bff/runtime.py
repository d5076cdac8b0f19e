"""Long-lived resources of one server process: settings, database, keys, actor resolution,
caches, broker and relay, and what happens after a commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bff.auth.actors import ActorResolver
from bff.auth.keys import KeyRing, KeyStore, load_key_ring_file, parse_key_ring
from bff.auth.tokens import TokenIssuer
from bff.broker import Broker, user_channel
from bff.broker.memory import MemoryBroker
from bff.broker.redis import RedisBroker
from bff.cache import CacheStore
from bff.cache.memory import MemoryStore
from bff.cache.read_through import ReadThrough
from bff.cache.redis import RedisStore
from bff.cache.responses import ResponseCache
from bff.cache.sealed import SealedStore
from bff.config import Settings
from bff.crypto.envelope import Vault
from bff.db.changes import Changes
from bff.db.database import Database
from bff.db.observed import relay_lag_s
from bff.db.uow import SqlUnitOfWork
from bff.domain.audit_models import AuditContext
from bff.domain.fraud import Screener
from bff.fraud import model
from bff.holds import hold_expiry
from bff.metrics.fraud import count_fraud_decision
from bff.metrics.sampler import Sampler
from bff.notify.service import Notifications
from bff.partitions import partition_upkeep
from bff.periodic import Periodic
from bff.ratelimit import Limiter
from bff.ratelimit.buckets import CostBuckets, MemoryCostBuckets, RedisCostBuckets
from bff.ratelimit.limiters import MemoryLimiter, RedisLimiter
from bff.ratelimit.overdrawn import Overdrawn
from bff.ratelimit.refusal_charges import RefusalCharges
from bff.redis import connect_redis, connect_redis_listener
from bff.relay import OutboxRelay

log = logging.getLogger("bff.runtime")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    database: Database
    tokens: TokenIssuer
    actors: ActorResolver
    broker: Broker
    relay: OutboxRelay
    redis: Redis | None
    cache: ReadThrough | None
    responses: ResponseCache | None
    limiter: Limiter | None
    notifications: Notifications
    sampler: Sampler
    sampling: Periodic
    holds: Periodic
    partitions: Periodic
    # None when screening is off, or no model file exists yet (`bff fraud train` makes one).
    screener: Screener | None
    cost_buckets: CostBuckets | None = None
    overdrawn: Overdrawn = field(default_factory=Overdrawn)
    # What refused documents owe the cost buckets, taken together (None without buckets).
    refusal_charges: RefusalCharges | None = None

    def unit_of_work(self, audit: AuditContext | None = None) -> SqlUnitOfWork:
        """A unit of work whose audit entries name `audit` as where the request came from."""
        return self.database.unit_of_work(self._after_commit, audit)

    async def _after_commit(self, changes: Changes) -> None:
        """Make a commit's changes known: retire the cache entries it replaced (a read after the
        write sees it, in every process), and tell live streams in every process whose user's
        sessions or roles changed to re-check."""
        if self.cache is not None and changes.fences:
            await self.cache.fence(changes.fences)
        for user_id in changes.users:
            await self._user_changed(user_id)

    async def _user_changed(self, user_id: UUID) -> None:
        self.actors.forget_user(user_id)
        try:
            await self.broker.publish(user_channel(user_id), b"")
        except (RedisError, OSError) as error:
            # Streams still end when their token expires; requests are not affected.
            log.warning("could not announce a user change", extra={"error": str(error)})

    async def start(self) -> None:
        """Start the background work of a serving process (the outbox relay, customer events)."""
        self.relay.start()
        self.notifications.start_for_server()
        self.sampling.start()
        self.holds.start()
        self.partitions.start()

    async def close(self) -> None:
        await self.sampling.stop()
        await self.relay.stop()
        await self.holds.stop()
        await self.partitions.stop()
        await self.notifications.close()
        await self.broker.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.dispose()


def key_ring_loader(settings: Settings) -> partial[KeyRing]:
    """How to (re)read the key ring: from BFF_JWT_KEYS when set, else from the ring file."""
    if settings.jwt_keys:
        return partial(parse_key_ring, settings.jwt_keys, production=settings.is_production)
    return partial(load_key_ring_file, settings.keys_file, production=settings.is_production)


def build_runtime(settings: Settings, database_url: str) -> Runtime:
    database = Database(settings, database_url)
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    cache = _cache(settings, redis, database.sealing.vault)
    broker: Broker = (
        RedisBroker(redis, connect_redis_listener(settings.redis_url))
        if redis is not None and settings.redis_url
        else MemoryBroker()
    )
    responses = _responses(settings, cache)
    sampler = _sampler(settings, database, cache, responses)
    limiter, cost_buckets = _rate_limits(settings, redis)
    overdrawn = Overdrawn(settings.cost_refusal_strikes, settings.cost_refusal_penalty_s)
    runtime = Runtime(
        settings=settings,
        database=database,
        tokens=TokenIssuer(
            keys=KeyStore(key_ring_loader(settings)),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=timedelta(seconds=settings.access_token_ttl_s),
        ),
        actors=ActorResolver(database.reads, settings.session_cache_ttl_s),
        broker=broker,
        relay=OutboxRelay(
            database.plain_url,
            broker,
            database.sealing,
            cache,
            connect_timeout_s=settings.db_connect_timeout_s,
        ),
        redis=redis,
        cache=cache,
        responses=responses,
        limiter=limiter,
        notifications=Notifications(settings, database),
        sampler=sampler,
        sampling=sampler.job(),
        holds=hold_expiry(lambda: runtime.unit_of_work(), settings.hold_expiry_poll_s),
        partitions=partition_upkeep(
            database.engine, settings.partition_months_ahead, settings.partition_check_s
        ),
        screener=_screener(settings),
        cost_buckets=cost_buckets,
        overdrawn=overdrawn,
        refusal_charges=RefusalCharges(cost_buckets, overdrawn) if cost_buckets else None,
    )
    return runtime


def _sampler(
    settings: Settings,
    database: Database,
    cache: ReadThrough | None,
    responses: ResponseCache | None,
) -> Sampler:
    store = cache.store if cache is not None else None
    return Sampler(
        engines={
            "primary": database.engine,
            **({"replica": database.replica.engine} if database.replica else {}),
        },
        capacity=settings.db_pool_size + settings.db_max_overflow,
        relay_lag_s=partial(relay_lag_s, database.read_engine),
        caches={"loader": cache, "response": responses},
        breaker_open=lambda: isinstance(store, RedisStore) and store.circuit_open,
        replica_lag_s=database.replica.measure_lag if database.replica else None,
    )


def _screener(settings: Settings) -> Screener | None:
    path = settings.fraud_model_path
    if not settings.fraud_screening:
        return None
    if not path.exists():
        # `bff serve` trains one at first start; other commands move no money and need none.
        log.info("no fraud model file: transfers are not screened", extra={"path": str(path)})
        return None
    return Screener(
        model.load(path), settings.hold_ttl_s, settings.step_up_ttl_s, decided=count_fraud_decision
    )


def _rate_limits(
    settings: Settings, redis: Redis | None
) -> tuple[Limiter | None, CostBuckets | None]:
    """The attempt counters and the cost buckets (one store: a mutation spends both at once)."""
    if not settings.rate_limits_enabled:
        return None, None
    if redis is not None:
        return RedisLimiter(redis), RedisCostBuckets(redis)
    buckets = MemoryCostBuckets()
    return MemoryLimiter(buckets), buckets


def _cache(settings: Settings, redis: Redis | None, vault: Vault) -> ReadThrough | None:
    if not settings.cache_enabled:
        return None
    # What is shared through Redis is sealed; process memory is the process's own.
    store: CacheStore = (
        SealedStore(RedisStore(redis), vault)
        if redis is not None
        else MemoryStore(settings.cache_ttl_s)
    )
    return ReadThrough(store, settings.cache_ttl_s)


def _responses(settings: Settings, cache: ReadThrough | None) -> ResponseCache | None:
    if cache is None or not settings.response_cache_enabled:
        return None
    return ResponseCache(cache.store, settings.cache_ttl_s)
