"""`bff privacy export --user` and `bff privacy erase --user --reason`: trusted local tooling
(whoever runs them controls the server), audited like the API's."""

from __future__ import annotations

import asyncio
import json
from uuid import UUID

from bff.config import Settings
from bff.domain import privacy
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.users import normalise_email
from bff.runtime import Runtime, build_runtime


async def _user_id(runtime: Runtime, user: str) -> UUID:
    """The user named by id, or by email (found by its blind index)."""
    try:
        return UUID(user)
    except ValueError:
        pass
    async with runtime.unit_of_work() as uow:
        found = await uow.users.credentials(normalise_email(user))
    if found is None:
        raise DomainError(ErrorCode.USER_NOT_FOUND, "No user has that email.", "user")
    return found[0].id


def export(settings: Settings, url: str, user: str) -> None:
    """Print the user's data as one JSON document."""

    async def run() -> dict[str, object]:
        runtime = build_runtime(settings, url)
        try:
            user_id = await _user_id(runtime, user)
            return await privacy.export_data(runtime.unit_of_work(), None, user_id)
        finally:
            await runtime.close()

    print(json.dumps(asyncio.run(run()), indent=2, sort_keys=True))


def erase(settings: Settings, url: str, user: str, reason: str) -> None:
    """Crypto-shred the user; refused while their accounts hold money."""

    async def run() -> UUID:
        runtime = build_runtime(settings, url)
        try:
            user_id = await _user_id(runtime, user)
            await privacy.erase_user(runtime.unit_of_work(), None, user_id, reason)
            return user_id
        finally:
            await runtime.close()

    user_id = asyncio.run(run())
    print(f"erased user {user_id}: their data key and blind indexes are destroyed")
