"""Who is asking: the authenticated principal every domain operation receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from bff.domain.delegation import DELEGABLE_PERMISSIONS, Delegation
from bff.domain.errors import PermissionDenied, Unauthenticated
from bff.domain.rbac import Permission, Role, permissions_of


@dataclass(frozen=True, slots=True)
class Actor:
    """A user acting through a session. `scopes` narrow what delegated (OAuth) access may do."""

    user_id: UUID
    roles: frozenset[Role]
    session_id: UUID | None = None
    scopes: frozenset[str] | None = None
    # Set when a third-party app acts through an OAuth grant (`bff.domain.delegation`).
    delegation: Delegation | None = None
    permissions: frozenset[Permission] = field(init=False)

    def __post_init__(self) -> None:
        permissions = permissions_of(self.roles)
        if self.delegation is not None:
            permissions &= DELEGABLE_PERMISSIONS
        object.__setattr__(self, "permissions", permissions)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise PERMISSION_DENIED unless one of the actor's roles grants `permission`."""
        if not self.can(permission):
            raise PermissionDenied()


def authenticated(actor: Actor | None) -> Actor:
    """The actor, or UNAUTHENTICATED when the request carries no valid token."""
    if actor is None:
        raise Unauthenticated()
    return actor
