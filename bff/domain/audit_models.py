"""The audit trail's records: what an entry says, where a request came from, which page of the
log to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class AuditOperation(StrEnum):
    """What was done. Money movements (`transfer.create`, `deposit.create`) come from the
    database's triggers and use the same vocabulary."""

    USER_CREATE = "user.create"
    LOGIN_SUCCEED = "login.succeed"
    LOGIN_FAIL = "login.fail"
    SESSION_REFRESH = "session.refresh"
    SESSION_REUSE_DETECTED = "session.reuse_detected"
    SESSION_END = "session.end"
    PASSWORD_CHANGE = "password.change"  # noqa: S105 (an operation name)
    ROLE_ASSIGN = "role.assign"
    ROLE_REVOKE = "role.revoke"
    ACCOUNT_OPEN = "account.open"
    ACCOUNT_STATUS_CHANGE = "account.status_change"
    CUSTOMER_DATA_READ = "customer_data.read"
    TRANSFER_CREATE = "transfer.create"
    DEPOSIT_CREATE = "deposit.create"
    # A fraud analyst's resolution of a held transfer, with their note.
    TRANSFER_APPROVE = "transfer.approve"
    TRANSFER_REJECT = "transfer.reject"
    # A new version of the screening rules, with the rules before and after.
    FRAUD_RULES_CHANGE = "fraud_rules.change"
    PRIVACY_EXPORT = "privacy.export"
    PRIVACY_ERASE = "privacy.erase"
    # Written by `bff keys rotate-data | rewrap | retire-data` (bff/db/data_keys.py).
    KEY_ROTATE = "key.rotate"
    KEY_REWRAP = "key.rewrap"
    KEY_RETIRE = "key.retire"
    # Written by the database's triggers on oauth_clients and oauth_grants (migration 0080).
    OAUTH_CLIENT_CREATE = "oauth_client.create"
    OAUTH_CLIENT_CHANGE = "oauth_client.change"
    OAUTH_CLIENT_REMOVE = "oauth_client.remove"
    OAUTH_GRANT_CREATE = "oauth_grant.create"
    OAUTH_GRANT_REVOKE = "oauth_grant.revoke"
    SECOND_FACTOR_ENROLL = "second_factor.enroll"
    SECOND_FACTOR_REMOVE = "second_factor.remove"
    STEP_UP_CONFIRM = "step_up.confirm"
    STEP_UP_FAIL = "step_up.fail"


class AuditResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Where a request came from, as the edge saw it; the unit of work adds it to every entry
    it records (and hands it to the database for the entries its triggers write)."""

    session_id: UUID | None = None
    client_id: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry to append. `subject_id` is the customer the entry is about."""

    operation: AuditOperation
    actor_id: UUID | None
    result: AuditResult = AuditResult.SUCCESS
    session_id: UUID | None = None
    object_type: str | None = None
    object_id: str | None = None
    idempotency_key: str | None = None
    subject_id: UUID | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A stored entry, as auditors read it."""

    id: int
    chain: int
    position: int
    occurred_at: datetime
    actor_id: UUID | None
    session_id: UUID | None
    client_id: str | None
    address: str | None
    operation: str
    object_type: str | None
    object_id: str | None
    idempotency_key: str | None
    result: str
    subject_id: UUID | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Entries matching every given field."""

    operation: str | None = None
    actor_id: UUID | None = None
    subject_id: UUID | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditPageKey:
    """Newest first: up to `first` entries with ids below `before_id`."""

    filter: AuditFilter
    first: int
    before_id: int | None = None
