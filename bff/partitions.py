"""The partition job: every server process creates the history tables' partitions of the
months ahead at start and then every BFF_PARTITION_CHECK_S (several at once are safe: the
database function takes a lock and skips what exists)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from bff.db import partitions
from bff.periodic import Periodic

log = logging.getLogger("bff.partitions")


def partition_upkeep(engine: AsyncEngine, months_ahead: int, interval_s: float) -> Periodic:
    """The job, every `interval_s` seconds."""

    async def ensure() -> None:
        ensured = await partitions.ensure(engine, months_ahead)
        if ensured.created:
            log.info("created partitions", extra={"partitions": ensured.created})
        if ensured.in_default:
            # Rows of a month with no partition yet (a clock far off, or the job long stopped):
            # they stay in the default partition, still under every constraint.
            log.warning(
                "months left in the default partition", extra={"months": ensured.in_default}
            )

    return Periodic("partition-upkeep", ensure, interval_s, log)
