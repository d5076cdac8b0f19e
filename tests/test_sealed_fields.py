"""Personal data sealed at rest: after a demo run no table holds an email, display name, device
name, client address or account number in the clear (nor does Redis); a sealed value moved to
another row or column does not open; lookups by email and account number go by blind index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from bff.app import create_app
from bff.config import Settings
from bff.crypto.envelope import SealError
from bff.domain.rbac import Role
from bff.runtime import Runtime
from bff.seed import DEMO_USERS, seed_demo
from tests.conftest import World, asgi_client, fresh_runtime, runtime_on
from tests.graphql_calls import account_id, data
from tests.services import suite_redis_url

DEVICE = "Ada's phone"
ADDRESS = "203.0.113.77"
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken userErrors { code } }
}
"""
VIEWER = (
    "query { viewer { email displayName accounts(first: 5) { edges { node { accountNumber } } } } }"
)


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def dump(url: str) -> str:
    """Every row of every table, as PostgreSQL prints it (bytea as hex)."""
    connection = await asyncpg.connect(plain(url))
    try:
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )
        rows = []
        for table in tables:
            name = table["tablename"]
            query = f'SELECT t::text FROM "{name}" t'  # noqa: S608 (catalogue names)
            rows += [r[0] for r in await connection.fetch(query)]
        return "\n".join(rows).lower()
    finally:
        await connection.close()


def forms(value: str) -> list[str]:
    """How a plaintext could show in a dump: as text, or as the hex of its bytes."""
    return [value.lower(), value.encode().hex()]


@pytest.fixture
async def demo(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, Runtime]]:
    async with fresh_runtime(settings, tmp_path / "pg") as found:
        yield found


async def test_a_demo_run_leaves_no_personal_data_in_the_clear(
    demo: tuple[str, Runtime],
) -> None:
    url, runtime = demo
    # Given the demo data, and a customer logging in from a named phone at an address
    credentials = await seed_demo(runtime)
    assert credentials is not None
    transport = httpx.ASGITransport(app=create_app(runtime), client=(ADDRESS, 4321))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        alice = credentials[0]
        variables = {
            "input": {"email": alice.email, "password": "wrong password", "deviceName": DEVICE}
        }
        await http.post("/graphql", json={"query": LOGIN, "variables": variables})
        variables["input"]["password"] = alice.password
        response = await http.post("/graphql", json={"query": LOGIN, "variables": variables})
        token = response.json()["data"]["login"]["accessToken"]
        viewer = await http.post(
            "/graphql", json={"query": VIEWER}, headers={"authorization": f"Bearer {token}"}
        )
    me = viewer.json()["data"]["viewer"]
    numbers = [edge["node"]["accountNumber"] for edge in me["accounts"]["edges"]]
    assert me["email"] == alice.email
    assert len(numbers) == 2
    # When the raw tables are read
    everything = await dump(url)
    # Then none of the plaintexts is there
    plaintexts = [email for email, _, _ in DEMO_USERS] + [name for _, name, _ in DEMO_USERS]
    plaintexts += [DEVICE, ADDRESS, *numbers]
    plaintexts += ["Dinner", "Coffee", "Museum tickets", "Postcards", "Opening deposit"]
    for value in plaintexts:
        for form in forms(value):
            assert form not in everything, value


async def test_a_sealed_value_moved_to_another_row_or_column_does_not_open(
    world: World, runtime: Runtime, database_url: str
) -> None:
    # Given two customers
    ada, bob = await world.person(), await world.person()
    connection = await asyncpg.connect(plain(database_url))
    try:
        # When Ada's sealed email is copied over Bob's, and over her own display name
        await connection.execute(
            "UPDATE users SET email_sealed = (SELECT email_sealed FROM users WHERE id = $1)"
            " WHERE id = $2",
            ada.user.id,
            bob.user.id,
        )
        await connection.execute(
            "UPDATE users SET display_name_sealed = email_sealed WHERE id = $1", ada.user.id
        )
    finally:
        await connection.close()
    # Then neither opens
    for person in (ada, bob):
        with pytest.raises(SealError):
            await runtime.database.reads.users([person.user.id])


async def test_login_and_transfers_by_number_go_by_blind_index(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    # Given a funded customer and another's account number
    ada = await world.person()
    source = await world.account(ada, funds="10.00")
    bob = await world.person()
    destination = await world.account(bob)
    # When Ada pays Bob's account by its number
    mutation = """
    mutation Pay($input: CreateTransferInput!) {
      createTransfer(input: $input) { transfer { id } userErrors { code } }
    }"""
    request = {
        "idempotencyKey": "by-number-1",
        "fromAccountId": account_id(source),
        "toAccountNumber": destination.account_number,
        "amount": {"amount": "1.00", "currency": "USD"},
    }
    paid = await data(client, mutation, {"input": request}, ada)
    # Then it arrives, though the number is nowhere in the clear
    assert paid["createTransfer"]["userErrors"] == []
    assert destination.account_number not in await dump(database_url)
    # and an email differing only in case is the same login (one blind index)
    variables = {
        "input": {"email": ada.user.email.upper(), "password": "correct horse battery staple"}
    }
    logged_in = await data(client, LOGIN, variables)
    assert logged_in["login"]["userErrors"] == []


async def test_redis_holds_no_personal_data_in_the_clear(settings: Settings) -> None:
    url = suite_redis_url(9)
    async with runtime_on(settings, url) as runtime:
        # Given a customer whose profile and account were read through the cache
        world = World(runtime)
        ada = await world.person(Role.CUSTOMER)
        account = await world.account(ada)
        async with asgi_client(runtime) as http:
            for _ in range(2):  # the second read is served from the cache
                body = await data(http, VIEWER, {}, ada)
        assert body["viewer"]["email"] == ada.user.email
        # When every value in Redis is read
        redis = Redis.from_url(url)
        try:
            # The caches' values are strings; streams, sets and hashes of other tests are not.
            values = [await redis.get(key) async for key in redis.scan_iter(_type="STRING")]
        finally:
            await redis.aclose()
        blob = b"\n".join(value for value in values if isinstance(value, bytes)).lower()
        # Then the cache was used, but holds neither the email nor the number in the clear
        assert values
        for secret in (ada.user.email, account.account_number, ada.user.display_name):
            assert secret.lower().encode() not in blob
