"""GraphQL documents and calls shared by the authorization and role tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from bff.domain.models import Account
from schema.ids import encode_id
from tests.conftest import Person

OPEN_ACCOUNT = """
mutation OpenAccount($input: OpenAccountInput!) {
  openAccount(input: $input) { account { id } userErrors { code message field } }
}
"""


CREATE_TRANSFER = """
mutation CreateTransfer($input: CreateTransferInput!) {
  createTransfer(input: $input) { transfer { id } userErrors { code message field } }
}
"""


DEPOSIT_FUNDS = """
mutation DepositFunds($input: DepositFundsInput!) {
  depositFunds(input: $input) { transfer { id kind } userErrors { code message field } }
}
"""


FREEZE = """
mutation Freeze($input: AccountStatusInput!) {
  freezeAccount(input: $input) { account { id status } userErrors { code message field } }
}
"""


UNFREEZE = """
mutation Unfreeze($input: AccountStatusInput!) {
  unfreezeAccount(input: $input) { account { id status } userErrors { code message field } }
}
"""


HISTORY = """
query History($id: ID!) {
  account(id: $id) { transactions(first: 5) { edges { node { id transfer { id } } } } }
}
"""


async def call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], caller: Person | None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers=caller.headers if caller else {},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def data(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], caller: Person | None
) -> dict[str, Any]:
    body = await call(client, query, variables, caller)
    assert "errors" not in body, body["errors"]
    return body["data"]  # type: ignore[no-any-return]


def account_id(account: Account) -> str:
    return encode_id("Account", account.id)


def missing(type_name: str) -> str:
    """A well-formed global ID of an object that does not exist."""
    return encode_id(type_name, uuid.uuid4())


def transfer_input(source: str, destination: str, amount: str = "1.00") -> dict[str, Any]:
    return {
        "input": {
            "idempotencyKey": str(uuid.uuid4()),
            "fromAccountId": source,
            "toAccountId": destination,
            "amount": {"amount": amount, "currency": "USD"},
        }
    }


def deposit_input(destination: str, amount: str = "1.00") -> dict[str, Any]:
    return {
        "input": {
            "idempotencyKey": str(uuid.uuid4()),
            "accountId": destination,
            "amount": {"amount": amount, "currency": "USD"},
        }
    }


def status_input(account: str) -> dict[str, Any]:
    return {"input": {"accountId": account}}
