"""Principals whose documents are refused before they are read: no parse, no round trip to
Redis. That is what keeps an abuser's flood of documents from costing the server a parse each.

Two ways in, as this process last heard: a cost bucket that cannot pay even a refused
document's charge (until it has regained it, every document would be refused anyway), and
refusals in a row (`strikes` refused documents within `penalty_s`: an app sends the documents
it was built with, which pass; whoever sends refused ones over and over is probing, and waits
`penalty_s`). A refusal's charge stays small, so a client's mistake costs little; the
penalty is what stops the repetition."""

from __future__ import annotations

import math
import time

from cachetools import LRUCache

# More than the principals one process hears from within a refill; the oldest go first.
_KEPT = 16_384


class Overdrawn:
    """Until when each overdrawn principal's documents are refused unread."""

    def __init__(self, strikes: int = 0, penalty_s: float = 0.0, size: int = _KEPT) -> None:
        self._until: LRUCache[str, float] = LRUCache(size)
        self._penalty = (strikes, penalty_s)
        # Per principal: when its current run of refusals began, and how many it holds.
        self._strikes: LRUCache[str, tuple[float, int]] = LRUCache(size)

    def strike(self, principal: str) -> None:
        """`principal` sent a refused document: the `strikes`th within `penalty_s` makes its
        documents refused unread for `penalty_s`."""
        strikes, penalty_s = self._penalty
        if strikes == 0:
            return
        now = time.monotonic()
        began, count = self._strikes.get(principal, (now, 0))
        if now - began > penalty_s:
            began, count = now, 0
        count += 1
        if count >= strikes:
            self.note(principal, penalty_s)
            del self._strikes[principal]
        else:
            self._strikes[principal] = (began, count)

    def note(self, principal: str, seconds: float) -> None:
        """`principal`'s documents are refused unread for the next `seconds` (until its bucket
        can pay again, or its penalty ends)."""
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
