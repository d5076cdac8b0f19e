"""Who may reach what, through GraphQL: anonymous callers, and no object of another customer
reachable through an argument, `node`, `account` or `transfer` (it looks exactly like a missing
one). The permission-denied test of each mutation is the role matrix in test_roles.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bff.domain.models import Account
from bff.domain.rbac import Role
from schema.ids import encode_id
from tests.conftest import BOTH_EXECUTORS, Person, World
from tests.documents import (
    ACCOUNT,
    CREATE_TRANSFER,
    DEPOSIT_FUNDS,
    FREEZE,
    HISTORY,
    NODE,
    OPEN_ACCOUNT,
    TRANSFER,
    UNFREEZE,
)
from tests.graphql_calls import (
    account_id,
    balance_of,
    call,
    data,
    deposit_input,
    missing,
    status_input,
    status_of,
    transfer_input,
)

# Every query here runs on both executors.
pytestmark = [
    pytest.mark.usefixtures("compiled"),
    pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True),
]


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


# --- anonymous callers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field", "make_variables"),
    [
        pytest.param(
            OPEN_ACCOUNT,
            "openAccount",
            lambda _a, _b: {"input": {"name": "Mine", "currency": "USD"}},
            id="openAccount",
        ),
        pytest.param(
            CREATE_TRANSFER,
            "createTransfer",
            lambda a, b: transfer_input(a, b),
            id="createTransfer",
        ),
        pytest.param(
            DEPOSIT_FUNDS, "depositFunds", lambda a, _b: deposit_input(a), id="depositFunds"
        ),
        pytest.param(FREEZE, "freezeAccount", lambda a, _b: status_input(a), id="freezeAccount"),
        pytest.param(
            UNFREEZE, "unfreezeAccount", lambda a, _b: status_input(a), id="unfreezeAccount"
        ),
    ],
)
async def test_an_anonymous_mutation_is_unauthenticated(
    client: httpx.AsyncClient, world: World, document: str, field: str, make_variables: Any
) -> None:
    # given real accounts, and no access token
    ana = await world.person()
    source = await world.account(ana, funds="10.00")
    destination = await world.account(await world.person())
    variables = make_variables(account_id(source), account_id(destination))
    # when
    payload = (await data(client, document, variables, None))[field]
    # then
    assert error_codes(payload) == ["UNAUTHENTICATED"]
    assert all(value is None for key, value in payload.items() if key != "userErrors")
    assert await balance_of(client, ana, source) == "10.00"
    assert await status_of(client, ana, source) == "ACTIVE"


# --- another customer's objects look exactly like missing ones ------------------------------


@dataclass
class Neighbours:
    """Ana and Ben, strangers, each with a funded USD account (a deposit in each history)."""

    ana: Person
    ben: Person
    ana_account: Account
    ben_account: Account


@pytest.fixture
async def neighbours(world: World) -> Neighbours:
    ana, ben = await world.person(), await world.person()
    ana_account = await world.account(ana, funds="100.00")
    ben_account = await world.account(ben, funds="100.00")
    return Neighbours(ana, ben, ana_account, ben_account)


async def ben_ids(client: httpx.AsyncClient, n: Neighbours) -> dict[str, str]:
    """Global IDs of Ben's objects, as Ben sees them."""
    edge = (await data(client, HISTORY, {"id": account_id(n.ben_account)}, n.ben))["account"][
        "transactions"
    ]["edges"][0]
    return {
        "User": encode_id("User", n.ben.user.id),
        "Account": account_id(n.ben_account),
        "Transfer": edge["node"]["transfer"]["id"],
        "Transaction": edge["node"]["id"],
    }


async def test_another_customers_account_as_source_looks_like_a_missing_account(
    client: httpx.AsyncClient, neighbours: Neighbours
) -> None:
    # given
    n = neighbours
    ana_id, ben_id = account_id(n.ana_account), account_id(n.ben_account)
    # when Ana tries to pay herself from Ben's account, and from an account that does not exist
    from_bens = (await data(client, CREATE_TRANSFER, transfer_input(ben_id, ana_id), n.ana))[
        "createTransfer"
    ]
    from_nowhere = (
        await data(client, CREATE_TRANSFER, transfer_input(missing("Account"), ana_id), n.ana)
    )["createTransfer"]
    # then
    assert from_bens == from_nowhere
    assert from_bens["transfer"] is None
    assert [(e["code"], e["field"]) for e in from_bens["userErrors"]] == [
        ("ACCOUNT_NOT_FOUND", "fromAccountId")
    ]
    assert await balance_of(client, n.ben, n.ben_account) == "100.00"
    assert await balance_of(client, n.ana, n.ana_account) == "100.00"


async def test_another_customers_account_by_account_query_is_null_like_a_missing_one(
    client: httpx.AsyncClient, neighbours: Neighbours
) -> None:
    # given
    n = neighbours
    # when
    others = await call(client, ACCOUNT, {"id": account_id(n.ben_account)}, n.ana)
    nonexistent = await call(client, ACCOUNT, {"id": missing("Account")}, n.ana)
    # then
    assert others == nonexistent == {"data": {"account": None}}


@pytest.mark.parametrize("type_name", ["Account", "Transfer", "Transaction", "User"])
async def test_another_customers_object_by_node_is_null_like_a_missing_one(
    client: httpx.AsyncClient, neighbours: Neighbours, type_name: str
) -> None:
    # given
    n = neighbours
    bens = (await ben_ids(client, n))[type_name]
    # when
    others = await call(client, NODE, {"id": bens}, n.ana)
    nonexistent = await call(client, NODE, {"id": missing(type_name)}, n.ana)
    # then
    assert others == nonexistent == {"data": {"node": None}}
    # and Ben himself does see it
    own = await data(client, NODE, {"id": bens}, n.ben)
    assert own["node"]["id"] == bens
    assert own["node"]["__typename"] == type_name


