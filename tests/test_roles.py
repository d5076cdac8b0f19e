"""Roles through GraphQL: the permission matrix of the role table (a permission-denied test for
every mutation), what support and auditors may and may not do, a role assigned or revoked by an
admin taking effect on the next request, and the ID arguments of the user and session surface
(another user's object looks exactly like a missing one). The rules of role changes themselves
are in test_domain_rules.py."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import graphql as graphql_core
import httpx
import pytest

from bff.domain.documents import document_hash
from bff.domain.models import Account
from bff.domain.rbac import ROLE_PERMISSIONS, Permission, Role
from schema.ids import decode_any, encode_id
from tests.conftest import Person, World
from tests.documents import (
    ACCOUNT,
    APPROVE_TRANSFER,
    ASSIGN_ROLE,
    CREATE_TRANSFER,
    DEPOSIT_FUNDS,
    FRAUD_RULES,
    FREEZE,
    HISTORY,
    NODE,
    OPEN_ACCOUNT,
    REGISTER_APP_BUILD,
    REGISTER_OAUTH_CLIENT,
    REJECT_TRANSFER,
    RETIRE_APP_BUILD,
    REVIEW_QUEUE,
    REVOKE_ROLE,
    REVOKE_SESSION,
    TRANSFER,
    UNFREEZE,
    UPDATE_FRAUD_RULES,
    USER,
    VIEWER,
    VIEWER_ACCOUNTS,
    VIEWER_ID,
    VIEWER_SESSIONS,
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

# --- helpers --------------------------------------------------------------------------------


def user_id(person: Person) -> str:
    return encode_id("User", person.user.id)


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


def review_input() -> dict[str, Any]:
    return {"input": {"transferId": encode_id("Transfer", uuid.uuid4()), "note": "audit"}}


def stale_rules_input() -> dict[str, Any]:
    """A change of the rules of version -1, which never were in force: it changes nothing."""
    return {"input": {"version": -1, "note": "matrix", "reviewAt": 0.9}}


def role_input(user: str, role: str) -> dict[str, Any]:
    return {"input": {"userId": user, "role": role}}


async def roles_of(client: httpx.AsyncClient, person: Person) -> list[str]:
    """The roles a user holds, as the user sees them."""
    return (await data(client, VIEWER, {}, person))["viewer"]["roles"]  # type: ignore[no-any-return]


async def session_ids(client: httpx.AsyncClient, person: Person) -> list[str]:
    """The person's live session IDs, as they see them with their own token."""
    viewer = (await data(client, VIEWER_SESSIONS, {}, person))["viewer"]
    return [session["id"] for session in viewer["sessions"]]


async def current_session(client: httpx.AsyncClient, person: Person) -> uuid.UUID:
    viewer = (await data(client, VIEWER_SESSIONS, {}, person))["viewer"]
    (current,) = [session["id"] for session in viewer["sessions"] if session["current"]]
    decoded = decode_any(current)
    assert decoded is not None
    assert decoded[0] == "Session"
    return decoded[1]


async def own_account(world: World, person: Person, funds: str | None = None) -> Account:
    """An account in the person's own name whatever their roles now, as a customer who later
    became staff would have (opened through the domain with the customer role)."""
    as_customer = Person(replace(person.user, roles=frozenset({Role.CUSTOMER})), person.token)
    return await world.account(as_customer, funds=funds)


# --- the permission matrix, driven by the role table ------------------------------------------

Operation = Callable[[httpx.AsyncClient, World, Person, bool], Awaitable[None]]


async def open_account_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # when the caller opens an account for themselves
    variables = {"input": {"name": "Mine", "currency": "USD"}}
    payload = (await data(client, OPEN_ACCOUNT, variables, caller))["openAccount"]
    # then it is opened exactly when the role allows it
    owned = (await data(client, VIEWER_ACCOUNTS, {}, caller))["viewer"]["accounts"]["edges"]
    if allowed:
        assert payload["userErrors"] == []
        assert [edge["node"]["id"] for edge in owned] == [payload["account"]["id"]]
    else:
        assert payload["account"] is None
        assert codes(payload) == ["PERMISSION_DENIED"]
        assert owned == []


