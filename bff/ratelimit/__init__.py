"""Request rate limits per actor and per client address, per class of operation.

Counters live in Redis when `REDIS_URL` is set (shared by every process; one atomic script per
check) and in process memory otherwise. Each class of mutation has a budget of attempts per
window, one per root field (so aliases cannot multiply attempts); every operation also takes its
cost from its principal's leaky bucket (bff/ratelimit/buckets.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bff.ratelimit.buckets import Throttle


class OperationClass(StrEnum):
    LOGIN = "login"  # signUp, login, refreshSession: credential guessing
    MONEY = "money"  # createTransfer, depositFunds
    MUTATION = "mutation"


class LimiterUnavailable(Exception):
    """The counters cannot be reached."""


@dataclass(frozen=True, slots=True)
class Spend:
    key: str
    weight: int
    budget: int


@dataclass(frozen=True, slots=True)
class Take:
    """A cost to take from a principal's bucket once the attempts are spent."""

    key: str
    cost: int
    bucket: Bucket


class Limiter(Protocol):
    async def spend(
        self, spends: Sequence[Spend], window_s: int, then: Take | None = None
    ) -> tuple[tuple[int, int] | None, Throttle | None]:
        """Spend each weight from its key's budget, in order, stopping at the first over budget,
        and then take `then` from its bucket, all in one round trip: (None when all were
        allowed, else that spend's index and seconds until its budget refills; the bucket after
        the take, None when nothing was taken)."""
        ...


@dataclass(frozen=True, slots=True)
class Bucket:
    """A principal's budget of query cost: what it holds when full, and what it regains per
    second."""

    capacity: int
    restore_rate: float


@dataclass(frozen=True, slots=True)
class Budgets:
    window_s: int
    per_class: dict[OperationClass, int]
    # A client address may carry many users (offices, carrier NAT): it gets this many times more.
    address_factor: int
    # Query cost: the most one operation may cost; each signed-in user's bucket; the bucket of
    # the anonymous callers of one address (apart: they cannot drain the users behind it); and
    # what a refused document costs instead of its own cost.
    max_cost: int
    user_cost: Bucket
    anonymous_cost: Bucket
    refusal_charge: int

    # Fail closed where an open door helps an attacker guess credentials; fail open for the rest.
    fail_closed: frozenset[OperationClass] = frozenset({OperationClass.LOGIN})
