"""Masking by role and channel: a full account number only to its owner (staff see the last four
digits); logs and error answers of a whole workload carry none of the emails, account numbers,
memos, passwords or tokens it used."""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest

from bff.domain.rbac import Role
from tests.conftest import World
from tests.documents import (
    CREATE_TRANSFER,
    LOGIN,
    REFRESH,
    SIGN_UP,
)
from tests.graphql_calls import account_id, call, data

ACCOUNT = "query Number($id: ID!) { account(id: $id) { accountNumber } }"
MEMO = "rent for flat 4b, thanks"
PASSWORD = "a quite secret passphrase"


async def test_staff_see_masked_account_numbers_and_the_owner_the_whole(
    client: httpx.AsyncClient, world: World
) -> None:
    # Given a customer's account
    ada = await world.person()
    account = await world.account(ada)
    for role in (Role.SUPPORT, Role.AUDITOR, Role.ADMIN):
        # When staff read it
        staff = await world.person(role)
        seen = await data(client, ACCOUNT, {"id": account_id(account)}, staff)
        # Then they see the last four digits only
        assert seen["account"]["accountNumber"] == "\u2022" * 8 + account.account_number[-4:]
    # and the owner sees all of it
    own = await data(client, ACCOUNT, {"id": account_id(account)}, ada)
    assert own["account"]["accountNumber"] == account.account_number


async def test_logs_and_errors_of_a_workload_carry_no_personal_data_or_secrets(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Given a workload: sign-up, a failed and a good login, a refresh, transfers by id and by
    # number with a memo, and requests that fail in every way they can
    email = f"privacy-{uuid.uuid4().hex[:8]}@example.com"
    await call(
        client, SIGN_UP, {"input": {"email": email, "password": PASSWORD, "displayName": "Zed Q"}}
    )
    bad = {"input": {"email": email, "password": "not it at all!", "deviceName": "Zed's phone"}}
    answers = [await call(client, LOGIN, bad)]
    good = {"input": {"email": email, "password": PASSWORD, "deviceName": "Zed's phone"}}
    logged_in = (await call(client, LOGIN, good))["data"]["login"]
    answers.append(
        await call(client, REFRESH, {"input": {"refreshToken": logged_in["refreshToken"]}})
    )
    headers = {"authorization": f"Bearer {logged_in['accessToken']}"}
    ben = await world.person()
    ben_account = await world.account(ben)
    me = await world.person()
    mine = await world.account(me, funds="10.00")
    for amount, to_number in (("1.00", ben_account.account_number), ("1.001", "not-a-number")):
        request = {
            "idempotencyKey": str(uuid.uuid4()),
            "fromAccountId": account_id(mine),
            "toAccountNumber": to_number,
            "amount": {"amount": amount, "currency": "USD"},
            "memo": MEMO,
        }
        answers.append(await call(client, CREATE_TRANSFER, {"input": request}, me))
    answers.append(await call(client, "{ viewer { email", {}, None))  # a syntax error
    broken = await client.post(
        "/graphql",
        json={"query": "query { viewer { email } }", "variables": [email]},
        headers=headers,
    )
    answers.append(broken.json())
    # When the captured log output and the answers to failed requests are read
    logged = caplog.text
    errors = str([answer for answer in answers if "errors" in answer or _user_errors(answer)])
    # Then none of the secrets or personal data appears in them
    secrets = [
        email,
        PASSWORD,
        ben_account.account_number,
        mine.account_number,
        MEMO,
        logged_in["accessToken"],
        logged_in["refreshToken"],
        "Zed's phone",
    ]
    for secret in secrets:
        assert secret not in logged, secret
        assert secret not in errors, secret
    assert logged  # the workload did log


def _user_errors(answer: dict[str, object]) -> bool:
    return "userErrors" in str(answer) and "'code'" in str(answer)