async def create_transfer_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given an account of the caller's own with 10.00, and another customer's account
    source = await own_account(world, caller, funds="10.00")
    destination = await world.account(await world.person())
    # when the caller pays 1.00 from their own account
    variables = transfer_input(account_id(source), account_id(destination))
    payload = (await data(client, CREATE_TRANSFER, variables, caller))["createTransfer"]
    # then the money moves exactly when the role allows it
    if allowed:
        assert payload["userErrors"] == []
        assert payload["transfer"]["id"]
        assert await balance_of(client, caller, source) == "9.00"
    else:
        assert payload["transfer"] is None
        assert codes(payload) == ["PERMISSION_DENIED"]
        assert await balance_of(client, caller, source) == "10.00"


async def deposit_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given an empty customer account
    ana = await world.person()
    account = await world.account(ana)
    # when the caller credits it with 1.00
    payload = (await data(client, DEPOSIT_FUNDS, deposit_input(account_id(account)), caller))[
        "depositFunds"
    ]
    # then
    if allowed:
        assert payload["userErrors"] == []
        assert payload["transfer"]["kind"] == "DEPOSIT"
        assert await balance_of(client, ana, account) == "1.00"
    else:
        assert payload["transfer"] is None
        assert codes(payload) == ["PERMISSION_DENIED"]
        assert await balance_of(client, ana, account) == "0.00"


async def freeze_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given an active customer account
    ana = await world.person()
    account = await world.account(ana)
    # when the caller freezes it
    frozen = (await data(client, FREEZE, status_input(account_id(account)), caller))[
        "freezeAccount"
    ]
    # then
    if allowed:
        assert frozen["userErrors"] == []
        assert frozen["account"]["status"] == "FROZEN"
        assert await status_of(client, ana, account) == "FROZEN"
    else:
        assert frozen["account"] is None
        assert codes(frozen) == ["PERMISSION_DENIED"]
        assert await status_of(client, ana, account) == "ACTIVE"
        # given (for the unfreeze half) support froze it
        support = await world.person(Role.SUPPORT)
        by_support = (await data(client, FREEZE, status_input(account_id(account)), support))[
            "freezeAccount"
        ]
        assert by_support["userErrors"] == []
    # when the caller unfreezes it
    unfrozen = (await data(client, UNFREEZE, status_input(account_id(account)), caller))[
        "unfreezeAccount"
    ]
    # then
    if allowed:
        assert unfrozen["userErrors"] == []
        assert unfrozen["account"]["status"] == "ACTIVE"
        assert await status_of(client, ana, account) == "ACTIVE"
    else:
        assert unfrozen["account"] is None
        assert codes(unfrozen) == ["PERMISSION_DENIED"]
        assert await status_of(client, ana, account) == "FROZEN"


async def read_any_account_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given another customer's funded account
    ben = await world.person()
    account = await world.account(ben, funds="5.00")
    # when the caller fetches it by ID
    body = await call(client, ACCOUNT, {"id": account_id(account)}, caller)
    # then they see it, or exactly what a missing account looks like
    if allowed:
        assert body["data"]["account"]["id"] == account_id(account)
        assert body["data"]["account"]["balance"] == {"amount": "5.00", "currency": "USD"}
    else:
        nonexistent = await call(client, ACCOUNT, {"id": missing("Account")}, caller)
        assert body == nonexistent == {"data": {"account": None}}


async def read_any_user_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given another customer
    ben = await world.person()
    # when the caller fetches Ben by ID
    body = await call(client, USER, {"id": user_id(ben)}, caller)
    # then they see him, or exactly what a missing user looks like
    if allowed:
        assert body["data"]["user"]["id"] == user_id(ben)
        assert body["data"]["user"]["email"] == ben.user.email
    else:
        nonexistent = await call(client, USER, {"id": missing("User")}, caller)
        assert body == nonexistent == {"data": {"user": None}}


async def manage_roles_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given a customer
    ben = await world.person()
    # when the caller gives Ben the auditor role
    payload = (await data(client, ASSIGN_ROLE, role_input(user_id(ben), "AUDITOR"), caller))[
        "assignRole"
    ]
    # then Ben holds it exactly when the caller's role allows managing roles
    if allowed:
        assert payload["userErrors"] == []
        assert payload["user"] == {"id": user_id(ben), "roles": ["AUDITOR", "CUSTOMER"]}
        assert await roles_of(client, ben) == ["AUDITOR", "CUSTOMER"]
    else:
        assert payload["user"] is None
        assert codes(payload) == ["PERMISSION_DENIED"]
        assert await roles_of(client, ben) == ["CUSTOMER"]


