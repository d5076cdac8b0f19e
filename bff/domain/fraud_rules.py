"""Reading and changing the screening rules (fraud analysts and admins), without a deploy:
each change is a new version of the rules, written with who made it and why, and audited with
the rules before and after. A change names the version it edits, so that of two analysts
editing at once the second is told to reload (RULES_CHANGED) instead of undoing the first."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

from bff.domain import audit
from bff.domain.actor import Actor, authenticated
from bff.domain.audit_models import AuditOperation
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.fraud import Rules
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Permission
from bff.domain.text import clean_name

MAX_NOTE = 500
# Entries per list (accounts allowed, accounts blocked, customer limits).
MAX_ENTRIES = 1_000


@dataclass(frozen=True, slots=True)
class RulesChange:
    """A change of the rules of `version`; None leaves a setting as it is, a list replaces the
    whole list."""

    version: int
    note: str
    step_up_at: float | None = None
    review_at: float | None = None
    block_at: float | None = None
    allow_accounts: frozenset[UUID] | None = None
    block_accounts: frozenset[UUID] | None = None
    limits: Mapping[UUID, int] | None = None


async def current_rules(uow: UnitOfWork, actor: Actor | None) -> Rules:
    """The rules in force."""
    authenticated(actor).require(Permission.FRAUD_RULES_MANAGE)
    async with uow:
        return await uow.fraud.rules()


async def update_rules(uow: UnitOfWork, actor: Actor, change: RulesChange) -> Rules:
    """Store the changed rules as the next version; they decide the next screening."""
    actor.require(Permission.FRAUD_RULES_MANAGE)
    note = clean_name(change.note, "note", MAX_NOTE)
    settings: dict[str, Any] = {
        name: getattr(change, name)
        for name in ("step_up_at", "review_at", "block_at", "allow_accounts", "block_accounts")
        if getattr(change, name) is not None
    }
    if change.limits is not None:
        settings["limits"] = dict(change.limits)
    async with uow:
        before = await uow.fraud.rules()
        if before.version != change.version:
            raise DomainError(ErrorCode.RULES_CHANGED, field="version")
        after = _valid(replace(before, **settings))
        saved = await uow.fraud.save_rules(after, actor.user_id, note)
        if saved is None:
            raise DomainError(ErrorCode.RULES_CHANGED, field="version")
        await uow.audit.record(
            audit.by(
                actor,
                AuditOperation.FRAUD_RULES_CHANGE,
                object_type="fraud_rules",
                object_id=str(saved.version),
                detail={"before": before.to_stored(), "after": saved.to_stored(), "note": note},
            )
        )
        await uow.commit()
    return saved


def _valid(rules: Rules) -> Rules:
    thresholds = {"stepUpAt": rules.step_up_at, "reviewAt": rules.review_at}
    thresholds["blockAt"] = rules.block_at
    for field, value in thresholds.items():
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise DomainError(ErrorCode.INVALID_INPUT, "A threshold is from 0 to 1.", field)
    if not rules.step_up_at <= rules.review_at <= rules.block_at:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Thresholds rise: stepUpAt ≤ reviewAt ≤ blockAt.", "reviewAt"
        )
    lists = {
        "allowAccountIds": rules.allow_accounts,
        "blockAccountIds": rules.block_accounts,
        "limits": rules.limits,
    }
    for field, entries in lists.items():
        if len(entries) > MAX_ENTRIES:
            raise DomainError(ErrorCode.INVALID_INPUT, f"At most {MAX_ENTRIES} entries.", field)
    if rules.allow_accounts & rules.block_accounts:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "An account is on both lists.", "allowAccountIds"
        )
    if any(amount <= 0 for amount in rules.limits.values()):
        raise DomainError(ErrorCode.INVALID_INPUT, "A limit is a positive amount.", "limits")
    return rules
