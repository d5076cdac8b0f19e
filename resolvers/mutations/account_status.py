from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import accounts
from resolvers.boundary import actor_of, returns_user_errors
from schema.account import Account
from schema.ids import decode_id
from schema.inputs import AccountStatusInput
from schema.payloads import AccountPayload


@returns_user_errors
async def freeze_account(
    info: Info,
    input: Annotated[AccountStatusInput, strawberry.argument(description="The account.")],
) -> AccountPayload:
    """Stop an account from sending or receiving money (support, admin)."""
    account = await accounts.freeze_account(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.account_id, "Account", "accountId"),
    )
    return AccountPayload(account=Account.of(account))


@returns_user_errors
async def unfreeze_account(
    info: Info,
    input: Annotated[AccountStatusInput, strawberry.argument(description="The account.")],
) -> AccountPayload:
    """Let a frozen account move money again (support, admin)."""
    account = await accounts.unfreeze_account(
        info.context.unit_of_work(),
        actor_of(info),
        decode_id(input.account_id, "Account", "accountId"),
    )
    return AccountPayload(account=Account.of(account))
