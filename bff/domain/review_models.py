"""The records of the review queue: a transfer held for an analyst, with its screening."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from bff.domain.fraud import Screening
from bff.domain.models import Transfer


class Review(StrEnum):
    """An analyst's resolution of a held transfer; stored as the screening's training label."""

    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class HeldTransfer:
    """A transfer held for review, as the queue shows it: the sides by the last four digits of
    their numbers only, and how long it has waited."""

    transfer: Transfer
    screening: Screening
    from_last_four: str
    to_last_four: str
    # When it was held (the queue's order), and how many seconds ago.
    held_at: datetime
    age_s: int


@dataclass(frozen=True, slots=True)
class ReviewPageKey:
    """Oldest first: up to `first` held transfers after `after` (held at, transfer id), leaving
    out those the viewer may not decide (their own)."""

    viewer_id: UUID
    first: int
    after: tuple[datetime, UUID] | None = None


@dataclass(frozen=True, slots=True)
class ReviewClaim:
    """A held transfer's screening, locked for one analyst's decision."""

    transfer: Transfer
    screening: Screening
    review: Review | None
