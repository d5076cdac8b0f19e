"""The "Why" flow of the core issue through GraphQL: sign up, log in, open accounts, fund them,
send money and read both histories; plus pagination, bad amounts and the transfer rules."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bff.domain.rbac import Role
from schema.ids import encode_id
from tests.conftest import BOTH_EXECUTORS, PASSWORD, Person, World
from tests.documents import (
    CREATE_TRANSFER,
    DEPOSIT_FUNDS,
    FREEZE,
    HISTORY,
    LOGIN,
    OPEN_ACCOUNT,
    SIGN_UP,
    UNFREEZE,
    VIEWER_ACCOUNTS,
)
from tests.graphql_calls import Caller, call, data

# Every query here runs on both executors.
pytestmark = [
    pytest.mark.usefixtures("compiled"),
    pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True),
]


@dataclass
class Customer:
    """Someone who signed up and logged in through GraphQL."""

    user_id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


async def sign_up_and_log_in(client: httpx.AsyncClient, name: str = "Ana") -> Customer:
    email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    signed_up = (await data(client, SIGN_UP, {"input": {**credentials, "displayName": name}}))[
        "signUp"
    ]
    assert signed_up["userErrors"] == []
    logged_in = (await data(client, LOGIN, {"input": credentials}))["login"]
    assert logged_in["userErrors"] == []
    assert logged_in["user"]["id"] == signed_up["user"]["id"]
    return Customer(signed_up["user"]["id"], email, logged_in["accessToken"])


async def open_account(
    client: httpx.AsyncClient, owner: Customer, currency: str = "USD", name: str = "Everyday"
) -> dict[str, Any]:
    payload = (
        await data(client, OPEN_ACCOUNT, {"input": {"name": name, "currency": currency}}, owner)
    )["openAccount"]
    assert payload["userErrors"] == []
    return payload["account"]  # type: ignore[no-any-return]


async def deposit(
    client: httpx.AsyncClient, operator: Person, account_id: str, amount: str, currency: str = "USD"
) -> dict[str, Any]:
    variables = {
        "input": {
            "idempotencyKey": str(uuid.uuid4()),
            "accountId": account_id,
            "amount": {"amount": amount, "currency": currency},
            "reference": "Wire 42",
        }
    }
    return (await data(client, DEPOSIT_FUNDS, variables, operator))["depositFunds"]  # type: ignore[no-any-return]


async def transfer(
    client: httpx.AsyncClient,
    sender: Customer,
    from_id: str,
    amount: str,
    currency: str = "USD",
    *,
    to_id: str | None = None,
    to_number: str | None = None,
    memo: str | None = None,
    key: str | None = None,
) -> dict[str, Any]:
    transfer_input: dict[str, Any] = {
        "idempotencyKey": key or str(uuid.uuid4()),
        "fromAccountId": from_id,
        "amount": {"amount": amount, "currency": currency},
        "memo": memo,
    }
    if to_id is not None:
        transfer_input["toAccountId"] = to_id
    if to_number is not None:
        transfer_input["toAccountNumber"] = to_number
    body = await data(client, CREATE_TRANSFER, {"input": transfer_input}, sender)
    return body["createTransfer"]  # type: ignore[no-any-return]


async def history(
    client: httpx.AsyncClient,
    reader: Caller | None,
    account_id: str,
    first: int = 20,
    after: str | None = None,
) -> dict[str, Any]:
    variables = {"id": account_id, "first": first, "after": after}
    account = (await data(client, HISTORY, variables, reader))["account"]
    assert account is not None
    return account  # type: ignore[no-any-return]


async def balance(client: httpx.AsyncClient, reader: Caller | None, account_id: str) -> str:
    return (await history(client, reader, account_id, first=1))["balance"]["amount"]  # type: ignore[no-any-return]


def codes(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(error["code"], error["field"]) for error in payload["userErrors"]]


def cursor_of(*parts: str) -> str:
    """A cursor in the server's encoding (base64url of a JSON list of strings)."""
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


@dataclass
class Pair:
    """Two customers with one USD account each; Ana's holds 100.00."""

    ana: Customer
    ben: Customer
    ana_account: dict[str, Any]
    ben_account: dict[str, Any]


@pytest.fixture
async def operator(world: World) -> Person:
    return await world.person(Role.OPERATOR)


