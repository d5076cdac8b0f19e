from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import roles
from resolvers.boundary import actor_of, returns_user_errors
from schema.ids import decode_id
from schema.inputs import RoleInput
from schema.payloads import UserPayload
from schema.user import User

_INPUT = strawberry.argument(description="The user and the role.")


@returns_user_errors
async def assign_role(info: Info, input: Annotated[RoleInput, _INPUT]) -> UserPayload:
    """Give a user a role (admins, not for themselves)."""
    user = await roles.assign_role(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.user_id, "User", "userId"),
        input.role,
    )
    return UserPayload(user=User.of(user))


@returns_user_errors
async def revoke_role(info: Info, input: Annotated[RoleInput, _INPUT]) -> UserPayload:
    """Take a role from a user (admins, not for themselves)."""
    user = await roles.revoke_role(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.user_id, "User", "userId"),
        input.role,
    )
    return UserPayload(user=User.of(user))
