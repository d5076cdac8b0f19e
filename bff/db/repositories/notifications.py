"""Push devices, notification preferences and the activity feed on PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.rows import to_activity_entry, to_push_device, to_spending_line
from bff.domain.notification_models import (
    ActivityEntry,
    ActivityPageKey,
    Platform,
    Preferences,
    PushDevice,
    SpendingLine,
)

_REGISTER = text("""
    INSERT INTO push_devices (user_id, session_id, platform, token)
    VALUES (:user_id, :session_id, :platform, :token)
    ON CONFLICT ON CONSTRAINT push_devices_one_per_session
    DO UPDATE SET platform = excluded.platform, token = excluded.token, created_at = now()
    RETURNING *
""")
_PREFERENCES = text("""
    SELECT money_received, money_sent, account_changes, locale
      FROM notification_preferences WHERE user_id = :user_id
""")
_SAVE_PREFERENCES = text("""
    INSERT INTO notification_preferences
        (user_id, money_received, money_sent, account_changes, locale)
    VALUES (:user_id, :money_received, :money_sent, :account_changes, :locale)
    ON CONFLICT (user_id) DO UPDATE SET
        money_received = excluded.money_received, money_sent = excluded.money_sent,
        account_changes = excluded.account_changes, locale = excluded.locale
""")
_ACTIVITY = text("""
    SELECT id, kind, occurred_at, data FROM activity_entries
     WHERE user_id = :user_id AND id < :before
     ORDER BY id DESC LIMIT :limit
""")
# The month is taken in UTC, as every timestamp the API shows is. The kinds are SENT_KINDS, as
# the partial index activity_entries_spending (migration 0160) names them.
_SPENDING = text("""
    SELECT :month AS month,
           CASE WHEN (data ->> 'counterparty_is_bank')::boolean THEN 'the bank'
                ELSE '••' || (data ->> 'counterparty_last_four') END AS counterparty,
           data ->> 'currency' AS currency,
           sum((data ->> 'amount')::bigint) AS amount,
           count(*) AS transfers
      FROM activity_entries
     WHERE user_id = :user_id AND kind IN ('money_sent', 'transfer_approved')
       AND occurred_at >= (CAST(:month || '-01' AS date) AT TIME ZONE 'UTC')
       AND occurred_at < ((CAST(:month || '-01' AS date) + interval '1 month') AT TIME ZONE 'UTC')
     GROUP BY 2, 3, data ->> 'counterparty_account_id'
     ORDER BY amount DESC, counterparty, currency
""")
_NO_ID = 2**63 - 1


class SqlNotifications:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def register_device(
        self, user_id: UUID, session_id: UUID, platform: Platform, token: str
    ) -> PushDevice:
        row = (
            (
                await self._connection.execute(
                    _REGISTER,
                    {
                        "user_id": user_id,
                        "session_id": session_id,
                        "platform": platform.value,
                        "token": token,
                    },
                )
            )
            .mappings()
            .one()
        )
        return to_push_device(row)

    async def preferences(self, user_id: UUID) -> Preferences:
        row = (
            (await self._connection.execute(_PREFERENCES, {"user_id": user_id}))
            .mappings()
            .one_or_none()
        )
        return Preferences(**row) if row is not None else Preferences()

    async def save_preferences(self, user_id: UUID, preferences: Preferences) -> None:
        await self._connection.execute(
            _SAVE_PREFERENCES, {"user_id": user_id, **asdict(preferences)}
        )

    async def activity(self, key: ActivityPageKey) -> list[ActivityEntry]:
        rows = await self._connection.execute(
            _ACTIVITY,
            {
                "user_id": key.user_id,
                "before": key.before_id if key.before_id is not None else _NO_ID,
                "limit": key.first + 1,
            },
        )
        return [to_activity_entry(row) for row in rows.mappings()]

    async def spending(self, user_id: UUID, month: str) -> list[SpendingLine]:
        rows = await self._connection.execute(_SPENDING, {"user_id": user_id, "month": month})
        return [to_spending_line(row) for row in rows.mappings()]
