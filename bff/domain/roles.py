"""Assigning and removing roles (admins only, never their own)."""

from __future__ import annotations

from uuid import UUID

from bff.domain import audit
from bff.domain.actor import Actor
from bff.domain.audit_models import AuditOperation
from bff.domain.errors import DomainError, ErrorCode, PermissionDenied
from bff.domain.models import SecurityEventKind, User
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Permission, Role


async def assign_role(uow: UnitOfWork, actor: Actor, user_id: UUID, role: Role) -> User:
    """Give `role` to a user; effective on the user's next request."""
    return await _change(uow, actor, user_id, role, grant=True)


async def revoke_role(uow: UnitOfWork, actor: Actor, user_id: UUID, role: Role) -> User:
    """Take `role` from a user; effective on the user's next request."""
    return await _change(uow, actor, user_id, role, grant=False)


async def _change(uow: UnitOfWork, actor: Actor, user_id: UUID, role: Role, grant: bool) -> User:
    actor.require(Permission.ROLE_MANAGE)
    if user_id == actor.user_id:
        # Otherwise one compromised admin could mint, or a careless one remove, the last admin.
        raise PermissionDenied("Admins cannot change their own roles.")
    async with uow:
        user = await uow.users.lock(user_id)
        if user is None:
            raise DomainError(ErrorCode.USER_NOT_FOUND, field="userId")
        roles = user.roles | {role} if grant else user.roles - {role}
        if not roles:
            raise DomainError(ErrorCode.INVALID_STATE, "A user keeps at least one role.", "role")
        if roles != user.roles:
            user = await uow.users.set_roles(user_id, roles)
            kind = SecurityEventKind.ROLE_ASSIGNED if grant else SecurityEventKind.ROLE_REVOKED
            await uow.security_events.record(
                kind, user_id, actor.user_id, actor.session_id, {"role": role.value}
            )
            operation = AuditOperation.ROLE_ASSIGN if grant else AuditOperation.ROLE_REVOKE
            await uow.audit.record(
                audit.by(
                    actor,
                    operation,
                    object_type="user",
                    object_id=str(user_id),
                    subject_id=user_id,
                    detail={"role": role.value},
                )
            )
        await uow.commit()
    return user
