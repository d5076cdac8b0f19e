"""Calls of the GraphQL endpoint and the inputs they send, shared by the API tests (the
documents themselves are in tests/documents.py)."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import httpx

from bff.domain.models import Account
from schema.ids import encode_id
from tests.documents import ACCOUNT


class Caller(Protocol):
    """Whoever sends a request: anything with the HTTP headers that authenticate it."""

    @property
    def headers(self) -> dict[str, str]: ...


async def call(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], caller: Caller | None = None
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
    client: httpx.AsyncClient, query: str, variables: dict[str, Any], caller: Caller | None = None
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


async def balance_of(client: httpx.AsyncClient, reader: Caller, account: Account) -> str:
    found = (await data(client, ACCOUNT, {"id": account_id(account)}, reader))["account"]
    return found["balance"]["amount"]  # type: ignore[no-any-return]


async def status_of(client: httpx.AsyncClient, reader: Caller, account: Account) -> str:
    found = (await data(client, ACCOUNT, {"id": account_id(account)}, reader))["account"]
    return found["status"]  # type: ignore[no-any-return]
