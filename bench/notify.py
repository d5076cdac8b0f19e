"""Customer events to push: events per second through the outbox, the broker (RabbitMQ when
reachable, else PostgreSQL alone) and the worker to a local Expo stand-in, and commit-to-push
latency at a steady transfer rate (goal: p99 under 500 ms).

Run with `BENCH_ONLY=notify make bench`. Everything runs in this process on one event loop (the
server's domain calls, the dispatcher, the worker and the push service), so the figures are a
floor for one process doing all of it."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika

from bench.database import Postgres
from bff.config import Settings
from bff.db import migrate
from bff.domain import accounts, notifications, transfers, users
from bff.domain.actor import Actor
from bff.domain.models import Account
from bff.domain.notification_models import Platform
from bff.domain.rbac import Role
from bff.notify.amqp import Names
from bff.runtime import Runtime, build_runtime
from tests.fake_expo import FakeExpo

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
BACKLOG = int(os.environ.get("BENCH_NOTIFY_BACKLOG", "2000"))
RATE = float(os.environ.get("BENCH_NOTIFY_RATE", "25"))
RECEIVERS = int(os.environ.get("BENCH_NOTIFY_RECEIVERS", "100"))
P99_GOAL_MS = 500.0
PASSWORD = "benchmark password 1"


@dataclass
class Receiver:
    account: Account
    token: str


async def _person(runtime: Runtime, *roles: Role) -> Actor:
    email = f"n-{uuid.uuid4().hex[:12]}@bench.example.com"
    user = await users.provision_user(
        runtime.unit_of_work(),
        users.SignUp(email, PASSWORD, "Bench"),
        frozenset(roles or (Role.CUSTOMER,)),
    )
    settings = runtime.settings
    logged_in = await users.log_in(
        runtime.unit_of_work(),
        users.LogIn(email, PASSWORD, "bench", "127.0.0.1"),
        settings.session_policy,
        settings.throttle_policy,
    )
    return Actor(user.id, user.roles, logged_in.session.id)


async def _population(runtime: Runtime) -> tuple[Actor, Account, list[Receiver]]:
    operator = await _person(runtime, Role.OPERATOR)
    sender = await _person(runtime)
    source = await accounts.open_account(runtime.unit_of_work(), sender, "Payroll", "USD")
    await transfers.deposit_funds(
        runtime.unit_of_work(),
        operator,
        transfers.DepositRequest(uuid.uuid4().hex, source.id, "10000000.00", "USD"),
        runtime.settings.idempotency_ttl_s,
    )
    receivers = []
    for _ in range(RECEIVERS):  # one at a time: argon2 and the pool stay bounded
        actor = await _person(runtime)
        account = await accounts.open_account(runtime.unit_of_work(), actor, "Main", "USD")
        token = f"ExponentPushToken[{uuid.uuid4().hex}]"
        await notifications.register_push_device(
            runtime.unit_of_work(), actor, token, Platform.EXPO
        )
        receivers.append(Receiver(account, token))
    return sender, source, receivers


async def _pay(runtime: Runtime, sender: Actor, source: Account, receiver: Receiver) -> None:
    request = transfers.TransferRequest(
        idempotency_key=uuid.uuid4().hex,
        from_account_id=source.id,
        to_account_id=receiver.account.id,
        amount="1.00",
        currency="USD",
    )
    await transfers.create_transfer(
        runtime.unit_of_work(), sender, request, runtime.settings.idempotency_ttl_s
    )


async def _drained(runtime: Runtime) -> None:
    """Until no customer event waits (the sign-ins of the set-up included)."""
    while True:
        async with runtime.database.customer_events() as store:
            if not await store.claim_due(1):
                return
        await asyncio.sleep(0.05)


async def _broker_reachable() -> bool:
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=2)
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError):
        return False
    await connection.close()
    return True


async def _measure(settings: Settings, url: str, label: str) -> bool:
    expo = FakeExpo()
    async with expo.serving():
        runtime = build_runtime(
            settings.model_copy(
                update={"push_expo_url": expo.send_url, "push_expo_receipts_url": expo.receipts_url}
            ),
            url,
        )
        try:
            sender, source, receivers = await _population(runtime)
            runtime.notifications.start_for_server()
            await _drained(runtime)
            await asyncio.sleep(0.5)
            # Throughput: a backlog committed while the workers are busy with nothing else.
            arrivals: dict[str, float] = {}
            all_pushed = asyncio.Event()
            target = BACKLOG

            def accepted(message: dict[str, Any]) -> None:
                arrivals.setdefault(message["to"], time.perf_counter())
                if len(expo.accepted) >= target:
                    all_pushed.set()

            expo.on_accept = accepted
            expo.accepted.clear()
            started = time.perf_counter()
            for index in range(BACKLOG):
                await _pay(runtime, sender, source, receivers[index % len(receivers)])
            await all_pushed.wait()
            elapsed = time.perf_counter() - started
            # Latency: a steady rate, each transfer to its own receiver, commit to arrival.
            expo.accepted.clear()
            arrivals.clear()
            all_pushed.clear()
            target = len(receivers)
            committed: dict[str, float] = {}
            interval = 1.0 / RATE
            for receiver in receivers:
                tick = time.perf_counter()
                await _pay(runtime, sender, source, receiver)
                committed[receiver.token] = time.perf_counter()
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - tick)))
            await all_pushed.wait()
        finally:
            await runtime.close()
    latencies = sorted((arrivals[token] - committed[token]) * 1000 for token in committed)
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    # Each transfer is two customer events (sent, received) and one push.
    print(
        f"  {label:<28} {2 * BACKLOG / elapsed:8.0f} events/s "
        f"({BACKLOG / elapsed:.0f} pushes/s, {BACKLOG} transfers in {elapsed:.1f} s); "
        f"commit-to-push at {RATE:.0f} transfers/s: p50 {p50:.0f} ms, p99 {p99:.0f} ms "
        f"(goal < {P99_GOAL_MS:.0f}) {'PASS' if p99 < P99_GOAL_MS else 'MISS'}"
    )
    return p99 < P99_GOAL_MS


def run(postgres: Postgres) -> bool:
    """Both transports, side by side in one run."""
    print("\nnotifications: outbox -> transport -> worker -> push service (one process)")
    passed = True
    modes: list[tuple[str, dict[str, str]]] = [("PostgreSQL only (no broker)", {})]
    if asyncio.run(_broker_reachable()):
        modes.append(
            (
                "RabbitMQ",
                {"amqp_url": AMQP_URL, "amqp_prefix": f"bench-{uuid.uuid4().hex[:8]}"},
            )
        )
    else:
        print(f"  RabbitMQ not reachable at {AMQP_URL}: measured without it only")
    for label, update in modes:
        url = asyncio.run(postgres.create_database("bench_notify"))
        migrate.upgrade(url)
        settings = Settings(
            database_url=url, inline_worker=True, rate_limits_enabled=False
        ).model_copy(update=update)
        passed = asyncio.run(_measure(settings, url, label)) and passed
        if "amqp_prefix" in update:
            asyncio.run(_delete_queues(Names(str(update["amqp_prefix"])), settings))
    return passed


async def _delete_queues(names: Names, settings: Settings) -> None:
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        for delay_s in set(settings.retry_policy.delays_s):
            await channel.queue_delete(names.retry(delay_s))
        await channel.queue_delete(names.queue)
        await channel.queue_delete(names.dead)
        await channel.exchange_delete(names.exchange)
