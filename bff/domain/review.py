"""The review queue: transfers screening held for an analyst (REVIEW, still PENDING), each
approved (posted for exactly its reserved amount) or rejected (voided) once, with a note.

A decision is audited and stored on the transfer's screening as the label of the next
`bff fraud train`, in the transaction that resolves the transfer. Nobody reviews a transfer of
their own, as sender or payee, whatever roles they hold.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from bff.domain import audit, idempotency
from bff.domain.actor import Actor, authenticated
from bff.domain.audit_models import AuditOperation
from bff.domain.errors import DomainError, ErrorCode, PermissionDenied
from bff.domain.models import Transfer, TransferStatus
from bff.domain.pages import Page, page_of
from bff.domain.ports import HoldOutcome, UnitOfWork
from bff.domain.rbac import Permission
from bff.domain.review_models import HeldTransfer, Review, ReviewClaim, ReviewPageKey
from bff.domain.text import clean_name
from bff.domain.transfers import refused

MAX_NOTE = 500
_OUTCOMES = {Review.APPROVED: TransferStatus.COMPLETED, Review.REJECTED: TransferStatus.CANCELLED}
_OPERATIONS = {
    Review.APPROVED: AuditOperation.TRANSFER_APPROVE,
    Review.REJECTED: AuditOperation.TRANSFER_REJECT,
}


async def review_queue(
    uow: UnitOfWork, actor: Actor | None, first: int, after: tuple[datetime, UUID] | None
) -> Page[HeldTransfer]:
    """Held transfers waiting for an analyst, oldest first; the actor's own are left out (they
    may not decide them). Fraud analysts (and admins) only."""
    viewer = authenticated(actor)
    viewer.require(Permission.FRAUD_REVIEW)
    async with uow:
        held = await uow.fraud.review_queue(ReviewPageKey(viewer.user_id, first, after))
    return page_of(held, first)


async def approve_transfer(uow: UnitOfWork, actor: Actor, transfer_id: UUID, note: str) -> Transfer:
    """Post a held transfer for exactly the amount it reserved."""
    return await _decide(uow, actor, transfer_id, note, Review.APPROVED)


async def reject_transfer(uow: UnitOfWork, actor: Actor, transfer_id: UUID, note: str) -> Transfer:
    """Void a held transfer: its reservation is released and nothing is posted."""
    return await _decide(uow, actor, transfer_id, note, Review.REJECTED)


async def _decide(
    uow: UnitOfWork, actor: Actor, transfer_id: UUID, note: str, review: Review
) -> Transfer:
    actor.require(Permission.FRAUD_REVIEW)
    note = clean_name(note, "note", MAX_NOTE)

    async def resolve() -> Transfer:
        # The screening row is locked first: of two analysts deciding at once, the second waits
        # here and then finds the first one's decision.
        claim = await uow.fraud.claim_review(transfer_id)
        _check(actor, claim)
        assert claim is not None
        result = await uow.ledger.resolve(
            transfer_id, _OUTCOMES[review], "Transfer", due_only=False
        )
        if result.outcome is HoldOutcome.REFUSED:
            assert result.refusal is not None
            raise refused(result.refusal)
        if result.outcome is not HoldOutcome.RESOLVED:
            raise DomainError(ErrorCode.TRANSFER_NOT_HELD, field="transferId")
        assert result.transfer is not None
        await uow.fraud.record_review(transfer_id, review, actor.user_id, note)
        await uow.audit.record(
            audit.by(
                actor,
                _OPERATIONS[review],
                object_type="transfer",
                object_id=str(transfer_id),
                subject_id=claim.transfer.initiated_by,
                detail={
                    "note": note,
                    "amount": claim.transfer.amount,
                    "currency": claim.transfer.currency,
                    "risk": claim.screening.risk,
                    "model_version": claim.screening.model_version,
                    "rules_version": claim.screening.rules_version,
                },
            )
        )
        # The memo is the customer's own words: analysts decide on the screening.
        return replace(result.transfer, memo=None)

    return await idempotency.retried(uow, resolve)


def _check(actor: Actor, claim: ReviewClaim | None) -> None:
    """A transfer the analyst may decide now: held for review, pending, not decided yet, and
    neither sent nor received by the analyst."""
    if claim is None:
        raise DomainError(ErrorCode.TRANSFER_NOT_HELD, field="transferId")
    transfer = claim.transfer
    sides = {transfer.initiated_by, transfer.from_owner_id, transfer.to_owner_id}
    if actor.user_id in sides:
        raise PermissionDenied("Nobody reviews a transfer they sent or receive.")
    if claim.review is not None or transfer.status is not TransferStatus.PENDING:
        raise DomainError(ErrorCode.TRANSFER_NOT_HELD, field="transferId")
