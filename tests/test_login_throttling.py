"""Login throttling through GraphQL: growing delays and a lockout per account and per client
address, counted for every attempt (aliases in one document, parallel requests), the same for
unknown emails and wrong passwords. SQL is used only to read the counters or to make time pass
(by moving `login_throttles` timestamps back)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bff.app import create_app
from bff.config import Settings
from bff.runtime import Runtime, build_runtime
from tests.conftest import PASSWORD
from tests.documents import LOGIN, SIGN_UP

WRONG = PASSWORD + " but wrong"
FREE_FAILURES = 3  # per account, before delays start
LOCKOUT_FAILURES = 10  # per account
ADDRESS_FREE_FAILURES = 20
DELAYS = [1, 2, 4, 8, 16, 32, 60]  # after failures 3..9: doubling from 1 s, at most 60 s
LOCKOUT_S = 15 * 60

_addresses = itertools.count(1)


def unique_address() -> str:
    """A client address no other test uses, so address counters never link two tests."""
    n = next(_addresses)
    return f"10.52.{n // 250}.{n % 250 + 1}"


def unique_email() -> str:
    return f"throttle-{uuid.uuid4().hex[:12]}@example.com"


def account_key(email: str) -> str:
    return email.strip().lower()


def stored(runtime: Runtime, scope: str, key: str) -> str:
    """How the table holds a throttle key: by its blind index."""
    return runtime.database.sealing.throttle_key(scope, key)


@asynccontextmanager
async def client_at(runtime: Runtime, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime), client=(address, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def address() -> str:
    return unique_address()


@pytest.fixture
async def http(runtime: Runtime, address: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(runtime, address) as client:
        yield client


async def call(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The data of a request that must succeed at the HTTP and GraphQL level."""
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def sign_up(http: httpx.AsyncClient) -> str:
    email = unique_email()
    variables = {"input": {"email": email, "password": PASSWORD, "displayName": "Ana"}}
    assert (await call(http, SIGN_UP, variables))["signUp"]["userErrors"] == []
    return email


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    variables = {"input": {"email": email, "password": password, "deviceName": "pytest"}}
    return (await call(http, LOGIN, variables))["login"]  # type: ignore[no-any-return]


def outcome(payload: dict[str, Any]) -> str:
    """OK, or the single error code of a refused login."""
    if not payload["userErrors"]:
        assert payload["accessToken"]
        return "OK"
    assert payload["accessToken"] is None
    assert payload["refreshToken"] is None
    [error] = payload["userErrors"]
    if error["code"] == "LOGIN_THROTTLED":
        assert payload["retryAfterSeconds"] > 0
    else:
        assert payload["retryAfterSeconds"] is None
    return error["code"]  # type: ignore[no-any-return]


async def attempt(http: httpx.AsyncClient, email: str, password: str) -> str:
    return outcome(await login(http, email, password))


async def sql(runtime: Runtime, statement: str, **params: Any) -> list[Any]:
    async with runtime.database.engine.begin() as connection:
        result = await connection.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def failures(runtime: Runtime, scope: str, key: str) -> int | None:
    rows = await sql(
        runtime,
        "SELECT failures FROM login_throttles WHERE scope = :scope AND key = :key",
        scope=scope,
        key=stored(runtime, scope, key),
    )
    return rows[0][0] if rows else None


async def account_failures(runtime: Runtime, email: str) -> int | None:
    return await failures(runtime, "account", account_key(email))


async def let_time_pass(runtime: Runtime, scope: str, key: str, seconds: float) -> None:
    """Simulate waiting: the last attempt (and any lock) happened `seconds` earlier."""
    await sql(
        runtime,
        "UPDATE login_throttles"
        "   SET last_attempt_at = last_attempt_at - make_interval(secs => :seconds),"
        "       locked_until = locked_until - make_interval(secs => :seconds)"
        " WHERE scope = :scope AND key = :key",
        scope=scope,
        key=stored(runtime, scope, key),
        seconds=seconds,
    )


async def fail_with_delays(
    http: httpx.AsyncClient, runtime: Runtime, email: str, count: int
) -> list[int]:
    """Make `count` admitted failed attempts, waiting out each delay; the delays seen."""
    seen: list[int] = []
    for _ in range(count):
        payload = await login(http, email, WRONG)
        if outcome(payload) == "LOGIN_THROTTLED":
            seen.append(payload["retryAfterSeconds"])
            await let_time_pass(runtime, "account", account_key(email), seen[-1])
            payload = await login(http, email, WRONG)
        assert outcome(payload) == "INVALID_CREDENTIALS"
    return seen


# --- per account ----------------------------------------------------------------------------


