"""The dataloaders read through the cache: warm reads cost no SQL, writes are seen at once,
authorization applies to cached rows, and a stampede costs one load."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from bff.broker.memory import MemoryBroker
from bff.cache import Versioned, decode_entry
from bff.cache.codec import Codec
from bff.cache.memory import MemoryStore
from bff.cache.read_through import Found, ReadThrough
from bff.cache.redis import EPOCH_KEY
from bff.config import Settings
from bff.db.engine import plain_postgres_url
from bff.db.outbox import OutboxSession
from bff.domain import transfers
from bff.domain.models import Account
from bff.relay import OutboxRelay
from bff.runtime import Runtime, build_runtime
from schema.ids import encode_id
from tests.conftest import Person, StatementCounter, World, asgi_client, graphql, runtime_on
from tests.documents import ACCOUNT_BALANCE, ACCOUNT_NAME, HOME_ONE_BATCH_PER_KIND
from tests.services import suite_redis_url

RAW: Codec[bytes] = Codec(lambda value: value, lambda payload: payload)


@pytest.fixture(params=["memory", "redis", "memory+responses", "redis+responses"])
async def cached(request: pytest.FixtureRequest, settings: Settings) -> AsyncIterator[Runtime]:
    redis_url = suite_redis_url(11) if request.param.startswith("redis") else None
    responses = request.param.endswith("responses")
    async with runtime_on(settings, redis_url, response_cache_enabled=responses) as runtime:
        yield runtime


@pytest.fixture
async def cached_client(cached: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(cached) as http:
        yield http


async def move_every_process_on() -> None:
    """What the first process to reach Redis after losing a fence does: a new key namespace."""
    redis = Redis.from_url(suite_redis_url(11))
    await redis.incr(EPOCH_KEY)
    await redis.aclose()


async def payer_and_payee(world: World, funds: str) -> tuple[Person, Person, Account, Account]:
    """Alice with a funded USD account, and Bob with an empty one."""
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds=funds)
    return alice, bob, source, await world.account(bob, "USD")


def count_statements(runtime: Runtime) -> StatementCounter:
    from sqlalchemy import event

    counter = StatementCounter()
    event.listen(runtime.database.engine.sync_engine, "before_cursor_execute", counter)
    return counter


async def pay(runtime: Runtime, sender: Any, source: Any, destination: Any, amount: str) -> None:
    request = transfers.TransferRequest(
        str(uuid.uuid4()), source.id, amount, "USD", to_account_id=destination.id, memo="rent"
    )
    await transfers.create_transfer(
        runtime.unit_of_work(), sender.actor, request, runtime.settings.idempotency_ttl_s
    )


async def test_a_warm_home_query_issues_no_sql(
    cached: Runtime, cached_client: httpx.AsyncClient
) -> None:
    # given a customer with history, whose home screen was loaded once
    world = World(cached)
    alice, _bob, source, target = await payer_and_payee(world, "50.00")
    await pay(cached, alice, source, target, "5.00")
    first = await graphql(cached_client, HOME_ONE_BATCH_PER_KIND, person=alice)
    counter = count_statements(cached)
    # when it is loaded again
    second = await graphql(cached_client, HOME_ONE_BATCH_PER_KIND, person=alice)
    # then the same answer came without a single SQL statement
    assert second == first
    assert counter.statements == []


async def test_a_transfer_is_seen_on_the_next_read(
    cached: Runtime, cached_client: httpx.AsyncClient
) -> None:
    # given both balances cached
    world = World(cached)
    alice, bob, source, target = await payer_and_payee(world, "50.00")
    variables = {"id": encode_id("Account", source.id)}
    before = await graphql(cached_client, ACCOUNT_BALANCE, variables, alice)
    assert before["data"]["account"]["balance"]["amount"] == "50.00"
    # when alice pays bob
    await pay(cached, alice, source, target, "12.50")
    # then the next reads show the new balances, and the new transaction
    body = await graphql(cached_client, ACCOUNT_BALANCE, variables, alice)
    assert body["data"]["account"]["balance"]["amount"] == "37.50"
    home = await graphql(cached_client, HOME_ONE_BATCH_PER_KIND, person=bob)
    [edge] = home["data"]["viewer"]["accounts"]["edges"]
    assert edge["node"]["balance"]["amount"] == "12.50"
    assert edge["node"]["transactions"]["edges"][0]["node"]["transfer"]["memo"] == "rent"


async def test_a_cached_account_is_not_shown_to_another_user(
    cached: Runtime, cached_client: httpx.AsyncClient
) -> None:
    # given alice's account in the cache
    world = World(cached)
    alice, mallory = await world.person(), await world.person()
    account = await world.account(alice, "USD", funds="10.00")
    variables = {"id": encode_id("Account", account.id)}
    assert (await graphql(cached_client, ACCOUNT_BALANCE, variables, alice))["data"]["account"]
    # when mallory asks for it
    body = await graphql(cached_client, ACCOUNT_BALANCE, variables, mallory)
    # then the cached row still goes through the read policy
    assert body["data"]["account"] is None


async def test_a_stampede_on_a_cold_account_loads_it_once(
    cached: Runtime, cached_client: httpx.AsyncClient
) -> None:
    # given an account nobody has read yet
    world = World(cached)
    alice = await world.person()
    account = await world.account(alice, "USD", funds="10.00")
    variables = {"id": encode_id("Account", account.id)}
    counter = count_statements(cached)
    # when twenty requests ask for it at once
    bodies = await asyncio.gather(
        *(graphql(cached_client, ACCOUNT_BALANCE, variables, alice) for _ in range(20))
    )
    # then all get it, from one database load
    assert {body["data"]["account"]["balance"]["amount"] for body in bodies} == {"10.00"}
    account_loads = [s for s in counter.statements if "WHERE a.id = ANY(CAST" in s]
    assert len(account_loads) == 1


async def test_hits_and_misses_are_counted(
    cached: Runtime, cached_client: httpx.AsyncClient
) -> None:
    # given a cold account
    world = World(cached)
    alice = await world.person()
    account = await world.account(alice, "USD", funds="10.00")
    variables = {"id": encode_id("Account", account.id)}
    assert cached.cache is not None
    before = (cached.cache.stats.hits, cached.cache.stats.misses)
    # when it is read twice, by two different queries
    await graphql(cached_client, ACCOUNT_BALANCE, variables, alice)
    await graphql(cached_client, ACCOUNT_NAME, variables, alice)
    # then one miss and one hit were counted
    after = (cached.cache.stats.hits, cached.cache.stats.misses)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


async def test_a_write_in_one_process_is_read_in_another(settings: Settings) -> None:
    # given two server processes' runtimes sharing Redis, and a balance cached by the first
    async with (
        runtime_on(settings, suite_redis_url(11), response_cache_enabled=False) as one,
        runtime_on(settings, suite_redis_url(11), response_cache_enabled=False) as two,
        asgi_client(one) as first,
    ):
        world = World(one)
        alice, _bob, source, target = await payer_and_payee(world, "30.00")
        variables = {"id": encode_id("Account", source.id)}
        assert (await graphql(first, ACCOUNT_BALANCE, variables, alice))["data"]["account"]
        # when the second process moves money out of it
        await pay(two, alice, source, target, "10.00")
        # then the first process's next read shows it
        body = await graphql(first, ACCOUNT_BALANCE, variables, alice)
    assert body["data"]["account"]["balance"]["amount"] == "20.00"


@pytest.mark.parametrize("accounts", [1, 3])
async def test_a_cold_home_query_costs_one_mget_and_one_statement_per_kind(
    settings: Settings, accounts: int
) -> None:
    # given a customer with 1 or 3 accounts with history, nothing cached
    async with runtime_on(settings, suite_redis_url(11), response_cache_enabled=False) as runtime:
        world = World(runtime)
        alice, bob = await world.person(), await world.person()
        target = await world.account(bob, "USD")
        for _ in range(accounts):
            source = await world.account(alice, "USD", funds="10.00")
            await pay(runtime, alice, source, target, "1.00")
        counter = count_statements(runtime)
        assert runtime.cache is not None
        reads = runtime.cache.stats.reads
        async with asgi_client(runtime) as http:
            # when the home screen loads
            body = await graphql(http, HOME_ONE_BATCH_PER_KIND, person=alice)
    # then each kind of object cost one MGET and, for the misses, one statement, however many
    # accounts there are: accounts list, accounts, history pages, transfers (the session check,
    # sent prepared on the driver connection, does not pass the engine this counter watches)
    assert len(body["data"]["viewer"]["accounts"]["edges"]) == accounts
    assert runtime.cache.stats.reads - reads == 4
    selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4


async def test_the_memory_store_is_bounded_by_size_not_by_count() -> None:
    # given an in-process store of 1,000 bytes
    store = MemoryStore(ttl_s=60, max_bytes=1_000)
    # when twenty 100-byte values and one value larger than the whole store are put
    await store.put_many([Versioned(f"k{i}", 1, b"x" * 100) for i in range(20)], 60)
    await store.put_many([Versioned("huge", 1, b"x" * 5_000)], 60)
    # then the newest values that fit are kept, and the one too large is simply not cached
    kept = await store.get_many([f"k{i}" for i in range(20)])
    assert kept[-1] is not None
    assert 0 < sum(len(value) for value in kept if value) <= 1_000
    assert await store.get_many(["huge"]) == [None]


async def test_a_look_up_started_after_a_fence_does_not_join_one_from_before_it() -> None:
    # given a request still loading an account, from a cache entry older than a commit
    cache = ReadThrough(MemoryStore(ttl_s=300), ttl_s=300)
    await cache.store.put_many([Versioned("account:x", 5, b"old")], 300)
    release = asyncio.Event()

    async def slow(missing: list[str]) -> Found[bytes]:
        await release.wait()  # its other key still needs the database
        return {key: (1, b"row") for key in missing}

    before = asyncio.create_task(cache.load(["account:x", "account:y"], slow, RAW))
    await asyncio.sleep(0)
    # when the commit's fence lands, and only then another request reads the account
    await cache.fence([("account:x", 6)])

    async def fresh(missing: list[str]) -> Found[bytes]:
        return {key: (6, b"new") for key in missing}

    after = asyncio.create_task(cache.load(["account:x"], fresh, RAW))
    await asyncio.sleep(0)
    release.set()
    await before
    # then the later request loaded the account afresh
    assert (await after)["account:x"] == (6, b"new")


async def test_a_fence_lands_in_the_namespace_another_process_moved_to(settings: Settings) -> None:
    # given every process moved to a new key namespace (as after an outage), process two
    # reading there, and process one, which has only written since and has not seen the move
    async with (
        runtime_on(settings, suite_redis_url(11), response_cache_enabled=False) as one,
        runtime_on(settings, suite_redis_url(11), response_cache_enabled=False) as two,
        asgi_client(two, "two") as second,
    ):
        world = World(one)
        alice, bob, source, target = await payer_and_payee(world, "30.00")
        variables = {"id": encode_id("Account", target.id)}
        await move_every_process_on()
        assert (await graphql(second, ACCOUNT_BALANCE, variables, bob))["data"]["account"]
        # when process one commits a transfer into the cached account
        await pay(one, alice, source, target, "3.00")
        # then process two's next read shows it
        body = await graphql(second, ACCOUNT_BALANCE, variables, bob)
    assert body["data"]["account"]["balance"]["amount"] == "3.00"


class HeldLoad:
    """A look-up of one key whose database read, once started, waits until released."""

    def __init__(self, cache: ReadThrough, key: str, version: int, value: bytes) -> None:
        self._reading, self._release = asyncio.Event(), asyncio.Event()

        async def fetch(missing: list[str]) -> Found[bytes]:
            self._reading.set()
            await self._release.wait()
            return {key: (version, value) for key in missing}

        self._task = asyncio.create_task(cache.load([key], fetch, RAW))

    async def reading(self) -> None:
        await self._reading.wait()

    async def finish(self) -> Found[bytes]:
        self._release.set()
        return await self._task


@asynccontextmanager
async def two_processes(settings: Settings) -> AsyncIterator[tuple[ReadThrough, ReadThrough]]:
    """The caches of two server processes sharing Redis."""
    async with (
        runtime_on(settings, suite_redis_url(11), response_cache_enabled=False) as one,
        runtime_on(settings, suite_redis_url(11), response_cache_enabled=False) as two,
    ):
        assert one.cache is not None
        assert two.cache is not None
        yield one.cache, two.cache


async def test_a_row_read_before_every_process_moved_on_is_not_cached_after(
    settings: Settings,
) -> None:
    async with two_processes(settings) as (one, two):
        # given the first process reading an account from PostgreSQL
        load = HeldLoad(one, "account:x", 5, b"read before the outage")
        await load.reading()
        # when every process is moved on (as after an outage), and the first learns of it from
        # another request before its load finishes
        await move_every_process_on()
        await one.store.get_many(["account:y"])
        await load.finish()
        # then what the first read before the move was not written into the new namespace
        assert await two.store.get_many(["account:x"]) == [None]


async def test_a_read_that_joins_a_look_up_begun_before_another_process_committed_is_current(
    settings: Settings,
) -> None:
    async with two_processes(settings) as (one, two):
        # given process one reading an account from PostgreSQL as it was before a commit
        load = HeldLoad(one, "account:x", 5, b"before")
        await load.reading()
        # when process two commits (its fence lands), and only then a second request in process
        # one reads the account and shares the look-up already under way
        await two.fence([("account:x", 6)])

        async def after_the_commit(missing: list[str]) -> Found[bytes]:
            return {key: (6, b"after") for key in missing}

        second = asyncio.create_task(one.load(["account:x"], after_the_commit, RAW))
        await asyncio.sleep(0)
        await load.finish()
        # then the second request got the account as committed, not the shared old copy
        assert (await second)["account:x"] == (6, b"after")


async def test_the_outbox_relay_fences_what_a_writer_cut_off_from_redis_could_not(
    settings: Settings,
) -> None:
    url = settings.database_url or ""
    # given bob's balance cached by one process, and a writer that reaches PostgreSQL but not
    # Redis (no cache at all), whose transfer to bob therefore leaves no fence
    async with (
        runtime_on(settings, suite_redis_url(11), response_cache_enabled=True) as reader,
        asgi_client(reader) as http,
    ):
        world = World(reader)
        alice, bob, source, target = await payer_and_payee(world, "30.00")
        variables = {"id": encode_id("Account", target.id)}
        assert (await graphql(http, ACCOUNT_BALANCE, variables, bob))["data"]["account"]
        cut_off = build_runtime(settings.model_copy(update={"cache_enabled": False}), url)
        try:
            await pay(cut_off, alice, source, target, "3.00")
        finally:
            await cut_off.close()
        stale = await graphql(http, ACCOUNT_BALANCE, variables, bob)
        assert stale["data"]["account"]["balance"]["amount"] == "0.00"
        # when the outbox relay publishes the transfer's events
        sealing = reader.database.sealing
        relay = OutboxRelay(plain_postgres_url(url), MemoryBroker(), sealing, reader.cache)
        session = await OutboxSession.open(plain_postgres_url(url), timeout_s=5, sealing=sealing)
        try:
            while await relay.publish_pending(session):
                pass
        finally:
            await session.close()
        # then the reader shows the new balance
        body = await graphql(http, ACCOUNT_BALANCE, variables, bob)
    assert body["data"]["account"]["balance"]["amount"] == "3.00"


async def test_a_writer_cancelled_after_its_commit_still_leaves_its_fences(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with runtime_on(settings, None, response_cache_enabled=False) as runtime:
        # given a cache whose fences take a moment to apply, and a funded account
        assert runtime.cache is not None
        world = World(runtime)
        alice, _bob, source, target = await payer_and_payee(world, "30.00")
        store = runtime.cache.store
        [before] = await store.get_many([f"account:{source.id}"])
        assert before is not None
        fence, fencing, release = store.fence, asyncio.Event(), asyncio.Event()

        async def slow_fence(fences: Any, ttl_s: int) -> None:
            fencing.set()
            await release.wait()
            await fence(fences, ttl_s)

        monkeypatch.setattr(store, "fence", slow_fence)
        # when the request that made a transfer is cancelled (the client hung up) after the
        # commit, while its fences are being applied
        request = asyncio.create_task(pay(runtime, alice, source, target, "3.00"))
        await fencing.wait()
        request.cancel()
        release.set()
        await asyncio.sleep(0.05)
        # then the fences were applied all the same
        [after] = await store.get_many([f"account:{source.id}"])
        assert after is not None
        assert decode_entry(after)[0] > decode_entry(before)[0]
