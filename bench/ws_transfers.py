"""The steady transfer load of the live-event latency benchmark, run as its own process:
`python -m bench.ws_transfers SPEC.json` writes its results to the spec's `result_path`.

Transfers go through the domain API (`transfers.create_transfer`, the code a createTransfer
mutation runs), open loop: transfer i starts at `start + i / rate` whatever the previous ones did,
so a slow commit does not lower the offered load. Each one pays a few cents from a random account
to another random account, with the memo `ws <i>`; the subscribers find `i` in the transaction's
description.

For every transfer the result holds the CLOCK_MONOTONIC time (shared by every process on the
machine) just before the call and just after it returned. The call's last step is the COMMIT, so
"after" is the commit time as its client sees it, at most one loopback round trip after the
commit became visible; "before" is an upper bound for how early the commit can have happened.
Everything is bounded: the run ends after `warmup_s + duration_s`, or after too many errors.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from bff.config import Settings
from bff.domain import transfers
from bff.domain.actor import Actor
from bff.domain.rbac import Role
from bff.runtime import build_runtime

MAX_ERRORS = 50
MAX_IN_FLIGHT = 64


@dataclass
class Results:
    # [index, monotonic time before the call, after it returned, source and destination indexes]
    done: list[list[float]] = field(default_factory=list)
    errors: int = 0
    error_sample: str | None = None
    skipped: int = 0  # slots not started because MAX_IN_FLIGHT calls were still running


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    settings = Settings()
    assert settings.database_url
    runtime = build_runtime(settings, settings.database_url)
    owners = [
        Actor(UUID(user_id), frozenset(Role(r) for r in spec["roles"]))
        for user_id in spec["owners"]
    ]
    accounts: list[tuple[UUID, int]] = [(UUID(a), owner) for a, owner in spec["accounts"]]
    rate: float = spec["rate"]
    total = int(rate * (spec["warmup_s"] + spec["duration_s"]))
    results = Results()
    in_flight: set[asyncio.Task[None]] = set()
    ttl = settings.idempotency_ttl_s

    async def one(index: int) -> None:
        source_index = random.randrange(len(accounts))
        while (destination_index := random.randrange(len(accounts))) == source_index:
            pass
        source, owner = accounts[source_index]
        destination = accounts[destination_index][0]
        request = transfers.TransferRequest(
            idempotency_key=uuid.uuid4().hex,
            from_account_id=source,
            to_account_id=destination,
            amount=f"0.{random.randint(1, 99):02d}",
            currency="USD",
            memo=f"ws {index}",
        )
        before = time.monotonic()
        try:
            await transfers.create_transfer(runtime.unit_of_work(), owners[owner], request, ttl)
        except Exception as error:  # any failure is counted and sampled, never hidden
            results.errors += 1
            results.error_sample = results.error_sample or f"{type(error).__name__}: {error}"
            return
        results.done.append([index, before, time.monotonic(), source_index, destination_index])

    try:
        start = time.monotonic() + 0.1
        for index in range(total):
            if results.errors >= MAX_ERRORS:
                break
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if len(in_flight) >= MAX_IN_FLIGHT:
                results.skipped += 1
                continue
            task = asyncio.create_task(one(index))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.wait(in_flight, timeout=30)
    finally:
        for task in in_flight:
            task.cancel()
        await runtime.close()
    return {
        "offered": total,
        "measured_from_index": int(rate * spec["warmup_s"]),
        "done": results.done,
        "errors": results.errors,
        "error_sample": results.error_sample,
        "skipped": results.skipped,
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    with open(spec["result_path"], "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
