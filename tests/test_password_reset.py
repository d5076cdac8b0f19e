"""The administrative password reset (`users.reset_password`, behind `bff seed --reset-passwords`),
through the domain API: the new password works, the old one does not, every session ends."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bff.domain import users
from bff.domain.errors import DomainError, ErrorCode
from bff.runtime import Runtime
from tests.conftest import PASSWORD, World

NEW_PASSWORD = "a brand new password"


async def log_in(runtime: Runtime, email: str, password: str) -> None:
    settings = runtime.settings
    await users.log_in(
        runtime.unit_of_work(),
        users.LogIn(email, password, "pytest", "127.0.0.1"),
        settings.session_policy,
        settings.throttle_policy,
    )


async def live_sessions(runtime: Runtime, email: str) -> int:
    async with runtime.database.read_engine.connect() as connection:
        count = await connection.execute(
            text(
                "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE u.email_index = :email_index AND s.revoked_at IS NULL"
            ),
            {"email_index": runtime.database.sealing.index("email", email)},
        )
        return int(count.scalar_one())


async def test_a_reset_sets_the_password_and_ends_every_session(
    runtime: Runtime, world: World
) -> None:
    # given a user logged in on two devices
    person = await world.person()
    email = person.user.email
    await log_in(runtime, email, PASSWORD)
    assert await live_sessions(runtime, email) == 2
    # when an administrator resets the password (the email in any case)
    user, ended = await users.reset_password(runtime.unit_of_work(), email.upper(), NEW_PASSWORD)
    # then both sessions ended, the new password logs in and the old one does not
    assert user.id == person.user.id
    assert ended == 2
    assert await live_sessions(runtime, email) == 0
    await log_in(runtime, email, NEW_PASSWORD)
    with pytest.raises(DomainError) as refused:
        await log_in(runtime, email, PASSWORD)
    assert refused.value.code is ErrorCode.INVALID_CREDENTIALS


async def test_a_reset_to_a_weak_password_changes_nothing(runtime: Runtime, world: World) -> None:
    # given a logged-in user
    person = await world.person()
    # when the reset asks for a password that is too short
    with pytest.raises(DomainError) as refused:
        await users.reset_password(runtime.unit_of_work(), person.user.email, "short")
    # then it is refused, the session lives on, and the old password still works
    assert refused.value.code is ErrorCode.WEAK_PASSWORD
    assert await live_sessions(runtime, person.user.email) == 1
    await log_in(runtime, person.user.email, PASSWORD)


async def test_a_reset_of_an_unknown_email_is_user_not_found(runtime: Runtime) -> None:
    # given / when a reset names nobody
    with pytest.raises(DomainError) as refused:
        await users.reset_password(runtime.unit_of_work(), "nobody@example.com", NEW_PASSWORD)
    # then
    assert refused.value.code is ErrorCode.USER_NOT_FOUND
