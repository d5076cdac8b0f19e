"""Restarting PostgreSQL under a transfer workload loses no money and tells every client the
truth: each answer is a success, a typed business error, or 503 SERVICE_UNAVAILABLE (with
Retry-After) after which the client's retry with the same idempotency key settles it.

Real processes throughout: two `bff serve` servers, a PostgreSQL cluster of the test's own that
the test restarts with `pg_ctl restart -m fast` and then `-m immediate`, the suite's Redis.
Run alone with `-s` to see the figures (errors by class, seconds until the first success after
each restart).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from bff.config import Settings
from bff.db import migrate
from bff.domain.models import Account
from bff.runtime import build_runtime
from schema.ids import encode_id
from tests.conftest import Person, World
from tests.database import require_redis
from tests.postgres_cluster import PostgresCluster, own_cluster
from tests.servers import Server, ServerSet
from tests.services import suite_redis_url

CUSTOMERS = 6
CLIENTS_PER_CUSTOMER = 2
OPENING_BALANCE = "20.00"
MEMO = "restart test"
WARM_UP_S = 2.0
# After each restart, the load goes on until the service has been back this long.
AFTER_RECOVERY_S = 2.0
RESTART_BOUND_S = 30.0  # the service must be back within this after a restart (generous)
CLIENT_ATTEMPTS = 60  # a client retries one transfer at most this often...
CLIENT_PAUSE_S = (0.1, 0.3)  # ...pausing this long between attempts (less than Retry-After)
REQUEST_TIMEOUT_S = 15.0
TEST_BOUND_S = 120.0

CREATE_TRANSFER = """
mutation Send($input: CreateTransferInput!) {
  createTransfer(input: $input) {
    transfer { id amount { amount currency } fromAccount { id } toAccount { id } }
    userErrors { code field message }
  }
}
"""


@dataclass
class Attempt:
    sent_at: float
    answered_at: float
    outcome: str  # "success", "user error CODE", "503 SERVICE_UNAVAILABLE", "connection error X"


@dataclass
class Workload:
    servers: list[Server]
    customers: list[tuple[Person, Account]]
    attempts: list[Attempt] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # idempotency key -> (variables, the createTransfer payload the client was given)
    acknowledged: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    unsettled: int = 0  # transfers whose client gave up retrying (none expected)
    running: bool = True

    def first_success_after(self, moment: float) -> float | None:
        """Seconds from `moment` until a request sent after it was answered with a success."""
        answered = [
            a.answered_at for a in self.attempts if a.outcome == "success" and a.sent_at >= moment
        ]
        return min(answered) - moment if answered else None

    def outcomes_between(self, start: float, end: float) -> Counter[str]:
        """The answers that came between `start` and `end` (some were sent before)."""
        return Counter(a.outcome for a in self.attempts if start <= a.answered_at < end)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with own_cluster() as cluster:
        migrate.upgrade(cluster.url)
        yield cluster


@pytest.fixture
async def workload(cluster: PostgresCluster, tmp_path: Path) -> AsyncIterator[Workload]:
    redis_url = suite_redis_url(14)
    await require_redis(redis_url)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    # given customers with money, made through the domain (this also writes the key ring that
    # the servers read from the same data directory)
    data_dir = tmp_path / "data"
    runtime = build_runtime(Settings(database_url=cluster.url, data_dir=data_dir), cluster.url)
    world = World(runtime)
    customers = []
    for _ in range(CUSTOMERS):
        person = await world.person()
        customers.append((person, await world.account(person, funds=OPENING_BALANCE)))
    await runtime.close()
    server_set = ServerSet(
        database_url=cluster.url, redis_url=redis_url, data_dir=data_dir, log_dir=tmp_path
    )
    env = {
        "BFF_DB_CONNECT_TIMEOUT_S": "1",
        "BFF_DB_COMMAND_TIMEOUT_S": "5",
        "BFF_RATE_LIMIT_MONEY": "1000000",
    }
    try:
        servers = await server_set.start_many("pg-restart-a", "pg-restart-b", env=env)
        yield Workload(servers, customers)
    finally:
        await server_set.stop_all()


async def client(workload: Workload, http: httpx.AsyncClient, index: int) -> None:
    """One app: sends transfers from its customer's account, one at a time, each retried with
    its idempotency key on SERVICE_UNAVAILABLE or a connection error, across both servers."""
    rng = random.Random(index)
    person, source = workload.customers[index % len(workload.customers)]
    others = [account for p, account in workload.customers if p is not person]
    servers = itertools.cycle(workload.servers)
    while workload.running:
        target = rng.choice(others)
        cents = rng.randint(1, 500)
        variables: dict[str, Any] = {
            "input": {
                "idempotencyKey": str(uuid.uuid4()),
                "fromAccountId": encode_id("Account", source.id),
                "toAccountId": encode_id("Account", target.id),
                "amount": {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD"},
                "memo": MEMO,
            }
        }
        for _ in range(CLIENT_ATTEMPTS):
            payload = await attempt(workload, http, next(servers), person, variables)
            if payload is not None:
                workload.acknowledged[variables["input"]["idempotencyKey"]] = (variables, payload)
                break
            await asyncio.sleep(rng.uniform(*CLIENT_PAUSE_S))
        else:
            workload.unsettled += 1


async def attempt(
    workload: Workload,
    http: httpx.AsyncClient,
    server: Server,
    person: Person,
    variables: dict[str, Any],
) -> dict[str, Any] | None:
    """One request; the payload when it settled the transfer, None when it must be retried."""
    sent_at = time.monotonic()
    try:
        response = await http.post(
            server.graphql_url,
            json={"query": CREATE_TRANSFER, "variables": variables},
            headers=person.headers,
        )
    except httpx.TransportError as error:
        failure = f"connection error {type(error).__name__}"
        workload.attempts.append(Attempt(sent_at, time.monotonic(), failure))
        return None
    outcome, payload = classify(response)
    if outcome is None:
        workload.unexpected.append(f"{response.status_code} {response.text[:300]}")
        return None
    workload.attempts.append(Attempt(sent_at, time.monotonic(), outcome))
    return payload


def classify(response: httpx.Response) -> tuple[str | None, dict[str, Any] | None]:
    """What an answer was, or None for anything but a success, a typed business error or a
    well-formed outage."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    errors = body.get("errors") or []
    if response.status_code == 503:
        # Data may come with it: a transfer that committed before the database went away,
        # which the retry with its key replays.
        well_formed = (
            bool(errors)
            and int(response.headers.get("retry-after", "0")) >= 1
            and all(
                error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
                and error["extensions"]["requestId"] == response.headers["x-request-id"]
                for error in errors
            )
        )
        return ("503 SERVICE_UNAVAILABLE" if well_formed else None), None
    payload = (body.get("data") or {}).get("createTransfer")
    if response.status_code != 200 or errors or payload is None:
        return None, None
    if payload["userErrors"]:
        return f"user error {payload['userErrors'][0]['code']}", payload
    return ("success" if payload["transfer"] else None), payload