async def manage_documents_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given a build nobody registered
    build = {"app": f"app-{uuid.uuid4().hex[:8]}", "version": "1.0.0"}
    manifest = json.dumps({document_hash(VIEWER_ID): VIEWER_ID})
    # when the caller registers it
    payload = (
        await data(client, REGISTER_APP_BUILD, {"input": {**build, "manifest": manifest}}, caller)
    )["registerAppBuild"]
    # then it is registered exactly when the caller's role allows managing documents
    if allowed:
        assert payload["userErrors"] == []
        assert payload["build"] == {**build, "documents": 1}
    else:
        assert payload["build"] is None
        assert codes(payload) == ["PERMISSION_DENIED"]


AUDIT_LOG = "query { auditLog(first: 1) { edges { node { id } } } }"


async def read_audit_log_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # when the caller reads the audit log
    body = await call(client, AUDIT_LOG, {}, caller)
    # then they get a page, or are refused
    if allowed:
        assert len(body["data"]["auditLog"]["edges"]) == 1
    else:
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"


async def review_transfers_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # when the caller reads the review queue, and rejects a transfer that is not held
    queue = await call(client, REVIEW_QUEUE, {"first": 5}, caller)
    rejected = await data(client, REJECT_TRANSFER, review_input(), caller)
    # then they get a page and a typed answer, or are refused both
    if allowed:
        assert "edges" in queue["data"]["reviewQueue"], queue
        assert codes(rejected["rejectTransfer"]) == ["TRANSFER_NOT_HELD"]
    else:
        assert queue["data"] is None
        assert queue["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
        assert codes(rejected["rejectTransfer"]) == ["PERMISSION_DENIED"]


async def manage_fraud_rules_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # when the caller reads the fraud rules, and saves a change of a version long gone
    rules = await call(client, FRAUD_RULES, {}, caller)
    change = await data(client, UPDATE_FRAUD_RULES, stale_rules_input(), caller)
    # then they read them and are told to reload, or are refused both
    if allowed:
        assert rules["data"]["fraudRules"]["version"] >= 0, rules
        assert codes(change["updateFraudRules"]) == ["RULES_CHANGED"]
    else:
        assert rules["data"] is None
        assert rules["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
        assert codes(change["updateFraudRules"]) == ["PERMISSION_DENIED"]


ERASE_USER = """
mutation Erase($input: EraseUserInput!) {
  eraseUser(input: $input) { erasedUserId userErrors { code } }
}
"""


async def erase_user_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # given a customer with an empty account
    ben = await world.person()
    await world.account(ben)
    # when the caller erases Ben
    variables = {"input": {"userId": user_id(ben), "reason": "asked to be forgotten"}}
    payload = (await data(client, ERASE_USER, variables, caller))["eraseUser"]
    # then Ben is erased exactly when the caller's role allows it
    if allowed:
        assert payload == {"erasedUserId": user_id(ben), "userErrors": []}
    else:
        assert payload["erasedUserId"] is None
        assert codes(payload) == ["PERMISSION_DENIED"]


def oauth_client_input(name: str) -> dict[str, Any]:
    fields = {"name": name, "redirectUris": ["https://app.example.com/cb"]}
    return {"input": {**fields, "scopes": ["accounts:read"]}}


async def register_oauth_client_operation(
    client: httpx.AsyncClient, world: World, caller: Person, allowed: bool
) -> None:
    # when the caller registers a third-party client
    name = f"App {uuid.uuid4().hex[:8]}"
    payload = (await data(client, REGISTER_OAUTH_CLIENT, oauth_client_input(name), caller))[
        "registerOAuthClient"
    ]
    # then it is registered exactly when the caller's role allows it
    if allowed:
        assert payload["userErrors"] == []
        assert payload["client"]["name"] == name
    else:
        assert payload["client"] is None
        assert codes(payload) == ["PERMISSION_DENIED"]


OPERATIONS: dict[Permission, Operation] = {
    Permission.ACCOUNT_OPEN_OWN: open_account_operation,
    Permission.TRANSFER_CREATE_OWN: create_transfer_operation,
    Permission.DEPOSIT_CREATE: deposit_operation,
    Permission.ACCOUNT_FREEZE: freeze_operation,
    Permission.ACCOUNT_READ_ANY: read_any_account_operation,
    Permission.USER_READ_ANY: read_any_user_operation,
    Permission.ROLE_MANAGE: manage_roles_operation,
    Permission.DOCUMENT_MANAGE: manage_documents_operation,
    Permission.AUDIT_READ: read_audit_log_operation,
    Permission.USER_ERASE: erase_user_operation,
    Permission.OAUTH_CLIENT_MANAGE: register_oauth_client_operation,
    Permission.FRAUD_REVIEW: review_transfers_operation,
    Permission.FRAUD_RULES_MANAGE: manage_fraud_rules_operation,
}


# The role table as the README shows it, written out here on its own: a change to
# ROLE_PERMISSIONS in bff/domain/rbac.py, or to the README's table, that is not made here as well
# fails the tests below (the matrix takes "allowed" from this table, not from the code's).
GRANTED_TO: dict[str, set[str]] = {
    "account:open_own": {"customer"},
    "transfer:create_own": {"customer"},
    "account:read_any": {"support", "admin", "auditor"},
    "user:read_any": {"support", "admin", "auditor"},
    "account:freeze": {"support", "admin"},
    "deposit:create": {"operator", "admin"},
    "role:manage": {"admin"},
    "document:manage": {"admin"},
    "audit:read": {"admin", "auditor"},
    "user:erase": {"admin"},
    "oauth_client:manage": {"admin"},
    "fraud:review": {"admin", "fraud_analyst"},
    "fraud_rules:manage": {"admin", "fraud_analyst"},
}


def readme_role_table(readme: str) -> dict[str, set[str]]:
    """The README's "Roles" table: for each permission, the roles whose column has a tick."""
    section = readme.split("\n### Roles\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header, *body = (
        [cell.strip() for cell in row.strip("|").split("|")] for row in rows if "---" not in row
    )
    table = {}
    for cells in body:
        permission = re.match(r"`([^`]+)`", cells[0])
        assert permission is not None, cells
        table[permission[1]] = {
            role for role, cell in zip(header[1:], cells[1:], strict=True) if cell == "✓"
        }
    return table


def test_the_code_grants_each_permission_to_the_roles_of_the_table() -> None:
    # given the role table of bff/domain/rbac.py
    # when it is read permission by permission
    granted = {p.value: {r.value for r in Role if p in ROLE_PERMISSIONS[r]} for p in Permission}
    # then it is the table written out above, for every role
    assert granted == GRANTED_TO
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_the_readme_shows_the_same_role_table() -> None:
    # given the README
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    # when its roles table is read
    shown = readme_role_table(readme)
    # then it is the table written out above
    assert shown == GRANTED_TO


def test_every_permission_has_an_operation_and_both_an_allowed_and_a_denied_role() -> None:
    # given the role table and the operations of the matrix
    # when each permission is looked up
    # then the matrix exercises every permission, each both allowed and denied
    assert {p.value for p in OPERATIONS} == set(GRANTED_TO)
    assert set(OPERATIONS) == set(Permission)
    for permission, roles in GRANTED_TO.items():
        assert roles, f"{permission} is granted to no role"
        assert roles != {r.value for r in Role}, f"{permission} is granted to every role"


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        pytest.param(role, permission, id=f"{role.value}-{permission.value}")
        for permission in Permission
        for role in Role
    ],
)
async def test_permission_matrix(
    client: httpx.AsyncClient, world: World, role: Role, permission: Permission
) -> None:
    # given a user who holds exactly this role
    caller = await world.person(role)
    allowed = role.value in GRANTED_TO[permission.value]
    # when they perform an operation that needs the permission
    # then it succeeds when the table grants the permission and is refused otherwise
    await OPERATIONS[permission](client, world, caller, allowed)


