"""When to try a failed event again, and when to give up on it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Growing delays between attempts; after `max_attempts` an event is dead-lettered."""

    delays_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    max_attempts: int = 5

    def delay_after(self, attempts: int) -> float | None:
        """After `attempts` failed attempts (at least one): the delay before the next, or None
        when the event goes to the dead letters."""
        if attempts >= self.max_attempts:
            return None
        return self.delays_s[min(attempts, len(self.delays_s)) - 1]