async def run_through(
    workload: Workload, cluster: PostgresCluster, modes: list[str]
) -> list[dict[str, Any]]:
    """Run the workload, restart PostgreSQL once per mode, and return the figures per restart."""
    figures: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
        clients = [
            asyncio.create_task(client(workload, http, index))
            for index in range(CUSTOMERS * CLIENTS_PER_CUSTOMER)
        ]
        try:
            await asyncio.sleep(WARM_UP_S)
            for mode in modes:
                restarted_at = time.monotonic()
                await cluster.restart_async(mode)
                pg_ctl_s = time.monotonic() - restarted_at
                back_after = None
                while back_after is None and time.monotonic() - restarted_at < RESTART_BOUND_S:
                    await asyncio.sleep(0.05)
                    back_after = workload.first_success_after(restarted_at)
                await asyncio.sleep(AFTER_RECOVERY_S)
                figures.append(
                    {
                        "mode": mode,
                        "pg_ctl restart s": round(pg_ctl_s, 2),
                        "first success after s": back_after and round(back_after, 2),
                        "outcomes": dict(workload.outcomes_between(restarted_at, time.monotonic())),
                    }
                )
        finally:
            workload.running = False
            await asyncio.gather(*clients)
    return figures


async def test_restarting_postgres_under_transfers_keeps_every_invariant(
    workload: Workload, cluster: PostgresCluster
) -> None:
    # given the money in the system before the workload
    before = await ledger_totals(cluster)
    # when clients send transfers while PostgreSQL restarts, fast then immediate
    async with asyncio.timeout(TEST_BOUND_S):
        figures = await run_through(workload, cluster, ["fast", "immediate"])
    for restart in figures:
        print(f"\nPostgreSQL restart -m {restart.pop('mode')}: {restart}")
    print("all attempts:", dict(Counter(a.outcome for a in workload.attempts)))
    # then every answer was a success, a typed business error or a well-formed outage
    assert not workload.unexpected, workload.unexpected[:5]
    # and the service came back by itself after each restart, and every transfer settled
    assert all(restart["first success after s"] is not None for restart in figures), figures
    assert workload.unsettled == 0
    assert workload.acknowledged
    # and the ledger holds: money is conserved, nobody is overdrawn, balances are their entries
    after = await ledger_totals(cluster)
    assert after["total"] == before["total"]
    assert after["overdrawn"] == 0
    assert after["balances not their entries"] == 0
    # and each acknowledged transfer exists exactly once, under its key
    await assert_each_transfer_once(cluster, workload)
    # and replaying an acknowledged key returns what the client was told the first time
    await assert_replays_identical(workload)


