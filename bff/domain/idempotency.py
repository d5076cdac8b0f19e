"""Stripe-style idempotent money writes: one stored result per (actor, key), replayed on retry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode, ServiceUnavailable, TransientConflict
from bff.domain.models import Transfer
from bff.domain.ports import UnitOfWork

MAX_KEY_LENGTH = 255
MAX_ATTEMPTS = 4
# A restarting database refuses connections for about a second; the client retries after that.
OUTAGE_BACKOFF_S = 0.1
OUTAGE_BUDGET_S = 1.5


def check_key(key: str) -> str:
    """Keys are 1 to 255 visible ASCII characters (clients usually send a UUID)."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"Idempotency keys are 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            "idempotencyKey",
        )
    return key


def fingerprint(operation: str, **request: object) -> str:
    """A digest of the request, so that a reused key with a changed request is detected."""
    canonical = json.dumps({"operation": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_once(
    uow: UnitOfWork,
    actor: Actor,
    key: str,
    request_fingerprint: str,
    ttl_s: int,
    write: Callable[[], Awaitable[Transfer]],
) -> Transfer:
    """Run `write` at most once per (actor, key), retrying transient conflicts and, briefly, an
    unreachable database.

    `write` runs inside the unit of work's transaction; it raises business failures before it
    writes anything, so a failure can be stored and committed on its own as the key's result.
    Retrying after a lost connection is safe because the retry claims the same key: if the lost
    attempt did commit, the retry replays its stored result instead of writing again.
    """
    started = time.monotonic()
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await _attempt(uow, actor, key, request_fingerprint, ttl_s, write)
        except TransientConflict:
            if attempt == MAX_ATTEMPTS - 1:
                raise
            # Jittered backoff so that the retried transactions do not collide again in step.
            await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311
        except ServiceUnavailable:
            pause = OUTAGE_BACKOFF_S * 2**attempt * random.uniform(0.5, 1.0)  # noqa: S311
            # No retry after the budget: a failure that took a timeout to arrive used it up.
            if attempt == MAX_ATTEMPTS - 1 or time.monotonic() - started + pause > OUTAGE_BUDGET_S:
                raise
            await asyncio.sleep(pause)
    raise AssertionError("unreachable")


async def _attempt(
    uow: UnitOfWork,
    actor: Actor,
    key: str,
    request_fingerprint: str,
    ttl_s: int,
    write: Callable[[], Awaitable[Transfer]],
) -> Transfer:
    async with uow:
        # Blocks while a concurrent request holding the same key is in flight.
        stored = await uow.idempotency.claim(actor.user_id, key, request_fingerprint, ttl_s)
        if stored is not None:
            if stored.fingerprint != request_fingerprint:
                raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, field="idempotencyKey")
            if "error" in stored.result:
                raise DomainError.from_dict(stored.result["error"])
            return await uow.ledger.transfer(UUID(stored.result["transfer_id"]))
        try:
            transfer = await write()
        except DomainError as failure:
            await uow.idempotency.complete(actor.user_id, key, {"error": failure.to_dict()})
            await uow.commit()
            raise
        await uow.idempotency.complete(actor.user_id, key, {"transfer_id": str(transfer.id)})
        await uow.commit()
        return transfer
