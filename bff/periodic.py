"""A job that a serving process repeats in the background: now, then every `interval_s`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress


class Periodic:
    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[object]],
        interval_s: float,
        log: logging.Logger,
    ) -> None:
        self._name = name
        self._work = work
        self._interval_s = interval_s
        self._log = log
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._work()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The job must outlive a database outage: what it owes stays owed.
                self._log.exception("%s failed; retrying", self._name)
            await asyncio.sleep(self._interval_s)
