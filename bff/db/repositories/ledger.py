"""The double-entry ledger on PostgreSQL: one function call posts a whole money movement."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncConnection

from bff.cache import keys as cache_keys
from bff.db import driver
from bff.db.rows import to_transfer
from bff.db.sealing import Sealing
from bff.domain.audit_models import AuditContext
from bff.domain.ports import PostingCommand, PostingOutcome, PostingResult, Refusal

# post_transfer() (migration 0010) claims the key, locks, checks, posts and stores the result.
# Arguments by name, so that a parameter added with a default leaves this call valid.
# `p_description` also sets `bff.audit_context` (who asked) for the statement's own transaction:
# arguments are evaluated before the function runs, so the audit triggers of migration 0020 see
# it, and no extra round trip is paid for it.
_POST_TRANSFER = """
    SELECT * FROM post_transfer(
        p_actor_id => $1, p_key => $2, p_fingerprint => $3, p_ttl_s => $4,
        p_transfer_id => $5, p_kind => $6, p_amount => $7, p_currency => $8,
        p_memo => $10, p_description => CASE WHEN set_config('bff.audit_context', $18, true)
                                             IS NOT NULL THEN $9 END,
        p_source_id => $11, p_destination_id => $12, p_destination_number => $13,
        p_source_field => $14, p_destination_field => $15,
        p_amount_field => $16, p_currency_field => $17)
"""

# Account numbers are sealed: the destination is found by the number's blind index first.
_BY_NUMBER = """
    SELECT (SELECT id FROM accounts WHERE number_index = $1 AND kind = 'customer') AS id
"""


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
            index = self._sealing.index("account_number", command.destination_number)
            # No account (None, and no number): post_transfer refuses it as not found.
            destination_id = (await driver.fetchrow(self._connection, _BY_NUMBER, index))["id"]
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
            command.description,
            command.memo,
            command.source_id,
            destination_id,
            None,
            fields.source,
            fields.destination,
            fields.amount,
            fields.currency,
            self._audit_context(command),
        )
        outcome = PostingOutcome(row["outcome"])
        if outcome is PostingOutcome.POSTED:
            self._fences += [
                (cache_keys.account(row["from_account_id"]), row["from_sequence"]),
                (cache_keys.account(row["to_account_id"]), row["to_sequence"]),
            ]
        refusal = row["refusal"]  # decoded by the jsonb codec SQLAlchemy sets on its connections
        return PostingResult(
            outcome,
            transfer=to_transfer(row) if row["id"] is not None else None,
            refusal=Refusal.from_stored(refusal) if refusal is not None else None,
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
