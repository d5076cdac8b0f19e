"""The counter stores: Redis (atomic script) and process memory."""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bff.ratelimit import LimiterUnavailable, Spend

# Fixed windows that start with the first spend: for each key in turn INCRBY its weight
# (ARGV[2i-1]), set the expiry (the last ARGV) once, and stop at the first over its budget
# (ARGV[2i]), returning its position and TTL. One script: one round trip per request.
_SPEND = """
local window = ARGV[#ARGV]
for i = 1, #KEYS do
  local weight = tonumber(ARGV[2 * i - 1])
  local spent = redis.call('INCRBY', KEYS[i], weight)
  if spent == weight then
    redis.call('EXPIRE', KEYS[i], window)
  end
  if spent > tonumber(ARGV[2 * i]) then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl < 1 then ttl = 1 end
    return {i, ttl}
  end
end
return {0, 0}
"""


class RedisLimiter:
    def __init__(self, redis: Redis) -> None:
        self._spend = redis.register_script(_SPEND)

    async def spend(self, spends: Sequence[Spend], window_s: int) -> tuple[int, int] | None:
        keys = [f"bff:rl:{spend.key}" for spend in spends]
        args = [value for spend in spends for value in (spend.weight, spend.budget)]
        try:
            position, wait = await self._spend(keys=keys, args=[*args, window_s])
        except (RedisError, OSError) as error:
            raise LimiterUnavailable(str(error)) from error
        return (int(position) - 1, int(wait)) if position else None


class MemoryLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, float]] = {}

    async def spend(self, spends: Sequence[Spend], window_s: int) -> tuple[int, int] | None:
        for index, spend in enumerate(spends):
            wait = self._spend_one(spend.key, spend.weight, spend.budget, window_s)
            if wait:
                return index, wait
        return None

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
