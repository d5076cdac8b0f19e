"""A step-up challenge: what a held transfer waits on, bound to the customer and the session
that made it, answered once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class ChallengeStatus(StrEnum):
    OPEN = "open"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Challenge:
    id: UUID
    transfer_id: UUID
    user_id: UUID
    session_id: UUID
    status: ChallengeStatus
    failures: int
    # The transfer's hold expiry: the challenge and its hold end together.
    expires_at: datetime
    # The WebAuthn challenge a passkey must sign, while one is handed out and unspent.
    assertion_challenge: bytes | None = None
