"""The README's walkthrough of fraud screening, on the demo data `make run` seeds: a suspicious
transfer (most of Alice's balance to an account Bob opened a minute ago) is held by the model
for review, shows in the demo analyst's queue with its reasons, and posts when approved."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bff.config import Settings
from bff.domain.fraud import STEP_UP_AT
from bff.runtime import Runtime
from bff.seed import Credential, seed_demo
from tests.conftest import asgi_client, fresh_runtime
from tests.documents import (
    APPROVE_TRANSFER,
    CREATE_TRANSFER,
    LOGIN,
    OPEN_ACCOUNT,
    REVIEW_QUEUE,
)
from tests.screened import model_file

__all__ = ["model_file"]  # the fixture used here

# The amount the README's walkthrough sends: on the demo data 300.00 passes, 600.00 to 1,000.00
# are held, and most sums above are refused outright.
WALKTHROUGH_AMOUNT = "800.00"
HOME = """
{ viewer { accounts { edges { node { id name accountNumber availableBalance { amount } } } } } }
"""


@pytest.fixture
async def demo(settings: Settings, tmp_path: Path, model_file: Path) -> AsyncIterator[Runtime]:
    screening = {"fraud_model_file": model_file, "fraud_screening": True}
    async with fresh_runtime(settings, tmp_path / "pg", **screening) as (_, runtime):
        yield runtime


async def ask(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str = ""
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def log_in(http: httpx.AsyncClient, credential: Credential) -> str:
    login = {"email": credential.email, "password": credential.password, "deviceName": "GraphiQL"}
    data = await ask(http, LOGIN, {"input": login})
    return str(data["login"]["accessToken"])


def account(home: dict[str, Any], name: str) -> dict[str, Any]:
    nodes = [edge["node"] for edge in home["viewer"]["accounts"]["edges"]]
    return next(node for node in nodes if node["name"] == name)


async def test_the_walkthroughs_suspicious_transfer_is_held_and_an_analyst_approves_it(
    demo: Runtime,
) -> None:
    # given the demo data, and Bob opening a new account (a payee nobody ever paid)
    credentials = {credential.email: credential for credential in await seed_demo(demo) or []}
    async with asgi_client(demo) as http:
        alice = await log_in(http, credentials["alice@example.com"])
        bob = await log_in(http, credentials["bob@example.com"])
        opened = await ask(http, OPEN_ACCOUNT, {"input": {"name": "Rent", "currency": "USD"}}, bob)
        number = opened["openAccount"]["account"]["accountNumber"]
        everyday = account(await ask(http, HOME, token=alice), "Everyday")
        assert everyday["availableBalance"]["amount"] == "2472.50"
        # when Alice sends a third of her balance to it, far above her habit (the README's step 7)
        sent = await ask(
            http,
            CREATE_TRANSFER,
            {
                "input": {
                    "idempotencyKey": str(uuid.uuid4()),
                    "fromAccountId": everyday["id"],
                    "toAccountNumber": number,
                    "amount": {"amount": WALKTHROUGH_AMOUNT, "currency": "USD"},
                }
            },
            alice,
        )
        # then the model holds it for review: reserved, not sent
        transfer = sent["createTransfer"]["transfer"]
        assert sent["createTransfer"]["userErrors"] == []
        assert transfer["status"] == "PENDING"
        held = account(await ask(http, HOME, token=alice), "Everyday")
        assert held["availableBalance"]["amount"] == "1672.50"
        # and the demo analyst's queue shows it, with its score and reasons in plain words
        analyst = await log_in(http, credentials["analyst@example.com"])
        queue = await ask(http, REVIEW_QUEUE, {"first": 10}, analyst)
        [entry] = [edge["node"] for edge in queue["reviewQueue"]["edges"]]
        assert entry["transferId"] == transfer["id"]
        # (above the step-up threshold: Alice has no second factor, so an analyst decides)
        assert entry["screening"]["score"] >= STEP_UP_AT
        assert entry["screening"]["reasons"]
        # when the analyst approves it
        review = {"input": {"transferId": transfer["id"], "note": "Called Alice: it is her rent."}}
        approved = await ask(http, APPROVE_TRANSFER, review, analyst)
        # then it posts, and Bob's new account has the money
        assert approved["approveTransfer"]["userErrors"] == []
        assert approved["approveTransfer"]["transfer"]["status"] == "COMPLETED"
        rent = account(await ask(http, HOME, token=bob), "Rent")
        assert rent["availableBalance"]["amount"] == WALKTHROUGH_AMOUNT
