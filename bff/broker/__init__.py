"""Fan-out of events to the subscribers connected to this process.

Redis pub/sub when `REDIS_URL` is set (every process hears every publish); in-process memory
otherwise (one process only). Each subscriber gets one bounded queue for all its channels: a
subscriber that does not keep up is cut off rather than allowed to grow memory without limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

SUBSCRIBER_QUEUE_SIZE = 256


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed: it missed messages and must resume from the database."""


class Subscription:
    """One subscriber's bounded queue of (channel, message) pairs."""

    def __init__(self, channels: tuple[str, ...], size: int = SUBSCRIBER_QUEUE_SIZE) -> None:
        self.channels = channels
        self._size = size
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(size)
        self.overflowed = False

    def offer(self, channel: str, message: bytes) -> None:
        """Called by the broker; never blocks the broker for one slow subscriber."""
        if self.overflowed:
            return
        try:
            self._queue.put_nowait((channel, message))
        except asyncio.QueueFull:
            self.overflowed = True
            self._queue = asyncio.Queue(1)  # release what is buffered: the subscriber is done
            self._queue.put_nowait((channel, b""))

    def reset(self) -> None:
        """Start afresh after an overflow (the subscriber refills what it missed elsewhere)."""
        self._queue = asyncio.Queue(self._size)
        self.overflowed = False

    async def get(self) -> tuple[str, bytes]:
        item = await self._queue.get()
        if self.overflowed:
            raise SubscriberTooSlow(", ".join(self.channels))
        return item


class Broker(Protocol):
    async def publish(self, channel: str, message: bytes) -> None: ...
    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish each (channel, message) in order, in one round trip where the broker can."""
        ...

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]: ...
    async def close(self) -> None: ...


# Offered to every local subscriber when the broker's connection came back after a failure:
# messages may have been lost meanwhile, so subscribers catch up from their source of truth.
RESYNC = "broker:resync"


def account_channel(account_id: object) -> str:
    return f"account:{account_id}"


def user_channel(user_id: object) -> str:
    """Where changes to a user's sessions and roles are announced."""
    return f"user:{user_id}"
