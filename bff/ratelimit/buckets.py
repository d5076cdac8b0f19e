"""Leaky buckets of query cost, one per principal: a bucket holds up to `capacity` points and
refills at `restore_rate` points per second; an operation takes its cost from it or is refused
whole (Shopify's calculated query cost throttle). In Redis, one atomic Lua script per take (the
clock is the Redis server's, shared by every process); in process memory without Redis."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bff.ratelimit import Bucket, LimiterUnavailable


@dataclass(frozen=True, slots=True)
class Throttle:
    """The outcome of a take: whether it was allowed, and the bucket's state after it."""

    allowed: bool
    available: float
    bucket: Bucket

    def wait_for(self, cost: int) -> int:
        """Whole seconds until a take of `cost` could succeed (at least 1)."""
        return max(1, math.ceil(self.seconds_until(cost)))

    def seconds_until(self, cost: int) -> float:
        """Seconds until the bucket holds `cost` again (0 when it does now)."""
        return max(0.0, cost - self.available) / self.bucket.restore_rate


class CostBuckets(Protocol):
    async def take(self, key: str, cost: int, bucket: Bucket) -> Throttle:
        """Take `cost` points from the key's bucket if it holds them; the bucket after."""
        ...


# The take as a Lua function, for this module's script and the rate limiter's (which spends a
# mutation's attempts and then takes its cost in the same round trip).
TAKE_FUNCTION = """
local function take(key, cost, capacity, rate)
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  local state = redis.call('HMGET', key, 'available', 'at')
  local available = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  available = math.min(capacity, available + math.max(0, now - at) * rate)
  local allowed = 0
  if cost <= available then
    available = available - cost
    allowed = 1
  end
  redis.call('HSET', key, 'available', tostring(available), 'at', tostring(now))
  redis.call('EXPIRE', key, math.ceil(capacity / rate) + 1)
  return {allowed, tostring(available)}
end
"""

_TAKE = (
    TAKE_FUNCTION
    + "return take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))\n"
)


def bucket_key(key: str) -> str:
    """The Redis key of a principal's bucket."""
    return f"bff:cost:{key}"


class RedisCostBuckets:
    def __init__(self, redis: Redis) -> None:
        self._take = redis.register_script(_TAKE)

    async def take(self, key: str, cost: int, bucket: Bucket) -> Throttle:
        try:
            allowed, available = await self._take(
                keys=[bucket_key(key)], args=[cost, bucket.capacity, bucket.restore_rate]
            )
        except (RedisError, OSError) as error:
            raise LimiterUnavailable(str(error)) from error
        return Throttle(bool(allowed), float(available), bucket)


class MemoryCostBuckets:
    _MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._levels: dict[str, tuple[float, float]] = {}  # key -> (available, at)

    async def take(self, key: str, cost: int, bucket: Bucket) -> Throttle:
        now = time.monotonic()
        available, at = self._levels.get(key, (float(bucket.capacity), now))
        available = min(float(bucket.capacity), available + (now - at) * bucket.restore_rate)
        allowed = cost <= available
        if allowed:
            available -= cost
        self._levels[key] = (available, now)
        if len(self._levels) > self._MAX_KEYS:
            # Forget the buckets that have refilled: a full bucket is the same as no entry.
            self._levels = {
                k: (level, when)
                for k, (level, when) in self._levels.items()
                if level + (now - when) * bucket.restore_rate < bucket.capacity
            }
        return Throttle(allowed, available, bucket)
