from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import users
from resolvers.boundary import returns_user_errors
from schema.inputs import LoginInput
from schema.payloads import LoginPayload
from schema.user import User


@returns_user_errors
async def login(
    info: Info,
    input: Annotated[
        LoginInput, strawberry.argument(description="Credentials and a name for this device.")
    ],
) -> LoginPayload:
    """Open a device session: an access token and a refresh token."""
    runtime = info.context.runtime
    logged_in = await users.log_in(
        info.context.unit_of_work(),
        input.email,
        input.password,
        input.device_name,
        timedelta(seconds=runtime.settings.refresh_token_ttl_s),
    )
    return LoginPayload(
        access_token=runtime.tokens.issue(logged_in.user.id, logged_in.session.id),
        refresh_token=logged_in.refresh_token,
        expires_in=runtime.settings.access_token_ttl_s,
        user=User.of(logged_in.user),
    )
