"""The `auditLog` query: keyset pages of the audit log, newest first (auditors and admins)."""

from __future__ import annotations

from bff.api.context import Info
from bff.domain import audit
from bff.domain.audit_models import AuditFilter, AuditPageKey
from schema.audit import AuditEntry, AuditLogFilter
from schema.ids import decode_id
from schema.pagination import Connection, check_first, decode_sequence_cursor, encode_cursor


def _filter(given: AuditLogFilter | None) -> AuditFilter:
    if given is None:
        return AuditFilter()
    return AuditFilter(
        operation=given.operation,
        actor_id=decode_id(given.actor_id, "User", "filter.actorId") if given.actor_id else None,
        subject_id=decode_id(given.subject_id, "User", "filter.subjectId")
        if given.subject_id
        else None,
        object_id=given.object_id,
        since=given.since,
        until=given.until,
    )


async def audit_log(
    info: Info, first: int, after: str | None, filter: AuditLogFilter | None
) -> Connection[AuditEntry]:
    key = AuditPageKey(
        _filter(filter), check_first(first), decode_sequence_cursor(after) if after else None
    )
    entries = await audit.audit_log(info.context.unit_of_work(), info.context.actor, key)
    page = entries[: key.first]
    return Connection.of(
        [AuditEntry.of(entry) for entry in page],
        [encode_cursor(entry.id) for entry in page],
        len(entries) > key.first,
    )
