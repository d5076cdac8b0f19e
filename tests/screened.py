"""Fixtures of a runtime that screens transfers with a model of the tests' own (trained once per
run), and transfers held for review by the rules: a customer's limit per transfer below the
amount holds it whatever its score."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from bff.config import Settings
from bff.domain.models import Account
from bff.domain.throttle import Limits, ThrottlePolicy, ThrottleScope
from bff.fraud import training
from bff.fraud.commands import THRESHOLDS
from bff.runtime import Runtime, build_runtime
from schema.ids import decode_id, encode_id
from tests.conftest import Person, World, asgi_client, graphql
from tests.documents import CREATE_TRANSFER

# Logins without the throttle's delays: failed logins are facts to record, in a row.
UNTHROTTLED = ThrottlePolicy(
    limits={
        ThrottleScope.ACCOUNT: Limits(1000, 10_000),
        ThrottleScope.ADDRESS: Limits(1000, 10_000),
    }
)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fraud") / "model.skops"
    training.train_to(path, THRESHOLDS)
    return path


@pytest.fixture
async def screened(settings: Settings, model_file: Path) -> AsyncIterator[Runtime]:
    screening = {"fraud_model_file": model_file, "fraud_screening": True}
    runtime = build_runtime(settings.model_copy(update=screening), settings.database_url or "")
    assert runtime.screener is not None
    yield runtime
    await runtime.close()


@pytest.fixture
async def screened_client(screened: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(screened) as http:
        yield http


async def limit_per_transfer(runtime: Runtime, customer: Person, minor: int) -> None:
    """Rules under which any transfer of `customer` above `minor` units is held for review."""
    uow = runtime.unit_of_work()
    async with uow:
        rules = await uow.fraud.rules()
        limits = {**rules.limits, customer.user.id: minor}
        saved = await uow.fraud.save_rules(
            replace(rules, limits=limits), customer.user.id, "test: limit per transfer"
        )
        await uow.commit()
    assert saved is not None


@dataclass
class Held:
    """Alice's transfer of 30.00 of her 100.00 to Bob, held for review."""

    alice: Person
    bob: Person
    source: Account
    destination: Account
    transfer_id: str

    @property
    def uuid(self) -> UUID:
        return decode_id(self.transfer_id, "Transfer", "transferId")


async def send(
    client: httpx.AsyncClient, sender: Person, source: Account, destination: Account, amount: str
) -> dict[str, Any]:
    body = await graphql(
        client,
        CREATE_TRANSFER,
        {
            "input": {
                "idempotencyKey": str(uuid.uuid4()),
                "fromAccountId": encode_id("Account", source.id),
                "toAccountId": encode_id("Account", destination.id),
                "amount": {"amount": amount, "currency": "USD"},
            }
        },
        sender,
    )
    payload = body["data"]["createTransfer"]
    assert isinstance(payload, dict), body
    return payload


async def held_transfer(
    world: World, runtime: Runtime, client: httpx.AsyncClient, alice: Person | None = None
) -> Held:
    """A transfer screening holds for review, made through GraphQL."""
    alice = alice or await world.person()
    bob = await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    await limit_per_transfer(runtime, alice, 1_000)
    payload = await send(client, alice, source, destination, "30.00")
    assert payload["userErrors"] == [], payload
    assert payload["transfer"]["status"] == "PENDING", payload
    return Held(alice, bob, source, destination, payload["transfer"]["id"])
