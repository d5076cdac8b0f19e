"""Whole responses to queries are cached per user and served only while everything they were
built from is unchanged: a repeat costs no SQL and no data look-up, and no write is ever hidden."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.cache.responses import ResponseStats, code_fingerprint
from bff.config import Settings
from bff.domain.rbac import Role
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import BOTH_EXECUTORS, World, asgi_client, graphql, runtime_on
from tests.documents import (
    ACCOUNT_BALANCE,
    ASSIGN_ROLE,
    FREEZE,
    HOME,
    OWN_ACCOUNTS_TWICE,
    VIEWER_ACCOUNTS,
    VIEWER_SESSIONS,
)
from tests.graphql_calls import account_id, data, missing, status_input
from tests.services import suite_redis_url
from tests.test_cache import count_statements, pay, payer_and_payee

# Every query here runs on both executors.
pytestmark = [
    pytest.mark.usefixtures("compiled"),
    pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True),
]


@pytest.fixture(params=["memory", "redis"])
async def runtime(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Runtime]:
    redis_url = suite_redis_url(13) if request.param == "redis" else None
    async with runtime_on(settings, redis_url, response_cache_enabled=True) as runtime:
        yield runtime


@pytest.fixture
async def http(runtime: Runtime, compiled: bool | None) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(runtime, compiled=compiled) as client:
        yield client


def response_stats(runtime: Runtime) -> ResponseStats:
    assert runtime.responses is not None
    return runtime.responses.stats


async def test_a_repeated_query_is_answered_without_sql_or_data_look_ups(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    # given a customer whose home screen was loaded once
    world = World(runtime)
    alice, _bob, source, target = await payer_and_payee(world, "40.00")
    await pay(runtime, alice, source, target, "4.00")
    first = await graphql(http, HOME, person=alice)
    assert runtime.cache is not None
    hits = response_stats(runtime).hits
    data_reads = runtime.cache.stats.reads
    counter = count_statements(runtime)
    # when it is loaded again
    second = await graphql(http, HOME, person=alice)
    # then the stored response came back whole: no SQL, no data look-up
    assert second == first
    assert counter.statements == []
    assert runtime.cache.stats.reads == data_reads
    assert response_stats(runtime).hits == hits + 1


async def test_a_response_is_retired_by_a_transfer_to_the_account(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    # given bob's home screen answered from the cache
    world = World(runtime)
    alice, bob, source, target = await payer_and_payee(world, "40.00")
    hits = response_stats(runtime).hits
    await graphql(http, HOME, person=bob)
    await graphql(http, HOME, person=bob)
    assert response_stats(runtime).hits == hits + 1
    stale = response_stats(runtime).stale
    # when alice pays him (another user's write)
    await pay(runtime, alice, source, target, "7.25")
    # then his next home screen shows the money and the transaction, not the stored response
    home = await graphql(http, HOME, person=bob)
    [edge] = home["data"]["viewer"]["accounts"]["edges"]
    assert edge["node"]["balance"]["amount"] == "7.25"
    assert edge["node"]["transactions"]["edges"][0]["node"]["amount"]["amount"] == "7.25"
    assert response_stats(runtime).stale == stale + 1


async def test_a_response_is_retired_by_a_new_account_and_by_a_freeze(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    # given alice's home screen stored in the cache
    world = World(runtime)
    alice, support = await world.person(), await world.person(Role.SUPPORT)
    first = await world.account(alice, "USD")
    stored = response_stats(runtime).stored
    await graphql(http, HOME, person=alice)
    assert response_stats(runtime).stored == stored + 1
    # when she opens a second account, then her home screen lists it
    await world.account(alice, "EUR")
    home = await graphql(http, HOME, person=alice)
    assert len(home["data"]["viewer"]["accounts"]["edges"]) == 2
    # when support freezes the first, then her home screen shows it frozen
    await data(http, FREEZE, status_input(account_id(first)), support)
    home = await graphql(http, HOME, person=alice)
    statuses = {
        e["node"]["id"]: e["node"]["status"] for e in home["data"]["viewer"]["accounts"]["edges"]
    }
    assert statuses[account_id(first)] == "FROZEN"


async def test_a_role_change_changes_the_response_at_once(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    # given a customer's home screen answered from the cache
    world = World(runtime)
    customer, admin = await world.person(), await world.person(Role.ADMIN)
    await graphql(http, HOME, person=customer)
    hits = response_stats(runtime).hits
    assert (await graphql(http, HOME, person=customer))["data"]["viewer"]["roles"] == ["CUSTOMER"]
    assert response_stats(runtime).hits == hits + 1
    # when an admin makes them an auditor
    variables = {"input": {"userId": encode_id("User", customer.user.id), "role": "AUDITOR"}}
    payload = await data(http, ASSIGN_ROLE, variables, admin)
    assert payload["assignRole"]["userErrors"] == []
    # then their next response carries the new role
    roles = (await graphql(http, HOME, person=customer))["data"]["viewer"]["roles"]
    assert sorted(roles) == ["AUDITOR", "CUSTOMER"]


async def test_responses_built_from_unversioned_reads_are_not_stored(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    # given a customer
    alice = await World(runtime).person()
    stored = response_stats(runtime).stored
    # when they list their sessions (read straight from the database), and look up an
    # account that does not exist (an absence has no version)
    await graphql(http, VIEWER_SESSIONS, person=alice)
    await graphql(http, ACCOUNT_BALANCE, {"id": missing("Account")}, alice)
    # then neither response was stored
    assert response_stats(runtime).stored == stored


async def test_responses_with_errors_and_anonymous_responses_are_not_stored(
    runtime: Runtime, http: httpx.AsyncClient
) -> None:
    # given a customer
    alice = await World(runtime).person()
    stored = response_stats(runtime).stored
    # when a query fails on a page too large, and an anonymous caller asks for the viewer
    failed = await graphql(http, VIEWER_ACCOUNTS, {"first": 500}, alice)
    anonymous = await graphql(http, HOME)
    # then neither response was stored
    assert failed["errors"]
    assert anonymous["data"]["viewer"] is None
    assert response_stats(runtime).stored == stored


async def test_a_response_stored_by_one_process_is_retired_by_a_write_in_another(
    settings: Settings,
) -> None:
    # given two server processes sharing Redis, and bob's home screen stored by both
    async with (
        runtime_on(settings, suite_redis_url(13), response_cache_enabled=True) as one,
        runtime_on(settings, suite_redis_url(13), response_cache_enabled=True) as two,
        asgi_client(one, "one") as first,
        asgi_client(two, "two") as second,
    ):
        world = World(one)
        alice, bob, source, target = await payer_and_payee(world, "30.00")
        await graphql(first, HOME, person=bob)
        assert await graphql(second, HOME, person=bob) == await graphql(first, HOME, person=bob)
        assert response_stats(one).hits + response_stats(two).hits == 2
        # when the second process moves money into his account
        await pay(two, alice, source, target, "3.00")
        # then both processes respond with the new balance
        responses = [await graphql(client, HOME, person=bob) for client in (first, second)]
    for home in responses:
        [edge] = home["data"]["viewer"]["accounts"]["edges"]
        assert edge["node"]["balance"]["amount"] == "3.00"


async def test_a_response_that_read_one_list_at_two_versions_is_not_stored(
    runtime: Runtime, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a customer with one account, and a query that reads her account list twice (in
    # two batches)
    world = World(runtime)
    alice = await world.person()
    await world.account(alice, "USD")
    assert runtime.cache is not None
    load = runtime.cache.load
    opened: list[object] = []

    async def load_then_commit(*args: Any) -> Any:
        found = await load(*args)
        if any(key.startswith("accounts-of:") for key in args[0]) and not opened:
            opened.append(await world.account(alice, "EUR"))
        return found

    monkeypatch.setattr(runtime.cache, "load", load_then_commit)
    stored = response_stats(runtime).stored
    # when she opens a second account between the two reads
    first = await graphql(http, OWN_ACCOUNTS_TWICE, person=alice)
    monkeypatch.setattr(runtime.cache, "load", load)
    # then the response mixes both versions of the list, and is not stored
    outer = first["data"]["viewer"]["accounts"]["edges"]
    assert (len(outer), len(outer[0]["node"]["owner"]["accounts"]["edges"])) == (1, 2)
    assert response_stats(runtime).stored == stored
    again = await graphql(http, OWN_ACCOUNTS_TWICE, person=alice)
    assert len(again["data"]["viewer"]["accounts"]["edges"]) == 2


def test_responses_of_one_release_are_not_keyed_like_another_releases(tmp_path: Path) -> None:
    # given two copies of a package, the second with one read policy changed
    releases: list[Path] = []
    for policy in ("return owner == actor", "return owner == actor and not frozen"):
        package = tmp_path / f"release-{len(releases)}" / "bff"
        (package / "domain").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "domain" / "policies.py").write_text(f"def can_read():\n    {policy}\n")
        releases.append(package)
    # when their code is fingerprinted
    first, second = (code_fingerprint([package]) for package in releases)
    # then the fingerprints differ, and each is stable
    assert first != second
    assert code_fingerprint([releases[0]]) == first
