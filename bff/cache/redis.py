"""The Redis cache store, shared by every process, and safe when Redis fails.

Calls have short timeouts and pass through a circuit breaker: after a failure the store refuses
at once (callers fall back to PostgreSQL) and probes again after a growing delay, so an outage
causes no reconnect storm. Fences that could not be written during an outage may leave stale
entries behind, so the first successful call after a failure moves every process to a new key
namespace (an epoch bump): nothing written before the outage is read again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bff.cache import CacheUnavailable, Versioned, encode_entry

EPOCH_KEY = "bff:cache:epoch"
KEY_PREFIX = "bff:c"  # then the epoch, a colon and the entry's key

# Store a value unless the key holds a newer version, or the same version with a value.
# Only while KEYS[1], the epoch, still names the namespace the caller read in (ARGV[2]): a value
# read from PostgreSQL before another process moved every process on may be older than a fence
# that was lost, and must not reach the new namespace. ARGV[1] is the TTL.
_PUT = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[2] then
  return
end
for i = 2, #KEYS do
  local key = KEYS[i]
  local version = tonumber(ARGV[2 * i - 1])
  local current = redis.call('GET', key)
  local store = true
  if current then
    local bar = string.find(current, '|', 1, true)
    local current_version = tonumber(string.sub(current, 1, bar - 1))
    local has_value = bar < string.len(current)
    store = version > current_version or (version == current_version and not has_value)
  end
  if store then
    redis.call('SET', key, ARGV[2 * i], 'EX', ARGV[1])
  end
end
"""
# Leave a tombstone unless the key already holds this version or a newer one, in the namespace
# of the current epoch as Redis has it (not as this process last saw it: another process may
# have moved everyone on since). KEYS[1] is the epoch; ARGV is the TTL, then key/version pairs.
# The entry keys are built here, so this script assumes one Redis, not a cluster.
_FENCE = """
local epoch = redis.call('GET', KEYS[1]) or '0'
for i = 2, #ARGV, 2 do
  local key = '{prefix}' .. epoch .. ':' .. ARGV[i]
  local version = tonumber(ARGV[i + 1])
  local current = redis.call('GET', key)
  local older = not current
  if current then
    older = tonumber(string.sub(current, 1, string.find(current, '|', 1, true) - 1)) < version
  end
  if older then
    redis.call('SET', key, version .. '|', 'EX', ARGV[1])
  end
end
return epoch
""".replace("{prefix}", KEY_PREFIX)


class CircuitBreaker:
    """Closed until a failure; then open for a delay that doubles up to `max_delay_s`."""

    def __init__(self, first_delay_s: float = 0.5, max_delay_s: float = 5.0) -> None:
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._delay_s = 0.0
        self._open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self._open_until:
            raise CacheUnavailable("circuit open")

    def failed(self) -> None:
        self._delay_s = min(self._max_delay_s, max(self._first_delay_s, self._delay_s * 2))
        self._open_until = time.monotonic() + self._delay_s

    def succeeded(self) -> None:
        self._delay_s = 0.0

    @property
    def tripped(self) -> bool:
        return self._delay_s > 0


class RedisStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._breaker = CircuitBreaker()
        self._epoch: bytes = b"0"
        self._put = redis.register_script(_PUT)
        self._fence = redis.register_script(_FENCE)
        # A fence was lost: the next successful call must move to a new epoch first.
        self._fence_lost = False

    @property
    def circuit_open(self) -> bool:
        """Whether failures have tripped the breaker (for the metrics)."""
        return self._breaker.tripped

    def _key(self, key: str, namespace: bytes | None = None) -> str:
        return f"{KEY_PREFIX}{(namespace or self._epoch).decode()}:{key}"

    @property
    def namespace(self) -> bytes:
        return self._epoch

    async def _guarded_epoch(self) -> None:
        self._breaker.check()
        if self._fence_lost:
            self._epoch = str(await self._redis.incr(EPOCH_KEY)).encode()
            self._fence_lost = False

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        try:
            await self._guarded_epoch()
            values = await self._redis.mget([EPOCH_KEY, *map(self._key, keys)])
        except (RedisError, OSError) as error:
            self._breaker.failed()
            raise CacheUnavailable(str(error)) from error
        self._breaker.succeeded()
        epoch = values[0] if isinstance(values[0], bytes) else b"0"
        if epoch != self._epoch:
            # Another process moved on after an outage: everything read here is from before.
            self._epoch = epoch
            return [None] * len(keys)
        return [value if isinstance(value, bytes) else None for value in values[1:]]

    async def put_many(
        self, entries: Sequence[Versioned], ttl_s: int, namespace: bytes | None = None
    ) -> None:
        if not entries:
            return
        namespace = namespace or self._epoch
        arguments: list[bytes | int] = [ttl_s, namespace]
        for entry in entries:
            arguments += [entry.version, encode_entry(entry.version, entry.payload)]
        keys = [EPOCH_KEY, *(self._key(entry.key, namespace) for entry in entries)]
        try:
            await self._guarded_epoch()
            await self._put(keys=keys, args=arguments)
        except (RedisError, OSError) as error:
            self._breaker.failed()
            raise CacheUnavailable(str(error)) from error
        self._breaker.succeeded()

    async def fence(self, fences: Sequence[tuple[str, int]], ttl_s: int) -> None:
        if not fences:
            return
        arguments: list[str | int] = [ttl_s]
        for key, version in fences:
            arguments += [key, version]
        try:
            await self._guarded_epoch()
            epoch = await self._fence(keys=[EPOCH_KEY], args=arguments)
        except (RedisError, OSError, CacheUnavailable) as error:
            self._fence_lost = True
            if not isinstance(error, CacheUnavailable):
                self._breaker.failed()
            raise CacheUnavailable(str(error)) from error
        self._breaker.succeeded()
        self._epoch = epoch if isinstance(epoch, bytes) else str(epoch).encode()

    async def close(self) -> None:
        """The Redis client belongs to the runtime, which closes it."""
