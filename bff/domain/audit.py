"""The audit trail: what each audited operation records, and who may read the log.

Entries are written through `uow.audit.record` in the transaction of the change they describe
(money movements are recorded by the database itself, see migration 0020), so a change never
commits without its entry. They name people only by id: the log is append-only, and must hold
nothing that erasing a customer would have to remove.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from bff.domain.actor import Actor, authenticated
from bff.domain.audit_models import AuditEntry, AuditOperation, AuditPageKey, AuditRecord

__all__ = ["AuditRecord", "audit_log", "by", "staff_read"]
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Permission


def by(actor: Actor | None, operation: AuditOperation, **fields: Any) -> AuditRecord:
    """An entry of something `actor` did through its session (None: trusted local tooling)."""
    return AuditRecord(
        operation,
        actor.user_id if actor else None,
        session_id=actor.session_id if actor else None,
        **fields,
    )


async def audit_log(uow: UnitOfWork, actor: Actor | None, key: AuditPageKey) -> list[AuditEntry]:
    """A page of the log (`first + 1` entries tell whether another page follows); auditors and
    admins only."""
    authenticated(actor).require(Permission.AUDIT_READ)
    async with uow:
        return await uow.audit.page(key)


async def staff_read(
    unit_of_work: Callable[[], UnitOfWork],
    actor: Actor | None,
    object_type: str,
    object_id: UUID,
    owners: set[UUID],
) -> None:
    """Leave an entry when someone reads a customer's data that is not theirs (staff, by their
    role): one per object looked up, in a transaction of its own (a read changes nothing), and
    none, not even a unit of work, for a customer's own reads."""
    if actor is None or not owners or actor.user_id in owners:
        return
    uow = unit_of_work()
    async with uow:
        for customer in sorted(owners):
            await uow.audit.record(
                by(
                    actor,
                    AuditOperation.CUSTOMER_DATA_READ,
                    object_type=object_type,
                    object_id=str(object_id),
                    subject_id=customer,
                )
            )
        await uow.commit()
