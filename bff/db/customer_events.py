"""The worker side of customer events on PostgreSQL: claiming what is due, scheduling retries,
the dead letters, the activity read model and the record of each push."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bff.db.failures import unavailable_on_connection_failure
from bff.db.rows import to_customer_event, to_push_device
from bff.domain.notification_models import CustomerEvent, Preferences, PushDevice

# SKIP LOCKED: workers side by side each take different events, and a worker that dies
# releases its claim with its transaction.
_CLAIM = text("""
    SELECT * FROM customer_events
     WHERE dispatched_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
     ORDER BY next_attempt_at, id LIMIT :limit
       FOR UPDATE SKIP LOCKED
""")
_DISPATCHED = text(
    "UPDATE customer_events SET dispatched_at = now() WHERE event_id = ANY(CAST(:ids AS uuid[]))"
)
_RETRY = text("""
    UPDATE customer_events
       SET attempts = attempts + 1, last_error = :error,
           next_attempt_at = now() + make_interval(secs => :delay_s)
     WHERE event_id = :event_id
""")
_DEAD = text("""
    UPDATE customer_events SET attempts = attempts + 1, last_error = :error, dead_at = now()
     WHERE event_id = :event_id
""")
_DEAD_LIST = text("""
    SELECT * FROM customer_events
     WHERE dead_at IS NOT NULL ORDER BY id LIMIT :limit
""")
_REVIVE = text("""
    UPDATE customer_events
       SET dead_at = NULL, attempts = 0, next_attempt_at = now(), last_error = NULL
     WHERE dead_at IS NOT NULL
       AND (CAST(:ids AS uuid[]) IS NULL OR event_id = ANY(CAST(:ids AS uuid[])))
""")
_ACTIVITY = text("""
    INSERT INTO activity_entries (user_id, event_id, kind, occurred_at, data)
    SELECT * FROM jsonb_to_recordset(CAST(:entries AS jsonb))
        AS e(user_id uuid, event_id uuid, kind text, occurred_at timestamptz, data jsonb)
    ON CONFLICT ON CONSTRAINT activity_entries_once DO NOTHING
""")
# Devices of live sessions only: an expired session's device is not told anything.
_AUDIENCE = text("""
    SELECT d.*, p.money_received, p.money_sent, p.account_changes, p.locale
      FROM push_devices d
      JOIN sessions s ON s.id = d.session_id AND s.revoked_at IS NULL AND s.expires_at > now()
      LEFT JOIN notification_preferences p ON p.user_id = d.user_id
     WHERE d.user_id = ANY(CAST(:user_ids AS uuid[]))
""")
_PLAN = text("""
    INSERT INTO push_deliveries (event_id, device_id, platform, token, status)
    SELECT event_id, device_id, platform, token, 'pending'
      FROM unnest(CAST(:events AS uuid[]), CAST(:devices AS uuid[]),
                  CAST(:platforms AS text[]), CAST(:tokens AS text[]))
        AS p(event_id, device_id, platform, token)
    ON CONFLICT (event_id, device_id) DO NOTHING
""")
_PENDING = text("""
    SELECT event_id, device_id, platform, token FROM push_deliveries
     WHERE event_id = ANY(CAST(:ids AS uuid[])) AND status = 'pending'
     ORDER BY event_id, device_id
""")
_DELIVERED = text("""
    UPDATE push_deliveries SET status = :status, ticket_id = :ticket_id, updated_at = now()
     WHERE event_id = :event_id AND device_id = :device_id
""")
_FORGET_DEVICE = text("DELETE FROM push_devices WHERE id = :device_id")
_UNCHECKED = text("""
    SELECT device_id, ticket_id FROM push_deliveries
     WHERE status = 'sent' AND receipt IS NULL AND ticket_id IS NOT NULL
       AND updated_at < now() - make_interval(secs => :age_s)
     ORDER BY updated_at LIMIT :limit
""")
_RECEIPT = text("UPDATE push_deliveries SET receipt = :receipt WHERE ticket_id = :ticket_id")


@dataclass(frozen=True, slots=True)
class Audience:
    """A device that may be told, with its owner's preferences."""

    device: PushDevice
    preferences: Preferences


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: UUID
    device_id: UUID
    platform: str
    token: str


@dataclass(frozen=True, slots=True)
class DeadEvent:
    event: CustomerEvent
    attempts: int
    last_error: str | None


