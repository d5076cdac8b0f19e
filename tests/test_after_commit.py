"""What a commit changed reaches the rest of the process from the unit of work itself, whoever
called the domain: no resolver has to remember to announce it."""

from __future__ import annotations

from bff.auth.tokens import AccessClaims
from bff.domain import roles, sessions
from bff.domain.rbac import Role
from bff.runtime import Runtime
from tests.conftest import World


def claims_of(runtime: Runtime, token: str) -> AccessClaims:
    return runtime.tokens.verify(token)


async def test_a_role_revoked_through_the_domain_api_is_seen_at_once(
    runtime: Runtime, world: World
) -> None:
    # given a support agent whose session this process has resolved (and cached), and an admin
    agent = await world.person(Role.SUPPORT, Role.CUSTOMER)
    admin = await world.person(Role.ADMIN)
    claims = claims_of(runtime, agent.token)
    before = await runtime.actors.resolve(claims)
    assert before is not None
    assert Role.SUPPORT in before[0].roles
    # when the admin revokes the role through the domain API alone, no resolver involved
    await roles.revoke_role(runtime.unit_of_work(), admin.actor, agent.user.id, Role.SUPPORT)
    # then this process resolves the session with the new roles at once, not after its cache TTL
    after = await runtime.actors.resolve(claims)
    assert after is not None
    assert Role.SUPPORT not in after[0].roles


async def test_sessions_ended_through_the_domain_api_stop_resolving_at_once(
    runtime: Runtime, world: World
) -> None:
    # given a customer whose session this process has resolved (and cached)
    customer = await world.person()
    claims = claims_of(runtime, customer.token)
    assert await runtime.actors.resolve(claims) is not None
    # when every session of theirs ends through the domain API alone
    await sessions.log_out_everywhere(runtime.unit_of_work(), customer.actor)
    # then the session no longer resolves, at once
    assert await runtime.actors.resolve(claims) is None