@pytest.mark.parametrize("type_name", ["Account", "Transfer", "Transaction", "User"])
async def test_an_anonymous_node_is_null(
    client: httpx.AsyncClient, neighbours: Neighbours, type_name: str
) -> None:
    # given
    bens = (await ben_ids(client, neighbours))[type_name]
    # when
    body = await call(client, NODE, {"id": bens}, None)
    # then
    assert body == {"data": {"node": None}}


@pytest.mark.parametrize("bad_id", ["", "garbage", encode_id("Nope", uuid.uuid4()), "QWNjb3VudDp4"])
async def test_a_malformed_node_id_is_null(
    client: httpx.AsyncClient, world: World, bad_id: str
) -> None:
    # given
    ana = await world.person()
    # when
    body = await call(client, NODE, {"id": bad_id}, ana)
    # then
    assert body == {"data": {"node": None}}


async def test_an_id_of_another_type_is_not_an_account(
    client: httpx.AsyncClient, neighbours: Neighbours
) -> None:
    # given the ID of Ana's own user, not of an account
    n = neighbours
    # when
    body = await call(client, ACCOUNT, {"id": encode_id("User", n.ana.user.id)}, n.ana)
    # then
    assert body == {"data": {"account": None}}


async def test_another_customers_transfer_is_null_like_a_missing_one(
    client: httpx.AsyncClient, neighbours: Neighbours
) -> None:
    # given Ben's deposit, which Ana has no part in
    n = neighbours
    bens_transfer = (await ben_ids(client, n))["Transfer"]
    # when
    others = await call(client, TRANSFER, {"id": bens_transfer}, n.ana)
    nonexistent = await call(client, TRANSFER, {"id": missing("Transfer")}, n.ana)
    # then
    assert others == nonexistent == {"data": {"transfer": None}}


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.AUDITOR])
async def test_support_and_auditors_can_read_any_customers_account(
    client: httpx.AsyncClient, neighbours: Neighbours, world: World, role: Role
) -> None:
    # given
    n = neighbours
    staff = await world.person(role)
    # when
    found = (await data(client, ACCOUNT, {"id": account_id(n.ben_account)}, staff))["account"]
    # then
    assert found["id"] == account_id(n.ben_account)
    assert found["balance"] == {"amount": "100.00", "currency": "USD"}
    assert found["owner"] == {"id": encode_id("User", n.ben.user.id), "email": n.ben.user.email}
    assert [edge["node"]["amount"]["amount"] for edge in found["transactions"]["edges"]] == [
        "100.00"
    ]


async def test_the_receiver_sees_the_transfer_but_not_the_paying_account(
    client: httpx.AsyncClient, neighbours: Neighbours
) -> None:
    # given Ana paid Ben
    n = neighbours
    ana_id, ben_id = account_id(n.ana_account), account_id(n.ben_account)
    variables = transfer_input(ana_id, ben_id, "7.50")
    variables["input"]["memo"] = "Books"
    sent = (await data(client, CREATE_TRANSFER, variables, n.ana))["createTransfer"]
    transfer_id = sent["transfer"]["id"]
    # when
    as_receiver = (await data(client, TRANSFER, {"id": transfer_id}, n.ben))["transfer"]
    as_sender = (await data(client, TRANSFER, {"id": transfer_id}, n.ana))["transfer"]
    # then
    assert as_receiver == {
        "id": transfer_id,
        "kind": "TRANSFER",
        "status": "COMPLETED",
        "memo": "Books",
        "amount": {"amount": "7.50", "currency": "USD"},
        "fromAccount": None,
        "toAccount": {"id": ben_id},
    }
    assert as_sender == {**as_receiver, "fromAccount": {"id": ana_id}, "toAccount": None}


async def test_the_receiver_cannot_read_the_senders_leg(
    client: httpx.AsyncClient, neighbours: Neighbours
) -> None:
    # given Ana paid Ben, and her debit is the newest transaction of her account
    n = neighbours
    ana_id, ben_id = account_id(n.ana_account), account_id(n.ben_account)
    await data(client, CREATE_TRANSFER, transfer_input(ana_id, ben_id), n.ana)
    anas_history = (await data(client, HISTORY, {"id": ana_id}, n.ana))["account"]
    debit_id = anas_history["transactions"]["edges"][0]["node"]["id"]
    # when
    body = await call(client, NODE, {"id": debit_id}, n.ben)
    # then
    assert body == {"data": {"node": None}}


async def test_a_third_customer_cannot_see_a_transfer_between_two_others(
    client: httpx.AsyncClient, neighbours: Neighbours, world: World
) -> None:
    # given Ana paid Ben
    n = neighbours
    variables = transfer_input(account_id(n.ana_account), account_id(n.ben_account))
    transfer_id = (await data(client, CREATE_TRANSFER, variables, n.ana))["createTransfer"][
        "transfer"
    ]["id"]
    cleo = await world.person()
    # when
    by_transfer = await call(client, TRANSFER, {"id": transfer_id}, cleo)
    by_node = await call(client, NODE, {"id": transfer_id}, cleo)
    # then
    assert by_transfer == {"data": {"transfer": None}}
    assert by_node == {"data": {"node": None}}


async def test_support_freezing_a_missing_account_is_account_not_found(
    client: httpx.AsyncClient, world: World
) -> None:
    # given
    support = await world.person(Role.SUPPORT)
    # when
    payload = (await data(client, FREEZE, status_input(missing("Account")), support))[
        "freezeAccount"
    ]
    # then
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("ACCOUNT_NOT_FOUND", "accountId")
    ]
