"""Login throttling: growing delays after a few failures, then a temporary lockout.

Pure rules over a failure counter per account and per client address; storage is the caller's.
An address gets more room than an account, since many people can share one (an office, a
mobile carrier's NAT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class ThrottleScope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"
    # Second-factor codes of one user, across enrollment changes and step-up challenges.
    SECOND_FACTOR = "second_factor"


@dataclass(frozen=True, slots=True)
class ThrottleState:
    failures: int = 0
    last_attempt_at: datetime | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    free_failures: int  # failures before delays start
    lockout_failures: int  # failures that lock the key out for a while


def _default_limits() -> dict[ThrottleScope, Limits]:
    return {
        ThrottleScope.ACCOUNT: Limits(3, 10),
        ThrottleScope.ADDRESS: Limits(20, 100),
        ThrottleScope.SECOND_FACTOR: Limits(3, 10),
    }


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    limits: dict[ThrottleScope, Limits] = field(default_factory=_default_limits)
    base_delay_s: float = 1.0  # the first delay; it doubles with every further failure
    max_delay_s: float = 60.0
    lockout_s: int = 15 * 60
    forget_after_s: int = 15 * 60  # a quiet period after which failures are forgotten

    def current(self, state: ThrottleState, now: datetime) -> ThrottleState:
        """The state with failures forgotten after a quiet period and an expired lock."""
        quiet = state.last_attempt_at is None or (
            now - state.last_attempt_at >= timedelta(seconds=self.forget_after_s)
        )
        unlocked = state.locked_until is None or state.locked_until <= now
        return ThrottleState() if quiet and unlocked else state

    def wait_s(self, scope: ThrottleScope, state: ThrottleState, now: datetime) -> int:
        """Whole seconds to wait before the next attempt is admitted; 0 when admitted now."""
        if state.locked_until is not None and state.locked_until > now:
            return math.ceil((state.locked_until - now).total_seconds())
        free = self.limits[scope].free_failures
        if state.failures < free or state.last_attempt_at is None:
            return 0
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (state.failures - free))
        remaining = delay - (now - state.last_attempt_at).total_seconds()
        return math.ceil(remaining) if remaining > 0 else 0

    def attempted(self, scope: ThrottleScope, state: ThrottleState, now: datetime) -> ThrottleState:
        """Count an attempt as a failure up front, so that parallel attempts all count; a
        successful login gives it back afterwards (see `succeeded`)."""
        failures = state.failures + 1
        locked_until = (
            now + timedelta(seconds=self.lockout_s)
            if failures >= self.limits[scope].lockout_failures
            else state.locked_until
        )
        return replace(state, failures=failures, last_attempt_at=now, locked_until=locked_until)

    def succeeded(self, scope: ThrottleScope, state: ThrottleState) -> ThrottleState:
        """After a successful login the account starts afresh; the address only gets back the
        attempt counted up front, so its other failures still count."""
        if scope is ThrottleScope.ACCOUNT:
            return ThrottleState()
        return replace(state, failures=max(0, state.failures - 1))
