"""Third-party access: admins register OAuth clients; customers disconnect apps."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import strawberry

from bff.api.context import Info
from bff.domain import delegation
from bff.domain.errors import DomainError, ErrorCode
from resolvers.boundary import actor_of, returns_user_errors
from schema.connected_apps import (
    ConnectedApp,
    OAuthClient,
    RegisterOAuthClientInput,
    RegisterOAuthClientPayload,
    RevokeAppAccessInput,
    RevokeAppAccessPayload,
)


@returns_user_errors
async def register_oauth_client(
    info: Info,
    input: Annotated[
        RegisterOAuthClientInput, strawberry.argument(description="The client to register.")
    ],
) -> RegisterOAuthClientPayload:
    """Register a third-party client (admins)."""
    jwks: Any = input.jwks
    if jwks is not None and not isinstance(jwks, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "A JWK Set object.", "jwks")
    client = await delegation.register_client(
        info.context.unit_of_work(),
        actor_of(info),
        delegation.ClientRegistration(input.name, input.redirect_uris, input.scopes, jwks),
    )
    return RegisterOAuthClientPayload(client=OAuthClient.of(client))


@returns_user_errors
async def revoke_app_access(
    info: Info,
    input: Annotated[RevokeAppAccessInput, strawberry.argument(description="The app.")],
) -> RevokeAppAccessPayload:
    """Disconnect an app: its tokens stop working and its live subscriptions end."""
    try:
        grant_id = UUID(str(input.app_id))
    except ValueError:
        raise DomainError(ErrorCode.APP_NOT_FOUND, field="appId") from None
    grant = await delegation.revoke_app_access(
        info.context.unit_of_work(), actor_of(info), grant_id
    )
    return RevokeAppAccessPayload(app=ConnectedApp.of(grant))
