"""The User type."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self, TypeGuard

import strawberry

from bff.domain import delegation, models, notifications, sessions
from bff.domain.actor import Actor
from bff.domain.notification_models import ActivityPageKey
from bff.domain.pages import AccountPageKey
from schema.connected_apps import ConnectedApp
from schema.context import Info
from schema.cost import CONNECTION, SMALL_LIST
from schema.enums import Role
from schema.ids import encode_id
from schema.node import Node
from schema.notifications import ActivityEntry, NotificationPreferences, SpendingLine
from schema.pagination import (
    After,
    Connection,
    First,
    check_first,
    decode_sequence_cursor,
    decode_time_id_cursor,
    encode_cursor,
)
from schema.session import Session

if TYPE_CHECKING:
    from schema.account import Account


def _is_self(actor: Actor | None, user: models.User) -> TypeGuard[Actor]:
    """The user in person: not staff, and not a connected app acting for them (an app sees
    only what its grant shares)."""
    return actor is not None and actor.user_id == user.id and actor.delegation is None


@strawberry.type(description="A person who uses the bank: a customer or a member of staff.")
class User(Node):
    email: str = strawberry.field(description="The normalised email address used to log in.")
    display_name: str = strawberry.field(description="The name shown in the app.")
    roles: list[Role] = strawberry.field(description="The roles the user holds.")
    created_at: datetime = strawberry.field(description="When the user signed up (UTC).")
    record: strawberry.Private[models.User]

    @classmethod
    def of(cls, user: models.User) -> Self:
        return cls(
            id=strawberry.ID(encode_id("User", user.id)),
            email=user.email,
            display_name=user.display_name,
            roles=sorted(user.roles),
            created_at=user.created_at,
            record=user,
        )

    @strawberry.field(
        directives=[SMALL_LIST],
        description="Where the user is logged in, most recently used first; only the user "
        "themself sees this (null for anyone else).",
    )
    async def sessions(self, info: Info) -> list[Session] | None:
        actor = info.context.actor
        if not _is_self(actor, self.record):
            return None
        live = await sessions.active_sessions(
            info.context.unit_of_work(), actor, info.context.session_policy
        )
        return [Session.of(session, actor.session_id) for session in live]

    @strawberry.field(
        directives=[SMALL_LIST],
        description="The apps the user gave access to, newest first; only the user themself "
        "sees this (null for anyone else, connected apps included).",
    )
    async def connected_apps(self, info: Info) -> list[ConnectedApp] | None:
        actor = info.context.actor
        if not _is_self(actor, self.record):
            return None
        grants = await delegation.connected_apps(info.context.unit_of_work(), actor)
        return [ConnectedApp.of(grant) for grant in grants]

    @strawberry.field(directives=[CONNECTION], description="The user's accounts, oldest first.")
    async def accounts(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
    ) -> Connection[Annotated[Account, strawberry.lazy("schema.account")]]:
        from schema.account import Account

        key = AccountPageKey(
            self.record.id, check_first(first), decode_time_id_cursor(after) if after else None
        )
        page = await info.context.loaders.account_pages.load(key)
        return Connection.of(
            [Account.of(account) for account in page.items],
            [encode_cursor(account.created_at.isoformat(), account.id) for account in page.items],
            page.has_next,
        )

    @strawberry.field(
        description="What the user is told by push; only the user themself sees this."
    )
    async def notification_preferences(self, info: Info) -> NotificationPreferences | None:
        actor = info.context.actor
        if not _is_self(actor, self.record):
            return None
        preferences = await notifications.preferences(info.context.unit_of_work(), actor)
        return NotificationPreferences.of(preferences)

    @strawberry.field(
        directives=[CONNECTION],
        description="What happened on the user's accounts and profile, newest first; only the "
        "user themself sees this. Entries appear within moments of the change.",
    )
    async def activity(
        self, info: Info, first: First = 20, after: After = None
    ) -> Connection[ActivityEntry] | None:
        actor = info.context.actor
        if not _is_self(actor, self.record):
            return None
        key = ActivityPageKey(
            self.record.id, check_first(first), decode_sequence_cursor(after) if after else None
        )
        uow = info.context.unit_of_work()
        page = await notifications.activity(uow, actor, key)
        locale = (await notifications.preferences(uow, actor)).locale
        return Connection.of(
            [ActivityEntry.of(entry, locale) for entry in page.items],
            [encode_cursor(entry.id) for entry in page.items],
            page.has_next,
        )

    @strawberry.field(
        directives=[SMALL_LIST],
        description="Money the user sent in a month, by counterparty, largest first; only the "
        "user themself sees this.",
    )
    async def spending(
        self,
        info: Info,
        period: Annotated[str, strawberry.argument(description="The month, `YYYY-MM` (UTC).")],
    ) -> list[SpendingLine] | None:
        actor = info.context.actor
        if not _is_self(actor, self.record):
            return None
        lines = await notifications.spending(info.context.unit_of_work(), actor, period)
        return [SpendingLine.of(line) for line in lines]
