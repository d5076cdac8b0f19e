"""The root Subscription type: live account events over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry
from cachetools import LRUCache

from bff import streams
from bff.api.context import Info
from bff.domain.actor import authenticated
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import AccountEvent as DomainEvent
from bff.metrics.families import SUBSCRIPTIONS_OPEN
from schema.account_event import AccountEvent
from schema.ids import decode_id
from schema.pagination import decode_sequence

_ACCOUNT_ID = strawberry.argument(description="The account to watch.")
_AFTER = strawberry.argument(
    description="Resume after this sequence: missed events are replayed first. Omit to start "
    "with a snapshot of the account."
)

# Every subscriber of an event gets the same object (the WebSocket fan-out shares its encoded
# payload per object); an account's sequence and the event's kind name the event.
_EVENTS_KEPT = 4096
_events: LRUCache[tuple[object, int, str], AccountEvent] = LRUCache(_EVENTS_KEPT)


def _shared(event: DomainEvent) -> AccountEvent:
    key = (event.account_id, event.sequence, event.kind)
    found = _events.get(key)
    if found is None:
        found = _events[key] = AccountEvent.of(event)
    return found


@strawberry.type(description="Live updates. Authenticate in `connection_init`.")
class Subscription:
    @strawberry.subscription(
        description="The account's changes as they commit, in sequence order, with no gap and "
        "no duplicate; for anyone who may not read the account it is ACCOUNT_NOT_FOUND."
    )
    async def account_events(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, _ACCOUNT_ID],
        after_sequence: Annotated[str | None, _AFTER] = None,
    ) -> AsyncGenerator[AccountEvent, None]:
        context = info.context
        actor = authenticated(context.actor)
        if context.claims is None:
            raise DomainError(ErrorCode.UNAUTHENTICATED)
        after = decode_sequence(after_sequence, "afterSequence") if after_sequence else None
        account = decode_id(account_id, "Account", "accountId")
        with SUBSCRIPTIONS_OPEN.track_inprogress():
            async for event in streams.account_events(
                context.runtime, actor, context.claims, account, after
            ):
                yield _shared(event)
