"""Customer events through RabbitMQ (the machine's broker, under names of the test's own):
the dispatcher publishes them with confirms, the worker pushes once per device, a message that
cannot be handled lands in the dead letters after its attempts and can be put back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import text

from bff.config import Settings
from bff.notify.amqp import Names, dead_letters, declare
from bff.runtime import Runtime
from tests.conftest import World, asgi_client, runtime_on
from tests.fake_expo import FakeExpo
from tests.rabbitmq_server import RabbitNode, rabbitmq_executable
from tests.tcp_proxy import TcpProxy
from tests.test_notifications import Bank, eventually

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


async def _broker_reachable() -> bool:
    try:
        connection = await aio_pika.connect(AMQP_URL, timeout=2)
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError):
        return False
    await connection.close()
    return True


@pytest.fixture
async def names() -> AsyncIterator[Names]:
    async with own_names() as names:
        yield names


@asynccontextmanager
async def own_names() -> AsyncIterator[Names]:
    """Exchange and queue names of the test's own on the machine's broker, deleted afterwards
    (a skip without a broker, a failure in CI)."""
    if not await _broker_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but RabbitMQ is not reachable at {AMQP_URL}")
        pytest.skip("RabbitMQ is not reachable")
    names = Names(f"test-{uuid.uuid4().hex[:10]}")
    yield names
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel()
        for queue in (names.queue, names.dead, names.retry(0.2)):
            await channel.queue_delete(queue)
        await channel.exchange_delete(names.exchange)


@pytest.fixture
async def bank(settings: Settings, names: Names) -> AsyncIterator[Bank]:
    expo = FakeExpo()
    async with (
        expo.serving(),
        runtime_on(
            settings,
            None,
            amqp_url=AMQP_URL,
            amqp_prefix=names.prefix,
            inline_worker=True,
            push_expo_url=expo.send_url,
            push_expo_receipts_url=expo.receipts_url,
            worker_retry_delays_s="0.2",
            worker_max_attempts=3,
        ) as runtime,
        asgi_client(runtime) as client,
    ):
        runtime.notifications.start_for_server()
        yield Bank(runtime, client, World(runtime), expo)


async def test_a_transfer_reaches_the_receivers_device_once_through_rabbitmq(bank: Bank) -> None:
    # Given a registered receiver
    sender, source, receiver, destination, token = await bank.payer_and_payee("50.00")

    # When money is sent, and later the receiver signs in elsewhere
    await bank.send(sender, source, destination, "7.25")
    await eventually(
        lambda: _now(bool(bank.expo.to(token, "Money received"))), "the push via RabbitMQ"
    )
    await bank.world.log_in(receiver.user)
    await eventually(lambda: _now(bool(bank.expo.to(token, "New sign-in"))), "a later push")

    # Then the money was pushed once, and both feeds have it
    (message,) = bank.expo.to(token, "Money received")
    assert "$7.25" in message["body"]
    assert any(e["kind"] == "MONEY_RECEIVED" for e in await bank.activity(receiver))
    assert any(e["kind"] == "MONEY_SENT" for e in await bank.activity(sender))


async def test_a_poison_message_is_dead_lettered_after_its_attempts_and_can_be_retried(
    bank: Bank, names: Names
) -> None:
    # Given a message on the exchange that is no customer event
    settings = bank.runtime.settings
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        topology = await declare(channel, names, settings.retry_policy)
        await topology.exchange.publish(
            aio_pika.Message(b"{not json", message_id="poison"), routing_key="money_received"
        )

    # When the worker has tried it as often as allowed
    async def buried() -> bool:
        letters = await dead_letters(AMQP_URL, names, settings.retry_policy, retry=False)
        return [letter.message_id for letter in letters] == ["poison"]

    await eventually(buried, "the poison message dead-lettered")

    # Then the dead letter says how often it was tried and why, and listing it kept it there
    (letter,) = await dead_letters(AMQP_URL, names, settings.retry_policy, retry=False)
    assert letter.attempts == settings.worker_max_attempts
    assert "undecodable" in letter.error
    # ... and an operator's retry puts it back in the work queue, from where it dies again
    (retried,) = await dead_letters(AMQP_URL, names, settings.retry_policy, retry=True)
    assert retried.message_id == "poison"
    await eventually(buried, "the retried poison message dead-lettered again")


async def _now(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def test_events_committed_while_the_broker_is_unreachable_go_out_once_it_is_back(
    settings: Settings, names: Names
) -> None:
    # Given the dispatcher and the worker reach RabbitMQ through a link the test can cut
    expo = FakeExpo()
    async with (
        expo.serving(),
        TcpProxy(5672).running() as link,
        runtime_on(
            settings,
            None,
            amqp_url=f"amqp://guest:guest@127.0.0.1:{link.port}/",
            amqp_prefix=names.prefix,
            inline_worker=True,
            push_expo_url=expo.send_url,
            push_expo_receipts_url=expo.receipts_url,
            worker_retry_delays_s="0.2",
        ) as runtime,
        asgi_client(runtime) as client,
    ):
        runtime.notifications.start_for_server()
        bank = Bank(runtime, client, World(runtime), expo)
        sender, source, receiver, destination, token = await bank.payer_and_payee("50.00")

        # When the broker becomes unreachable and three transfers commit meanwhile
        await link.cut()
        for amount in ("1.00", "2.00", "3.00"):
            await bank.send(sender, source, destination, amount)
        assert bank.expo.to(token, "Money received") == []

        # Then, once it is reachable again, each is pushed, once
        await link.restore()

        async def all_three() -> bool:
            return len(bank.expo.to(token, "Money received")) >= 3

        await eventually(all_three, "the three pushes after the outage")
        await bank.world.log_in(receiver.user)
        await eventually(lambda: _now(bool(bank.expo.to(token, "New sign-in"))), "a later push")
        bodies = sorted(message["body"] for message in bank.expo.to(token, "Money received"))
        assert [body.split(" ")[0] for body in bodies] == ["US$1.00", "US$2.00", "US$3.00"]


async def test_a_worker_killed_mid_batch_loses_nothing_and_its_successor_finishes(
    settings: Settings, names: Names, tmp_path: Path
) -> None:
    # Given a dispatcher in this process, a `bff worker` process, and a slow push service
    expo = FakeExpo(delay_s=0.3)
    async with (
        expo.serving(),
        runtime_on(
            settings,
            None,
            amqp_url=AMQP_URL,
            amqp_prefix=names.prefix,
            inline_worker=False,
        ) as runtime,
        asgi_client(runtime) as client,
    ):
        runtime.notifications.start_for_server()
        bank = Bank(runtime, client, World(runtime), expo)
        sender, source, receiver, destination, token = await bank.payer_and_payee("100.00")
        worker = _worker(settings, names, expo, tmp_path)
        try:
            # When 30 transfers arrive and the worker is killed (SIGKILL) mid-way
            for _ in range(30):
                await bank.send(sender, source, destination, "1.00")
            await eventually(
                lambda: _now(bool(bank.expo.to(token, "Money received"))), "a first push"
            )
            worker.kill()
            worker.wait(5)
            in_flight = {m["data"]["eventId"] for m in bank.expo.to(token, "Money received")}
            worker = _worker(settings, names, expo, tmp_path)

            # Then the successor pushes every transfer: nothing was lost
            async def every_transfer() -> bool:
                pushed = {m["data"]["eventId"] for m in bank.expo.to(token, "Money received")}
                return len(pushed) == 30

            await eventually(every_transfer, "all 30 transfers pushed")
        finally:
            worker.kill()
            worker.wait(5)
        # ... each is in the feed once, and a push was repeated only if it was in flight
        entries = [e for e in await bank.activity(receiver) if e["kind"] == "MONEY_RECEIVED"]
        assert len(entries) == 30
        pushed = [m["data"]["eventId"] for m in bank.expo.to(token, "Money received")]
        repeated = {event for event in pushed if pushed.count(event) > 1}
        assert repeated <= in_flight, "only pushes in flight at the kill may be sent again"
        assert all(pushed.count(event) <= 2 for event in repeated)


def _worker(
    settings: Settings, names: Names, expo: FakeExpo, log_dir: Path
) -> subprocess.Popen[bytes]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("BFF_", "AMQP"))
    }
    environment.update(
        {
            "DATABASE_URL": settings.database_url or "",
            "BFF_DATA_DIR": str(settings.data_dir),
            "AMQP_URL": AMQP_URL,
            "BFF_AMQP_PREFIX": names.prefix,
            "BFF_PUSH_EXPO_URL": expo.send_url,
            "BFF_PUSH_EXPO_RECEIPTS_URL": expo.receipts_url,
            "BFF_WORKER_RETRY_DELAYS_S": "0.2",
            "BFF_DB_POOL_SIZE": "2",
        }
    )
    bff = Path(sys.executable).with_name("bff")
    with (log_dir / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [str(bff), "worker"],
            env=environment,
            cwd=log_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_events_survive_a_broker_restart_and_an_outage_of_it(settings: Settings) -> None:
    # Given a broker of the test's own, a dispatcher, and no worker yet
    if rabbitmq_executable() is None and os.environ.get("CI") != "true":
        pytest.skip("rabbitmq-server is not installed")
    node = RabbitNode()
    await asyncio.to_thread(node.start)
    expo = FakeExpo()
    try:
        async with (
            expo.serving(),
            runtime_on(
                settings,
                None,
                amqp_url=node.url,
                inline_worker=False,
                push_expo_url=expo.send_url,
                push_expo_receipts_url=expo.receipts_url,
            ) as runtime,
            asgi_client(runtime) as client,
        ):
            runtime.notifications.start_for_server()
            bank = Bank(runtime, client, World(runtime), expo)
            sender, source, receiver, destination, token = await bank.payer_and_payee("100.00")
            for amount in ("1.00", "2.00", "3.00"):
                await bank.send(sender, source, destination, amount)
            await eventually(
                lambda: _undispatched(runtime, receiver.user.id, 0), "three events on the broker"
            )

            # When the broker stops, two more transfers commit, and the broker starts again
            await asyncio.to_thread(node.stop)
            for amount in ("4.00", "5.00"):
                await bank.send(sender, source, destination, amount)
            assert await _undispatched(runtime, receiver.user.id, 2)
            await asyncio.to_thread(node.start)
            worker = asyncio.create_task(runtime.notifications.worker())
            try:
                # Then all five are pushed, each once: three kept by the broker across its
                # restart, two kept by the outbox until it was back
                async def all_five() -> bool:
                    return len(bank.expo.to(token, "Money received")) >= 5

                await eventually(all_five, "five pushes")
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
            amounts = sorted(m["body"].split(" ")[0] for m in bank.expo.to(token, "Money received"))
            assert amounts == ["US$1.00", "US$2.00", "US$3.00", "US$4.00", "US$5.00"]
    finally:
        await asyncio.to_thread(node.remove)


async def _undispatched(runtime: Runtime, user_id: uuid.UUID, expected: int) -> bool:
    """Whether `expected` money events of the user wait in the outbox."""
    async with runtime.database.engine.connect() as connection:
        count = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM customer_events"
                    " WHERE user_id = :u AND kind = 'money_received' AND dispatched_at IS NULL"
                ),
                {"u": user_id},
            )
        ).scalar_one()
    return int(count) == expected
