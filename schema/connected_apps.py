"""Third-party access: registered OAuth clients and the apps a customer has connected."""

from __future__ import annotations

import asyncio
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Self

import strawberry

from bff.domain import delegation
from schema.context import Info
from schema.cost import SMALL_LIST
from schema.errors import UserError

if TYPE_CHECKING:
    from schema.account import Account

_ERRORS = "Expected failures; empty when the mutation succeeded."


@strawberry.enum(description="How an OAuth client authenticates.")
class OAuthClientKind(Enum):
    CONFIDENTIAL = strawberry.enum_value(
        "confidential", description="A server: private_key_jwt with its registered keys."
    )
    PUBLIC = strawberry.enum_value(
        "public", description="A native app: no secret, PKCE and DPoP only."
    )


@strawberry.type(description="A third-party application registered to ask customers for access.")
class OAuthClient:
    client_id: str = strawberry.field(description="The OAuth client_id.")
    name: str = strawberry.field(description="The name customers see on the consent page.")
    kind: OAuthClientKind = strawberry.field(description="How the client authenticates.")
    redirect_uris: list[str] = strawberry.field(description="The exact redirect URIs allowed.")
    scopes: list[str] = strawberry.field(description="The scopes the client may ask for.")
    created_at: datetime = strawberry.field(description="When it was registered (UTC).")

    @classmethod
    def of(cls, client: delegation.Client) -> Self:
        return cls(
            client_id=client.id,
            name=client.name,
            kind=OAuthClientKind(client.kind.value),
            redirect_uris=list(client.redirect_uris),
            scopes=sorted(client.scopes),
            created_at=client.created_at,
        )


@strawberry.type(description="An app the customer gave access to (an OAuth grant).")
class ConnectedApp:
    id: strawberry.ID = strawberry.field(description="The grant; pass it to `revokeAppAccess`.")
    client_id: str = strawberry.field(description="The app's OAuth client_id.")
    name: str = strawberry.field(description="The app's name.")
    scopes: list[str] = strawberry.field(description="What the customer allowed.")
    daily_limit: int = strawberry.field(
        description="Payments the app may make per day, in whole units of each account's "
        "currency (0 when it may not pay)."
    )
    connected_at: datetime = strawberry.field(description="When the customer approved (UTC).")
    last_used_at: datetime | None = strawberry.field(
        description="When the app last used its access (UTC, to the minute); null if never."
    )
    record: strawberry.Private[delegation.Grant]

    @classmethod
    def of(cls, grant: delegation.Grant) -> Self:
        return cls(
            id=strawberry.ID(str(grant.id)),
            client_id=grant.client_id,
            name=grant.client_name,
            scopes=sorted(grant.scopes),
            daily_limit=grant.daily_limit,
            connected_at=grant.created_at,
            last_used_at=grant.last_used_at,
            record=grant,
        )

    @strawberry.field(
        directives=[SMALL_LIST], description="The accounts the customer shares with the app."
    )
    async def accounts(
        self, info: Info
    ) -> list[Annotated[Account, strawberry.lazy("schema.account")]]:
        from schema.account import Account

        loader = info.context.loaders.accounts
        found = await asyncio.gather(*(loader.load(key) for key in self.record.account_ids))
        return [Account.of(account) for account in found if account is not None]


@strawberry.input(description="A third-party client to register.")
class RegisterOAuthClientInput:
    name: str = strawberry.field(description="Shown to customers on the consent page.")
    redirect_uris: list[str] = strawberry.field(
        description="Exact https redirect URIs (http only on loopback)."
    )
    scopes: list[str] = strawberry.field(
        description="Among accounts:read, transactions:read, transfers:write."
    )
    jwks: strawberry.scalars.JSON | None = strawberry.field(
        default=None,
        description="The client's public JWK Set for private_key_jwt; omit for a public client.",
    )


@strawberry.type(description="The result of registerOAuthClient.")
class RegisterOAuthClientPayload:
    client: OAuthClient | None = strawberry.field(default=None, description="The new client.")
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.input(description="A connected app to disconnect.")
class RevokeAppAccessInput:
    app_id: strawberry.ID = strawberry.field(description="`ConnectedApp.id`.")


@strawberry.type(description="The result of revokeAppAccess.")
class RevokeAppAccessPayload:
    app: ConnectedApp | None = strawberry.field(
        default=None, description="The app as it was connected; its tokens no longer work."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )
