from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import users
from resolvers.boundary import returns_user_errors
from schema.inputs import ChangePasswordInput
from schema.payloads import UserPayload
from schema.user import User


@returns_user_errors
async def change_password(
    info: Info,
    input: Annotated[
        ChangePasswordInput, strawberry.argument(description="The current and new passwords.")
    ],
) -> UserPayload:
    """Replace the password and end every other session."""
    user, _ = await users.change_password(
        info.context.unit_of_work(), info.context.actor, input.current_password, input.new_password
    )
    return UserPayload(user=User.of(user))