@pytest.fixture
async def pair(client: httpx.AsyncClient, operator: Person) -> Pair:
    ana = await sign_up_and_log_in(client, "Ana")
    ben = await sign_up_and_log_in(client, "Ben")
    ana_account = await open_account(client, ana)
    ben_account = await open_account(client, ben)
    funded = await deposit(client, operator, ana_account["id"], "100.00")
    assert funded["userErrors"] == []
    return Pair(ana, ben, ana_account, ben_account)


# --- the flow of the "Why" ----------------------------------------------------------


async def test_open_account_gives_an_empty_active_account_of_the_caller(
    client: httpx.AsyncClient,
) -> None:
    # given
    ana = await sign_up_and_log_in(client, "Ana")
    # when
    account = await open_account(client, ana, "EUR", name="  Holiday   fund ")
    # then
    assert account["name"] == "Holiday fund"
    assert account["currency"] == "EUR"
    assert account["status"] == "ACTIVE"
    assert account["balance"] == {"amount": "0.00", "currency": "EUR"}
    assert account["availableBalance"] == {"amount": "0.00", "currency": "EUR"}
    assert account["owner"] == {"id": ana.user_id}
    assert len(account["accountNumber"]) == 12
    assert account["accountNumber"].isdigit()
    listed = (await data(client, VIEWER_ACCOUNTS, {"first": 20}, ana))["viewer"]["accounts"]
    assert [edge["node"]["id"] for edge in listed["edges"]] == [account["id"]]


async def test_open_account_with_a_blank_name_is_invalid_input(client: httpx.AsyncClient) -> None:
    # given
    ana = await sign_up_and_log_in(client, "Ana")
    # when
    payload = (
        await data(client, OPEN_ACCOUNT, {"input": {"name": "   ", "currency": "USD"}}, ana)
    )["openAccount"]
    # then
    assert payload["account"] is None
    assert codes(payload) == [("INVALID_INPUT", "name")]


async def test_an_operator_deposit_credits_the_account(
    client: httpx.AsyncClient, operator: Person
) -> None:
    # given
    ana = await sign_up_and_log_in(client, "Ana")
    account = await open_account(client, ana)
    # when
    payload = await deposit(client, operator, account["id"], "100.00")
    # then
    assert payload["userErrors"] == []
    assert payload["transfer"]["kind"] == "DEPOSIT"
    assert payload["transfer"]["status"] == "COMPLETED"
    assert payload["transfer"]["amount"] == usd("100.00")
    assert payload["transfer"]["memo"] == "Wire 42"
    seen = await history(client, ana, account["id"])
    assert seen["balance"] == usd("100.00")
    assert seen["availableBalance"] == usd("100.00")
    [edge] = seen["transactions"]["edges"]
    assert edge["node"]["amount"] == usd("100.00")
    assert edge["node"]["direction"] == "CREDIT"
    assert edge["node"]["transfer"]["id"] == payload["transfer"]["id"]
    assert edge["node"]["transfer"]["kind"] == "DEPOSIT"


