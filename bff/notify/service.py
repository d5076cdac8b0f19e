"""The customer-event machinery of one process, assembled from the settings: a dispatcher to
RabbitMQ in serving processes (with AMQP_URL), and workers (from RabbitMQ, or straight from
PostgreSQL without it)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from contextlib import suppress
from typing import Any

from bff.config import Settings
from bff.db.database import Database
from bff.domain.notification_models import Platform
from bff.notify.amqp import AmqpDispatcher, AmqpWorker, Names
from bff.notify.expo import ExpoPush
from bff.notify.fcm import FcmPush
from bff.notify.handler import EventHandler
from bff.notify.push import PushSender
from bff.notify.table_worker import TableWorker

RECEIPT_ROUND_S = 60.0


def push_senders(settings: Settings) -> dict[Platform, PushSender]:
    senders: dict[Platform, PushSender] = {
        Platform.EXPO: ExpoPush(
            settings.push_expo_url,
            settings.push_expo_receipts_url,
            settings.push_expo_access_token,
            settings.push_timeout_s,
        )
    }
    if settings.push_fcm_credentials_file is not None:
        senders[Platform.FCM] = FcmPush(
            settings.push_fcm_credentials_file, settings.push_fcm_url, settings.push_timeout_s
        )
    return senders


class Notifications:
    """Background tasks that carry customer events to their consumers."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self._settings = settings
        self._database = database
        self._senders = push_senders(settings)
        self.handler = EventHandler(database.customer_events, self._senders)
        self._tasks: list[asyncio.Task[None]] = []

    def worker(self) -> Coroutine[Any, Any, None]:
        """The worker loop: from RabbitMQ when configured, else from PostgreSQL."""
        settings = self._settings
        if settings.amqp_url:
            return AmqpWorker(
                settings.amqp_url,
                Names(settings.amqp_prefix),
                self.handler,
                settings.retry_policy,
                settings.worker_prefetch,
            ).run()
        return TableWorker(
            self._database.customer_events, self.handler, settings.retry_policy
        ).run()

    async def receipts(self) -> None:
        """Check push receipts now and then, forgetting devices the services call dead."""
        while True:
            await asyncio.sleep(RECEIPT_ROUND_S)
            with suppress(Exception):
                await self.handler.check_receipts(self._settings.push_receipt_delay_s)

    def start_for_server(self) -> None:
        """What a serving process runs: the dispatcher (with a broker), an inline worker
        (where configured)."""
        settings = self._settings
        if settings.amqp_url:
            dispatcher = AmqpDispatcher(
                settings.amqp_url,
                Names(settings.amqp_prefix),
                self._database.customer_events,
                settings.retry_policy,
            )
            self._spawn(dispatcher.run(), "customer-event-dispatch")
        if settings.runs_inline_worker:
            self._spawn(self.worker(), "customer-event-worker")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        for sender in self._senders.values():
            await sender.close()
