"""Roles and permissions: an explicit table, checked by every domain operation."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"
    OPERATOR = "operator"
    ADMIN = "admin"
    AUDITOR = "auditor"
    FRAUD_ANALYST = "fraud_analyst"


class Permission(StrEnum):
    ACCOUNT_OPEN_OWN = "account:open_own"
    ACCOUNT_READ_ANY = "account:read_any"
    ACCOUNT_FREEZE = "account:freeze"
    TRANSFER_CREATE_OWN = "transfer:create_own"
    DEPOSIT_CREATE = "deposit:create"
    USER_READ_ANY = "user:read_any"
    ROLE_MANAGE = "role:manage"
    DOCUMENT_MANAGE = "document:manage"
    AUDIT_READ = "audit:read"
    USER_ERASE = "user:erase"
    OAUTH_CLIENT_MANAGE = "oauth_client:manage"
    # The review queue of held transfers, and approving or rejecting them.
    FRAUD_REVIEW = "fraud:review"
    # Reading and changing the screening rules.
    FRAUD_RULES_MANAGE = "fraud_rules:manage"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CUSTOMER: frozenset({Permission.ACCOUNT_OPEN_OWN, Permission.TRANSFER_CREATE_OWN}),
    Role.SUPPORT: frozenset(
        {Permission.ACCOUNT_READ_ANY, Permission.USER_READ_ANY, Permission.ACCOUNT_FREEZE}
    ),
    Role.OPERATOR: frozenset({Permission.DEPOSIT_CREATE}),
    Role.ADMIN: frozenset(
        {
            Permission.ACCOUNT_READ_ANY,
            Permission.USER_READ_ANY,
            Permission.ACCOUNT_FREEZE,
            Permission.DEPOSIT_CREATE,
            Permission.ROLE_MANAGE,
            Permission.DOCUMENT_MANAGE,
            Permission.AUDIT_READ,
            Permission.OAUTH_CLIENT_MANAGE,
            Permission.USER_ERASE,
            Permission.FRAUD_REVIEW,
            Permission.FRAUD_RULES_MANAGE,
        }
    ),
    Role.AUDITOR: frozenset(
        {Permission.ACCOUNT_READ_ANY, Permission.USER_READ_ANY, Permission.AUDIT_READ}
    ),
    # Sees held transfers through the review queue only (masked numbers), not accounts at large.
    Role.FRAUD_ANALYST: frozenset({Permission.FRAUD_REVIEW, Permission.FRAUD_RULES_MANAGE}),
}


def permissions_of(roles: frozenset[Role]) -> frozenset[Permission]:
    """The union of the permissions granted by each role."""
    return frozenset().union(*(ROLE_PERMISSIONS[role] for role in roles))
