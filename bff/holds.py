"""The hold-expiry job: voids held transfers whose hold has run out, so their reservations are
released even when nobody decides.

Every server process runs one. Running several at once is safe without an election: each void is
the ledger's guarded `resolve_transfer()`, which changes only a transfer that is still pending and
due, so a hold is voided exactly once whichever process gets there first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bff.domain import transfers
from bff.domain.ports import UnitOfWork
from bff.periodic import Periodic

log = logging.getLogger("bff.holds")


def hold_expiry(unit_of_work: Callable[[], UnitOfWork], poll_s: float) -> Periodic:
    """The job, every `poll_s` seconds."""

    async def expire_due() -> None:
        while await transfers.expire_holds(unit_of_work()) == transfers.EXPIRY_BATCH:
            pass  # a full batch: more may be due

    return Periodic("hold-expiry", expire_due, poll_s, log)
