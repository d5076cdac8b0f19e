"""The counter stores: Redis (atomic script) and process memory."""

from __future__ import annotations

import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bff.ratelimit import LimiterUnavailable

# A fixed window that starts with the first spend: INCRBY, set the expiry once, refuse over budget.
_SPEND = """
local spent = redis.call('INCRBY', KEYS[1], ARGV[1])
if spent == tonumber(ARGV[1]) then
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
if spent > tonumber(ARGV[2]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return ttl
end
return 0
"""


class RedisLimiter:
    def __init__(self, redis: Redis) -> None:
        self._spend = redis.register_script(_SPEND)

    async def spend(self, key: str, weight: int, budget: int, window_s: int) -> int:
        try:
            wait = await self._spend(keys=[f"bff:rl:{key}"], args=[weight, budget, window_s])
        except (RedisError, OSError) as error:
            raise LimiterUnavailable(str(error)) from error
        return int(wait)


class MemoryLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}

    async def spend(self, key: str, weight: int, budget: int, window_s: int) -> int:
        now = time.monotonic()
        spent, ends = self._windows.get(key, (0, now + window_s))
        if ends <= now:
            spent, ends = 0, now + window_s
        spent += weight
        self._windows[key] = (spent, ends)
        if len(self._windows) > 100_000:
            self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
        return max(1, int(ends - now + 0.999)) if spent > budget else 0
