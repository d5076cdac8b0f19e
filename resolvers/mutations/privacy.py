"""exportMyData and eraseUser."""

from __future__ import annotations

import json
from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import privacy
from resolvers.boundary import actor_of, returns_user_errors
from schema.ids import decode_id
from schema.privacy import EraseUserInput, EraseUserPayload, ExportMyDataPayload


@returns_user_errors
async def export_my_data(info: Info) -> ExportMyDataPayload:
    """A copy of everything kept about the viewer (audited)."""
    actor = actor_of(info)
    document = await privacy.export_data(info.context.unit_of_work(), actor, actor.user_id)
    return ExportMyDataPayload(document=json.dumps(document, sort_keys=True))


@returns_user_errors
async def erase_user(
    info: Info,
    input: Annotated[EraseUserInput, strawberry.argument(description="Whom, and why.")],
) -> EraseUserPayload:
    """Crypto-shred a customer (admins; blocked by a non-zero balance; audited)."""
    user_id = decode_id(input.user_id, "User", "userId")
    await privacy.erase_user(info.context.unit_of_work(), actor_of(info), user_id, input.reason)
    return EraseUserPayload(erased_user_id=input.user_id)
