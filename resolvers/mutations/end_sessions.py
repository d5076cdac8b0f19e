from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import sessions
from resolvers.boundary import actor_of, returns_user_errors
from schema.ids import decode_id
from schema.inputs import RevokeSessionInput
from schema.payloads import EndSessionsPayload


@returns_user_errors
async def logout(info: Info) -> EndSessionsPayload:
    """End the session this request came through."""
    actor = actor_of(info)
    ended = await sessions.log_out(info.context.unit_of_work(), actor)
    return EndSessionsPayload(sessions_ended=ended)


@returns_user_errors
async def logout_everywhere(info: Info) -> EndSessionsPayload:
    """End every session of the user, this one included."""
    actor = actor_of(info)
    ended = await sessions.log_out_everywhere(info.context.unit_of_work(), actor)
    return EndSessionsPayload(sessions_ended=ended)


@returns_user_errors
async def revoke_session(
    info: Info,
    input: Annotated[RevokeSessionInput, strawberry.argument(description="The session to end.")],
) -> EndSessionsPayload:
    """End one of the user's sessions."""
    actor = actor_of(info)
    session_id = decode_id(input.session_id, "Session", "sessionId")
    ended = await sessions.revoke_session(info.context.unit_of_work(), actor, session_id)
    return EndSessionsPayload(sessions_ended=ended)