# --- support --------------------------------------------------------------------------------


@dataclass
class Customers:
    """Ana and Ben, strangers; Ben has 100.00 and paid Ana 7.50 ("Books")."""

    ana: Person
    ben: Person
    ana_account: Account
    ben_account: Account
    transfer_id: str


@pytest.fixture
async def customers(client: httpx.AsyncClient, world: World) -> Customers:
    ana, ben = await world.person(), await world.person()
    ana_account = await world.account(ana)
    ben_account = await world.account(ben, funds="100.00")
    variables = transfer_input(account_id(ben_account), account_id(ana_account), "7.50")
    variables["input"]["memo"] = "Books"
    sent = (await data(client, CREATE_TRANSFER, variables, ben))["createTransfer"]
    assert sent["userErrors"] == []
    return Customers(ana, ben, ana_account, ben_account, sent["transfer"]["id"])


async def test_support_reads_any_customers_profile_accounts_and_transactions(
    client: httpx.AsyncClient, world: World, customers: Customers
) -> None:
    # given a member of support who is a stranger to Ben
    c = customers
    support = await world.person(Role.SUPPORT)
    # when support looks Ben up by ID
    ben = (await data(client, USER, {"id": user_id(c.ben)}, support))["user"]
    # then they see his profile, his accounts with balances and their history
    assert ben["id"] == user_id(c.ben)
    assert ben["email"] == c.ben.user.email
    assert ben["displayName"] == c.ben.user.display_name
    assert ben["roles"] == ["CUSTOMER"]
    (account,) = [edge["node"] for edge in ben["accounts"]["edges"]]
    assert account["id"] == account_id(c.ben_account)
    assert account["balance"] == {"amount": "92.50", "currency": "USD"}
    history = [
        (edge["node"]["amount"]["amount"], edge["node"]["description"])
        for edge in account["transactions"]["edges"]
    ]
    assert history == [("-7.50", "Books"), ("100.00", "Deposit")]
    # and the account on its own, too
    by_id = (await data(client, ACCOUNT, {"id": account_id(c.ana_account)}, support))["account"]
    assert by_id["balance"] == {"amount": "7.50", "currency": "USD"}
    assert [edge["node"]["amount"]["amount"] for edge in by_id["transactions"]["edges"]] == ["7.50"]


