"""The live stream of an account's events: replay from PostgreSQL, then live from the broker,
with no gap and no duplicate, for as long as the subscriber may read the account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

from cachetools import LRUCache

from bff.auth.tokens import AccessClaims
from bff.broker import RESYNC, SubscriberTooSlow, account_channel, user_channel
from bff.db.reads import Reads
from bff.domain import policies
from bff.domain.accounts import account_not_found
from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import Account, AccountEvent, EventKind
from bff.domain.pages import MAX_SEQUENCE
from bff.events import decode
from bff.oauth.resource import GrantClaims
from bff.runtime import Runtime

# A client that subscribed just as an event was published may have missed it on the broker;
# one catch-up read from the database shortly after subscribing closes that window.
CATCH_UP_AFTER_S = 1.0
# A subscriber whose queue overflows twice within this long is cut off.
OVERFLOW_GRACE_S = 10.0
# The broker hands one message object to every local subscriber of its channel: it is decoded
# by the first of them only. A few thousand cover every message still being fanned out.
_DECODED_KEPT = 4096
_decoded: LRUCache[bytes, AccountEvent] = LRUCache(_DECODED_KEPT)
# What the stream's timers put in its queue. The tick itself says which moment came: on uvloop
# a timer may run before the loop's clock (cached per iteration, in milliseconds) reaches it.
_CATCH_UP = "stream:catch-up"
_EXPIRED = "stream:expired"


def _decode_once(message: bytes) -> AccountEvent:
    # bytes cache their hash, and the same object compares equal at once: a hit costs little.
    event = _decoded.get(message)
    if event is None:
        event = _decoded[message] = decode(message)
    return event


async def account_events(
    runtime: Runtime,
    actor: Actor,
    claims: AccessClaims | GrantClaims,
    account_id: UUID,
    after: int | None,
) -> AsyncIterator[AccountEvent]:
    """Events of the account after `after` (or a snapshot first when None), then live ones."""
    reads = runtime.database.reads
    channels = (account_channel(account_id), user_channel(actor.user_id))
    # Subscribe before reading the database, so nothing committed meanwhile can slip between.
    async with runtime.broker.subscribe(*channels) as live:
        account = await _readable_account(reads, actor, account_id)
        if after is None:
            yield _snapshot(account)
            last = account.last_sequence
        else:
            await _check_resumable(reads, account, after)
            last = after
            async for event in _replay(reads, account_id, last, MAX_SEQUENCE):
                yield event
                last = event.sequence
        loop = asyncio.get_running_loop()
        expires_at = loop.time() + _seconds_until(claims.expires_at)
        recovered_at = -OVERFLOW_GRACE_S
        # One timer each for the catch-up read and the token's expiry, waking the stream through
        # its own queue: no timer is armed and cancelled per event.
        timers = [
            loop.call_later(CATCH_UP_AFTER_S, live.offer, _CATCH_UP, b""),
            loop.call_at(expires_at, live.offer, _EXPIRED, b""),
        ]
        try:
            while True:
                try:
                    channel, message = await live.get()
                except SubscriberTooSlow:
                    # A burst (a relay catching up on a backlog, say) overflowed the queue:
                    # refill from the database once; a client still too slow after that is cut
                    # off.
                    now = loop.time()
                    if now - recovered_at < OVERFLOW_GRACE_S:
                        raise DomainError(ErrorCode.SUBSCRIBER_TOO_SLOW) from None
                    recovered_at = now
                    live.reset()
                    # The expiry's wake-up may have been dropped with the overflowing queue.
                    timers.append(loop.call_at(expires_at, live.offer, _EXPIRED, b""))
                    channel, message = _CATCH_UP, b""
                if channel == _EXPIRED or loop.time() >= expires_at:
                    raise DomainError(ErrorCode.TOKEN_EXPIRED)
                if channel == channels[1]:
                    await _check_still_allowed(runtime, claims, account)
                if channel == channels[0]:
                    event = _decode_once(message)
                    if event.sequence <= last:
                        continue  # a duplicate: delivery is at least once
                    if event.sequence == last + 1:
                        yield event
                        last = event.sequence
                        continue
                    upto = event.sequence  # a gap: fill it from the database, this event included
                elif channel in (RESYNC, _CATCH_UP):
                    upto = MAX_SEQUENCE
                else:
                    continue
                async for event in _replay(reads, account_id, last, upto):
                    yield event
                    last = event.sequence
        finally:
            for timer in timers:
                timer.cancel()


async def _check_still_allowed(
    runtime: Runtime, claims: AccessClaims | GrantClaims, account: Account
) -> None:
    """The user's sessions, roles or grants changed: look again, past this process's cache."""
    if isinstance(claims, GrantClaims):
        if not await claims.still_live():
            raise DomainError(ErrorCode.SESSION_ENDED)
        return
    runtime.actors.forget_session(claims.session_id)
    resolved = await runtime.actors.resolve(claims)
    if resolved is None:
        raise DomainError(ErrorCode.SESSION_ENDED)
    if not policies.can_read_account(resolved[0], account):
        raise account_not_found("accountId")


async def _readable_account(reads: Reads, actor: Actor, account_id: UUID) -> Account:
    account = await reads.account(account_id)
    if account is None or not policies.can_read_account(actor, account):
        raise account_not_found("accountId")
    return account


async def _check_resumable(reads: Reads, account: Account, after: int) -> None:
    if after > account.last_sequence:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "afterSequence is ahead of the account.", "afterSequence"
        )
    oldest = await reads.oldest_event(account.id)
    kept_from = oldest if oldest is not None else account.last_sequence + 1
    if after < kept_from - 1:
        raise DomainError(ErrorCode.RESUME_TOO_OLD, field="afterSequence")


async def _replay(
    reads: Reads, account_id: UUID, after: int, upto: int
) -> AsyncIterator[AccountEvent]:
    for event in await reads.events(account_id, after, upto):
        yield event


def _snapshot(account: Account) -> AccountEvent:
    return AccountEvent(
        account_id=account.id,
        sequence=account.last_sequence,
        kind=EventKind.SNAPSHOT,
        balance=account.balance,
        available_balance=account.available_balance,
        status=account.status,
        currency=account.currency,
    )


def _seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()
