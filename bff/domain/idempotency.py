"""Stripe-style idempotent money writes: one stored result per (actor, key), replayed on retry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bff.domain.errors import DomainError, ErrorCode, ServiceUnavailable, TransientConflict
from bff.domain.ports import PostingCommand, PostingOutcome, PostingResult, UnitOfWork

MAX_KEY_LENGTH = 255
MAX_ATTEMPTS = 4
# A restarting database refuses connections for about a second; the client retries after that.
OUTAGE_BACKOFF_S = 0.1
OUTAGE_BUDGET_S = 1.5
T = TypeVar("T")


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


async def run_once(uow: UnitOfWork, command: PostingCommand) -> PostingResult:
    """Post `command` at most once per (actor, key): the key's first result, a transfer or a
    refusal, answers every retry. Transient conflicts are retried, and so, briefly, is an
    unreachable database.

    Retrying after a lost connection is safe because the retry claims the same key: if the lost
    attempt did commit, the retry replays its stored result instead of posting again.
    """
    return _answer(await retried(uow, lambda: uow.ledger.post_once(command)))


async def retried(uow: UnitOfWork, statement: Callable[[], Awaitable[T]]) -> T:
    """Run `statement` (a ledger call that is a transaction of its own, safe to repeat) alone in
    `uow` and commit, retrying transient conflicts and, briefly, an unreachable database."""
    started = time.monotonic()
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with uow:
                result = await statement()
                await uow.commit()
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
        else:
            return result
    raise AssertionError("unreachable")


def _answer(result: PostingResult) -> PostingResult:
    """The result when it is a transfer or a refusal; the key's problems raised."""
    if result.outcome is PostingOutcome.KEY_REUSED:
        raise DomainError(ErrorCode.IDEMPOTENCY_KEY_REUSED, field="idempotencyKey")
    if result.outcome is PostingOutcome.IN_PROGRESS:
        raise DomainError(ErrorCode.IDEMPOTENCY_IN_PROGRESS, field="idempotencyKey")
    assert result.refusal or result.transfer, result
    return result