class SqlCustomerEvents:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def claim_due(self, limit: int) -> list[tuple[CustomerEvent, int]]:
        """Up to `limit` events due for handling, locked until the transaction ends, with the
        attempts made so far."""
        rows = await self._connection.execute(_CLAIM, {"limit": limit})
        return [(to_customer_event(row), row["attempts"]) for row in rows.mappings()]

    async def mark_dispatched(self, event_ids: Sequence[UUID]) -> None:
        await self._connection.execute(_DISPATCHED, {"ids": list(event_ids)})

    async def retry_later(self, event_id: UUID, delay_s: float, error: str) -> None:
        await self._connection.execute(
            _RETRY, {"event_id": event_id, "delay_s": delay_s, "error": error[:1000]}
        )

    async def bury(self, event_id: UUID, error: str) -> None:
        await self._connection.execute(_DEAD, {"event_id": event_id, "error": error[:1000]})

    async def dead(self, limit: int) -> list[DeadEvent]:
        rows = await self._connection.execute(_DEAD_LIST, {"limit": limit})
        return [
            DeadEvent(to_customer_event(row), row["attempts"], row["last_error"])
            for row in rows.mappings()
        ]

    async def revive(self, event_ids: Sequence[UUID] | None) -> int:
        """Put dead events (these, or all) back in line; returns how many."""
        result = await self._connection.execute(
            _REVIVE, {"ids": list(event_ids) if event_ids is not None else None}
        )
        return int(result.rowcount)

    async def record_activity(self, events: Sequence[CustomerEvent]) -> None:
        """Add each event to its customer's feed, once, however often it is handled."""
        entries = [
            {
                "user_id": str(event.user_id),
                "event_id": str(event.event_id),
                "kind": event.kind.value,
                "occurred_at": event.occurred_at.isoformat(),
                "data": event.payload,
            }
            for event in events
        ]
        await self._connection.execute(_ACTIVITY, {"entries": json.dumps(entries)})

    async def audience(self, user_ids: Sequence[UUID]) -> list[Audience]:
        rows = await self._connection.execute(_AUDIENCE, {"user_ids": list(set(user_ids))})
        return [
            Audience(
                to_push_device(row),
                Preferences(
                    money_received=row["money_received"],
                    money_sent=row["money_sent"],
                    account_changes=row["account_changes"],
                    locale=row["locale"],
                )
                if row["locale"] is not None
                else Preferences(),
            )
            for row in rows.mappings()
        ]

    async def plan(self, pushes: Sequence[tuple[UUID, PushDevice]]) -> None:
        """Record the pushes to make (event, device), keeping any already recorded."""
        await self._connection.execute(
            _PLAN,
            {
                "events": [event_id for event_id, _ in pushes],
                "devices": [device.id for _, device in pushes],
                "platforms": [device.platform.value for _, device in pushes],
                "tokens": [device.token for _, device in pushes],
            },
        )

    async def pending(self, event_ids: Sequence[UUID]) -> list[Delivery]:
        """The recorded pushes of these events not yet sent."""
        rows = await self._connection.execute(_PENDING, {"ids": list(event_ids)})
        return [Delivery(**row) for row in rows.mappings()]

    async def delivered(self, delivery: Delivery, status: str, ticket_id: str | None) -> None:
        await self._connection.execute(
            _DELIVERED,
            {
                "event_id": delivery.event_id,
                "device_id": delivery.device_id,
                "status": status,
                "ticket_id": ticket_id,
            },
        )

    async def forget_device(self, device_id: UUID) -> None:
        await self._connection.execute(_FORGET_DEVICE, {"device_id": device_id})

    async def unchecked_tickets(self, age_s: float, limit: int) -> list[tuple[UUID, str]]:
        rows = await self._connection.execute(_UNCHECKED, {"age_s": age_s, "limit": limit})
        return [(row["device_id"], row["ticket_id"]) for row in rows.mappings()]

    async def record_receipt(self, ticket_id: str, receipt: str) -> None:
        await self._connection.execute(_RECEIPT, {"ticket_id": ticket_id, "receipt": receipt})


@asynccontextmanager
async def customer_events(engine: AsyncEngine) -> AsyncIterator[SqlCustomerEvents]:
    """One transaction on the customer-event tables; committed when the block ends cleanly."""
    with unavailable_on_connection_failure():
        async with engine.begin() as connection:
            yield SqlCustomerEvents(connection)
