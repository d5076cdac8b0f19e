"""The audit log on PostgreSQL: appending (migration 0020's `audit_append`), reading pages for
auditors, and reading whole chains for verification."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.domain.audit_models import AuditContext, AuditEntry, AuditPageKey, AuditRecord

_APPEND = text("""
    SELECT audit_append(
        p_operation => :operation, p_result => :result, p_actor_id => :actor_id,
        p_session_id => :session_id, p_client_id => :client_id, p_address => :address,
        p_object_type => :object_type, p_object_id => :object_id,
        p_idempotency_key => :idempotency_key, p_subject_id => :subject_id,
        p_detail => CAST(:detail AS jsonb))
""")
_SELECT = """SELECT id, chain, position, occurred_at, actor_id, session_id, client_id, address,
    operation, object_type, object_id, idempotency_key, result, subject_id, detail,
    detail::text AS detail_text, prev_hash, hash
      FROM audit_log"""
# Each filter field applies only when given; newest first, below the cursor's id.
_PAGE = text(
    _SELECT
    + """
     WHERE (CAST(:before AS bigint) IS NULL OR id < :before)
       AND (CAST(:operation AS text) IS NULL OR operation = :operation)
       AND (CAST(:actor_id AS uuid) IS NULL OR actor_id = :actor_id)
       AND (CAST(:subject_id AS uuid) IS NULL OR subject_id = :subject_id)
       AND (CAST(:object_id AS text) IS NULL OR object_id = :object_id)
       AND (CAST(:since AS timestamptz) IS NULL OR occurred_at >= :since)
       AND (CAST(:until AS timestamptz) IS NULL OR occurred_at < :until)
     ORDER BY id DESC
     LIMIT :limit
"""
)
_CHAIN_BATCH = text(
    _SELECT
    + """
     WHERE (chain, position) > (:chain, :position)
     ORDER BY chain, position
     LIMIT :limit
"""
)
_HEADS = text("SELECT chain, position, hash FROM audit_heads ORDER BY chain")


def to_audit_entry(row: RowMapping) -> AuditEntry:
    detail = row["detail"]
    return AuditEntry(
        id=row["id"],
        chain=row["chain"],
        position=row["position"],
        occurred_at=row["occurred_at"],
        actor_id=row["actor_id"],
        session_id=row["session_id"],
        client_id=row["client_id"],
        address=row["address"],
        operation=row["operation"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        idempotency_key=row["idempotency_key"],
        result=row["result"],
        subject_id=row["subject_id"],
        detail=json.loads(detail) if isinstance(detail, str) else dict(detail),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class SqlAudit:
    def __init__(self, connection: AsyncConnection, context: AuditContext) -> None:
        self._connection = connection
        self._context = context

    async def record(self, record: AuditRecord) -> None:
        """Append `record`, with where the request came from, in this transaction."""
        context = self._context
        await self._connection.execute(
            _APPEND,
            {
                "operation": record.operation.value,
                "result": record.result.value,
                "actor_id": record.actor_id,
                "session_id": record.session_id or context.session_id,
                "client_id": context.client_id,
                "address": context.address,
                "object_type": record.object_type,
                "object_id": record.object_id,
                "idempotency_key": record.idempotency_key,
                "subject_id": record.subject_id,
                "detail": json.dumps(record.detail, sort_keys=True, default=str),
            },
        )

    async def page(self, key: AuditPageKey) -> list[AuditEntry]:
        found = key.filter
        params: dict[str, Any] = {
            "before": key.before_id,
            "operation": found.operation,
            "actor_id": found.actor_id,
            "subject_id": found.subject_id,
            "object_id": found.object_id,
            "since": found.since,
            "until": found.until,
            "limit": key.first + 1,
        }
        rows = (await self._connection.execute(_PAGE, params)).mappings()
        return [to_audit_entry(row) for row in rows]


async def chain_rows(connection: AsyncConnection, batch: int = 2000) -> AsyncIterator[RowMapping]:
    """Every entry, chain by chain in position order, read in batches (keyset)."""
    chain, position = -1, 0
    while True:
        params = {"chain": chain, "position": position, "limit": batch}
        rows = list((await connection.execute(_CHAIN_BATCH, params)).mappings())
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        chain, position = rows[-1]["chain"], rows[-1]["position"]


async def chain_heads(connection: AsyncConnection) -> list[tuple[int, int, str]]:
    """Each chain's (chain, position, hash) as `audit_heads` records it."""
    rows = (await connection.execute(_HEADS)).mappings()
    return [(row["chain"], row["position"], row["hash"]) for row in rows]
