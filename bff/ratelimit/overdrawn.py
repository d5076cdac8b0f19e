"""Principals whose cost bucket cannot pay even a refused document's charge, as this process
last heard from the buckets. Until the bucket has regained that charge every document of theirs
would be refused anyway, so it is refused before it is read: no parse, no round trip to Redis.
That is what keeps an abuser's flood of documents from costing the server a parse each."""

from __future__ import annotations

import math
import time

from cachetools import LRUCache

# More than the principals one process hears from within a refill; the oldest go first.
_KEPT = 16_384


class Overdrawn:
    """Until when each overdrawn principal's documents are refused unread."""

    def __init__(self, size: int = _KEPT) -> None:
        self._until: LRUCache[str, float] = LRUCache(size)

    def note(self, principal: str, seconds: float) -> None:
        """`principal`'s bucket regains a refusal's charge in `seconds`."""
        if seconds > 0:
            self._until[principal] = time.monotonic() + seconds

    def retry_after(self, principal: str) -> int | None:
        """Whole seconds until `principal` may be heard again, or None when it may be now."""
        until = self._until.get(principal)
        if until is None:
            return None
        left = until - time.monotonic()
        if left <= 0:
            del self._until[principal]
            return None
        return math.ceil(left)
