"""Request rate limits per actor and per client address, per class of operation.

Counters live in Redis when `REDIS_URL` is set (shared by every process; one atomic script per
check) and in process memory otherwise. Each class has a budget per window; a query spends one
unit per field it selects, a mutation one per root field (so aliases cannot multiply attempts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class OperationClass(StrEnum):
    LOGIN = "login"  # signUp, login, refreshSession: credential guessing
    MONEY = "money"  # createTransfer, depositFunds
    MUTATION = "mutation"
    QUERY = "query"


class LimiterUnavailable(Exception):
    """The counters cannot be reached."""


@dataclass(frozen=True, slots=True)
class Spend:
    key: str
    weight: int
    budget: int


class Limiter(Protocol):
    async def spend(self, spends: Sequence[Spend], window_s: int) -> tuple[int, int] | None:
        """Spend each weight from its key's budget, in order, in one round trip, stopping at the
        first over budget: None when all were allowed, else (that spend's index, seconds until
        its budget refills)."""
        ...


@dataclass(frozen=True, slots=True)
class Budgets:
    window_s: int
    per_class: dict[OperationClass, int]
    # A client address may carry many users (offices, carrier NAT): it gets this many times more.
    address_factor: int

    # Fail closed where an open door helps an attacker guess credentials; fail open for the rest.
    fail_closed: frozenset[OperationClass] = frozenset({OperationClass.LOGIN})
