"""The counter stores: Redis (atomic script) and process memory."""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bff.ratelimit import LimiterUnavailable, Spend, Take
from bff.ratelimit.buckets import TAKE_FUNCTION, MemoryCostBuckets, Throttle, bucket_key

# Fixed windows that start with the first spend: for each of the ARGV[2] keys in turn INCRBY its
# weight, set the expiry (ARGV[1]) once, and stop at the first over its budget, returning its
# position and TTL; then, if a bucket key follows, take the operation's cost from it. One script:
# one round trip per request.
_SPEND = (
    TAKE_FUNCTION
    + """
local window = ARGV[1]
local count = tonumber(ARGV[2])
for i = 1, count do
  local weight = tonumber(ARGV[1 + 2 * i])
  local spent = redis.call('INCRBY', KEYS[i], weight)
  if spent == weight then
    redis.call('EXPIRE', KEYS[i], window)
  end
  if spent > tonumber(ARGV[2 + 2 * i]) then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl < 1 then ttl = 1 end
    return {i, ttl}
  end
end
if #KEYS > count then
  local at = 3 + 2 * count
  local taken = take(KEYS[count + 1], tonumber(ARGV[at]), tonumber(ARGV[at + 1]),
    tonumber(ARGV[at + 2]))
  return {0, 0, taken[1], taken[2]}
end
return {0, 0}
"""
)


class RedisLimiter:
    def __init__(self, redis: Redis) -> None:
        self._spend = redis.register_script(_SPEND)

    async def spend(
        self, spends: Sequence[Spend], window_s: int, then: Take | None = None
    ) -> tuple[tuple[int, int] | None, Throttle | None]:
        keys = [f"bff:rl:{spend.key}" for spend in spends]
        args: list[str | int | float] = [window_s, len(spends)]
        args += [value for spend in spends for value in (spend.weight, spend.budget)]
        if then is not None:
            keys.append(bucket_key(then.key))
            args += [then.cost, then.bucket.capacity, then.bucket.restore_rate]
        try:
            answer = await self._spend(keys=keys, args=args)
        except (RedisError, OSError) as error:
            raise LimiterUnavailable(str(error)) from error
        position, wait = int(answer[0]), int(answer[1])
        if position:
            return (position - 1, wait), None
        if then is None:
            return None, None
        return None, Throttle(bool(answer[2]), float(answer[3]), then.bucket)


class MemoryLimiter:
    def __init__(self, buckets: MemoryCostBuckets) -> None:
        self._windows: dict[str, tuple[int, float]] = {}
        self._buckets = buckets

    async def spend(
        self, spends: Sequence[Spend], window_s: int, then: Take | None = None
    ) -> tuple[tuple[int, int] | None, Throttle | None]:
        for index, spend in enumerate(spends):
            wait = self._spend_one(spend.key, spend.weight, spend.budget, window_s)
            if wait:
                return (index, wait), None
        if then is None:
            return None, None
        return None, await self._buckets.take(then.key, then.cost, then.bucket)

    def _spend_one(self, key: str, weight: int, budget: int, window_s: int) -> int:
        now = time.monotonic()
        spent, ends = self._windows.get(key, (0, now + window_s))
        if ends <= now:
            spent, ends = 0, now + window_s
        spent += weight
        self._windows[key] = (spent, ends)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        return max(1, int(ends - now + 0.999)) if spent > budget else 0
