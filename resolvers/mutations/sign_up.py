from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import users
from resolvers.boundary import returns_user_errors
from schema.inputs import SignUpInput
from schema.payloads import UserPayload
from schema.user import User


@returns_user_errors
async def sign_up(
    info: Info, input: Annotated[SignUpInput, strawberry.argument(description="The new customer.")]
) -> UserPayload:
    """Register a new customer; log in afterwards to get tokens."""
    command = users.SignUp(input.email, input.password, input.display_name)
    user = await users.sign_up(info.context.unit_of_work(), command)
    return UserPayload(user=User.of(user))
