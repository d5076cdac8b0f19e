"""Screening inside createTransfer, through GraphQL, with a trained model: ordinary transfers
post, a card-testing burst and a mule's fan-in are held or refused, a blocked account is refused
with nothing reserved, a retry gets the first decision without a second score, and failed logins
still count once the password has been guessed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from bff.domain import users
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.fraud import Rules
from bff.domain.fraud_signals import FEATURE_NAMES
from bff.domain.models import Account
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import PASSWORD, Person, World, asgi_client, graphql
from tests.screened import UNTHROTTLED, model_file, screened

__all__ = ["model_file", "screened"]  # the fixtures used here

CREATE = """
mutation ($input: CreateTransferInput!) {
  createTransfer(input: $input) {
    transfer { id status }
    userErrors { code field }
  }
}
"""


@pytest.fixture
async def client(screened: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(screened) as http:
        yield http


async def send(
    client: httpx.AsyncClient,
    person: Person,
    source: Account,
    destination: Account,
    amount: str,
    key: str | None = None,
) -> dict[str, object]:
    body = await graphql(
        client,
        CREATE,
        {
            "input": {
                "idempotencyKey": key or str(uuid.uuid4()),
                "fromAccountId": encode_id("Account", source.id),
                "toAccountId": encode_id("Account", destination.id),
                "amount": {"amount": amount, "currency": "USD"},
            }
        },
        person,
    )
    payload = body["data"]["createTransfer"]
    assert isinstance(payload, dict)
    return payload


async def test_an_ordinary_transfer_posts(client: httpx.AsyncClient, world: World) -> None:
    # given Alice, who pays Bob 20.00 now and then from a well-funded account
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="2000.00")
    destination = await world.account(bob, "USD")
    for _ in range(3):
        await send(client, alice, source, destination, "20.00")
    # when she sends him 25.00
    payload = await send(client, alice, source, destination, "25.00")
    # then it is allowed and posted
    assert payload["userErrors"] == []
    assert payload["transfer"]["status"] == "COMPLETED"  # type: ignore[index]


async def test_a_card_testing_burst_is_stopped(client: httpx.AsyncClient, world: World) -> None:
    # given a customer firing many tiny transfers at new payees within minutes
    mallory = await world.person()
    source = await world.account(mallory, "USD", funds="500.00")
    payees = [await world.account(await world.person(), "USD") for _ in range(12)]
    outcomes = [await send(client, mallory, source, payee, "0.50") for payee in payees]
    # then, once the burst shows, the transfers are held or refused instead of posted
    last = outcomes[-1]
    stopped = last["transfer"] is None or last["transfer"]["status"] == "PENDING"  # type: ignore[index]
    assert stopped, last


async def test_a_mule_fan_in_is_held_for_review(client: httpx.AsyncClient, world: World) -> None:
    # given a young account that many customers paid today
    mule = await world.account(await world.person(), "USD")
    for _ in range(8):
        sender = await world.person()
        account = await world.account(sender, "USD", funds="100.00")
        last = await send(client, sender, account, mule, "30.00")
    # then the later payments into it are not simply posted
    assert last["transfer"] is None or last["transfer"]["status"] == "PENDING", last  # type: ignore[index]


async def test_a_blocked_account_is_refused_and_nothing_is_reserved(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given the rules block Bob's account
    alice, bob, analyst = await world.person(), await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    uow = screened.unit_of_work()
    async with uow:
        rules = await uow.fraud.rules()
        rules = Rules(
            block_accounts=rules.block_accounts | {destination.id},
            allow_accounts=rules.allow_accounts,
            version=rules.version,
        )
        saved = await uow.fraud.save_rules(rules, analyst.user.id, "test: block Bob")
        await uow.commit()
    assert saved is not None
    try:
        # when Alice pays Bob, twice under the same key
        key = str(uuid.uuid4())
        first = await send(client, alice, source, destination, "10.00", key)
        again = await send(client, alice, source, destination, "10.00", key)
    finally:
        async with uow:
            await uow.fraud.save_rules(
                Rules(allow_accounts=saved.allow_accounts, version=saved.version),
                analyst.user.id,
                "test: unblock",
            )
            await uow.commit()
    # then both answers are TRANSFER_BLOCKED, and her money is all available
    assert first["userErrors"] == [{"code": "TRANSFER_BLOCKED", "field": None}]
    assert again == first
    account = await screened.database.reads.account(source.id)
    assert account is not None
    assert account.available_balance == account.balance == 10_000


async def test_a_retry_gets_the_first_decision_and_is_not_scored_again(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a transfer made once
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    key = str(uuid.uuid4())
    first = await send(client, alice, source, destination, "5.00", key)
    # when it is retried, concurrently, several times
    retries = await asyncio.gather(
        *(send(client, alice, source, destination, "5.00", key) for _ in range(3))
    )
    # then every retry gets the same transfer, and one screening was stored for it
    assert all(retry == first for retry in retries)
    async with screened.database.engine.connect() as connection:
        stored = await connection.execute(
            text("SELECT count(*) FROM transfer_screenings WHERE actor_id = :a"),
            {"a": alice.user.id},
        )
        assert stored.scalar_one() == 1


def decisions(decision: str) -> float:
    return REGISTRY.get_sample_value("bff_fraud_decisions_total", {"decision": decision}) or 0.0


async def test_each_decision_is_counted_in_the_metrics(
    client: httpx.AsyncClient, world: World
) -> None:
    # given Alice with a well-funded account, and the count of decisions so far
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="2000.00")
    destination = await world.account(bob, "USD")
    allowed = decisions("allow")
    # when she sends Bob an ordinary amount, then retries it with the same key
    key = str(uuid.uuid4())
    first = await send(client, alice, source, destination, "20.00", key)
    await send(client, alice, source, destination, "20.00", key)
    # then the one screening is counted once, as allowed
    assert first["transfer"]["status"] == "COMPLETED"  # type: ignore[index]
    assert decisions("allow") == allowed + 1


async def failed_logins_screened(runtime: Runtime, person: Person) -> list[float]:
    """The failed-logins feature of each of the person's stored screenings, oldest first."""
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT features ->> CAST(:at AS integer) FROM transfer_screenings"
                " WHERE actor_id = :actor ORDER BY created_at"
            ),
            {"at": FEATURE_NAMES.index("failed_logins"), "actor": person.user.id},
        )
        return [float(row[0]) for row in rows]


async def test_failed_logins_still_count_after_the_password_is_guessed(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given Alice's account, and someone who tried five wrong passwords before the right one
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD", funds="10.00")
    policy = screened.settings.session_policy
    for attempt in range(5):
        wrong = users.LogIn(alice.user.email, "not it", "new phone", f"198.51.100.{attempt}")
        with pytest.raises(DomainError) as refused:
            await users.log_in(screened.unit_of_work(), wrong, policy, UNTHROTTLED)
        assert refused.value.code is ErrorCode.INVALID_CREDENTIALS
    right = users.LogIn(alice.user.email, PASSWORD, "new phone", "198.51.100.9")
    opened = await users.log_in(screened.unit_of_work(), right, policy, UNTHROTTLED)
    intruder = Person(alice.user, screened.tokens.issue(alice.user.id, opened.session.id))
    # when the intruder transfers from her account, and Bob (who never mistyped) from his
    await send(client, intruder, source, destination, "20.00")
    await send(client, bob, destination, source, "1.00")
    # then Alice's screening read the five failed logins the successful one did not wipe out,
    # and Bob's none
    assert await failed_logins_screened(screened, alice) == [5.0]
    assert await failed_logins_screened(screened, bob) == [0.0]