async def test_after_three_wrong_passwords_the_account_must_wait(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given an account
    email = await sign_up(http)
    # when three wrong passwords are tried
    first = [await attempt(http, email, WRONG) for _ in range(FREE_FAILURES)]
    # then each is plainly wrong
    assert first == ["INVALID_CREDENTIALS"] * FREE_FAILURES
    assert await account_failures(runtime, email) == FREE_FAILURES
    # and the next attempt is refused for a second, even with the right password
    for password in (WRONG, PASSWORD):
        payload = await login(http, email, password)
        assert outcome(payload) == "LOGIN_THROTTLED"
        assert payload["retryAfterSeconds"] == 1
        assert payload["userErrors"][0]["message"] == "Too many attempts; retry in 1 seconds."
    # and refused attempts are not counted
    assert await account_failures(runtime, email) == FREE_FAILURES


async def test_delays_double_from_one_second_with_each_further_failure(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given an account that used up its free failures
    email = await sign_up(http)
    for _ in range(FREE_FAILURES):
        assert await attempt(http, email, WRONG) == "INVALID_CREDENTIALS"
    # when wrong passwords keep coming, each after the delay has passed
    delays = await fail_with_delays(http, runtime, email, LOCKOUT_FAILURES - FREE_FAILURES)
    # then every failure doubled the delay, up to a minute
    assert delays == DELAYS
    assert await account_failures(runtime, email) == LOCKOUT_FAILURES


async def test_a_delay_counts_down_and_ends(http: httpx.AsyncClient, runtime: Runtime) -> None:
    # given an account with 6 failures (next delay 8 s)
    email = await sign_up(http)
    for _ in range(FREE_FAILURES):
        assert await attempt(http, email, WRONG) == "INVALID_CREDENTIALS"
    await fail_with_delays(http, runtime, email, 3)
    payload = await login(http, email, PASSWORD)
    assert outcome(payload) == "LOGIN_THROTTLED"
    assert payload["retryAfterSeconds"] == 8
    # when 5 of the 8 seconds pass
    await let_time_pass(runtime, "account", account_key(email), 5)
    # then 3 remain
    payload = await login(http, email, PASSWORD)
    assert outcome(payload) == "LOGIN_THROTTLED"
    assert payload["retryAfterSeconds"] == 3
    # when the rest passes
    await let_time_pass(runtime, "account", account_key(email), 3)
    # then the right password logs in
    assert await attempt(http, email, PASSWORD) == "OK"


async def test_ten_failures_lock_the_account_for_fifteen_minutes(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given an account with 9 failures
    email = await sign_up(http)
    for _ in range(FREE_FAILURES):
        assert await attempt(http, email, WRONG) == "INVALID_CREDENTIALS"
    await fail_with_delays(http, runtime, email, LOCKOUT_FAILURES - FREE_FAILURES - 1)
    # when the tenth wrong password arrives after the delay
    await let_time_pass(runtime, "account", account_key(email), 60)
    assert await attempt(http, email, WRONG) == "INVALID_CREDENTIALS"
    # then even the right password is refused, for about 15 minutes
    payload = await login(http, email, PASSWORD)
    assert outcome(payload) == "LOGIN_THROTTLED"
    assert LOCKOUT_S - 30 <= payload["retryAfterSeconds"] <= LOCKOUT_S
    # and waiting out the longest delay does not lift the lock
    await sql(
        runtime,
        "UPDATE login_throttles SET last_attempt_at = last_attempt_at - interval '2 minutes'"
        " WHERE scope = 'account' AND key = :key",
        key=stored(runtime, "account", account_key(email)),
    )
    payload = await login(http, email, PASSWORD)
    assert outcome(payload) == "LOGIN_THROTTLED"
    assert payload["retryAfterSeconds"] > 60
    assert await account_failures(runtime, email) == LOCKOUT_FAILURES
    # when the lockout has passed
    await let_time_pass(runtime, "account", account_key(email), LOCKOUT_S + 1)
    # then the right password logs in and the account starts afresh
    assert await attempt(http, email, PASSWORD) == "OK"
    assert await account_failures(runtime, email) == 0


async def test_unknown_email_and_wrong_password_fail_and_throttle_alike(
    runtime: Runtime,
) -> None:
    # given a real account and an address nobody signed up with, tried from two addresses
    async with (
        client_at(runtime, unique_address()) as known_client,
        client_at(runtime, unique_address()) as unknown_client,
    ):
        known = await sign_up(known_client)
        unknown = unique_email()
        # when each gets the same sequence of attempts
        known_answers = [await login(known_client, known, WRONG) for _ in range(5)]
        unknown_answers = [await login(unknown_client, unknown, WRONG) for _ in range(5)]
    # then the answers are identical: code, message, field and delay
    assert known_answers == unknown_answers
    assert [outcome(a) for a in known_answers] == ["INVALID_CREDENTIALS"] * 3 + [
        "LOGIN_THROTTLED"
    ] * 2
    assert known_answers[0]["userErrors"] == [
        {"code": "INVALID_CREDENTIALS", "message": "The email or password is wrong.", "field": None}
    ]
    # and the unknown address is counted like a real account
    assert await account_failures(runtime, unknown) == FREE_FAILURES
    assert await account_failures(runtime, known) == FREE_FAILURES


async def test_the_account_counter_ignores_the_emails_case(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given an account
    email = await sign_up(http)
    spellings = [email, email.upper(), email.capitalize(), f"  {email.title()} "]
    # when wrong passwords are tried under different spellings of the address
    answers = [await attempt(http, spelling, WRONG) for spelling in spellings]
    # then they all count against the one account
    assert answers == ["INVALID_CREDENTIALS"] * 3 + ["LOGIN_THROTTLED"]
    assert await account_failures(runtime, email) == FREE_FAILURES


async def test_attempts_from_many_addresses_count_against_one_account(
    runtime: Runtime,
) -> None:
    # given an account attacked from three addresses, one wrong password each
    async with client_at(runtime, unique_address()) as http:
        email = await sign_up(http)
    for _ in range(FREE_FAILURES):
        async with client_at(runtime, unique_address()) as http:
            assert await attempt(http, email, WRONG) == "INVALID_CREDENTIALS"
    # when a fourth address tries
    async with client_at(runtime, unique_address()) as http:
        answer = await attempt(http, email, WRONG)
    # then the account is throttled there too
    assert answer == "LOGIN_THROTTLED"


async def test_each_aliased_login_in_one_document_counts(
    http: httpx.AsyncClient, runtime: Runtime, address: str
) -> None:
    # given an account, and one document with six aliased login attempts
    email = await sign_up(http)
    aliases = [f"a{i}" for i in range(6)]
    document = (
        "mutation Burst($input: LoginInput!) {"
        + " ".join(
            f"{alias}: login(input: $input) {{ accessToken refreshToken retryAfterSeconds"
            " user { id } userErrors { code message field } }"
            for alias in aliases
        )
        + "}"
    )
    variables = {"input": {"email": email, "password": WRONG, "deviceName": "burst"}}
    # when it is sent once
    data = await call(http, document, variables)
    # then every alias was an attempt of its own: three failures, then refusals
    assert [outcome(data[alias]) for alias in aliases] == ["INVALID_CREDENTIALS"] * 3 + [
        "LOGIN_THROTTLED"
    ] * 3
    assert await account_failures(runtime, email) == FREE_FAILURES
    assert await failures(runtime, "address", address) == FREE_FAILURES


async def test_each_parallel_login_counts(
    http: httpx.AsyncClient, runtime: Runtime, address: str
) -> None:
    # given an account
    email = await sign_up(http)
    # when twelve wrong passwords arrive at once
    answers = await asyncio.gather(*(attempt(http, email, WRONG) for _ in range(12)))
    # then each was either admitted (and counted) or refused
    admitted = answers.count("INVALID_CREDENTIALS")
    refused = answers.count("LOGIN_THROTTLED")
    assert admitted + refused == 12
    assert FREE_FAILURES <= admitted < 12
    # and the counters hold exactly the admitted attempts: none was lost in the race
    assert await account_failures(runtime, email) == admitted
    assert await failures(runtime, "address", address) == admitted


async def test_a_successful_login_resets_the_account_counter(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given an account with two failures
    email = await sign_up(http)
    for _ in range(2):
        assert await attempt(http, email, WRONG) == "INVALID_CREDENTIALS"
    # when the right password is given
    assert await attempt(http, email, PASSWORD) == "OK"
    # then the account starts afresh
    assert await account_failures(runtime, email) == 0
    answers = [await attempt(http, email, WRONG) for _ in range(4)]
    assert answers == ["INVALID_CREDENTIALS"] * 3 + ["LOGIN_THROTTLED"]


async def test_a_refused_right_password_is_not_checked_and_resets_nothing(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given an account that must wait
    email = await sign_up(http)
    for _ in range(FREE_FAILURES):
        assert await attempt(http, email, WRONG) == "INVALID_CREDENTIALS"
    [(before,)] = await sql(
        runtime,
        "SELECT last_attempt_at FROM login_throttles WHERE scope = 'account' AND key = :key",
        key=stored(runtime, "account", account_key(email)),
    )
    # when the right password is tried during the delay
    assert await attempt(http, email, PASSWORD) == "LOGIN_THROTTLED"
    # then it opened no session and the counter is untouched
    [(sessions,)] = await sql(
        runtime,
        "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.email_index = :email_index",
        email_index=runtime.database.sealing.index("email", email),
    )
    assert sessions == 0
    [(failures_now, after)] = await sql(
        runtime,
        "SELECT failures, last_attempt_at FROM login_throttles"
        " WHERE scope = 'account' AND key = :key",
        key=stored(runtime, "account", account_key(email)),
    )
    assert failures_now == FREE_FAILURES
    assert after == before
    # and a wrong password right after is still refused (the delay was not lifted)
    assert await attempt(http, email, WRONG) == "LOGIN_THROTTLED"
    # when the delay has passed, the right password logs in
    await let_time_pass(runtime, "account", account_key(email), 1)
    assert await attempt(http, email, PASSWORD) == "OK"
    assert await account_failures(runtime, email) == 0


# --- per client address ---------------------------------------------------------------------


async def test_failures_over_many_accounts_from_one_address_are_throttled_after_20(
    http: httpx.AsyncClient, runtime: Runtime, address: str
) -> None:
    # given a real account, and an address that tries one wrong password on 20 other accounts
    async with client_at(runtime, unique_address()) as elsewhere:
        victim = await sign_up(elsewhere)
    for _ in range(ADDRESS_FREE_FAILURES):
        assert await attempt(http, unique_email(), WRONG) == "INVALID_CREDENTIALS"
    assert await failures(runtime, "address", address) == ADDRESS_FREE_FAILURES
    # when the same address tries the real account, even with its right password
    payload = await login(http, victim, PASSWORD)
    # then it is refused for now
    assert outcome(payload) == "LOGIN_THROTTLED"
    assert payload["retryAfterSeconds"] == 1
    # and the account itself was not charged for the address's misdeeds
    assert await account_failures(runtime, victim) in (None, 0)
    # and another address logs in to it at once
    async with client_at(runtime, unique_address()) as elsewhere:
        assert await attempt(elsewhere, victim, PASSWORD) == "OK"


async def test_an_address_delay_passes_and_a_success_gives_back_one_attempt(
    http: httpx.AsyncClient, runtime: Runtime, address: str
) -> None:
    # given an address that used up its free failures on other accounts
    async with client_at(runtime, unique_address()) as elsewhere:
        email = await sign_up(elsewhere)
    for _ in range(ADDRESS_FREE_FAILURES):
        assert await attempt(http, unique_email(), WRONG) == "INVALID_CREDENTIALS"
    assert await attempt(http, email, PASSWORD) == "LOGIN_THROTTLED"
    # when the delay passes
    await let_time_pass(runtime, "address", address, 1)
    # then a right password logs in, and the address keeps its earlier failures
    assert await attempt(http, email, PASSWORD) == "OK"
    assert await failures(runtime, "address", address) == ADDRESS_FREE_FAILURES


@pytest.fixture
async def strict_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A server whose addresses get 2 free failures and are locked out after 4, for 5 minutes."""
    strict = settings.model_copy(
        update={
            "login_address_free_failures": 2,
            "login_address_lockout_failures": 4,
            "login_lockout_s": 300,
        }
    )
    runtime = build_runtime(strict, strict.database_url or "")
    yield runtime
    await runtime.close()


async def test_an_address_with_too_many_failures_is_locked_out(strict_runtime: Runtime) -> None:
    # given a real account, and an address trying wrong passwords on other accounts
    address = unique_address()
    async with client_at(strict_runtime, unique_address()) as elsewhere:
        victim = await sign_up(elsewhere)
    async with client_at(strict_runtime, address) as http:
        assert await attempt(http, unique_email(), WRONG) == "INVALID_CREDENTIALS"
        assert await attempt(http, unique_email(), WRONG) == "INVALID_CREDENTIALS"
        payload = await login(http, unique_email(), WRONG)
        assert outcome(payload) == "LOGIN_THROTTLED"
        assert payload["retryAfterSeconds"] == 1
        # when it keeps going after each delay until its fourth failure
        await let_time_pass(strict_runtime, "address", address, 1)
        assert await attempt(http, unique_email(), WRONG) == "INVALID_CREDENTIALS"
        await let_time_pass(strict_runtime, "address", address, 2)
        assert await attempt(http, unique_email(), WRONG) == "INVALID_CREDENTIALS"
        # then the address is locked out, even for a right password, for about 5 minutes
        payload = await login(http, victim, PASSWORD)
        assert outcome(payload) == "LOGIN_THROTTLED"
        assert 300 - 30 <= payload["retryAfterSeconds"] <= 300
        await let_time_pass(strict_runtime, "address", address, 60)
        assert await attempt(http, victim, PASSWORD) == "LOGIN_THROTTLED"
    assert await failures(strict_runtime, "address", address) == 4
    # and another address is not affected
    async with client_at(strict_runtime, unique_address()) as elsewhere:
        assert await attempt(elsewhere, victim, PASSWORD) == "OK"
    # when the lockout has passed
    await let_time_pass(strict_runtime, "address", address, 301)
    # then the address may log in again
    async with client_at(strict_runtime, address) as http:
        assert await attempt(http, victim, PASSWORD) == "OK"
