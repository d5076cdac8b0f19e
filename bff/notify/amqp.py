"""Customer events over RabbitMQ: the topology, the dispatcher that moves them from the outbox
table to the broker, and the worker that consumes them.

Topology: a durable topic exchange (routing key: the event kind) feeding the durable work queue;
one delay queue per retry delay (a per-queue message TTL, then dead-lettered back into the work
queue); and the dead-letter queue operators look at. Messages are persistent; the dispatcher
marks an event dispatched only once the broker has confirmed it (publisher confirms), and the
worker acknowledges a message only once it is handled or safely handed to a delay or dead queue
(confirmed too): at least once end to end, and exactly once in effect because the handler is
idempotent by event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)

from bff.db.customer_events import SqlCustomerEvents
from bff.domain.errors import ServiceUnavailable
from bff.domain.notification_models import CustomerEvent
from bff.notify.codec import decode_event, encode_event
from bff.notify.handler import EventHandler
from bff.notify.retries import RetryPolicy

log = logging.getLogger("bff.notify")

ATTEMPTS = "x-bff-attempts"
ERROR = "x-bff-error"
DISPATCH_BATCH = 200
CONSUME_BATCH = 100


@dataclass(frozen=True)
class Names:
    """The exchange and queues of one deployment (a prefix keeps environments that share a
    broker apart)."""

    prefix: str = "bff"

    @property
    def exchange(self) -> str:
        return f"{self.prefix}.customer-events"

    @property
    def queue(self) -> str:
        return f"{self.prefix}.notify"

    @property
    def dead(self) -> str:
        return f"{self.prefix}.notify.dead"

    def retry(self, delay_s: float) -> str:
        # Named by its delay: a queue's TTL cannot change once declared; a new delay is a new
        # queue.
        return f"{self.queue}.retry.{int(delay_s * 1000)}ms"


@dataclass(frozen=True)
class Topology:
    names: Names
    exchange: AbstractExchange
    queue: AbstractQueue
    dead: AbstractQueue


async def declare(channel: AbstractChannel, names: Names, retries: RetryPolicy) -> Topology:
    """Declare (idempotently) everything customer events travel through."""
    exchange = await channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(names.queue, durable=True)
    await queue.bind(exchange, "#")
    for delay_s in set(retries.delays_s):
        await channel.declare_queue(
            names.retry(delay_s),
            durable=True,
            arguments={
                "x-message-ttl": int(delay_s * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": names.queue,
            },
        )
    dead = await channel.declare_queue(names.dead, durable=True)
    return Topology(names, exchange, queue, dead)


def _message(
    body: bytes, message_id: str, attempts: int, error: str | None = None
) -> aio_pika.Message:
    headers: dict[str, aio_pika.abc.FieldValue] = {ATTEMPTS: attempts}
    if error is not None:
        headers[ERROR] = error[:1000]
    return aio_pika.Message(
        body,
        message_id=message_id,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        headers=headers,
    )


class AmqpDispatcher:
    """Moves committed customer events from the outbox table to RabbitMQ.

    Every serving process runs one. Each batch is claimed with FOR UPDATE SKIP LOCKED, so the
    processes share the work without electing a leader, and a batch whose publishing fails
    (the broker is down) rolls back and goes out on the next attempt."""

    def __init__(
        self,
        url: str,
        names: Names,
        transaction: Callable[[], AbstractAsyncContextManager[SqlCustomerEvents]],
        retries: RetryPolicy,
        poll_s: float = 0.1,
    ) -> None:
        self._url = url
        self._names = names
        self._transaction = transaction
        self._retries = retries
        # Polled: an empty look-up is one index probe, and a poll bounds commit-to-broker.
        self._poll_s = poll_s

    async def run(self) -> None:
        while True:
            try:
                connection = await aio_pika.connect(self._url, timeout=5)
                async with connection:
                    channel = await connection.channel(publisher_confirms=True)
                    topology = await declare(channel, self._names, self._retries)
                    await self._dispatch(topology.exchange)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Whatever failed (broker, database), events wait in the outbox meanwhile.
                log.warning(
                    "customer-event dispatch failed; retrying", extra={"error": repr(error)}
                )
                await asyncio.sleep(self._poll_s)

    async def _dispatch(self, exchange: AbstractExchange) -> None:
        while True:
            if await self.dispatch_once(exchange) < DISPATCH_BATCH:
                await asyncio.sleep(self._poll_s)

    async def dispatch_once(self, exchange: AbstractExchange) -> int:
        """Publish one batch of due events, confirmed, then mark them; returns how many."""
        async with self._transaction() as claim:
            due = await claim.claim_due(DISPATCH_BATCH)
            if not due:
                return 0
            await asyncio.gather(
                *(
                    exchange.publish(
                        _message(encode_event(event), str(event.event_id), 0),
                        routing_key=event.kind.value,
                    )
                    for event, _ in due
                )
            )
            await claim.mark_dispatched([event.event_id for event, _ in due])
            return len(due)


class AmqpWorker:
    """Consumes customer events with manual acknowledgements and a bounded prefetch."""

    def __init__(
        self, url: str, names: Names, handler: EventHandler, retries: RetryPolicy, prefetch: int
    ) -> None:
        self._url = url
        self._names = names
        self._handler = handler
        self._retries = retries
        self._prefetch = prefetch

    async def run(self) -> None:
        while True:
            try:
                connection = await aio_pika.connect(self._url, timeout=5)
                async with connection:
                    await self._consume(connection)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Unacknowledged messages go back to the queue with the connection.
                log.warning("customer-event worker lost the broker", extra={"error": repr(error)})
                await asyncio.sleep(1.0)

    async def _consume(self, connection: aio_pika.abc.AbstractConnection) -> None:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        topology = await declare(channel, self._names, self._retries)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        closed = asyncio.Event()
        connection.close_callbacks.add(lambda *_: closed.set())
        await topology.queue.consume(inbox.put)
        while True:
            batch = await self._next_batch(inbox, closed)
            if closed.is_set():
                raise ConnectionError("the broker connection closed")
            await self._handle(channel, batch)

    @staticmethod
    async def _next_batch(
        inbox: asyncio.Queue[AbstractIncomingMessage], closed: asyncio.Event
    ) -> list[AbstractIncomingMessage]:
        first = asyncio.ensure_future(inbox.get())
        lost = asyncio.ensure_future(closed.wait())
        await asyncio.wait({first, lost}, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if not first.done():
            first.cancel()
            return []
        batch = [first.result()]
        while len(batch) < CONSUME_BATCH and not inbox.empty():
            batch.append(inbox.get_nowait())
        return batch

    async def _handle(self, channel: AbstractChannel, batch: list[AbstractIncomingMessage]) -> None:
        events: dict[AbstractIncomingMessage, CustomerEvent] = {}
        failed_bodies: dict[AbstractIncomingMessage, str] = {}
        for message in batch:
            try:
                events[message] = decode_event(message.body)
            except (ValueError, KeyError, TypeError) as error:
                failed_bodies[message] = f"undecodable: {error!r}"
        try:
            failed = await self._handler.handle_isolating(list(events.values()))
        except ServiceUnavailable:
            # Not the messages' fault: they go back as they were, nothing counted.
            await asyncio.sleep(1.0)
            for message in batch:
                await message.nack(requeue=True)
            return
        for message in batch:
            event = events.get(message)
            why = failed_bodies.get(message) or (
                failed.get(event.event_id) if event is not None else None
            )
            if why is not None:
                await self._retry_or_bury(channel, message, why)
            await message.ack()

    async def _retry_or_bury(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, error: str
    ) -> None:
        attempts = _attempts(message) + 1
        delay_s = self._retries.delay_after(attempts)
        target = self._names.dead if delay_s is None else self._names.retry(delay_s)
        if delay_s is None:
            log.error("customer event dead-lettered", extra={"error": error})
        await channel.default_exchange.publish(
            _message(message.body, message.message_id or "", attempts, error), routing_key=target
        )


def _attempts(message: AbstractIncomingMessage) -> int:
    value = message.headers.get(ATTEMPTS)
    return value if isinstance(value, int) else 0


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    attempts: int
    error: str
    body: bytes


async def dead_letters(
    url: str, names: Names, retries: RetryPolicy, *, retry: bool
) -> list[DeadLetter]:
    """The dead-letter queue's messages; with `retry`, each goes back to the work queue with
    its attempts reset, else each stays where it is."""
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        topology = await declare(channel, names, retries)
        taken: list[AbstractIncomingMessage] = []
        while (message := await topology.dead.get(no_ack=False, fail=False)) is not None:
            taken.append(message)
        letters = [
            DeadLetter(
                message.message_id or "",
                _attempts(message),
                str(message.headers.get(ERROR) or ""),
                message.body,
            )
            for message in taken
        ]
        for message in taken:
            if retry:
                await channel.default_exchange.publish(
                    _message(message.body, message.message_id or "", 0), routing_key=names.queue
                )
                await message.ack()
            else:
                await message.nack(requeue=True)
    return letters
