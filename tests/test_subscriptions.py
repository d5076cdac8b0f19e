"""Live account events over graphql-transport-ws, end to end: real `bff serve` processes on
127.0.0.1, real WebSocket clients, PostgreSQL and Redis shared between the processes.

Two servers (A and B) serve the module. A refuses a WebSocket without `connection_init` after one
second and allows three subscriptions per connection; B keeps the defaults (ten seconds, twenty).
A test that stops or kills one of them gets it restarted, on the same port, before the next.
Transfers are made through the domain API of the test process or the GraphQL endpoint of a
server; the test process runs no outbox relay, so every event reaches Redis through a server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import redis.asyncio
import websockets
from sqlalchemy import text
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin, Subprotocol

from bff.config import Settings
from bff.db.outbox import RELAY_LOCK_ID
from bff.domain import transfers
from bff.domain.models import Account, AccountEvent, AccountStatus, EventKind, Transfer
from bff.domain.rbac import Role
from bff.events import encode
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import Person, World
from tests.database import require_redis
from tests.documents import (
    ACCOUNT_EVENTS,
    CREATE_TRANSFER,
    LOGOUT_EVERYWHERE,
    REVOKE_ROLE,
    REVOKE_SESSION,
    VIEWER_SESSIONS,
)
from tests.servers import Server, ServerSet
from tests.services import suite_redis_url

PROTOCOL = Subprotocol("graphql-transport-ws")
ALLOWED_ORIGIN = "https://app.example.com"
RECEIVE_TIMEOUT_S = 10.0  # no single message takes longer than this to arrive
A_MAX_SUBSCRIPTIONS = 3
DEFAULT_MAX_SUBSCRIPTIONS = 20  # Settings.ws_max_subscriptions
LINUX_PROC = Path("/proc/net/tcp").exists()  # to map a PostgreSQL client port to a process

# ---------------------------------------------------------------------------------------------
# Servers


@dataclass(frozen=True)
class Pair:
    a: Server
    b: Server

    def other(self, server: Server) -> Server:
        return self.b if server is self.a else self.a


@pytest.fixture(scope="module")
async def redis_url() -> str:
    url = suite_redis_url(5)
    await require_redis(url)
    return url


@pytest.fixture(scope="module")
async def server_set(
    runtime: Runtime,
    settings: Settings,
    database_url: str,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ServerSet]:
    # The runtime has written the development key ring into data_dir by now: the servers read
    # the same ring, so the tokens the test process issues verify there.
    assert settings.keys_file.exists()
    servers = ServerSet(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=settings.data_dir,
        log_dir=tmp_path_factory.mktemp("servers"),
    )
    yield servers
    await servers.stop_all()


@pytest.fixture(scope="module")
async def started(server_set: ServerSet) -> Pair:
    common = {
        "BFF_ALLOWED_ORIGINS": ALLOWED_ORIGIN,
        # Small pools: the PostgreSQL of CI (max_connections 100) is shared with the test
        # process's own pool of 40.
        "BFF_DB_POOL_SIZE": "5",
        "BFF_DB_MAX_OVERFLOW": "5",
    }
    a, b = await asyncio.gather(
        server_set.start(
            "a",
            {
                **common,
                "BFF_WS_INIT_TIMEOUT_S": "1",
                "BFF_WS_MAX_SUBSCRIPTIONS": str(A_MAX_SUBSCRIPTIONS),
            },
        ),
        server_set.start("b", common),
    )
    return Pair(a, b)


@pytest.fixture
async def pair(server_set: ServerSet, started: Pair) -> AsyncIterator[Pair]:
    await server_set.ensure_running(started.a, started.b)
    offsets = {server.name: server.log_path.stat().st_size for server in (started.a, started.b)}
    yield started
    for server in (started.a, started.b):
        with server.log_path.open(errors="replace") as log:
            log.seek(offsets[server.name])
            written = log.read()
        if "Traceback" in written:  # shown with the test's output when it fails
            print(f"--- {server.name} logged during the test:\n{written[-8000:]}")


# ---------------------------------------------------------------------------------------------
# A graphql-transport-ws client


class Closed(Exception):
    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


class Client:
    """A thin graphql-transport-ws client over one WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        """The next message; Closed when the server closes instead."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), within)
        except websockets.ConnectionClosed as closed:
            frame = closed.rcvd
            raise Closed(frame.code if frame else None, frame.reason if frame else "") from None
        return json.loads(raw)  # type: ignore[no-any-return]

    async def close_code(self, within: float = RECEIVE_TIMEOUT_S) -> int | None:
        """Read until the server closes; the close code it sent."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"still open after {within} s")
            try:
                await self.receive(remaining)
            except Closed as closed:
                return closed.code

    async def init(self, token: str | None) -> None:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        ack = await self.receive()
        assert ack["type"] == "connection_ack", ack

    async def subscribe(
        self, op_id: str, account_id: UUID | str, after: int | str | None = None
    ) -> None:
        global_id = account_id if isinstance(account_id, str) else account_gid(account_id)
        variables: dict[str, Any] = {"accountId": global_id}
        if after is not None:
            variables["after"] = str(after)
        await self.send(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": ACCOUNT_EVENTS, "variables": variables},
            }
        )

    async def event(self, op_id: str = "1", within: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        """The next account event of `op_id`; fails on anything else."""
        message = await self.receive(within)
        assert message.get("id") == op_id, message
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]["accountEvents"]  # type: ignore[no-any-return]

    async def events_until(
        self, last_sequence: int, op_id: str = "1", within: float = 30.0
    ) -> list[dict[str, Any]]:
        """Events until one with `last_sequence` (inclusive) arrives, within `within` s."""
        deadline = time.monotonic() + within
        events: list[dict[str, Any]] = []
        while not events or int(events[-1]["sequence"]) < last_sequence:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"only {seqs(events)} of ..{last_sequence} in {within} s"
            events.append(await self.event(op_id, min(remaining, RECEIVE_TIMEOUT_S)))
        return events

    async def error_code(self, op_id: str = "1", within: float = RECEIVE_TIMEOUT_S) -> str:
        """Skip events of `op_id` until it fails; the failure's extensions.code. The operation
        must then be over (`complete` follows an error in `next`; `error` is final)."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no error within {within} s"
            message = await self.receive(remaining)
            assert message.get("id") == op_id, message
            errors = message.get("payload", {}).get("errors") if message["type"] == "next" else None
            if message["type"] == "error":
                errors = message["payload"]
            if errors:
                if message["type"] == "next":  # an error mid-stream; `complete` follows
                    assert await self.receive() == {"id": op_id, "type": "complete"}
                return str(errors[0]["extensions"]["code"])
            assert message["type"] == "next", f"ended without an error: {message}"


@asynccontextmanager
async def ws_connect(
    server: Server, *, origin: str | None = None, token: str | None = None
) -> AsyncIterator[Client]:
    """A WebSocket to `server`; with `token`, already initialised."""
    async with connect(
        server.ws_url,
        subprotocols=[PROTOCOL],
        origin=Origin(origin) if origin else None,
        open_timeout=10,
        close_timeout=2,
        max_size=2**22,
    ) as ws:
        assert ws.subprotocol == PROTOCOL
        client = Client(ws)
        if token is not None:
            await client.init(token)
        yield client


# ---------------------------------------------------------------------------------------------
# Money, transfers and the database


def account_gid(account_id: UUID) -> str:
    return encode_id("Account", account_id)


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [int(event["sequence"]) for event in events]


def cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def usd(minor: int) -> str:
    return f"{Decimal(minor) / 100:.2f}"


async def send(
    runtime: Runtime, owner: Person, source: Account, destination: Account, minor: int
) -> Transfer:
    """A transfer through the domain API (committed in the shared database)."""
    request = transfers.TransferRequest(
        idempotency_key=str(uuid.uuid4()),
        from_account_id=source.id,
        amount=usd(minor),
        currency=source.currency,
        to_account_id=destination.id,
    )
    return await transfers.create_transfer(
        runtime.unit_of_work(), owner.actor, request, runtime.settings.idempotency_ttl_s
    )


async def post(
    server: Server, query: str, variables: dict[str, Any] | None, token: str
) -> dict[str, Any]:
    """A GraphQL request over HTTP to `server` that must succeed."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            server.graphql_url,
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def send_over_http(
    server: Server, owner: Person, source: Account, destination: Account, minor: int
) -> str:
    """A transfer through `server`'s GraphQL endpoint; the transfer's global ID."""
    variables = {
        "input": {
            "idempotencyKey": str(uuid.uuid4()),
            "fromAccountId": account_gid(source.id),
            "toAccountId": account_gid(destination.id),
            "amount": {"amount": usd(minor), "currency": source.currency},
        }
    }
    payload = (await post(server, CREATE_TRANSFER, variables, owner.token))["createTransfer"]
    assert payload["userErrors"] == [], payload
    return str(payload["transfer"]["id"])


