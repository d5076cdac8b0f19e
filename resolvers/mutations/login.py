from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import sessions, users
from bff.domain.errors import Throttled
from bff.metrics.families import LOGIN_THROTTLED
from resolvers.boundary import returns_user_errors
from schema.errors import UserError
from schema.inputs import LoginInput
from schema.payloads import AuthPayload
from schema.user import User


def tokens_of(info: Info, opened: sessions.Opened) -> AuthPayload:
    """The payload handing a session's new token pair to the client."""
    runtime = info.context.runtime
    return AuthPayload(
        access_token=runtime.tokens.issue(opened.user.id, opened.session.id),
        refresh_token=opened.refresh_token,
        expires_in=runtime.settings.access_token_ttl_s,
        user=User.of(opened.user),
    )


@returns_user_errors
async def login(
    info: Info,
    input: Annotated[
        LoginInput, strawberry.argument(description="Credentials and a name for this device.")
    ],
) -> AuthPayload:
    """Open a device session: an access token and a refresh token."""
    settings = info.context.runtime.settings
    command = users.LogIn(input.email, input.password, input.device_name, info.context.client)
    try:
        opened = await users.log_in(
            info.context.unit_of_work(), command, settings.session_policy, settings.throttle_policy
        )
    except Throttled as throttled:
        # Past the longest backoff delay, the wait is a lockout's.
        locked_out = throttled.retry_after_s > settings.throttle_policy.max_delay_s
        LOGIN_THROTTLED.labels("lockout" if locked_out else "delay").inc()
        return AuthPayload(
            retry_after_seconds=throttled.retry_after_s, user_errors=[UserError.of(throttled)]
        )
    return tokens_of(info, opened)
