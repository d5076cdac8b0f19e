"""The double-entry ledger on PostgreSQL: one function call posts a whole money movement."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.cache import keys as cache_keys
from bff.db import driver
from bff.db.rows import to_transfer
from bff.db.sealing import Sealing
from bff.domain.audit_models import AuditContext
from bff.domain.fraud import Screening
from bff.domain.models import Transfer, TransferStatus
from bff.domain.ports import (
    HoldOutcome,
    HoldResult,
    PostingCommand,
    PostingOutcome,
    PostingResult,
    Refusal,
)

# post_transfer() (migration 0010) claims the key, locks, checks, posts and stores the result.
# Arguments by name, so that a parameter added with a default leaves this call valid.
# `p_description` also sets `bff.audit_context` (who asked) for the statement's own transaction:
# arguments are evaluated before the function runs, so the audit triggers of migration 0020 see
# it, and no extra round trip is paid for it.
_POST_TRANSFER = """
    SELECT * FROM post_transfer(
        p_actor_id => $1, p_key => $2, p_fingerprint => $3, p_ttl_s => $4,
        p_transfer_id => $5, p_kind => $6, p_amount => $7, p_currency => $8,
        p_memo => $10, p_description => CASE WHEN set_config('bff.audit_context', $21, true)
                                             IS NOT NULL THEN $9 END,
        p_source_id => $11, p_destination_id => $12, p_destination_number => $13,
        p_source_field => $14, p_destination_field => $15,
        p_amount_field => $16, p_currency_field => $17, p_hold_s => $18,
        p_screening => $19, p_refusal => $20)
"""
# resolve_transfer() (migration 0090) settles or voids a held transfer, exactly once.
_RESOLVE = """
    SELECT * FROM resolve_transfer(
        p_transfer_id => $1, p_outcome => $2, p_description => $3, p_due_only => $4)
"""
_DUE = text("""
    SELECT id FROM transfers
     WHERE status = 'pending' AND hold_expires_at <= now()
     ORDER BY hold_expires_at LIMIT :limit
""")


class SqlLedger:
    def __init__(
        self,
        connection: AsyncConnection,
        fences: cache_keys.Fences,
        audit: AuditContext,
        sealing: Sealing,
    ) -> None:
        self._connection = connection
        self._fences = fences
        self._audit = audit
        self._sealing = sealing

    async def post_once(self, command: PostingCommand) -> PostingResult:
        """One round trip: a prepared statement on the driver connection, which, alone in its
        unit of work, is its own transaction (no BEGIN or COMMIT travels)."""
        fields = command.fields
        destination_id = command.destination_id
        if command.destination_number is not None:
            # Numbers are sealed: found by blind index. None (and no number) is not found.
            number = command.destination_number
            destination_id = await self._sealing.account_by_number(self._connection, number)
        # The memo (and the entries' description, which repeats it) sealed with the writer's key.
        memo, description = command.memo, command.description
        if memo is not None:
            key = await self._sealing.writer_key(self._connection, command.actor_id)
            memo = self._sealing.seal_memo(key, command.transfer_id, memo)
            description = self._sealing.seal_memo(key, command.transfer_id, description)
        row = await driver.fetchrow(
            self._connection,
            _POST_TRANSFER,
            command.actor_id,
            command.key,
            command.fingerprint,
            float(command.ttl_s),
            command.transfer_id,
            command.kind.value,
            command.money.minor,
            command.money.currency,
            description,
            memo,
            command.source_id,
            destination_id,
            None,
            fields.source,
            fields.destination,
            fields.amount,
            fields.currency,
            None if command.hold_s is None else float(command.hold_s),
            _screening(command),
            None if command.refusal is None else json.dumps(command.refusal.to_stored()),
            self._audit_context(command),
        )
        outcome = PostingOutcome(row["outcome"])
        if outcome is PostingOutcome.POSTED:
            self._fence_accounts(row)
        refusal = row["refusal"]  # decoded by the jsonb codec SQLAlchemy sets on its connections
        screening = row["screening"]
        return PostingResult(
            outcome,
            transfer=await self._transfer(row),
            refusal=Refusal.from_stored(refusal) if refusal is not None else None,
            screening=Screening.from_stored(screening) if screening is not None else None,
        )

    def _audit_context(self, command: PostingCommand) -> str:
        """Who asked, for the audit triggers of the posting (migration 0020)."""
        audit = self._audit
        return json.dumps(
            {
                "session_id": str(audit.session_id) if audit.session_id else None,
                "client_id": audit.client_id,
                "address": audit.address,
                "idempotency_key": command.key,
                "operation": f"{command.kind.value}.create",
            }
        )

    async def resolve(
        self, transfer_id: UUID, outcome: TransferStatus, description: str, *, due_only: bool
    ) -> HoldResult:
        row = await driver.fetchrow(
            self._connection, _RESOLVE, transfer_id, outcome.value, description, due_only
        )
        result = HoldOutcome(row["outcome"])
        if result is HoldOutcome.RESOLVED:
            self._fence_accounts(row)
            self._fences.append((cache_keys.transfer(transfer_id), row["version"]))
        refusal = row["refusal"]
        return HoldResult(
            result,
            transfer=await self._transfer(row),
            refusal=Refusal.from_stored(refusal) if refusal is not None else None,
        )

    async def _transfer(self, row: Mapping[str, Any]) -> Transfer | None:
        """The transfer post_transfer() or resolve_transfer() answered, if any, its memo opened
        with its writer's key (the posting actor's, or a resolved hold's initiator's)."""
        if row["id"] is None:
            return None
        memo = row["memo"]
        if memo is not None:
            key = await self._sealing.writer_key(self._connection, row["initiated_by"])
            memo = self._sealing.open_memo(key, row["id"], memo)
        return to_transfer({**row, "memo": memo})

    async def due_holds(self, limit: int) -> list[UUID]:
        rows = await self._connection.execute(_DUE, {"limit": limit})
        return [transfer_id for (transfer_id,) in rows]

    def _fence_accounts(self, row: Mapping[str, Any]) -> None:
        """The new sequence of each side that changed (a hold changes only its source)."""
        for side in ("from", "to"):
            if row[f"{side}_sequence"] is not None:
                self._fences.append(
                    (cache_keys.account(row[f"{side}_account_id"]), row[f"{side}_sequence"])
                )


def _screening(command: PostingCommand) -> str | None:
    """The screening as post_transfer() stores it, with the feature vector it was scored on."""
    if command.screening is None:
        return None
    return json.dumps({**command.screening.to_stored(), "features": list(command.features)})
