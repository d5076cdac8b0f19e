from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import sessions
from resolvers.boundary import returns_user_errors
from resolvers.mutations.login import tokens_of
from schema.inputs import RefreshSessionInput
from schema.payloads import AuthPayload


@returns_user_errors
async def refresh_session(
    info: Info,
    input: Annotated[
        RefreshSessionInput, strawberry.argument(description="The refresh token to trade.")
    ],
) -> AuthPayload:
    """Rotate the session's tokens; a refresh token works once."""
    opened = await sessions.refresh(
        info.context.unit_of_work(), input.refresh_token, info.context.session_policy
    )
    return tokens_of(info, opened)
