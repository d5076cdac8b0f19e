from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import accounts
from resolvers.boundary import actor_of, returns_user_errors
from schema.account import Account
from schema.inputs import OpenAccountInput
from schema.payloads import AccountPayload


@returns_user_errors
async def open_account(
    info: Info,
    input: Annotated[OpenAccountInput, strawberry.argument(description="The new account.")],
) -> AccountPayload:
    """Open an empty account for the logged-in customer."""
    account = await accounts.open_account(
        info.context.unit_of_work(), actor_of(info), input.name, input.currency.value
    )
    return AccountPayload(account=Account.of(account))
