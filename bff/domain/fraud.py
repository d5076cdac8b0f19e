"""Screening a transfer before any money moves: a learned risk score with rules on top.

The decision is one of ALLOW (post now), STEP_UP (hold, and ask the customer to prove it is
them), REVIEW (hold for an analyst) or BLOCK (refuse; nothing reserved). Rules are data,
edited by fraud analysts without a deploy (every version kept, with who changed it):
thresholds on the score, allow and block lists by account, per-customer limits per transfer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID


class Decision(StrEnum):
    ALLOW = "allow"
    STEP_UP = "step_up"
    REVIEW = "review"
    BLOCK = "block"


# Score thresholds of a fresh installation; analysts tune them (updateFraudRules).
STEP_UP_AT = 0.5
REVIEW_AT = 0.7
BLOCK_AT = 0.97


@dataclass(frozen=True, slots=True)
class Rules:
    """One version of the screening rules."""

    step_up_at: float = STEP_UP_AT
    review_at: float = REVIEW_AT
    block_at: float = BLOCK_AT
    # Accounts (either side) whose transfers are always allowed, or always refused.
    allow_accounts: frozenset[UUID] = frozenset()
    block_accounts: frozenset[UUID] = frozenset()
    # Per customer (user id), the largest single transfer in minor units, any currency,
    # above which it is reviewed whatever its score.
    limits: Mapping[UUID, int] = field(default_factory=dict)
    version: int = 0

    def to_stored(self) -> dict[str, Any]:
        return {
            "step_up_at": self.step_up_at,
            "review_at": self.review_at,
            "block_at": self.block_at,
            "allow_accounts": sorted(map(str, self.allow_accounts)),
            "block_accounts": sorted(map(str, self.block_accounts)),
            "limits": {str(user): amount for user, amount in sorted(self.limits.items())},
        }

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any], version: int) -> Rules:
        return cls(
            step_up_at=float(stored["step_up_at"]),
            review_at=float(stored["review_at"]),
            block_at=float(stored["block_at"]),
            allow_accounts=frozenset(UUID(a) for a in stored["allow_accounts"]),
            block_accounts=frozenset(UUID(a) for a in stored["block_accounts"]),
            limits={UUID(user): int(amount) for user, amount in stored["limits"].items()},
            version=version,
        )


@dataclass(frozen=True, slots=True)
class Screening:
    """A decision with what it rests on: the score, the model, and the reasons in plain words."""

    decision: Decision
    risk: float
    model_version: str
    rules_version: int
    reasons: tuple[str, ...]

    def to_stored(self) -> dict[str, Any]:
        return {
            "decision": self.decision.value,
            "risk": round(self.risk, 6),
            "model_version": self.model_version,
            "rules_version": self.rules_version,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> Screening:
        return cls(
            decision=Decision(stored["decision"]),
            risk=float(stored["risk"]),
            model_version=str(stored["model_version"]),
            rules_version=int(stored["rules_version"]),
            reasons=tuple(stored["reasons"]),
        )


class Scorer(Protocol):
    """The risk model as the domain sees it: a probability and its top reasons."""

    version: str

    def explain(self, vector: list[float]) -> tuple[float, tuple[str, ...]]: ...


def decide(
    rules: Rules,
    risk: float,
    reasons: tuple[str, ...],
    *,
    customer: UUID,
    source: UUID,
    destination: UUID | None,
    amount: int,
) -> tuple[Decision, tuple[str, ...]]:
    """The rules over the score: lists first, then the customer's limit, then the thresholds.
    Returns the decision and its reasons (a rule that decided comes first)."""
    sides = {source} | ({destination} if destination is not None else set())
    if sides & rules.block_accounts:
        return Decision.BLOCK, ("an account of the transfer is on the block list", *reasons)
    if sides & rules.allow_accounts:
        return Decision.ALLOW, ("an account of the transfer is on the allow list", *reasons)
    limit = rules.limits.get(customer)
    if limit is not None and amount > limit:
        return Decision.REVIEW, ("above the customer's limit per transfer", *reasons)
    if risk >= rules.block_at:
        return Decision.BLOCK, reasons
    if risk >= rules.review_at:
        return Decision.REVIEW, reasons
    if risk >= rules.step_up_at:
        return Decision.STEP_UP, reasons
    return Decision.ALLOW, reasons


@dataclass(frozen=True, slots=True)
class Screener:
    """Screening as a server runs it: the model, and how long a held transfer waits."""

    scorer: Scorer
    hold_s: int
    # A hold waiting for the customer's second factor ends sooner than one for an analyst.
    step_up_s: int = 300
    # Told every decision as it is made (the server counts them in its metrics).
    decided: Callable[[Decision], None] = lambda decision: None
