"""Privacy rights: a customer's copy of their data (GDPR articles 15 and 20) and erasure
(article 17) by crypto-shredding.

Erasure destroys the customer's data key and blind indexes: every field sealed with the key
becomes unreadable everywhere it is stored, backups included once their copy of the wrapped key
is gone (see the README). The ledger keeps its amounts and balances and the audit log its chain:
neither holds plaintext about the customer, so neither changes. An account with money in it
blocks erasure: the money must go somewhere first.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bff.domain import audit
from bff.domain.actor import Actor, authenticated
from bff.domain.audit_models import AuditOperation
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import RevocationReason
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Permission
from bff.domain.text import clean_text

MAX_REASON = 500


async def export_data(uow: UnitOfWork, actor: Actor | None, user_id: UUID) -> dict[str, Any]:
    """One JSON document of everything kept about the user, opened: the user themself, or
    trusted local tooling (actor None, the `bff privacy export` command). Audited."""
    if actor is not None and authenticated(actor).user_id != user_id:
        raise DomainError(ErrorCode.PERMISSION_DENIED)
    async with uow:
        document = await uow.privacy.export(user_id)
        if document is None:
            raise DomainError(ErrorCode.USER_NOT_FOUND, field="userId")
        await uow.audit.record(
            audit.by(
                actor,
                AuditOperation.PRIVACY_EXPORT,
                object_type="user",
                object_id=str(user_id),
                subject_id=user_id,
            )
        )
        await uow.commit()
    return document


async def erase_user(uow: UnitOfWork, actor: Actor | None, user_id: UUID, reason: str) -> None:
    """Crypto-shred the user (admins, never themselves; or trusted local tooling): refused while
    any of their accounts holds or owes money. Audited with the reason."""
    if actor is not None:
        actor.require(Permission.USER_ERASE)
        if actor.user_id == user_id:
            raise DomainError(ErrorCode.PERMISSION_DENIED, "Admins cannot erase themselves.")
    why = clean_text(reason, "reason", MAX_REASON)
    if not why:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the reason for the erasure.", "reason")
    async with uow:
        found = await uow.privacy.lock_user(user_id)
        if found is None:
            raise DomainError(ErrorCode.USER_NOT_FOUND, field="userId")
        _, accounts = found
        if any(account.balance or account.available_balance for account in accounts):
            raise DomainError(
                ErrorCode.INVALID_STATE,
                "Accounts with a non-zero balance block erasure: settle them first.",
                "userId",
            )
        await uow.privacy.shred(user_id)
        await uow.sessions.revoke_all(user_id, RevocationReason.REVOKED)
        await uow.audit.record(
            audit.by(
                actor,
                AuditOperation.PRIVACY_ERASE,
                object_type="user",
                object_id=str(user_id),
                subject_id=user_id,
                detail={"reason": why, "accounts": len(accounts)},
            )
        )
        await uow.commit()
