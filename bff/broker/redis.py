"""The Redis pub/sub broker: one pub/sub connection per process, fanned out to local queues.

Channels are subscribed while at least one local subscriber wants them. If the connection
drops, the listener reconnects and resubscribes; subscribers see the gap by sequence number and
fill it from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from bff.broker import RESYNC, Subscription

log = logging.getLogger("bff.broker")


class RedisBroker:
    def __init__(self, redis: Redis, listener: Redis) -> None:
        self._redis = redis
        self._listener_client = listener
        self._pubsub: PubSub = listener.pubsub(ignore_subscribe_messages=True)
        self._subscribers: defaultdict[str, set[Subscription]] = defaultdict(set)
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, message: bytes) -> None:
        await self._redis.publish(channel, message)

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        # Not a transaction: a pipeline keeps the order and costs one round trip.
        async with self._redis.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(channel, message)
            await pipe.execute()

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(channels)
        async with self._lock:
            new = [channel for channel in channels if not self._subscribers[channel]]
            for channel in channels:
                self._subscribers[channel].add(subscription)
            if new:
                await self._pubsub.subscribe(*new)
            if self._listener is None:
                self._listener = asyncio.create_task(self._listen(), name="redis-broker")
        try:
            yield subscription
        finally:
            async with self._lock:
                gone = []
                for channel in channels:
                    subscribers = self._subscribers[channel]
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._subscribers[channel]
                        gone.append(channel)
                if gone:
                    with suppress(RedisError, ConnectionError, OSError):
                        await self._pubsub.unsubscribe(*gone)

    async def _listen(self) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message["type"] != "message":
                        continue
                    channel = message["channel"].decode()
                    for subscription in list(self._subscribers.get(channel, ())):
                        subscription.offer(channel, message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, ConnectionError, OSError) as error:
                log.warning("broker connection lost, resubscribing", extra={"error": str(error)})
                await asyncio.sleep(0.5)
                with suppress(RedisError, ConnectionError, OSError):
                    async with self._lock:
                        channels = list(self._subscribers)
                        if channels:
                            await self._pubsub.subscribe(*channels)
                        everyone = {s for group in self._subscribers.values() for s in group}
                        for subscription in everyone:
                            subscription.offer(RESYNC, b"")
            else:
                # listen() returns when nothing is subscribed; wait for the next subscriber.
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._listener_client.aclose()
