"""`bff worker`: run a customer-event worker, and look at or retry its dead letters."""

from __future__ import annotations

import asyncio
import json

from bff.config import Settings
from bff.db.database import Database
from bff.notify import amqp
from bff.notify.service import Notifications


def run_worker(settings: Settings, url: str) -> None:
    """Handle customer events until interrupted (SIGINT or SIGTERM)."""

    async def run() -> None:
        database = Database(settings, url)
        notifications = Notifications(settings, database)
        receipts = asyncio.create_task(notifications.receipts(), name="push-receipts")
        try:
            await notifications.worker()
        finally:
            receipts.cancel()
            await notifications.close()
            await database.dispose()

    asyncio.run(run())


def dead_letters(settings: Settings, url: str, *, retry: bool) -> None:
    """Print the dead-lettered events (one JSON line each); with `retry`, put them back."""

    async def run() -> list[dict[str, object]]:
        if settings.amqp_url:
            letters = await amqp.dead_letters(
                settings.amqp_url,
                amqp.Names(settings.amqp_prefix),
                settings.retry_policy,
                retry=retry,
            )
            return [
                {"eventId": letter.message_id, "attempts": letter.attempts, "error": letter.error}
                for letter in letters
            ]
        database = Database(settings, url)
        try:
            async with database.customer_events() as store:
                dead = await store.dead(limit=10_000)
                if retry:
                    await store.revive([letter.event.event_id for letter in dead])
        finally:
            await database.dispose()
        return [
            {
                "eventId": str(letter.event.event_id),
                "attempts": letter.attempts,
                "error": letter.last_error,
            }
            for letter in dead
        ]

    letters = asyncio.run(run())
    for letter in letters:
        print(json.dumps(letter))
    action = "put back in the work queue" if retry else "dead-lettered"
    print(f"{len(letters)} events {action}")
