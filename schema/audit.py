"""The audit log as auditors read it: entries, their filter, their pages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Self
from uuid import UUID

import strawberry

from bff.domain import audit_models
from schema.ids import encode_id


@strawberry.type(
    description="One entry of the tamper-evident audit log: who did what, with which result, "
    "when. Entries name people by ID only."
)
class AuditEntry:
    id: strawberry.ID = strawberry.field(description="The entry's number in the whole log.")
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    operation: str = strawberry.field(
        description="What was done, as `object.verb`: `transfer.create`, `login.fail`, ..."
    )
    result: str = strawberry.field(description="`success`, `failure` or `refused`.")
    actor_id: strawberry.ID | None = strawberry.field(
        description="The user who acted (a User ID); null for anonymous requests and local tools."
    )
    session_id: strawberry.ID | None = strawberry.field(
        description="The session the request came through (a Session ID), when there was one."
    )
    client_id: str | None = strawberry.field(
        description="The third-party client that acted for the user, when one did."
    )
    address: str | None = strawberry.field(description="The client address the request came from.")
    object_type: str | None = strawberry.field(description="The kind of object acted on.")
    object_id: str | None = strawberry.field(description="The raw id of the object acted on.")
    idempotency_key: str | None = strawberry.field(
        description="The idempotency key of a money movement."
    )
    subject_id: strawberry.ID | None = strawberry.field(
        description="The customer the entry is about (a User ID)."
    )
    detail: str = strawberry.field(description="More about it, as a JSON object.")
    chain: int = strawberry.field(description="Which hash chain holds the entry.")
    position: int = strawberry.field(description="The entry's place in its chain, from 1.")
    previous_hash: str = strawberry.field(
        description="SHA-256 (hex) of the entry before it in its chain."
    )
    hash: str = strawberry.field(description="SHA-256 (hex) of this entry and `previousHash`.")

    @classmethod
    def of(cls, entry: audit_models.AuditEntry) -> Self:
        def user(raw: UUID | None) -> strawberry.ID | None:
            return strawberry.ID(encode_id("User", raw)) if raw else None

        return cls(
            id=strawberry.ID(str(entry.id)),
            occurred_at=entry.occurred_at,
            operation=entry.operation,
            result=entry.result,
            actor_id=user(entry.actor_id),
            session_id=strawberry.ID(encode_id("Session", entry.session_id))
            if entry.session_id
            else None,
            client_id=entry.client_id,
            address=entry.address,
            object_type=entry.object_type,
            object_id=entry.object_id,
            idempotency_key=entry.idempotency_key,
            subject_id=user(entry.subject_id),
            detail=json.dumps(entry.detail, sort_keys=True),
            chain=entry.chain,
            position=entry.position,
            previous_hash=entry.prev_hash,
            hash=entry.hash,
        )


@strawberry.input(description="Only the entries that match every field given.")
class AuditLogFilter:
    operation: str | None = strawberry.field(
        default=None, description="Exactly this operation, such as `transfer.create`."
    )
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Entries of what this user (a User ID) did."
    )
    subject_id: strawberry.ID | None = strawberry.field(
        default=None, description="Entries about this customer (a User ID)."
    )
    object_id: str | None = strawberry.field(
        default=None, description="Entries about this object (its raw id)."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Entries at or after this time."
    )
    until: datetime | None = strawberry.field(default=None, description="Entries before this time.")
