"""Step-up through GraphQL: a transfer screening holds for the customer's second factor is
PENDING with a challenge; the right code posts it, wrong ones void it after a few, a used or
expired challenge posts nothing, and only the customer's session that made it may confirm it.
A customer with no second factor is held for an analyst instead."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bff.config import Settings
from bff.domain.fraud import Rules
from bff.domain.models import Account, EventKind
from bff.domain.notification_models import CustomerEventKind, Preferences
from bff.domain.notification_texts import compose
from bff.runtime import Runtime, build_runtime
from schema.ids import decode_id, encode_id
from tests.conftest import Person, World, asgi_client, graphql
from tests.test_db_constraints import refused, sqlstate
from tests.test_fraud_screening import client, model_file, screened
from tests.test_second_factors import code_at, enrolled, wrong

__all__ = ["client", "model_file", "screened"]  # the fixtures used here

CREATE = """
mutation ($input: CreateTransferInput!) {
  createTransfer(input: $input) {
    transfer { id status }
    userErrors { code field challengeId }
  }
}
"""
CONFIRM = """
mutation ($input: ConfirmTransferInput!) {
  confirmTransfer(input: $input) { transfer { id status } userErrors { code field } }
}
"""


@pytest.fixture
async def step_up_rules(screened: Runtime, world: World) -> AsyncIterator[None]:
    """Rules under which every screened transfer scores into step-up."""
    author = (await world.person()).user.id
    uow = screened.unit_of_work()
    async with uow:
        before = await uow.fraud.rules()
        everything = Rules(step_up_at=0.0, review_at=1.5, block_at=1.5, version=before.version)
        saved = await uow.fraud.save_rules(everything, author, "test: step up everything")
        await uow.commit()
    assert saved is not None
    yield
    async with uow:
        await uow.fraud.save_rules(
            Rules(
                step_up_at=before.step_up_at,
                review_at=before.review_at,
                block_at=before.block_at,
                allow_accounts=before.allow_accounts,
                block_accounts=before.block_accounts,
                limits=before.limits,
                version=saved.version,
            ),
            author,
            "test: rules as they were",
        )
        await uow.commit()


async def send(
    client: httpx.AsyncClient, person: Person, source: Account, destination: Account
) -> dict[str, Any]:
    variables = {
        "input": {
            "idempotencyKey": str(uuid.uuid4()),
            "fromAccountId": encode_id("Account", source.id),
            "toAccountId": encode_id("Account", destination.id),
            "amount": {"amount": "40.00", "currency": "USD"},
        }
    }
    return (await graphql(client, CREATE, variables, person))["data"]["createTransfer"]  # type: ignore[no-any-return]


async def confirm(
    client: httpx.AsyncClient, person: Person | None, challenge: str, code: str
) -> dict[str, Any]:
    variables = {"input": {"challengeId": challenge, "totpCode": code}}
    return (await graphql(client, CONFIRM, variables, person))["data"]["confirmTransfer"]  # type: ignore[no-any-return]


async def held(client: httpx.AsyncClient, world: World) -> tuple[Person, str, Account, str, str]:
    """A customer with an authenticator app whose 40.00 transfer is held for step-up: the
    customer, their secret, the source account, the transfer's id and its challenge."""
    alice = await world.person()
    secret = await enrolled(client, alice)
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(await world.person(), "USD")
    payload = await send(client, alice, source, destination)
    [error] = payload["userErrors"]
    assert error["code"] == "STEP_UP_REQUIRED"
    assert payload["transfer"]["status"] == "PENDING"
    return alice, secret, source, payload["transfer"]["id"], error["challengeId"]


async def balances(runtime: Runtime, account: Account) -> tuple[int, int]:
    found = await runtime.database.reads.account(account.id)
    assert found is not None
    return found.balance, found.available_balance


async def stream_of(runtime: Runtime, account: Account, transfer_id: str) -> list[EventKind]:
    """What the account's live stream (and a stream resuming from the start) shows of the
    transfer."""
    held_id = decode_id(transfer_id, "Transfer", "id")
    events = await runtime.database.reads.events(account.id, 0, 99)
    return [event.kind for event in events if event.transfer_id == held_id]


