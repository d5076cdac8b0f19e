"""Fraud screening's storage: the facts a screening reads (one statement), and the rules."""

from __future__ import annotations

import json
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db import driver
from bff.db.sealing import Sealing
from bff.domain.fraud import Rules
from bff.domain.fraud_signals import Signals
from bff.domain.ports import ScreeningFacts

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


def _rules(stored: object, version: int | None) -> Rules:
    if stored is None or version is None:
        return Rules()
    # On the driver connection jsonb arrives as text; through SQLAlchemy it is decoded.
    document = json.loads(stored) if isinstance(stored, str) else stored
    assert isinstance(document, dict)
    return Rules.from_stored(document, version)
