"""The live stream of an account's events: replay from PostgreSQL, then live from the broker,
with no gap and no duplicate, for as long as the subscriber may read the account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bff.auth.tokens import AccessClaims
from bff.broker import RESYNC, SubscriberTooSlow, account_channel, user_channel
from bff.db.rows import to_account
from bff.domain import policies
from bff.domain.accounts import account_not_found
from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import Account, AccountEvent, EventKind
from bff.events import EVENTS_WITH_ENTRIES, decode, event_from_row
from bff.runtime import Runtime

_ACCOUNT = text("SELECT * FROM accounts WHERE id = :account_id")
_EVENTS = text(
    EVENTS_WITH_ENTRIES
    + """ WHERE e.account_id = :account_id AND e.sequence > :after AND e.sequence <= :upto
          ORDER BY e.sequence"""
)
_OLDEST = text("SELECT min(sequence) FROM account_events WHERE account_id = :account_id")
# A client that subscribed just as an event was published may have missed it on the broker;
# one catch-up read from the database shortly after subscribing closes that window.
CATCH_UP_AFTER_S = 1.0
MAX_SEQUENCE = 2**63 - 1
# A subscriber whose queue overflows twice within this long is cut off.
OVERFLOW_GRACE_S = 10.0


async def account_events(
    runtime: Runtime, actor: Actor, claims: AccessClaims, account_id: UUID, after: int | None
) -> AsyncIterator[AccountEvent]:
    """Events of the account after `after` (or a snapshot first when None), then live ones."""
    engine = runtime.read_engine
    channels = (account_channel(account_id), user_channel(actor.user_id))
    # Subscribe before reading the database, so nothing committed meanwhile can slip between.
    async with runtime.broker.subscribe(*channels) as live:
        account = await _readable_account(engine, actor, account_id)
        if after is None:
            yield _snapshot(account)
            last = account.last_sequence
        else:
            await _check_resumable(engine, account, after)
            last = after
            async for event in _replay(engine, account_id, last, MAX_SEQUENCE):
                yield event
                last = event.sequence
        catch_up_at = asyncio.get_running_loop().time() + CATCH_UP_AFTER_S
        recovered_at = -OVERFLOW_GRACE_S
        while True:
            timeout = min(_seconds_until(claims.expires_at), _until(catch_up_at))
            try:
                # asyncio.timeout, not wait_for: no extra task per event per subscriber.
                async with asyncio.timeout(max(timeout, 0)):
                    channel, message = await live.get()
            except TimeoutError:
                channel, message = "", b""
            except SubscriberTooSlow:
                # A burst (a relay catching up on a backlog, say) overflowed the queue: refill from
                # the database once; a client still too slow after that is cut off.
                now = asyncio.get_running_loop().time()
                if now - recovered_at < OVERFLOW_GRACE_S:
                    raise DomainError(ErrorCode.SUBSCRIBER_TOO_SLOW) from None
                recovered_at = now
                live.reset()
                channel, message = "", b""
                catch_up_at = now
            if _seconds_until(claims.expires_at) <= 0:
                raise DomainError(ErrorCode.TOKEN_EXPIRED)
            if channel == channels[1]:
                await _check_still_allowed(runtime, claims, account)
            if channel == channels[0]:
                event = decode(message)
                if event.sequence <= last:
                    continue  # a duplicate: delivery is at least once
                if event.sequence == last + 1:
                    yield event
                    last = event.sequence
                    continue
                upto = event.sequence  # a gap: fill it from the database, this event included
            elif channel == RESYNC or catch_up_at <= asyncio.get_running_loop().time():
                catch_up_at = float("inf")
                upto = MAX_SEQUENCE
            else:
                continue
            async for event in _replay(engine, account_id, last, upto):
                yield event
                last = event.sequence


async def _check_still_allowed(runtime: Runtime, claims: AccessClaims, account: Account) -> None:
    """The user's sessions or roles changed: look again, past this process's cache."""
    runtime.actors.forget_session(claims.session_id)
    resolved = await runtime.actors.resolve(claims)
    if resolved is None:
        raise DomainError(ErrorCode.SESSION_ENDED)
    if not policies.can_read_account(resolved[0], account):
        raise account_not_found("accountId")


async def _readable_account(engine: AsyncEngine, actor: Actor, account_id: UUID) -> Account:
    async with engine.connect() as connection:
        row = (
            (await connection.execute(_ACCOUNT, {"account_id": account_id}))
            .mappings()
            .one_or_none()
        )
    account = to_account(row) if row else None
    if account is None or not policies.can_read_account(actor, account):
        raise account_not_found("accountId")
    return account


async def _check_resumable(engine: AsyncEngine, account: Account, after: int) -> None:
    if after > account.last_sequence:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "afterSequence is ahead of the account.", "afterSequence"
        )
    async with engine.connect() as connection:
        oldest = (
            await connection.execute(_OLDEST, {"account_id": account.id})
        ).scalar_one_or_none()
    kept_from = oldest if oldest is not None else account.last_sequence + 1
    if after < kept_from - 1:
        raise DomainError(ErrorCode.RESUME_TOO_OLD, field="afterSequence")


async def _replay(
    engine: AsyncEngine, account_id: UUID, after: int, upto: int
) -> AsyncIterator[AccountEvent]:
    async with engine.connect() as connection:
        params = {"account_id": account_id, "after": after, "upto": upto}
        rows = (await connection.execute(_EVENTS, params)).mappings().all()
    for row in rows:
        yield event_from_row(row)


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


def _until(loop_time: float) -> float:
    return loop_time - asyncio.get_running_loop().time()
