"""The hold-expiry job: voids held transfers whose hold has run out, so their reservations are
released even when nobody decides.

Every server process runs one. Running several at once is safe without an election: each void is
the ledger's guarded `resolve_transfer()`, which changes only a transfer that is still pending and
due, so a hold is voided exactly once whichever process gets there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

from bff.domain import transfers
from bff.domain.ports import UnitOfWork

log = logging.getLogger("bff.holds")


class HoldExpiry:
    def __init__(self, unit_of_work: Callable[[], UnitOfWork], poll_s: float) -> None:
        self._unit_of_work = unit_of_work
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hold-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                while await transfers.expire_holds(self._unit_of_work()) == transfers.EXPIRY_BATCH:
                    pass  # a full batch: more may be due
            except asyncio.CancelledError:
                raise
            except Exception:
                # The job must outlive a database outage: what is due stays due.
                log.exception("hold expiry failed; retrying")
            await asyncio.sleep(self._poll_s)