async def test_support_who_also_banks_with_us_cannot_move_a_customers_money(
    client: httpx.AsyncClient, world: World, customers: Customers
) -> None:
    # given a member of support who is also a customer, with an account of their own
    c = customers
    support = await world.person(Role.SUPPORT, Role.CUSTOMER)
    theirs = await world.account(support)
    # when they try to pay themselves from Ben's account, and from an account that does not exist
    from_bens = (
        await data(
            client,
            CREATE_TRANSFER,
            transfer_input(account_id(c.ben_account), account_id(theirs)),
            support,
        )
    )["createTransfer"]
    from_nowhere = (
        await data(
            client, CREATE_TRANSFER, transfer_input(missing("Account"), account_id(theirs)), support
        )
    )["createTransfer"]
    # and try to credit their own account out of thin air
    deposit = (await data(client, DEPOSIT_FUNDS, deposit_input(account_id(theirs)), support))[
        "depositFunds"
    ]
    # then reading any account gives no right to pay from it: it looks like a missing one
    assert from_bens == from_nowhere
    assert from_bens["transfer"] is None
    assert [(e["code"], e["field"]) for e in from_bens["userErrors"]] == [
        ("ACCOUNT_NOT_FOUND", "fromAccountId")
    ]
    # and depositing is not theirs to do
    assert deposit["transfer"] is None
    assert codes(deposit) == ["PERMISSION_DENIED"]
    # and no money moved
    assert await balance_of(client, c.ben, c.ben_account) == "92.50"
    assert await balance_of(client, support, theirs) == "0.00"


async def test_support_freezes_an_account_the_customer_cannot_use_then_unfreezes_it(
    client: httpx.AsyncClient, world: World, customers: Customers
) -> None:
    # given support froze Ben's account
    c = customers
    support = await world.person(Role.SUPPORT)
    frozen = (await data(client, FREEZE, status_input(account_id(c.ben_account)), support))[
        "freezeAccount"
    ]
    assert frozen["account"] == {"id": account_id(c.ben_account), "status": "FROZEN"}
    # when Ben tries to pay Ana
    variables = transfer_input(account_id(c.ben_account), account_id(c.ana_account))
    refused = (await data(client, CREATE_TRANSFER, variables, c.ben))["createTransfer"]
    # then the frozen account cannot send
    assert codes(refused) == ["ACCOUNT_FROZEN"]
    # when support unfreezes it and Ben tries again (a new payment, so a new key)
    unfrozen = (await data(client, UNFREEZE, status_input(account_id(c.ben_account)), support))[
        "unfreezeAccount"
    ]
    retry = transfer_input(account_id(c.ben_account), account_id(c.ana_account))
    paid = (await data(client, CREATE_TRANSFER, retry, c.ben))["createTransfer"]
    # then it is active again and the payment goes through
    assert unfrozen["account"] == {"id": account_id(c.ben_account), "status": "ACTIVE"}
    assert paid["userErrors"] == []
    assert await balance_of(client, c.ben, c.ben_account) == "91.50"