async def test_a_transfer_by_account_id_appears_in_both_histories(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given Ana's account holds 100.00 and Ben's is empty
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    # when
    payload = await transfer(client, pair.ana, ana_id, "12.34", to_id=ben_id, memo="Dinner")
    # then the payload shows the posted transfer
    assert payload["userErrors"] == []
    sent = payload["transfer"]
    assert sent["kind"] == "TRANSFER"
    assert sent["status"] == "COMPLETED"
    assert sent["amount"] == usd("12.34")
    assert sent["memo"] == "Dinner"
    assert sent["fromAccount"] == {"id": ana_id}
    # and Ana sees the debit first, then the deposit; Ben's account is not hers to see
    ana_view = await history(client, pair.ana, ana_id)
    assert ana_view["balance"] == usd("87.66")
    assert ana_view["availableBalance"] == usd("87.66")
    debit, credit = (edge["node"] for edge in ana_view["transactions"]["edges"])
    assert debit["amount"] == usd("-12.34")
    assert debit["direction"] == "DEBIT"
    assert debit["balanceAfter"] == usd("87.66")
    assert debit["description"] == "Dinner"
    assert debit["transfer"] == {**sent, "toAccount": None}
    assert int(debit["sequence"]) == int(credit["sequence"]) + 1
    assert credit["amount"] == usd("100.00")
    assert credit["direction"] == "CREDIT"
    assert credit["balanceAfter"] == usd("100.00")
    assert credit["transfer"]["kind"] == "DEPOSIT"
    assert ana_view["transactions"]["pageInfo"]["hasNextPage"] is False
    # and Ben sees the credit, but not Ana's account
    ben_view = await history(client, pair.ben, ben_id)
    assert ben_view["balance"] == usd("12.34")
    [received] = (edge["node"] for edge in ben_view["transactions"]["edges"])
    assert received["amount"] == usd("12.34")
    assert received["direction"] == "CREDIT"
    assert received["balanceAfter"] == usd("12.34")
    assert received["description"] == "Dinner"
    assert received["transfer"] == {**sent, "fromAccount": None, "toAccount": {"id": ben_id}}


async def test_a_transfer_by_account_number_reaches_that_account(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    first = await transfer(client, pair.ana, ana_id, "12.34", to_id=ben_id)
    assert first["userErrors"] == []
    # when
    payload = await transfer(
        client, pair.ana, ana_id, "0.66", to_number=pair.ben_account["accountNumber"], memo="Tip"
    )
    # then
    assert payload["userErrors"] == []
    ana_view = await history(client, pair.ana, ana_id)
    ben_view = await history(client, pair.ben, ben_id)
    assert ana_view["balance"] == usd("87.00")
    assert ben_view["balance"] == usd("13.00")
    assert [edge["node"]["amount"]["amount"] for edge in ana_view["transactions"]["edges"]] == [
        "-0.66",
        "-12.34",
        "100.00",
    ]
    assert [
        edge["node"]["balanceAfter"]["amount"] for edge in ben_view["transactions"]["edges"]
    ] == [
        "13.00",
        "12.34",
    ]
    newest = ben_view["transactions"]["edges"][0]["node"]
    assert newest["transfer"]["id"] == payload["transfer"]["id"]
    assert newest["transfer"]["memo"] == "Tip"


async def test_an_unknown_account_number_is_account_not_found(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given a number no account has (account numbers never start with 0)
    ana_id = pair.ana_account["id"]
    # when
    payload = await transfer(client, pair.ana, ana_id, "1.00", to_number="012345678901")
    # then
    assert payload["transfer"] is None
    assert codes(payload) == [("ACCOUNT_NOT_FOUND", "toAccountNumber")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


@pytest.mark.parametrize("number", ["12345678901\x00", "\uff11" * 12, "1234"])
async def test_a_malformed_account_number_is_account_not_found(
    client: httpx.AsyncClient, pair: Pair, number: str
) -> None:
    # given a destination number with a NUL byte, full-width digits, or the wrong length
    ana_id = pair.ana_account["id"]
    # when
    payload = await transfer(client, pair.ana, ana_id, "1.00", to_number=number)
    # then
    assert codes(payload) == [("ACCOUNT_NOT_FOUND", "toAccountNumber")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


@pytest.mark.parametrize("destinations", ["both", "neither"])
async def test_a_transfer_needs_exactly_one_destination(
    client: httpx.AsyncClient, pair: Pair, destinations: str
) -> None:
    # given
    ana_id = pair.ana_account["id"]
    both = destinations == "both"
    # when
    payload = await transfer(
        client,
        pair.ana,
        ana_id,
        "1.00",
        to_id=pair.ben_account["id"] if both else None,
        to_number=pair.ben_account["accountNumber"] if both else None,
    )
    # then
    assert payload["transfer"] is None
    assert codes(payload) == [("INVALID_INPUT", "toAccountId")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


async def test_a_transfer_to_the_same_account_is_refused(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given
    ana_id = pair.ana_account["id"]
    # when
    payload = await transfer(client, pair.ana, ana_id, "1.00", to_id=ana_id)
    # then
    assert codes(payload) == [("SAME_ACCOUNT", "toAccountId")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


async def test_ones_own_account_by_number_is_the_same_account(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given Ana's account, by id and by number
    ana_id, ana_number = pair.ana_account["id"], pair.ana_account["accountNumber"]
    # when she sends from it to itself by number
    payload = await transfer(client, pair.ana, ana_id, "1.00", to_number=ana_number)
    # then
    assert codes(payload) == [("SAME_ACCOUNT", "toAccountNumber")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


async def test_a_foreign_source_does_not_tell_whether_its_id_and_a_number_match(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given Ben, who knows the id of Ana's account and two account numbers: hers and his own
    ana_id, ana_number = pair.ana_account["id"], pair.ana_account["accountNumber"]
    missing_id = encode_id("Account", uuid.uuid4())
    # when he sends from her account to her number, to his number, and from a missing account
    matching = await transfer(client, pair.ben, ana_id, "1.00", to_number=ana_number)
    other = await transfer(
        client, pair.ben, ana_id, "1.00", to_number=pair.ben_account["accountNumber"]
    )
    absent = await transfer(client, pair.ben, missing_id, "1.00", to_number=ana_number)
    # then all three answers are the same "source not found": none says the id and the number
    # are one account (SAME_ACCOUNT did), and no money moved
    assert matching == other == absent
    assert codes(matching) == [("ACCOUNT_NOT_FOUND", "fromAccountId")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


async def test_a_transfer_beyond_the_balance_is_insufficient_funds(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given Ana holds 100.00
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    # when
    payload = await transfer(client, pair.ana, ana_id, "100.01", to_id=ben_id)
    # then
    assert codes(payload) == [("INSUFFICIENT_FUNDS", "amount.amount")]
    assert await balance(client, pair.ana, ana_id) == "100.00"
    assert await balance(client, pair.ben, ben_id) == "0.00"
    # and exactly the whole balance can be sent
    assert (await transfer(client, pair.ana, ana_id, "100.00", to_id=ben_id))["userErrors"] == []
    assert await balance(client, pair.ana, ana_id) == "0.00"


# --- pagination -----------------------------------------------------------------------------


async def test_transactions_paginate_newest_first_without_overlap(
    client: httpx.AsyncClient, world: World
) -> None:
    # given an account with five deposits of 1.00 to 5.00, oldest first
    owner = await world.person()
    account = await world.account(owner)
    for amount in ("1.00", "2.00", "3.00", "4.00", "5.00"):
        await world.deposit(account, amount)
    account_id = encode_id("Account", account.id)
    # when
    pages = []
    after = None
    for _ in range(3):
        page = (await history(client, owner, account_id, first=2, after=after))["transactions"]
        pages.append(page)
        after = page["pageInfo"]["endCursor"]
    # then
    amounts = [[edge["node"]["amount"]["amount"] for edge in page["edges"]] for page in pages]
    assert amounts == [["5.00", "4.00"], ["3.00", "2.00"], ["1.00"]]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, True, False]
    ids = [edge["node"]["id"] for page in pages for edge in page["edges"]]
    assert len(set(ids)) == 5
    sequences = [int(edge["node"]["sequence"]) for page in pages for edge in page["edges"]]
    assert sequences == sorted(sequences, reverse=True)
    assert pages[0]["pageInfo"]["endCursor"] == pages[0]["edges"][-1]["cursor"]


async def test_a_page_that_ends_the_list_exactly_has_no_next_page(
    client: httpx.AsyncClient, world: World
) -> None:
    # given an account with four transactions
    owner = await world.person()
    account = await world.account(owner)
    for _ in range(4):
        await world.deposit(account, "1.00")
    account_id = encode_id("Account", account.id)
    first_page = (await history(client, owner, account_id, first=2))["transactions"]
    # when
    second_page = (
        await history(client, owner, account_id, first=2, after=first_page["pageInfo"]["endCursor"])
    )["transactions"]
    # then
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert len(second_page["edges"]) == 2
    assert second_page["pageInfo"]["hasNextPage"] is False
    # and the page after the last one is empty
    empty = (
        await history(
            client, owner, account_id, first=2, after=second_page["pageInfo"]["endCursor"]
        )
    )["transactions"]
    assert empty == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


async def test_accounts_paginate_oldest_first_without_overlap(client: httpx.AsyncClient) -> None:
    # given
    ana = await sign_up_and_log_in(client, "Ana")
    opened = [(await open_account(client, ana, name=f"Pot {n}"))["id"] for n in range(3)]
    # when
    first_page = (await data(client, VIEWER_ACCOUNTS, {"first": 2}, ana))["viewer"]["accounts"]
    after = first_page["pageInfo"]["endCursor"]
    second_page = (await data(client, VIEWER_ACCOUNTS, {"first": 2, "after": after}, ana))[
        "viewer"
    ]["accounts"]
    # then
    listed = [edge["node"]["id"] for edge in first_page["edges"] + second_page["edges"]]
    assert listed == opened
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert second_page["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [101, 0, -1])
async def test_a_page_size_out_of_range_is_an_error(
    client: httpx.AsyncClient, world: World, first: int
) -> None:
    # given
    owner = await world.person()
    account = await world.account(owner, funds="1.00")
    variables = {"id": encode_id("Account", account.id), "first": first, "after": None}
    # when
    body = await call(client, HISTORY, variables, owner)
    # then
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert body["errors"][0]["path"] == ["account", "transactions"]


@pytest.mark.parametrize("first", [101, 0])
async def test_an_accounts_page_size_out_of_range_is_an_error(
    client: httpx.AsyncClient, world: World, first: int
) -> None:
    # given
    owner = await world.person()
    # when
    body = await call(client, VIEWER_ACCOUNTS, {"first": first}, owner)
    # then
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_the_largest_page_size_is_100(client: httpx.AsyncClient, world: World) -> None:
    # given
    owner = await world.person()
    account = await world.account(owner, funds="1.00")
    # when
    seen = await history(client, owner, encode_id("Account", account.id), first=100)
    # then
    assert len(seen["transactions"]["edges"]) == 1


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not a cursor", id="garbage"),
        pytest.param(cursor_of("-1"), id="negative-sequence"),
        pytest.param(cursor_of("\u00b2"), id="unicode-digit"),
        pytest.param(cursor_of("9" * 20), id="beyond-bigint"),
        pytest.param(cursor_of("1", "2"), id="two-parts"),
    ],
)
async def test_a_malformed_transactions_cursor_is_invalid_input(
    client: httpx.AsyncClient, world: World, cursor: str
) -> None:
    # given
    owner = await world.person()
    account = await world.account(owner, funds="1.00")
    variables = {"id": encode_id("Account", account.id), "first": 2, "after": cursor}
    # when
    body = await call(client, HISTORY, variables, owner)
    # then
    extensions = body["errors"][0]["extensions"]
    assert (extensions["code"], extensions["field"]) == ("INVALID_INPUT", "after")


# --- bad amounts ----------------------------------------------------------------------------


async def test_an_amount_as_a_json_number_variable_is_an_error(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    variables = {
        "input": {
            "idempotencyKey": str(uuid.uuid4()),
            "fromAccountId": ana_id,
            "toAccountId": ben_id,
            "amount": {"amount": 12.34, "currency": "USD"},
        }
    }
    # when
    body = await call(client, CREATE_TRANSFER, variables, pair.ana)
    # then
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert await balance(client, pair.ana, ana_id) == "100.00"


async def test_an_amount_as_a_number_literal_is_a_client_error(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given a document that writes the amount as a number literal
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    document = (
        "mutation { createTransfer(input: {"
        f'idempotencyKey: "{uuid.uuid4()}", fromAccountId: "{ana_id}", toAccountId: "{ben_id}", '
        "amount: {amount: 12.34, currency: USD}}) { transfer { id } } }"
    )
    # when
    body = await call(client, document, {}, pair.ana)
    # then it is reported as the client's mistake, not as a server failure
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] in ("INVALID_INPUT", "GRAPHQL_VALIDATION_FAILED")
    assert "Decimal" in body["errors"][0]["message"]
    assert await balance(client, pair.ana, ana_id) == "100.00"


@pytest.mark.parametrize(
    "amount",
    [
        "1.234",
        "0",
        "0.00",
        "-1",
        "-1.00",
        "+1.00",
        "1e2",
        "NaN",
        "Infinity",
        "1,000.00",
        " 1.00",
        "1.",
        ".5",
        "01.00",
        "",
        "10000000000000.01",
    ],
)
async def test_a_bad_transfer_amount_is_invalid_amount(
    client: httpx.AsyncClient, pair: Pair, amount: str
) -> None:
    # given
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    # when
    payload = await transfer(client, pair.ana, ana_id, amount, to_id=ben_id)
    # then
    assert payload["transfer"] is None
    assert codes(payload) == [("INVALID_AMOUNT", "amount.amount")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


@pytest.mark.parametrize(("amount", "currency"), [("1.5", "JPY"), ("1.2345", "BHD")])
async def test_a_deposit_with_too_many_decimals_for_its_currency_is_invalid_amount(
    client: httpx.AsyncClient, operator: Person, amount: str, currency: str
) -> None:
    # given
    ana = await sign_up_and_log_in(client, "Ana")
    account = await open_account(client, ana, currency)
    # when
    payload = await deposit(client, operator, account["id"], amount, currency)
    # then
    assert payload["transfer"] is None
    assert codes(payload) == [("INVALID_AMOUNT", "amount.amount")]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"), [("1500", "JPY", "1500"), ("1.234", "BHD", "1.234")]
)
async def test_amounts_use_the_currency_exponent(
    client: httpx.AsyncClient, operator: Person, amount: str, currency: str, expected: str
) -> None:
    # given
    ana = await sign_up_and_log_in(client, "Ana")
    account = await open_account(client, ana, currency)
    # when
    payload = await deposit(client, operator, account["id"], amount, currency)
    # then
    assert payload["userErrors"] == []
    assert await balance(client, ana, account["id"]) == expected


# --- currencies and frozen accounts ---------------------------------------------------------


async def test_a_transfer_to_an_account_in_another_currency_is_currency_mismatch(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given Ben also has a EUR account
    ana_id = pair.ana_account["id"]
    ben_eur = await open_account(client, pair.ben, "EUR")
    # when
    payload = await transfer(client, pair.ana, ana_id, "1.00", "USD", to_id=ben_eur["id"])
    # then
    assert payload["transfer"] is None
    assert codes(payload) == [("CURRENCY_MISMATCH", "amount.currency")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


async def test_an_amount_in_another_currency_than_the_accounts_is_currency_mismatch(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given two USD accounts
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    # when
    payload = await transfer(client, pair.ana, ana_id, "1.00", "EUR", to_id=ben_id)
    # then
    assert codes(payload) == [("CURRENCY_MISMATCH", "amount.currency")]
    assert await balance(client, pair.ana, ana_id) == "100.00"


async def test_a_frozen_receiver_refuses_transfers_until_unfrozen(
    client: httpx.AsyncClient, world: World, pair: Pair
) -> None:
    # given support froze Ben's account
    support = await world.person(Role.SUPPORT)
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    frozen = (await data(client, FREEZE, {"input": {"accountId": ben_id}}, support))[
        "freezeAccount"
    ]
    assert frozen == {"account": {"id": ben_id, "status": "FROZEN"}, "userErrors": []}
    # when
    refused = await transfer(client, pair.ana, ana_id, "5.00", to_id=ben_id)
    # then
    assert refused["transfer"] is None
    assert codes(refused) == [("ACCOUNT_FROZEN", "toAccountId")]
    assert await balance(client, pair.ana, ana_id) == "100.00"
    # and once support unfreezes it, money flows again
    unfrozen = (await data(client, UNFREEZE, {"input": {"accountId": ben_id}}, support))[
        "unfreezeAccount"
    ]
    assert unfrozen == {"account": {"id": ben_id, "status": "ACTIVE"}, "userErrors": []}
    accepted = await transfer(client, pair.ana, ana_id, "5.00", to_id=ben_id)
    assert accepted["userErrors"] == []
    assert await balance(client, pair.ben, ben_id) == "5.00"


async def test_a_frozen_sender_cannot_send(
    client: httpx.AsyncClient, world: World, pair: Pair
) -> None:
    # given support froze Ana's account
    support = await world.person(Role.SUPPORT)
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    await data(client, FREEZE, {"input": {"accountId": ana_id}}, support)
    # when
    payload = await transfer(client, pair.ana, ana_id, "5.00", to_id=ben_id)
    # then
    assert codes(payload) == [("ACCOUNT_FROZEN", "fromAccountId")]
    seen = await history(client, pair.ana, ana_id)
    assert seen["status"] == "FROZEN"
    assert seen["balance"] == usd("100.00")


async def test_a_refused_transfer_replays_its_failure_after_the_account_is_unfrozen(
    client: httpx.AsyncClient, world: World, pair: Pair
) -> None:
    # given a transfer refused because Ben's account was frozen, which is then unfrozen
    support = await world.person(Role.SUPPORT)
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    key = str(uuid.uuid4())
    await data(client, FREEZE, {"input": {"accountId": ben_id}}, support)
    first = await transfer(client, pair.ana, ana_id, "5.00", to_id=ben_id, key=key)
    await data(client, UNFREEZE, {"input": {"accountId": ben_id}}, support)
    # when the client retries with the same key and the same request
    retry = await transfer(client, pair.ana, ana_id, "5.00", to_id=ben_id, key=key)
    # then the stored first result comes back, and no money moves
    assert retry == first
    assert codes(retry) == [("ACCOUNT_FROZEN", "toAccountId")]
    assert await balance(client, pair.ben, ben_id) == "0.00"


async def test_freezing_a_frozen_account_is_invalid_state(
    client: httpx.AsyncClient, world: World, pair: Pair
) -> None:
    # given
    support = await world.person(Role.SUPPORT)
    ben_id = pair.ben_account["id"]
    await data(client, FREEZE, {"input": {"accountId": ben_id}}, support)
    # when
    again = (await data(client, FREEZE, {"input": {"accountId": ben_id}}, support))["freezeAccount"]
    unfreeze_active = (
        await data(client, UNFREEZE, {"input": {"accountId": pair.ana_account["id"]}}, support)
    )["unfreezeAccount"]
    # then
    assert again["account"] is None
    assert codes(again) == [("INVALID_STATE", "accountId")]
    assert codes(unfreeze_active) == [("INVALID_STATE", "accountId")]


# --- idempotency ----------------------------------------------------------------------------


async def test_a_replayed_transfer_returns_the_same_transfer_and_pays_once(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    key = str(uuid.uuid4())
    first = await transfer(client, pair.ana, ana_id, "12.34", to_id=ben_id, memo="Rent", key=key)
    # when
    replay = await transfer(client, pair.ana, ana_id, "12.34", to_id=ben_id, memo="Rent", key=key)
    # then
    assert replay["userErrors"] == []
    assert replay["transfer"]["id"] == first["transfer"]["id"]
    assert replay == first
    ana_view = await history(client, pair.ana, ana_id)
    assert ana_view["balance"] == usd("87.66")
    assert len(ana_view["transactions"]["edges"]) == 2
    assert await balance(client, pair.ben, ben_id) == "12.34"


async def test_a_key_reused_for_another_request_is_idempotency_key_reused(
    client: httpx.AsyncClient, pair: Pair
) -> None:
    # given
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    key = str(uuid.uuid4())
    first = await transfer(client, pair.ana, ana_id, "12.34", to_id=ben_id, key=key)
    assert first["userErrors"] == []
    # when
    changed = await transfer(client, pair.ana, ana_id, "20.00", to_id=ben_id, key=key)
    # then
    assert changed["transfer"] is None
    assert codes(changed) == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")]
    assert await balance(client, pair.ana, ana_id) == "87.66"


async def test_idempotency_keys_belong_to_their_caller(
    client: httpx.AsyncClient, operator: Person, pair: Pair
) -> None:
    # given Ana used a key, and Ben has money
    ana_id, ben_id = pair.ana_account["id"], pair.ben_account["id"]
    await deposit(client, operator, ben_id, "50.00")
    key = str(uuid.uuid4())
    ana_sent = await transfer(client, pair.ana, ana_id, "10.00", to_id=ben_id, key=key)
    # when Ben sends with the same key
    ben_sent = await transfer(client, pair.ben, ben_id, "3.00", to_id=ana_id, key=key)
    # then it is a separate transfer
    assert ben_sent["userErrors"] == []
    assert ben_sent["transfer"]["id"] != ana_sent["transfer"]["id"]
    assert await balance(client, pair.ana, ana_id) == "93.00"
    assert await balance(client, pair.ben, ben_id) == "57.00"


async def test_a_replayed_deposit_credits_once(client: httpx.AsyncClient, operator: Person) -> None:
    # given
    ana = await sign_up_and_log_in(client, "Ana")
    account = await open_account(client, ana)
    variables = {
        "input": {
            "idempotencyKey": str(uuid.uuid4()),
            "accountId": account["id"],
            "amount": usd("25.00"),
        }
    }
    first = (await data(client, DEPOSIT_FUNDS, variables, operator))["depositFunds"]
    # when
    replay = (await data(client, DEPOSIT_FUNDS, variables, operator))["depositFunds"]
    # then
    assert replay == first
    assert await balance(client, ana, account["id"]) == "25.00"
