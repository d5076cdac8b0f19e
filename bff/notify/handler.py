"""What a worker does with customer events: add each to its customer's activity feed, and push
it to each of the customer's registered devices that should hear of it, each at most once."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from uuid import UUID

from bff.db.customer_events import Audience, Delivery, SqlCustomerEvents
from bff.domain.errors import ServiceUnavailable
from bff.domain.notification_models import CustomerEvent, Platform, Preferences, PushDevice
from bff.domain.notification_texts import PushText, compose
from bff.notify.push import Outcome, PushMessage, PushResult, PushSender

log = logging.getLogger("bff.notify")

Transaction = Callable[[], AbstractAsyncContextManager[SqlCustomerEvents]]


class EventHandler:
    """Handles a batch of events; what it reports as failed is safe to hand it again."""

    def __init__(self, transaction: Transaction, senders: dict[Platform, PushSender]) -> None:
        self._transaction = transaction
        self._senders = senders

    async def handle(self, events: Sequence[CustomerEvent]) -> dict[UUID, str]:
        """Handle `events`; returns, for each event that must be tried again, why."""
        if not events:
            return {}
        # First made durable: the feed entries and the pushes to make. A redelivery after a
        # crash finds them recorded and sends only what was not sent yet.
        async with self._transaction() as store:
            await store.record_activity(events)
            audience = await store.audience([event.user_id for event in events])
            await store.plan(_pushes(events, audience))
            pending = await store.pending([event.event_id for event in events])
        if not pending:
            return {}
        # A device planned on an earlier attempt may have gone since (its session ended).
        live = {member.device.id for member in audience}
        gone = [delivery for delivery in pending if delivery.device_id not in live]
        pending = [delivery for delivery in pending if delivery.device_id in live]
        results = await self._send(events, audience, pending)
        failed: dict[UUID, str] = {}
        async with self._transaction() as store:
            for delivery in gone:
                await store.delivered(delivery, "failed", None)
            for delivery, result in zip(pending, results, strict=True):
                await self._settle(store, delivery, result, failed)
        return failed

    async def handle_isolating(self, events: Sequence[CustomerEvent]) -> dict[UUID, str]:
        """`handle`, but when the batch fails as a whole (one malformed event, say), each event
        is handled alone, so that only the poison one is retried and then dead-lettered.
        An outage is not the events' fault: it propagates, and nothing counts as an attempt."""
        try:
            return await self.handle(events)
        except ServiceUnavailable:
            raise
        except Exception:
            log.exception("a batch of customer events failed; handling them one by one")
        failed: dict[UUID, str] = {}
        for event in events:
            try:
                failed.update(await self.handle([event]))
            except ServiceUnavailable:
                raise
            except Exception as error:
                failed[event.event_id] = repr(error)
        return failed

    async def _send(
        self, events: Sequence[CustomerEvent], audience: list[Audience], pending: list[Delivery]
    ) -> list[PushResult]:
        event_of = {event.event_id: event for event in events}
        locale_of = {member.device.id: member.preferences.locale for member in audience}
        by_platform: dict[str, list[int]] = defaultdict(list)
        for index, delivery in enumerate(pending):
            by_platform[delivery.platform].append(index)
        results: list[PushResult | None] = [None] * len(pending)
        for platform, indexes in by_platform.items():
            messages = [
                PushMessage(
                    pending[i].token,
                    _text(event_of[pending[i].event_id], locale_of.get(pending[i].device_id)),
                )
                for i in indexes
            ]
            sender = self._senders.get(Platform(platform))
            sent = (
                await sender.send(messages)
                if sender is not None
                else [PushResult(Outcome.REJECTED, detail=f"no {platform} sender")] * len(messages)
            )
            for i, result in zip(indexes, sent, strict=True):
                results[i] = result
        return [result for result in results if result is not None]

    async def _settle(
        self,
        store: SqlCustomerEvents,
        delivery: Delivery,
        result: PushResult,
        failed: dict[UUID, str],
    ) -> None:
        match result.outcome:
            case Outcome.SENT:
                await store.delivered(delivery, "sent", result.ticket_id)
            case Outcome.UNREGISTERED:
                await store.delivered(delivery, "failed", None)
                await store.forget_device(delivery.device_id)
            case Outcome.REJECTED:
                log.warning("push rejected", extra={"detail": result.detail})
                await store.delivered(delivery, "failed", None)
            case Outcome.RETRY:
                failed[delivery.event_id] = f"push service: {result.detail}"

    async def check_receipts(self, age_s: float, limit: int = 1000) -> int:
        """Ask the push services what became of sends older than `age_s`; forget dead devices."""
        async with self._transaction() as store:
            tickets = await store.unchecked_tickets(age_s, limit)
        if not tickets:
            return 0
        sender = self._senders.get(Platform.EXPO)
        if sender is None:
            return 0
        outcomes = await sender.receipts([ticket for _, ticket in tickets])
        async with self._transaction() as store:
            for device_id, ticket in tickets:
                outcome = outcomes.get(ticket)
                if outcome is None:
                    continue
                await store.record_receipt(ticket, outcome.value)
                if outcome is Outcome.UNREGISTERED:
                    await store.forget_device(device_id)
        return len(outcomes)


def _pushes(
    events: Sequence[CustomerEvent], audience: list[Audience]
) -> list[tuple[UUID, PushDevice]]:
    devices: dict[UUID, list[Audience]] = defaultdict(list)
    for member in audience:
        devices[member.device.user_id].append(member)
    return [
        (event.event_id, member.device)
        for event in events
        for member in devices[event.user_id]
        if member.preferences.wants(event.kind) and event.concerns(member.device)
    ]


def _text(event: CustomerEvent, locale: str | None) -> PushText:
    text = compose(event.kind, event.payload, locale or Preferences().locale)
    # The app dedupes on the event id should a push ever arrive twice.
    return replace(text, data={**text.data, "eventId": str(event.event_id)})