async def account_row(runtime: Runtime, account_id: UUID) -> Any:
    async with runtime.database.read_engine.connect() as connection:
        return (
            await connection.execute(
                text(
                    "SELECT balance, available_balance, last_sequence FROM accounts WHERE id = :i"
                ),
                {"i": account_id},
            )
        ).one()


async def all_published(runtime: Runtime, account_id: UUID) -> bool:
    """Whether the relay has published every event of the account (none left in the outbox)."""
    async with runtime.database.read_engine.connect() as connection:
        pending = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM account_events"
                    " WHERE account_id = :a AND published_at IS NULL"
                ),
                {"a": account_id},
            )
        ).scalar_one()
    return bool(pending == 0)


async def broker_subscribers(redis_url: str, account_id: UUID) -> int:
    """How many server processes are subscribed to the account's Redis channel."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        ((_, count),) = await client.pubsub_numsub(f"account:{account_id}")
    finally:
        await client.aclose()
    return int(count)


async def relay_holder(runtime: Runtime, servers: list[Server]) -> Server | None:
    """The server whose PostgreSQL session holds the relay's advisory lock in this database."""
    if not LINUX_PROC:
        pytest.skip("telling which process holds the lock needs Linux /proc")
    query = text(
        """SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid = :high AND l.objid = :low
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"""
    )
    params = {"high": RELAY_LOCK_ID >> 32, "low": RELAY_LOCK_ID & 0xFFFF_FFFF}
    async with runtime.database.read_engine.connect() as connection:
        ports = set((await connection.execute(query, params)).scalars())
    postgres_port = runtime.database.engine.url.port or 5432
    holders = [
        server
        for server in servers
        if server.running and ports & server.local_ports(remote_port=postgres_port)
    ]
    assert len(holders) <= 1, holders
    return holders[0] if holders else None


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy, at most `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {within} s: {what}"
        await asyncio.sleep(0.1)


def checking(condition: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """A synchronous condition, for `eventually`."""

    async def check() -> bool:
        return condition()

    return check


def none_of(count: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[bool]]:
    """True once `count` is zero, for `eventually`."""

    async def check() -> bool:
        return not await count()

    return check


def session_of(runtime: Runtime, person: Person) -> UUID:
    return runtime.tokens.verify(person.token).session_id


# ---------------------------------------------------------------------------------------------
# Transport: authentication and protocol errors close the socket with the protocol's codes


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="no-payload"),
        pytest.param({}, id="empty-payload"),
        pytest.param({"authorization": ""}, id="empty-header"),
        pytest.param({"authorization": "Bearer "}, id="bearer-without-token"),
        pytest.param({"Authorization": "Token abc"}, id="other-scheme"),
    ],
)
async def test_connection_init_without_a_token_closes_with_4403(
    pair: Pair, payload: dict[str, str] | None
) -> None:
    # given an open WebSocket
    async with ws_connect(pair.a) as client:
        # when connection_init carries no usable bearer token
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await client.send(message)
        # then the server closes with 4403 Forbidden, without an ack
        assert await client.close_code() == 4403


async def test_connection_init_with_a_bad_token_closes_with_4403(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given tokens that must not open a connection: garbage, a forged signature, an expired
    # token and the token of a session that has ended
    person = await world.person()
    header, claims, signature = person.token.split(".")
    forged = f"{header}.{claims}.{signature[:-4]}AAAA"
    expired = replace(runtime.tokens, ttl=timedelta(seconds=-60)).issue(
        person.user.id, session_of(runtime, person)
    )
    ended = await world.person()
    await post(pair.a, LOGOUT_EVERYWHERE, None, ended.token)
    for token in ("not-a-jwt", forged, expired, ended.token):
        async with ws_connect(pair.b) as client:
            # when it is sent in connection_init
            await client.send(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            )
            # then the connection closes with 4403
            assert await client.close_code() == 4403, token


async def test_no_connection_init_in_time_closes_with_4408(pair: Pair) -> None:
    # given server A, which waits one second for connection_init
    async with ws_connect(pair.a) as client:
        # when the client sends nothing
        # then the server closes the socket with 4408 (a ping does not count as init)
        await client.send({"type": "ping"})
        assert (await client.receive())["type"] == "pong"
        assert await client.close_code(within=5) == 4408


async def test_a_second_connection_init_closes_with_4429(pair: Pair, world: World) -> None:
    # given an initialised connection
    person = await world.person()
    async with ws_connect(pair.a, token=person.token) as client:
        # when connection_init is sent again
        await client.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {person.token}"}}
        )
        # then the server closes with 4429 Too many initialisation requests
        assert await client.close_code() == 4429


async def test_subscribe_before_connection_init_closes_with_4401(pair: Pair, world: World) -> None:
    # given a connection that was never initialised
    person = await world.person()
    account = await world.account(person)
    async with ws_connect(pair.b) as client:
        # when it subscribes
        await client.subscribe("1", account.id)
        # then the server closes with 4401 Unauthorized
        assert await client.close_code() == 4401


async def test_a_duplicate_subscription_id_closes_with_4409(pair: Pair, world: World) -> None:
    # given a live subscription with id "1"
    person = await world.person()
    account = await world.account(person, funds="5.00")
    async with ws_connect(pair.a, token=person.token) as client:
        await client.subscribe("1", account.id)
        assert (await client.event("1"))["kind"] == "SNAPSHOT"
        # when a second subscription uses the same id
        await client.subscribe("1", account.id)
        # then the server closes with 4409 Subscriber for 1 already exists
        assert await client.close_code() == 4409


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("this is not json", id="not-json"),
        pytest.param(b"\x00\x01binary", id="binary-frame"),
        pytest.param(json.dumps({"type": "bogus"}), id="unknown-type"),
        pytest.param(json.dumps({"id": "1"}), id="no-type"),
        pytest.param(json.dumps({"type": "subscribe", "id": "1"}), id="subscribe-no-payload"),
        pytest.param(
            json.dumps({"type": "subscribe", "id": "1", "payload": {"query": "subscription {"}}),
            id="unparsable-query",
        ),
    ],
)
async def test_a_malformed_message_closes_with_4400(
    pair: Pair, world: World, frame: str | bytes
) -> None:
    # given an initialised connection
    person = await world.person()
    async with ws_connect(pair.b, token=person.token) as client:
        # when the client sends a message that is not a graphql-transport-ws message
        await client.ws.send(frame)
        # then the server closes with 4400
        assert await client.close_code() == 4400


async def test_connection_init_with_a_non_object_payload_closes_with_4400(pair: Pair) -> None:
    # given an open WebSocket
    async with ws_connect(pair.b) as client:
        # when connection_init's payload is not an object
        await client.send({"type": "connection_init", "payload": "Bearer abc"})
        # then the server closes with 4400
        assert await client.close_code() == 4400


async def test_ping_is_answered_with_pong(pair: Pair, world: World) -> None:
    # given an initialised connection with a live subscription
    person = await world.person()
    account = await world.account(person)
    async with ws_connect(pair.a, token=person.token) as client:
        await client.subscribe("1", account.id)
        assert (await client.event("1"))["kind"] == "SNAPSHOT"
        # when the client pings, with and without a payload
        await client.send({"type": "ping"})
        first = await client.receive()
        await client.send({"type": "ping", "payload": {"at": 1}})
        second = await client.receive()
        # then each ping is answered with a pong, and the connection stays open
        assert first["type"] == "pong"
        assert second["type"] == "pong"
        await client.send({"type": "pong"})  # an unsolicited pong is allowed and ignored
        await client.send({"type": "ping"})
        assert (await client.receive())["type"] == "pong"


async def test_only_the_graphql_transport_ws_subprotocol_is_spoken(pair: Pair) -> None:
    # given a client that offers only the legacy subscriptions-transport-ws protocol
    # when it connects
    async with connect(
        pair.a.ws_url, subprotocols=[Subprotocol("graphql-ws")], open_timeout=10
    ) as ws:
        # then no subprotocol is agreed and the server closes the socket with 4406
        assert ws.subprotocol is None
        assert await Client(ws).close_code() == 4406


# ---------------------------------------------------------------------------------------------
# Transport: Origin and the subscription limit


async def test_a_foreign_origin_is_refused_at_the_handshake(pair: Pair) -> None:
    # given a browser page on another site
    # when it opens a WebSocket to the API
    # then the handshake is refused with HTTP 403
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(
            pair.a.ws_url,
            subprotocols=[PROTOCOL],
            origin=Origin("https://evil.example.net"),
            open_timeout=10,
        ):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(None, id="native-app"),
        pytest.param(ALLOWED_ORIGIN, id="allowed"),
        pytest.param("own", id="graphiql-in-development"),
    ],
)
async def test_no_origin_and_an_allowed_origin_are_accepted(
    pair: Pair, world: World, origin: str | None
) -> None:
    # given a native app (no Origin), a page on an allowed origin (BFF_ALLOWED_ORIGINS), or
    # GraphiQL served by the server itself in development
    if origin == "own":
        origin = pair.b.http_url
    person = await world.person()
    account = await world.account(person, funds="3.00")
    # when it connects, initialises and subscribes
    async with ws_connect(pair.b, origin=origin, token=person.token) as client:
        await client.subscribe("1", account.id)
        # then it is served
        event = await client.event("1")
        assert event["kind"] == "SNAPSHOT"
        assert event["balance"] == {"amount": "3.00", "currency": "USD"}


@pytest.mark.parametrize(
    ("server_name", "limit"),
    [("a", A_MAX_SUBSCRIPTIONS), ("b", DEFAULT_MAX_SUBSCRIPTIONS)],
)
async def test_subscriptions_beyond_the_limit_are_refused(
    pair: Pair, world: World, server_name: str, limit: int
) -> None:
    # given a connection with as many live subscriptions as BFF_WS_MAX_SUBSCRIPTIONS allows
    # (3 configured on A, the default 20 on B)
    server = pair.a if server_name == "a" else pair.b
    person = await world.person()
    account = await world.account(person, funds="1.00")
    async with ws_connect(server, token=person.token) as client:
        for n in range(limit):
            await client.subscribe(str(n), account.id)
        snapshots = [await client.receive() for _ in range(limit)]
        assert sorted(m["id"] for m in snapshots) == sorted(str(n) for n in range(limit))
        assert all(m["type"] == "next" for m in snapshots), snapshots
        # when one more subscribes
        await client.subscribe("one-too-many", account.id)
        # then that one is refused with an error message, and the connection stays open
        refusal = await client.receive()
        assert refusal["type"] == "error", refusal
        assert refusal["id"] == "one-too-many"
        assert refusal["payload"][0]["message"] == "Subscription limit reached"
        await client.send({"type": "ping"})
        assert (await client.receive())["type"] == "pong"
        # and once one subscription completes, a new one fits again
        await client.send({"id": "0", "type": "complete"})
        await client.subscribe("replacement", account.id)
        assert (await client.event("replacement"))["kind"] == "SNAPSHOT"


# ---------------------------------------------------------------------------------------------
# Subscriptions: snapshot, live events and who may subscribe


async def test_a_snapshot_comes_first_then_each_posted_transaction(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given a customer's funded account and someone to pay
    person = await world.person()
    account = await world.account(person, funds="100.00")
    payee = await world.account(await world.person())
    row = await account_row(runtime, account.id)
    async with ws_connect(pair.a, token=person.token) as client:
        # when the customer subscribes without afterSequence
        await client.subscribe("1", account.id)
        snapshot = await client.event()
        # then the first event is a snapshot of the balance and sequence as they are
        assert snapshot == {
            "accountId": account_gid(account.id),
            "sequence": str(row.last_sequence),
            "kind": "SNAPSHOT",
            "status": "ACTIVE",
            "balance": {"amount": "100.00", "currency": "USD"},
            "availableBalance": {"amount": "100.00", "currency": "USD"},
            "transaction": None,
        }
        # when a transfer out of the account commits
        transfer = await send(runtime, person, account, payee, cents("12.34"))
        posted = await client.event()
        # then it arrives as the next sequence, with the new balance and the transaction
        assert posted["kind"] == "TRANSACTION_POSTED"
        assert posted["sequence"] == str(row.last_sequence + 1)
        assert posted["balance"] == {"amount": "87.66", "currency": "USD"}
        assert posted["availableBalance"] == {"amount": "87.66", "currency": "USD"}
        transaction = posted["transaction"]
        assert transaction["sequence"] == posted["sequence"]
        assert transaction["direction"] == "DEBIT"
        assert transaction["amount"] == {"amount": "-12.34", "currency": "USD"}
        assert transaction["balanceAfter"] == {"amount": "87.66", "currency": "USD"}
        assert transaction["transfer"] == {"id": encode_id("Transfer", transfer.id)}
        # and money coming in arrives the same way
        await world.deposit(account, "0.34")
        credited = await client.event()
        assert credited["sequence"] == str(row.last_sequence + 2)
        assert credited["transaction"]["direction"] == "CREDIT"
        assert credited["balance"] == {"amount": "88.00", "currency": "USD"}


def without_request_ids(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with each error's request id taken out (every connection has its own)."""
    for message in messages:
        payload = message.get("payload")
        errors = payload if isinstance(payload, list) else (payload or {}).get("errors") or []
        for error in errors:
            assert error["extensions"].pop("requestId")
    return messages


async def test_another_users_account_is_indistinguishable_from_a_missing_one(
    pair: Pair, world: World
) -> None:
    # given a customer, and another customer's account
    person = await world.person()
    stranger = await world.person()
    theirs = await world.account(stranger, funds="50.00")
    answers = []
    for account_id in (theirs.id, uuid.uuid4()):
        async with ws_connect(pair.b, token=person.token) as client:
            # when the customer subscribes to it, or to an account that does not exist
            await client.subscribe("1", account_id)
            # then both fail with ACCOUNT_NOT_FOUND, and the operation is over
            messages = [await client.receive()]
            while messages[-1]["type"] == "next":
                messages.append(await client.receive())
            answers.append(messages)
    refused, missing = (without_request_ids(messages) for messages in answers)
    assert refused == missing, (refused, missing)
    errors = refused[0]["payload"].get("errors") or refused[0]["payload"]
    assert errors[0]["extensions"]["code"] == "ACCOUNT_NOT_FOUND", refused
    assert refused[0]["payload"].get("data") is None
    assert refused[-1]["type"] in ("complete", "error"), refused


async def test_support_may_subscribe_to_a_customers_account(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given a customer's account and a member of support
    customer = await world.person()
    account = await world.account(customer, funds="20.00")
    payee = await world.account(await world.person())
    support = await world.person(Role.SUPPORT)
    async with ws_connect(pair.a, token=support.token) as client:
        # when support subscribes to the customer's account
        await client.subscribe("1", account.id)
        # then support sees the snapshot and the customer's transactions
        snapshot = await client.event()
        assert snapshot["kind"] == "SNAPSHOT"
        assert snapshot["balance"]["amount"] == "20.00"
        await send(runtime, customer, account, payee, cents("5.00"))
        posted = await client.event()
        assert posted["kind"] == "TRANSACTION_POSTED"
        assert posted["balance"]["amount"] == "15.00"


async def test_resuming_after_a_sequence_ahead_of_the_account_is_invalid_input(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given an account at sequence s
    person = await world.person()
    account = await world.account(person, funds="1.00")
    row = await account_row(runtime, account.id)
    async with ws_connect(pair.b, token=person.token) as client:
        # when a client resumes after s + 1, or after something that is not a sequence
        await client.subscribe("1", account.id, after=row.last_sequence + 1)
        ahead = await client.error_code("1")
        await client.subscribe("2", account.id, after="-1")
        garbage = await client.error_code("2")
    # then it is told its input is invalid
    assert (ahead, garbage) == ("INVALID_INPUT", "INVALID_INPUT")


async def test_resuming_before_the_retention_window_tells_the_client_to_reload(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given an account with five events, whose two oldest were pruned (as retention does)
    person = await world.person()
    account = await world.account(person)
    for _ in range(5):
        await world.deposit(account, "1.00")
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            text("DELETE FROM account_events WHERE account_id = :a AND sequence <= 2"),
            {"a": account.id},
        )
    async with ws_connect(pair.a, token=person.token) as client:
        # when a client resumes from a point that was pruned
        await client.subscribe("1", account.id, after=1)
        # then it gets RESUME_TOO_OLD (reload, then subscribe without afterSequence)
        assert await client.error_code("1") == "RESUME_TOO_OLD"
        # and resuming from the oldest kept point replays what is kept
        await client.subscribe("2", account.id, after=2)
        assert seqs(await client.events_until(5, "2")) == [3, 4, 5]


async def test_ending_a_subscription_releases_the_servers_broker_subscription(
    pair: Pair, world: World, redis_url: str
) -> None:
    # given a client following an account on server A: A listens on the account's channel
    person = await world.person()
    account = await world.account(person)
    async with ws_connect(pair.a, token=person.token) as client:
        await client.subscribe("1", account.id)
        assert (await client.event("1"))["kind"] == "SNAPSHOT"
        assert await broker_subscribers(redis_url, account.id) == 1
        # when the client completes the subscription
        await client.send({"id": "1", "type": "complete"})
        # then the server stops listening on the channel
        await eventually(
            none_of(lambda: broker_subscribers(redis_url, account.id)), "unsubscribed", 5
        )
        # and when it subscribes again and then drops the connection, the same happens
        await client.subscribe("2", account.id)
        assert (await client.event("2"))["kind"] == "SNAPSHOT"
        assert await broker_subscribers(redis_url, account.id) == 1
    await eventually(none_of(lambda: broker_subscribers(redis_url, account.id)), "unsubscribed", 5)


# ---------------------------------------------------------------------------------------------
# Delivery across processes


async def test_a_transfer_through_one_server_reaches_a_subscriber_on_the_other(
    pair: Pair, world: World
) -> None:
    # given a subscriber connected to server B
    payer = await world.person()
    source = await world.account(payer, funds="40.00")
    payee = await world.person()
    destination = await world.account(payee)
    async with ws_connect(pair.b, token=payee.token) as client:
        await client.subscribe("1", destination.id)
        snapshot = await client.event()
        # when a transfer is made through server A's GraphQL endpoint
        transfer_id = await send_over_http(pair.a, payer, source, destination, cents("7.50"))
        # then it reaches the subscriber on server B
        posted = await client.event()
    assert posted["kind"] == "TRANSACTION_POSTED"
    assert int(posted["sequence"]) == int(snapshot["sequence"]) + 1
    assert posted["balance"]["amount"] == "7.50"
    assert posted["transaction"]["direction"] == "CREDIT"
    assert posted["transaction"]["transfer"]["id"] == transfer_id


async def test_a_client_that_resumes_during_500_concurrent_transfers_misses_nothing(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given an account with history, a counterparty, and a client that follows it from the start
    owner = await world.person()
    account = await world.account(owner, funds="1000.00")
    other_owner = await world.person()
    counterparty = await world.account(other_owner, funds="1000.00")
    start = (await account_row(runtime, account.id)).last_sequence
    total = 500
    final_sequence = start + total  # every transfer touches the account exactly once
    # and 500 small transfers, half out of the account and half into it, released in three
    # waves: 200 while the client listens, 200 while it is away, 100 while it resumes. (Each
    # wave stays below the server's per-subscriber queue of 256 broker messages.)
    rng = random.Random(4)
    disconnected, resuming = asyncio.Event(), asyncio.Event()
    done = 0

    async def transfer(n: int) -> Transfer:
        nonlocal done
        if n >= 400:
            await resuming.wait()
        elif n >= 200:
            await disconnected.wait()
        minor = rng.randint(1, 100)
        if n % 2:
            result = await send(runtime, other_owner, counterparty, account, minor)
        else:
            result = await send(runtime, owner, account, counterparty, minor)
        done += 1
        return result

    async def release_all() -> list[Transfer]:
        disconnected.set()
        resuming.set()
        return await asyncio.wait_for(work, 60)

    async with ws_connect(pair.a, token=owner.token) as first:
        await first.subscribe("1", account.id, after=0)
        received = await first.events_until(start)
        # when the transfers run, all at once
        work = asyncio.gather(*(transfer(n) for n in range(total)))
        try:
            # and the client drops its connection after some of them
            received += await first.events_until(start + 25)
        except BaseException:
            await release_all()
            raise
    try:
        disconnected.set()
        await eventually(checking(lambda: done == 400), "two waves committed", within=60)
        await eventually(lambda: all_published(runtime, account.id), "two waves relayed")
        # when it reconnects, to the other server, with the last sequence it received, while
        # the last wave commits
        last = int(received[-1]["sequence"])
        async with ws_connect(pair.b, token=owner.token) as second:
            await second.subscribe("1", account.id, after=last)
            resuming.set()
            received += await second.events_until(final_sequence, within=60)
            outcome = await asyncio.wait_for(work, 60)
            # and nothing follows the last event
            await second.send({"type": "ping"})
            assert (await second.receive())["type"] == "pong"
    finally:
        await release_all()

    # then it has every event exactly once, in order: 1..N with no gap and no duplicate
    assert len(outcome) == total
    assert seqs(received) == list(range(1, final_sequence + 1))
    # and each event's balance follows from the previous one and its transaction
    for before, after in itertools.pairwise(received):
        amount = cents(after["transaction"]["amount"]["amount"])
        assert cents(after["balance"]["amount"]) == cents(before["balance"]["amount"]) + amount
        assert after["transaction"]["balanceAfter"] == after["balance"]
    # and the last balance is the database's
    row = await account_row(runtime, account.id)
    assert row.last_sequence == final_sequence
    assert cents(received[-1]["balance"]["amount"]) == row.balance
    assert cents(received[-1]["availableBalance"]["amount"]) == row.available_balance


async def test_when_the_relaying_process_is_killed_another_takes_over_losing_nothing(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given two servers, one of which holds the relay's advisory lock
    servers = [pair.a, pair.b]
    holder = await eventually(lambda: relay_holder(runtime, servers), "a relay holds the lock")
    survivor = pair.other(holder)
    # and a subscriber on the other server, following an account
    owner = await world.person()
    account = await world.account(owner, funds="100.00")
    payee = await world.account(await world.person())
    start = (await account_row(runtime, account.id)).last_sequence
    async with ws_connect(survivor, token=owner.token) as client:
        await client.subscribe("1", account.id)
        assert int((await client.event())["sequence"]) == start
        await send(runtime, owner, account, payee, 100)
        received = await client.events_until(start + 1)

        # when transfers commit while the relaying process is killed with SIGKILL
        committed = 0

        async def pay() -> None:
            nonlocal committed
            await send(runtime, owner, account, payee, 1)
            committed += 1

        in_flight = asyncio.gather(*(pay() for _ in range(10)))
        await eventually(checking(lambda: committed >= 3), "some transfers committed")
        holder.kill()
        await asyncio.wait_for(in_flight, 30)
        # then the surviving process takes the lock over
        assert (
            await eventually(lambda: relay_holder(runtime, servers), "the survivor holds the lock")
            is survivor
        )
        # and transfers committed after the kill still reach the subscriber
        for _ in range(10):
            await send(runtime, owner, account, payee, 1)
        received += await client.events_until(start + 21)

    # and no event was lost or repeated, and every one was relayed (none left unpublished)
    assert seqs(received) == list(range(start + 1, start + 22))
    row = await account_row(runtime, account.id)
    assert cents(received[-1]["balance"]["amount"]) == row.balance
    await eventually(lambda: all_published(runtime, account.id), "every event relayed")


# ---------------------------------------------------------------------------------------------
# Rights are re-checked while the stream is open


@pytest.mark.parametrize("where", ["same-server", "other-server"])
async def test_logging_out_everywhere_ends_the_stream(pair: Pair, world: World, where: str) -> None:
    # given a customer following an account on server A
    person = await world.person()
    account = await world.account(person, funds="1.00")
    async with ws_connect(pair.a, token=person.token) as client:
        await client.subscribe("1", account.id)
        assert (await client.event())["kind"] == "SNAPSHOT"
        # when the customer logs out everywhere, through the same or the other server
        server = pair.a if where == "same-server" else pair.b
        ended = await post(server, LOGOUT_EVERYWHERE, None, person.token)
        assert ended["logoutEverywhere"]["sessionsEnded"] >= 1
        # then the stream ends within seconds with SESSION_ENDED
        assert await client.error_code(within=5) == "SESSION_ENDED"


async def test_revoking_the_session_from_another_device_ends_the_stream(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given a customer following an account from a phone on server B, and logged in on a laptop
    phone = await world.person()
    account = await world.account(phone, funds="1.00")
    laptop = await world.log_in(phone.user)
    async with ws_connect(pair.b, token=phone.token) as client:
        await client.subscribe("1", account.id)
        assert (await client.event())["kind"] == "SNAPSHOT"
        # when the laptop revokes the phone's session through server A
        sessions = (await post(pair.a, VIEWER_SESSIONS, None, laptop.token))["viewer"]["sessions"]
        phone_session = encode_id("Session", session_of(runtime, phone))
        assert phone_session in [s["id"] for s in sessions if not s["current"]], sessions
        revoked = await post(
            pair.a, REVOKE_SESSION, {"input": {"sessionId": phone_session}}, laptop.token
        )
        assert revoked["revokeSession"] == {"sessionsEnded": 1, "userErrors": []}
        # then the phone's stream ends within seconds with SESSION_ENDED
        assert await client.error_code(within=5) == "SESSION_ENDED"


async def test_losing_the_role_that_allowed_reading_ends_the_stream(
    pair: Pair, world: World
) -> None:
    # given a member of support (and customer) following another customer's account
    customer = await world.person()
    account = await world.account(customer, funds="1.00")
    support = await world.person(Role.CUSTOMER, Role.SUPPORT)
    admin = await world.person(Role.ADMIN)
    async with ws_connect(pair.a, token=support.token) as client:
        await client.subscribe("1", account.id)
        assert (await client.event())["kind"] == "SNAPSHOT"
        # when an admin takes the support role away
        variables = {"input": {"userId": encode_id("User", support.user.id), "role": "SUPPORT"}}
        payload = (await post(pair.a, REVOKE_ROLE, variables, admin.token))["revokeRole"]
        assert payload["userErrors"] == [], payload
        # then the stream of the account the user may no longer read ends within seconds
        # with ACCOUNT_NOT_FOUND, as if it had never been readable
        assert await client.error_code(within=5) == "ACCOUNT_NOT_FOUND"


async def test_an_expired_access_token_ends_the_stream(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given streams opened with access tokens that live a few seconds, several of them, each
    # expiring at its own moment (on uvloop a timer may fire up to a millisecond before the
    # loop's clock reaches it: each stream's expiry must end it wherever it falls)
    person = await world.person()
    account = await world.account(person, funds="1.00")
    short = replace(runtime.tokens, ttl=timedelta(seconds=6))
    session = session_of(runtime, person)

    async def follow_until_refused() -> str:
        token = short.issue(person.user.id, session)
        async with ws_connect(pair.b, token=token) as client:
            await client.subscribe("1", account.id)
            assert (await client.event())["kind"] == "SNAPSHOT"
            return await client.error_code(within=30)

    async def staggered(index: int) -> str:
        await asyncio.sleep(index * 0.0003)
        return await follow_until_refused()

    # when their tokens expire
    codes = await asyncio.gather(*(staggered(index) for index in range(8)))
    # then every stream ends with TOKEN_EXPIRED (re-authenticate, then resume)
    assert codes == ["TOKEN_EXPIRED"] * 8


# ---------------------------------------------------------------------------------------------
# Shutdown and slow clients


async def test_shutdown_closes_with_a_code_that_tells_clients_to_reconnect(
    pair: Pair, runtime: Runtime, world: World
) -> None:
    # given a client following an account on server B
    person = await world.person()
    account = await world.account(person, funds="10.00")
    async with ws_connect(pair.b, token=person.token) as client:
        await client.subscribe("1", account.id)
        last = int((await client.event())["sequence"])
        # when server B is stopped gracefully (SIGTERM)
        pair.b.send_signal(signal.SIGTERM)
        code = await client.close_code(within=15)
    # then the connection closes with 1012 "service restart", and the process exits cleanly
    print(f"close code on shutdown: {code}")
    assert code == 1012
    assert await pair.b.wait_exit() == 0
    # and the client resumes on the other server from its last sequence, missing nothing
    await world.deposit(account, "1.00")
    async with ws_connect(pair.a, token=person.token) as client:
        await client.subscribe("1", account.id, after=last)
        resumed = await client.events_until(last + 1)
    assert seqs(resumed) == [last + 1]
    assert resumed[0]["balance"]["amount"] == "11.00"


async def test_a_subscriber_that_falls_behind_is_cut_off_not_buffered(
    pair: Pair, runtime: Runtime, world: World, redis_url: str
) -> None:
    # given a subscriber that stops reading after its snapshot
    person = await world.person()
    account = await world.account(person)
    start = (await account_row(runtime, account.id)).last_sequence
    async with ws_connect(pair.a, token=person.token) as client:
        await client.subscribe("1", account.id)
        assert (await client.event())["kind"] == "SNAPSHOT"
        # when far more events are published to its channel than its queue holds (straight to
        # Redis, in the relay's format: no database writes needed)
        flood = 50_000
        publisher = redis.asyncio.Redis.from_url(redis_url)
        try:
            async with publisher.pipeline(transaction=False) as pipe:
                for n in range(1, flood + 1):
                    pipe.publish(f"account:{account.id}", fake_event(account.id, start + n))
                await pipe.execute()
        finally:
            await publisher.aclose()
        # then the server gives up on it: after what was already on its way, the stream ends
        # with SUBSCRIBER_TOO_SLOW (resume from the database), long before the flood is through
        delivered = 0
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, f"still receiving after {delivered} events"
            message = await client.receive()
            if message["type"] != "next" or "errors" in message["payload"]:
                break
            delivered += 1
        assert message["type"] == "next", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "SUBSCRIBER_TOO_SLOW"
        assert await client.receive() == {"id": "1", "type": "complete"}
        # and the connection itself stays usable, while the server has let go of the channel
        await client.send({"type": "ping"})
        assert (await client.receive())["type"] == "pong"
        await eventually(
            none_of(lambda: broker_subscribers(redis_url, account.id)), "unsubscribed", 5
        )
    assert delivered < flood


def fake_event(account_id: UUID, sequence: int) -> bytes:
    """A broker message exactly as the relay would publish it, for a status change."""
    return encode(
        AccountEvent(
            account_id=account_id,
            sequence=sequence,
            kind=EventKind.STATUS_CHANGED,
            balance=0,
            available_balance=0,
            status=AccountStatus.ACTIVE,
            currency="USD",
        )
    )