async def ledger_totals(cluster: PostgresCluster) -> dict[str, int]:
    connection = await asyncpg.connect(cluster.url)
    try:
        total = await connection.fetchval("SELECT coalesce(sum(balance), 0) FROM accounts")
        overdrawn = await connection.fetchval(
            "SELECT count(*) FROM accounts WHERE kind = 'customer' AND balance < -overdraft_limit"
        )
        mismatched = await connection.fetchval("""
            SELECT count(*) FROM accounts a
             WHERE a.balance <> (SELECT coalesce(sum(e.amount), 0)
                                   FROM ledger_entries e WHERE e.account_id = a.id)
        """)
    finally:
        await connection.close()
    return {"total": total, "overdrawn": overdrawn, "balances not their entries": mismatched}


async def assert_each_transfer_once(cluster: PostgresCluster, workload: Workload) -> None:
    connection = await asyncpg.connect(cluster.url)
    try:
        # Memos are sealed at rest: the workload's transfers are those its customers sent.
        written = await connection.fetch(
            "SELECT t.id::text FROM transfers t JOIN accounts a ON a.id = t.from_account_id"
            " WHERE t.kind = 'transfer' AND a.owner_id = ANY($1::uuid[])",
            [person.user.id for person, _ in workload.customers],
        )
        keyed = await connection.fetch(
            "SELECT key, result->>'transfer_id' AS transfer_id FROM idempotency_keys"
            " WHERE result ? 'transfer_id' AND actor_id = ANY($1::uuid[])",
            [person.user.id for person, _ in workload.customers],
        )
    finally:
        await connection.close()
    by_key = {row["key"]: row["transfer_id"] for row in keyed}
    # no transfer without the one key it was written under
    assert sorted(row["id"] for row in written) == sorted(by_key.values())
    for key, (_, payload) in workload.acknowledged.items():
        if payload["transfer"] is not None:
            transfer_id = payload["transfer"]["id"]
            assert encode_id("Transfer", uuid.UUID(by_key[key])) == transfer_id


async def assert_replays_identical(workload: Workload) -> None:
    people = {account.id: person for person, account in workload.customers}
    server = workload.servers[0]
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
        for variables, payload in workload.acknowledged.values():
            source = next(
                account.id
                for _, account in workload.customers
                if encode_id("Account", account.id) == variables["input"]["fromAccountId"]
            )
            response = await http.post(
                server.graphql_url,
                json={"query": CREATE_TRANSFER, "variables": variables},
                headers=people[source].headers,
            )
            assert response.json()["data"]["createTransfer"] == payload