# --- auditor --------------------------------------------------------------------------------


async def test_an_auditor_reads_users_accounts_transfers_and_transactions(
    client: httpx.AsyncClient, world: World, customers: Customers
) -> None:
    # given an auditor, and Ben's payment to Ana
    c = customers
    auditor = await world.person(Role.AUDITOR)
    history = (await data(client, HISTORY, {"id": account_id(c.ana_account)}, c.ana))["account"]
    credit_id = history["transactions"]["edges"][0]["node"]["id"]
    ids = {
        "User": user_id(c.ben),
        "Account": account_id(c.ben_account),
        "Transfer": c.transfer_id,
        "Transaction": credit_id,
    }
    # when the auditor fetches each through its own query and through node
    user = (await data(client, USER, {"id": ids["User"]}, auditor))["user"]
    account = (await data(client, ACCOUNT, {"id": ids["Account"]}, auditor))["account"]
    transfer = (await data(client, TRANSFER, {"id": ids["Transfer"]}, auditor))["transfer"]
    nodes = {
        type_name: (await data(client, NODE, {"id": global_id}, auditor))["node"]
        for type_name, global_id in ids.items()
    }
    # then everything is visible, both sides of the transfer included
    assert user["email"] == c.ben.user.email
    assert [edge["node"]["id"] for edge in user["accounts"]["edges"]] == [ids["Account"]]
    assert user["sessions"] is None
    assert account["balance"] == {"amount": "92.50", "currency": "USD"}
    assert transfer == {
        "id": c.transfer_id,
        "kind": "TRANSFER",
        "status": "COMPLETED",
        "memo": "Books",
        "amount": {"amount": "7.50", "currency": "USD"},
        "fromAccount": {"id": account_id(c.ben_account)},
        "toAccount": {"id": account_id(c.ana_account)},
    }
    for type_name, node in nodes.items():
        assert node is not None, type_name
        assert (node["id"], node["__typename"]) == (ids[type_name], type_name)
    assert nodes["Transaction"]["amount"] == {"amount": "7.50"}


# Mutations a user performs on their own sign-in, devices and second factors (confirming one's
# own held transfer is answering one's own challenge); every other mutation writes to the bank.
SELF_SERVICE = {
    "signUp",
    "login",
    "refreshSession",
    "logout",
    "logoutEverywhere",
    "revokeSession",
    "changePassword",
    "registerPushDevice",
    "updateNotificationPreferences",
    "exportMyData",
    "revokeAppAccess",
    "enrollTotp",
    "confirmTotpEnrollment",
    "removeTotp",
    "beginPasskeyRegistration",
    "finishPasskeyRegistration",
    "beginPasskeyRemoval",
    "removePasskey",
    "confirmTransfer",
    "beginPasskeyConfirmation",
}

WRITES: dict[str, tuple[str, str]] = {
    "openAccount": (OPEN_ACCOUNT, "account"),
    "createTransfer": (CREATE_TRANSFER, "transfer"),
    "depositFunds": (DEPOSIT_FUNDS, "transfer"),
    "freezeAccount": (FREEZE, "account"),
    "unfreezeAccount": (UNFREEZE, "account"),
    "assignRole": (ASSIGN_ROLE, "user"),
    "revokeRole": (REVOKE_ROLE, "user"),
    "registerAppBuild": (REGISTER_APP_BUILD, "build"),
    "retireAppBuild": (RETIRE_APP_BUILD, "build"),
    "eraseUser": (ERASE_USER, "erasedUserId"),
    "registerOAuthClient": (REGISTER_OAUTH_CLIENT, "client"),
    "approveTransfer": (APPROVE_TRANSFER, "transfer"),
    "rejectTransfer": (REJECT_TRANSFER, "transfer"),
    "updateFraudRules": (UPDATE_FRAUD_RULES, "rules"),
}


def test_every_mutation_is_either_self_service_or_a_write_the_auditor_test_covers() -> None:
    # given the checked-in contract
    contract = graphql_core.build_schema((Path(__file__).parents[1] / "schema.graphql").read_text())
    # when its mutations are listed
    assert contract.mutation_type is not None
    mutations = set(contract.mutation_type.fields)
    # then each is classified, so a new write cannot slip past the auditor test
    assert mutations == SELF_SERVICE | set(WRITES)
    assert not SELF_SERVICE & set(WRITES)


