"""Refused documents' charges, owed per principal in this process and taken from their buckets
together a moment later (`INTERVAL_S`): a refused request is answered without a round trip to
Redis of its own, so a flood of refusals costs the server one take per principal per interval,
not one per refusal. A bucket that cannot pay what its principal owes has that principal's
documents refused unread until it can (bff/ratelimit/overdrawn.py), as a refusal taken at once
would; a request that asks for `extensions.cost` is charged at once instead, to report it."""

from __future__ import annotations

import asyncio
import logging

from bff.ratelimit import Bucket, LimiterUnavailable
from bff.ratelimit.buckets import CostBuckets
from bff.ratelimit.overdrawn import Overdrawn

log = logging.getLogger("bff.ratelimit")

# Well under a refill of the smallest bucket's refusal charge, and long enough to gather a flood.
INTERVAL_S = 0.05


class RefusalCharges:
    def __init__(self, buckets: CostBuckets, overdrawn: Overdrawn) -> None:
        self._buckets = buckets
        self._overdrawn = overdrawn
        self._owed: dict[str, tuple[int, Bucket]] = {}
        self._scheduled: asyncio.AbstractEventLoop | None = None  # the loop a take is due on
        self._takes: set[asyncio.Task[None]] = set()

    def owe(self, principal: str, charge: int, bucket: Bucket) -> None:
        """`principal` owes `charge` on `bucket`: taken within `INTERVAL_S`."""
        owed = self._owed.get(principal)
        self._owed[principal] = ((owed[0] if owed else 0) + charge, bucket)
        loop = asyncio.get_running_loop()
        if self._scheduled is not loop:
            self._scheduled = loop
            loop.call_later(INTERVAL_S, self._start_take)

    def _start_take(self) -> None:
        self._scheduled = None
        task = asyncio.get_running_loop().create_task(self.take())
        self._takes.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._takes.discard)

    async def take(self) -> None:
        """Take what every principal owes now, and note those whose buckets could not pay."""
        owed, self._owed = self._owed, {}
        try:
            for principal, (charge, bucket) in owed.items():
                throttle = await self._buckets.take(principal, charge, bucket)
                if not throttle.allowed:
                    # A take is all or nothing: the bucket pays what it holds, and its
                    # principal waits for the rest, as if each refusal had been taken in turn.
                    if int(throttle.available) > 0:
                        await self._buckets.take(principal, int(throttle.available), bucket)
                    self._overdrawn.note(principal, throttle.seconds_until(charge))
        except LimiterUnavailable as error:
            # Fail open, as every cost charge does: cost bounds load, it guards no secret.
            log.warning("cost buckets unavailable", extra={"error": str(error)})
