"""Fraud screening's storage: the facts a screening reads (one statement), and the rules."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db import driver
from bff.db.rows import to_transfer
from bff.db.sealing import Sealing
from bff.domain.fraud import Rules, Screening
from bff.domain.fraud_signals import Signals
from bff.domain.ports import ScreeningFacts
from bff.domain.review_models import HeldTransfer, Review, ReviewClaim, ReviewPageKey

# fraud_signals() (migration 0091) reads everything in one statement.
_FACTS = """
    SELECT * FROM fraud_signals(
        p_actor_id => $1, p_session_id => $2, p_key => $3, p_source_id => $4,
        p_destination_id => $5, p_destination_number => $6)
"""
_RULES = text("SELECT rules, version FROM fraud_rules ORDER BY version DESC LIMIT 1")
_SAVE_RULES = text("""
    INSERT INTO fraud_rules (version, rules, changed_by, note)
    VALUES (:version, CAST(:rules AS jsonb), :changed_by, :note)
    ON CONFLICT (version) DO NOTHING
    RETURNING version
""")

# A screening held for review with its transfer (index transfer_screenings_review_queue of
# migration 0100); the transfer's memo is not the analyst's to read.
_HELD = """
    SELECT t.id, t.kind, t.status, t.amount, t.currency, t.from_account_id, t.to_account_id,
           src.owner_id AS from_owner_id, dst.owner_id AS to_owner_id, NULL AS memo,
           t.initiated_by, t.created_at, t.version, t.hold_expires_at, sc.screening, sc.review,
           coalesce(src.number_last_four, right(src.account_number, 4)) AS from_last_four,
           coalesce(dst.number_last_four, right(dst.account_number, 4)) AS to_last_four,
           floor(extract(epoch FROM now() - sc.created_at))::bigint AS age_s,
           sc.created_at AS held_at
      FROM transfer_screenings sc
      JOIN transfers t ON t.id = sc.transfer_id
      JOIN accounts src ON src.id = t.from_account_id
      JOIN accounts dst ON dst.id = t.to_account_id
     WHERE sc.screening ->> 'decision' = 'review'
"""
# Not decided yet, oldest first, none the viewer sent or receives.
_QUEUE = text(
    _HELD
    + """
       AND sc.review IS NULL AND t.status = 'pending'
       AND (CAST(:after_at AS timestamptz) IS NULL
            OR (sc.created_at, sc.transfer_id) > (:after_at, CAST(:after_id AS uuid)))
       AND :viewer NOT IN (t.initiated_by, src.owner_id)
       AND dst.owner_id IS DISTINCT FROM :viewer
     ORDER BY sc.created_at, sc.transfer_id
     LIMIT :limit
"""
)
_CLAIM = text(_HELD + " AND sc.transfer_id = :transfer_id FOR UPDATE OF sc")
_RECORD_REVIEW = text("""
    UPDATE transfer_screenings
       SET review = :review, reviewed_by = :reviewer, reviewed_at = now(), note = :note
     WHERE transfer_id = :transfer_id
""")


class SqlFraud:
    def __init__(self, connection: AsyncConnection, sealing: Sealing) -> None:
        self._connection = connection
        self._sealing = sealing

    async def facts(
        self,
        actor_id: UUID,
        session_id: UUID | None,
        key: str,
        amount: int,
        source_id: UUID,
        destination_id: UUID | None,
        destination_number: str | None,
    ) -> ScreeningFacts:
        if destination_number is not None:
            # Numbers are sealed: the payee is found by blind index.
            found = await self._sealing.account_by_number(self._connection, destination_number)
            destination_id, destination_number = destination_id or found, None
        row = await driver.fetchrow(
            self._connection,
            _FACTS,
            actor_id,
            session_id,
            key,
            source_id,
            destination_id,
            destination_number,
        )
        signals = Signals(
            amount=amount,
            available_balance=row["available_balance"] or 0,
            history_amounts=tuple(row["history_amounts"]),
            history_hours=tuple(row["history_hours"]),
            sent_1h=row["sent_1h"],
            sent_24h=row["sent_24h"],
            paid_payee_before=row["paid_payee_before"],
            payee_age_days=float(row["payee_age_days"]),
            payee_senders_24h=row["payee_senders_24h"],
            session_age_hours=float(row["session_age_hours"]),
            device_seen_before=row["device_seen_before"],
            failed_logins=row["failed_logins"],
            password_changed_24h=row["password_changed_24h"],
            new_sessions_24h=row["new_sessions_24h"],
            hour=row["hour"],
        )
        return ScreeningFacts(
            answered=row["answered"],
            signals=signals,
            destination_id=row["destination_id"],
            rules=_rules(row["rules"], row["rules_version"]),
        )

    async def rules(self) -> Rules:
        row = (await self._connection.execute(_RULES)).first()
        return _rules(row.rules, row.version) if row is not None else Rules()

    async def save_rules(self, rules: Rules, changed_by: UUID, note: str) -> Rules | None:
        version = rules.version + 1
        saved = await self._connection.execute(
            _SAVE_RULES,
            {
                "version": version,
                "rules": json.dumps(rules.to_stored()),
                "changed_by": changed_by,
                "note": note,
            },
        )
        if saved.first() is None:
            return None
        return Rules.from_stored(rules.to_stored(), version)

    async def review_queue(self, key: ReviewPageKey) -> list[HeldTransfer]:
        after_at, after_id = key.after if key.after is not None else (None, None)
        rows = await self._connection.execute(
            _QUEUE,
            {
                "viewer": key.viewer_id,
                "after_at": after_at,
                "after_id": after_id,
                "limit": key.first + 1,
            },
        )
        return [
            HeldTransfer(
                transfer=to_transfer(row),
                screening=_screening(row),
                from_last_four=row["from_last_four"],
                to_last_four=row["to_last_four"],
                held_at=row["held_at"],
                age_s=row["age_s"],
            )
            for row in rows.mappings()
        ]

    async def claim_review(self, transfer_id: UUID) -> ReviewClaim | None:
        row = (
            (await self._connection.execute(_CLAIM, {"transfer_id": transfer_id}))
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        review = row["review"]
        return ReviewClaim(
            transfer=to_transfer(row),
            screening=_screening(row),
            review=Review(review) if review is not None else None,
        )

    async def record_review(
        self, transfer_id: UUID, review: Review, reviewer_id: UUID, note: str
    ) -> None:
        await self._connection.execute(
            _RECORD_REVIEW,
            {
                "transfer_id": transfer_id,
                "review": review.value,
                "reviewer": reviewer_id,
                "note": note,
            },
        )


def _screening(row: Mapping[Any, Any]) -> Screening:
    return Screening.from_stored(row["screening"])


# The rules in force, as every screening reads them, parsed once: with long allow lists,
# parsing them anew cost each screening about as much as scoring it. Keyed by the content
# itself, so that other rules of the same version (another database's) never match.
_parsed: dict[tuple[int, str], Rules] = {}


def _rules(stored: object, version: int | None) -> Rules:
    if stored is None or version is None:
        return Rules()
    # On a plain driver connection jsonb arrives as text, the key as it is; SQLAlchemy's has it
    # decoded.
    key = (version, stored if isinstance(stored, str) else json.dumps(stored))
    parsed = _parsed.get(key)
    if parsed is None:
        document = json.loads(stored) if isinstance(stored, str) else stored
        assert isinstance(document, dict)
        parsed = Rules.from_stored(document, version)
        # Only the rules in force are read often: one entry is enough.
        _parsed.clear()
        _parsed[key] = parsed
    return parsed