@pytest.mark.parametrize("mutation", sorted(WRITES))
async def test_an_auditor_writes_nothing(
    client: httpx.AsyncClient, world: World, customers: Customers, mutation: str
) -> None:
    # given an auditor, Ben's funded account and Ana's account that support froze
    c = customers
    auditor = await world.person(Role.AUDITOR)
    support = await world.person(Role.SUPPORT)
    await data(client, FREEZE, status_input(account_id(c.ana_account)), support)
    variables = {
        "openAccount": {"input": {"name": "Audit", "currency": "USD"}},
        "createTransfer": transfer_input(account_id(c.ben_account), account_id(c.ana_account)),
        "depositFunds": deposit_input(account_id(c.ben_account)),
        "freezeAccount": status_input(account_id(c.ben_account)),
        "unfreezeAccount": status_input(account_id(c.ana_account)),
        "assignRole": role_input(user_id(c.ben), "ADMIN"),
        "revokeRole": role_input(user_id(c.ben), "CUSTOMER"),
        "registerAppBuild": {
            "input": {"app": "ios", "version": "9.9.9", "manifest": json.dumps({})}
        },
        "retireAppBuild": {"input": {"app": "ios", "version": "9.9.9"}},
        "eraseUser": {"input": {"userId": user_id(c.ben), "reason": "auditor tries"}},
        "registerOAuthClient": oauth_client_input("Audit"),
        "approveTransfer": review_input(),
        "rejectTransfer": review_input(),
        "updateFraudRules": stale_rules_input(),
    }[mutation]
    document, result = WRITES[mutation]
    # when the auditor tries the write
    payload = (await data(client, document, variables, auditor))[mutation]
    # then it is refused and nothing changed
    assert payload[result] is None
    assert codes(payload) == ["PERMISSION_DENIED"]
    assert await balance_of(client, c.ben, c.ben_account) == "92.50"
    assert await status_of(client, c.ben, c.ben_account) == "ACTIVE"
    assert await status_of(client, c.ana, c.ana_account) == "FROZEN"
    assert await roles_of(client, c.ben) == ["CUSTOMER"]
    assert (await data(client, VIEWER_ACCOUNTS, {}, auditor))["viewer"]["accounts"]["edges"] == []


# --- admins assign and revoke roles ---------------------------------------------------------


async def test_an_assigned_role_works_on_the_next_request_and_a_revoked_one_stops(
    client: httpx.AsyncClient, world: World, customers: Customers
) -> None:
    # given an admin, and Ana, a customer who cannot see Ben's account
    c = customers
    admin = await world.person(Role.ADMIN)
    bens = {"id": account_id(c.ben_account)}
    assert (await data(client, ACCOUNT, bens, c.ana))["account"] is None
    # when the admin makes Ana support
    assigned = (await data(client, ASSIGN_ROLE, role_input(user_id(c.ana), "SUPPORT"), admin))[
        "assignRole"
    ]
    # then her very next request, with the same token, can read Ben's account
    assert assigned == {
        "user": {"id": user_id(c.ana), "roles": ["CUSTOMER", "SUPPORT"]},
        "userErrors": [],
    }
    as_support = (await data(client, ACCOUNT, bens, c.ana))["account"]
    assert as_support["id"] == bens["id"]
    assert await roles_of(client, c.ana) == ["CUSTOMER", "SUPPORT"]
    # when the admin takes the role away again
    revoked = (await data(client, REVOKE_ROLE, role_input(user_id(c.ana), "SUPPORT"), admin))[
        "revokeRole"
    ]
    # then her very next request can no longer read it, and she is still a customer
    assert revoked == {"user": {"id": user_id(c.ana), "roles": ["CUSTOMER"]}, "userErrors": []}
    assert (await data(client, ACCOUNT, bens, c.ana))["account"] is None
    assert await balance_of(client, c.ana, c.ana_account) == "7.50"


