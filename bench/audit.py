"""Figure 8: createTransfer/s with the audit log on over the same with it off.

One `bff serve`, uniform random accounts, rounds alternated. Off means the triggers that record
money movements (migration 0020) are disabled between rounds, so the two sides differ only in
the audit entry each transfer appends to its hash chain.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import asyncpg

from bench.compare import (
    Side,
    alternate,
    print_ratio_header,
    print_ratios,
    print_sides,
    probe_transfer,
    transfer_load,
)
from bench.processes import BenchError, Processes, bff_argv, free_port, wait_until_ready
from bff.db.engine import plain_postgres_url

_TRIGGERS = (
    "transfers_audited ON transfers",
    "idempotency_keys_refusal_audited ON idempotency_keys",
)


async def _set_audit(url: str, enabled: bool) -> None:
    connection = await asyncpg.connect(plain_postgres_url(url))
    try:
        for trigger in _TRIGGERS:
            table = trigger.split(" ON ")[1]
            name = trigger.split(" ON ")[0]
            action = "ENABLE" if enabled else "DISABLE"
            await connection.execute(f"ALTER TABLE {table} {action} TRIGGER {name}")
    finally:
        await connection.close()


async def _entries(url: str) -> int:
    connection = await asyncpg.connect(plain_postgres_url(url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM audit_log WHERE operation = 'transfer.create'"
            )
        )
    finally:
        await connection.close()


def run(config: Any, processes: Processes, stage: Any) -> bool:
    """Measure both sides; True when the ratio meets 0.9."""
    settings, app_url, population = stage.settings, stage.app_url, stage.population
    port = free_port()
    os.environ["BFF_PORT"] = str(port)
    server, log = processes.start("bff-server-audit", bff_argv())
    wait_until_ready(server, log, port)
    probe_transfer(port, population, "bench-audit-probe")

    def transfers(enabled: bool) -> Callable[[int], dict[str, Any]]:
        side = "on" if enabled else "off"
        load = transfer_load(
            processes,
            f"loadgen-audit-{side}",
            port,
            population,
            "uniform",
            config.transfer_concurrency,
            config.timing,
        )

        def measure(number: int) -> dict[str, Any]:
            asyncio.run(_set_audit(app_url, enabled))
            return load(number)

        return measure

    print(f"\n[8] createTransfer with the audit log on and off ({settings.workers} process(es))")
    on = Side("createTransfer: audit log on")
    off = Side("createTransfer: audit log off (triggers disabled)")
    alternate(config.rounds, [(on, transfers(True)), (off, transfers(False))])
    asyncio.run(_set_audit(app_url, True))
    processes.stop(server)
    audited = asyncio.run(_entries(app_url))
    print(f"audit entries of transfers: {audited} (the on side's, warm-ups included)")
    if audited < on.ok_total:
        raise BenchError(f"{on.ok_total} transfers acknowledged with the log on, {audited} audited")
    print_sides([on, off])
    print_ratio_header()
    return print_ratios([("8 createTransfer/s: audit log on / off", on, off, 0.9)])