async def posted_with(runtime: Runtime, source: Account, transfer_id: str) -> list[str]:
    """Check that the held 40.00 transfer from a 100.00 account posted, and that the account's
    stream shows the hold and the posting; the factors its audited confirmations name."""
    assert await balances(runtime, source) == (6_000, 6_000)
    assert await stream_of(runtime, source, transfer_id) == [
        EventKind.TRANSFER_HELD,
        EventKind.TRANSACTION_POSTED,
    ]
    async with runtime.database.engine.connect() as connection:
        audited = await connection.execute(
            text(
                "SELECT detail ->> 'factor' FROM audit_log WHERE operation = 'step_up.confirm'"
                " AND object_id = :id"
            ),
            {"id": str(decode_id(transfer_id, "Transfer", "id"))},
        )
        return list(audited.scalars())


async def status_of(runtime: Runtime, transfer_id: str) -> str:
    async with runtime.database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT status FROM transfers WHERE id = :id"),
            {"id": decode_id(transfer_id, "Transfer", "id")},
        )
        return str(found.scalar_one())


@pytest.mark.usefixtures("step_up_rules")
async def test_the_right_code_posts_the_held_transfer_once(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a transfer held for step-up, its amount reserved
    alice, secret, source, transfer_id, challenge = await held(client, world)
    assert await balances(screened, source) == (10_000, 6_000)
    # when Alice confirms it with her app's code
    confirmed = await confirm(client, alice, challenge, code_at(secret, 1))
    # then it posts, and the audit log has the confirmation
    assert confirmed == {"transfer": {"id": transfer_id, "status": "COMPLETED"}, "userErrors": []}
    assert await posted_with(screened, source, transfer_id) == ["totp"]
    # when the challenge is answered again (a replay, even with a fresh code)
    replayed = await confirm(client, alice, challenge, code_at(secret, -1))
    # then it is refused, and nothing posts a second time
    assert replayed["userErrors"] == [{"code": "STEP_UP_CHALLENGE_USED", "field": "challengeId"}]
    assert await balances(screened, source) == (6_000, 6_000)


@pytest.mark.usefixtures("step_up_rules")
async def test_too_many_wrong_codes_void_the_transfer(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a held transfer
    alice, secret, source, transfer_id, challenge = await held(client, world)
    limit = screened.settings.step_up_max_failures
    # when wrong codes are sent, as many as the challenge allows
    answers = [
        (await confirm(client, alice, challenge, wrong(code_at(secret))))["userErrors"][0]["code"]
        for _ in range(limit)
    ]
    # then the last one fails the challenge, the transfer is voided and its money released
    assert answers == ["INVALID_SECOND_FACTOR"] * (limit - 1) + ["STEP_UP_FAILED"]
    assert await status_of(screened, transfer_id) == "cancelled"
    assert await balances(screened, source) == (10_000, 10_000)
    assert await stream_of(screened, source, transfer_id) == [
        EventKind.TRANSFER_HELD,
        EventKind.HOLD_RELEASED,
    ]
    # and the right code now is too late
    late = await confirm(client, alice, challenge, code_at(secret, 1))
    assert late["userErrors"][0]["code"] in {"STEP_UP_CHALLENGE_USED", "LOGIN_THROTTLED"}


@pytest.mark.usefixtures("step_up_rules")
async def test_only_the_session_that_made_the_transfer_can_confirm_it(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a held transfer, Alice on another device, and Mallory with her own authenticator
    alice, secret, _, transfer_id, challenge = await held(client, world)
    other_device = await world.log_in(alice.user)
    mallory = await world.person()
    mallory_secret = await enrolled(client, mallory)
    # when they try to confirm it
    elsewhere = await confirm(client, other_device, challenge, code_at(secret, 1))
    stranger = await confirm(client, mallory, challenge, code_at(mallory_secret, 1))
    anonymous = await confirm(client, None, challenge, code_at(secret, 1))
    # then the challenge does not exist for them, and the transfer is still held
    missing = [{"code": "STEP_UP_CHALLENGE_NOT_FOUND", "field": "challengeId"}]
    assert elsewhere["userErrors"] == missing
    assert stranger["userErrors"] == missing
    assert anonymous["userErrors"] == [{"code": "UNAUTHENTICATED", "field": None}]
    assert await status_of(screened, transfer_id) == "pending"


@asynccontextmanager
async def short_step_up(
    settings: Settings, model_file: Path
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """A server whose step-up holds last one second, and a client of it."""
    update = {"fraud_model_file": model_file, "fraud_screening": True, "step_up_ttl_s": 1}
    runtime = build_runtime(settings.model_copy(update=update), settings.database_url or "")
    try:
        async with asgi_client(runtime) as http:
            yield runtime, http
    finally:
        await runtime.close()


async def assert_voided(
    runtime: Runtime, late: dict[str, Any], source: Account, transfer: str
) -> None:
    """The late answer was refused as expired, the transfer voided and its money released."""
    assert late["userErrors"] == [{"code": "STEP_UP_CHALLENGE_EXPIRED", "field": "challengeId"}]
    assert await status_of(runtime, transfer) == "cancelled"
    assert await balances(runtime, source) == (10_000, 10_000)


@pytest.mark.usefixtures("step_up_rules")
async def test_an_expired_challenge_voids_the_transfer(
    settings: Settings, model_file: Path, world: World
) -> None:
    async with short_step_up(settings, model_file) as (runtime, http):
        # given a transfer held there
        alice, secret, source, transfer_id, challenge = await held(http, world)
        # when Alice confirms it after the challenge expired
        await asyncio.sleep(1.5)
        late = await confirm(http, alice, challenge, code_at(secret, 1))
        # then it is refused as expired, the transfer voided and its money released
        await assert_voided(runtime, late, source, transfer_id)


@pytest.mark.usefixtures("step_up_rules")
async def test_a_customer_without_a_second_factor_is_held_for_review(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a customer who never enrolled a second factor
    bob = await world.person()
    source = await world.account(bob, "USD", funds="100.00")
    destination = await world.account(await world.person(), "USD")
    # when screening would ask him to step up
    payload = await send(client, bob, source, destination)
    # then the transfer is held for an analyst instead: no challenge he cannot answer
    assert payload["userErrors"] == []
    assert payload["transfer"]["status"] == "PENDING"
    async with screened.database.engine.connect() as connection:
        decision = await connection.execute(
            text(
                "SELECT screening ->> 'decision' FROM transfer_screenings WHERE transfer_id = :id"
            ),
            {"id": decode_id(payload["transfer"]["id"], "Transfer", "id")},
        )
        assert decision.scalar_one() == "review"


@pytest.mark.usefixtures("step_up_rules")
async def test_the_database_answers_a_challenge_once(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    alice, secret, _, _, challenge = await held(client, world)
    await confirm(client, alice, challenge, code_at(secret, 1))
    reopened = await refused(
        screened,
        "UPDATE step_up_challenges SET status = 'open', resolved_at = NULL WHERE id = :id",
        {"id": decode_id(challenge, "StepUpChallenge", "challengeId")},
    )
    assert sqlstate(reopened) == "23000"  # integrity_constraint_violation


@pytest.mark.usefixtures("step_up_rules")
async def test_the_customer_is_told_a_transfer_waits_for_them(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a transfer held for step-up
    alice, _, _, transfer_id, challenge = await held(client, world)
    # then a step_up_requested event for Alice names it, and its push cannot be turned off
    async with screened.database.engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT payload FROM customer_events WHERE user_id = :u"
                " AND kind = 'step_up_requested'"
            ),
            {"u": alice.user.id},
        )
        [payload] = found.scalars().all()
    assert payload["challenge_id"] == str(decode_id(challenge, "StepUpChallenge", "id"))
    assert payload["transfer_id"] == str(decode_id(transfer_id, "Transfer", "id"))
    push = compose(CustomerEventKind.STEP_UP_REQUESTED, payload, "en_GB")
    assert push.title == "Confirm your transfer"
    assert "40.00" in push.body
    muted = Preferences(money_received=False, money_sent=False, account_changes=False)
    assert muted.wants(CustomerEventKind.STEP_UP_REQUESTED)