@pytest.mark.parametrize(
    "bad_id",
    [
        pytest.param("", id="empty"),
        pytest.param("garbage", id="garbage"),
        pytest.param("VXNlcjp4", id="not-a-uuid"),
        pytest.param(encode_id("Account", uuid.uuid4()), id="account-id"),
    ],
)
@pytest.mark.parametrize(
    ("document", "mutation"),
    [
        pytest.param(ASSIGN_ROLE, "assignRole", id="assign"),
        pytest.param(REVOKE_ROLE, "revokeRole", id="revoke"),
    ],
)
async def test_a_role_change_with_a_malformed_user_id_is_invalid_id(
    client: httpx.AsyncClient, world: World, document: str, mutation: str, bad_id: str
) -> None:
    # given
    admin = await world.person(Role.ADMIN)
    # when the user ID is not the ID of a user
    payload = (await data(client, document, role_input(bad_id, "SUPPORT"), admin))[mutation]
    # then
    assert payload["user"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_ID", "userId")]


# --- ID arguments: another user's object looks like a missing one ---------------------------


async def test_another_customer_by_user_id_is_null_like_a_missing_one(
    client: httpx.AsyncClient, customers: Customers
) -> None:
    # given Ana and Ben, strangers
    c = customers
    # when Ana asks for Ben, for nobody, and for Ben's account as if it were a user
    others = await call(client, USER, {"id": user_id(c.ben)}, c.ana)
    nonexistent = await call(client, USER, {"id": missing("User")}, c.ana)
    wrong_type = await call(client, USER, {"id": account_id(c.ben_account)}, c.ana)
    # then all three look the same
    assert others == nonexistent == wrong_type == {"data": {"user": None}}
    # and she does see herself
    own = (await data(client, USER, {"id": user_id(c.ana)}, c.ana))["user"]
    assert own["email"] == c.ana.user.email


async def test_viewer_sessions_lists_only_your_own(client: httpx.AsyncClient, world: World) -> None:
    # given Ana logged in on two devices and Ben on one
    ana = await world.person()
    ana_tablet = await world.log_in(ana.user)
    ben = await world.person()
    bens = set(await session_ids(client, ben))
    # when Ana lists her sessions from each device
    from_phone = (await data(client, VIEWER_SESSIONS, {}, ana))["viewer"]["sessions"]
    from_tablet = (await data(client, VIEWER_SESSIONS, {}, ana_tablet))["viewer"]["sessions"]
    # then she sees her two sessions, the current one marked, and none of Ben's
    phone_ids = {session["id"] for session in from_phone}
    assert len(phone_ids) == 2
    assert phone_ids == {session["id"] for session in from_tablet}
    assert not phone_ids & bens
    assert len(bens) == 1
    current_phone = [s["id"] for s in from_phone if s["current"]]
    current_tablet = [s["id"] for s in from_tablet if s["current"]]
    assert len(current_phone) == len(current_tablet) == 1
    assert current_phone != current_tablet


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ADMIN, Role.AUDITOR])
async def test_staff_reading_a_user_do_not_see_their_sessions(
    client: httpx.AsyncClient, world: World, role: Role
) -> None:
    # given a logged-in customer and a member of staff who may read any user
    ben = await world.person()
    staff = await world.person(role)
    # when staff read Ben, and Ben reads himself the same way
    as_staff = (await data(client, USER, {"id": user_id(ben)}, staff))["user"]
    as_ben = (await data(client, USER, {"id": user_id(ben)}, ben))["user"]
    # then staff get his profile but not his sessions; Ben gets his sessions
    assert as_staff["email"] == ben.user.email
    assert as_staff["sessions"] is None
    assert [session["id"] for session in as_ben["sessions"]] == await session_ids(client, ben)


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.ADMIN])
async def test_revoking_another_users_session_is_session_not_found_like_a_missing_one(
    client: httpx.AsyncClient, world: World, role: Role
) -> None:
    # given Ben's session ID, as Ben sees it, and a caller who is not Ben
    ben = await world.person()
    (bens_session,) = await session_ids(client, ben)
    caller = await world.person(role)
    # when the caller revokes Ben's session, and a session that does not exist
    others = (await data(client, REVOKE_SESSION, {"input": {"sessionId": bens_session}}, caller))[
        "revokeSession"
    ]
    nonexistent = (
        await data(client, REVOKE_SESSION, {"input": {"sessionId": missing("Session")}}, caller)
    )["revokeSession"]
    # then both look the same, and Ben is still logged in
    assert others == nonexistent
    assert others["sessionsEnded"] == 0
    assert [(e["code"], e["field"]) for e in others["userErrors"]] == [
        ("SESSION_NOT_FOUND", "sessionId")
    ]
    assert await session_ids(client, ben) == [bens_session]
    assert (await data(client, VIEWER, {}, ben))["viewer"]["id"] == user_id(ben)
    # and the caller's own session is untouched
    assert (await data(client, VIEWER, {}, caller))["viewer"] is not None
