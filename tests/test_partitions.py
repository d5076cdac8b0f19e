"""Monthly partitions of the history (migration 0110): an existing database is converted without
losing a row, the ledger's keys stay unique across months, and `bff partitions ensure` keeps the
months ahead ready."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.config import Settings
from bff.db import migrate
from bff.db.partitions import months_after
from bff.db.sqlstate import constraint_of
from bff.domain import transfers
from bff.domain.models import Account
from bff.runtime import Runtime, build_runtime
from tests.commands import run_bff
from tests.conftest import Person, World, asgi_client
from tests.database import fresh_database
from tests.documents import HISTORY
from tests.graphql_calls import account_id, data
from tests.test_db_constraints import UNIQUE_VIOLATION, refused, sqlstate

# The revision before partitioning, whatever the chain (the lead re-chains at merges).
BEFORE_PARTITIONS = str(ScriptDirectory(str(migrate.MIGRATIONS)).get_revision("0110").down_revision)

# Every row of both tables, in a fixed order, as the application reads them.
ENTRIES = text("SELECT * FROM ledger_entries ORDER BY id")
EVENTS = text("SELECT * FROM account_events ORDER BY id")
# Where each row is stored, and the month it belongs to.
PLACES = """
    SELECT tableoid::regclass::text, to_char(created_at AT TIME ZONE 'UTC', 'YYYY_MM') FROM {table}
"""
# The ledger's invariants, as queries that answer nothing when they hold.
BROKEN_INVARIANTS = [
    # an account's balance is the sum of its entries
    """SELECT a.id FROM accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
        GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(e.amount), 0)""",
    # a completed transfer has two legs that sum to zero, any other transfer none
    """SELECT t.id FROM transfers t LEFT JOIN ledger_entries e ON e.transfer_id = t.id
        GROUP BY t.id, t.status
       HAVING (t.status = 'completed' AND (count(e.id) <> 2 OR sum(e.amount) <> 0))
           OR (t.status <> 'completed' AND count(e.id) <> 0)""",
    # an account's last sequence is its newest event's
    """SELECT a.id FROM accounts a JOIN account_events v ON v.account_id = a.id
        GROUP BY a.id, a.last_sequence HAVING a.last_sequence <> max(v.sequence)""",
    # every row has its keys and every key its row
    """SELECT 1
        WHERE (SELECT count(*) FROM ledger_entries) <> (SELECT count(*) FROM ledger_entry_keys)
           OR (SELECT count(*) FROM account_events) <> (SELECT count(*) FROM account_event_keys)""",
]


@pytest.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(tmp_path / "pg") as url:
        yield url


def runtime_for(settings: Settings, url: str) -> Runtime:
    return build_runtime(
        settings.model_copy(update={"database_url": url, "db_pool_size": 4, "db_max_overflow": 2}),
        url,
    )


async def transfer(runtime: Runtime, sender: Person, source: Account, target: Account) -> None:
    request = transfers.TransferRequest(
        str(uuid.uuid4()), source.id, "1.00", "USD", to_account_id=target.id
    )
    await transfers.create_transfer(
        runtime.unit_of_work(), sender.actor, request, runtime.settings.idempotency_ttl_s
    )


async def rows(runtime: Runtime) -> tuple[list[Any], list[Any]]:
    async with runtime.database.engine.connect() as connection:
        entries = list((await connection.execute(ENTRIES)).all())
        events = list((await connection.execute(EVENTS)).all())
    return entries, events


async def broken_invariants(connection: AsyncConnection) -> list[str]:
    return [query for query in BROKEN_INVARIANTS if (await connection.execute(text(query))).first()]


async def history_sequences(runtime: Runtime, reader: Person, account: Account) -> list[int]:
    """The account's whole history through the API, two entries a page."""
    sequences: list[int] = []
    after = None
    async with asgi_client(runtime) as client:
        while True:
            variables = {"id": account_id(account), "first": 2, "after": after}
            page = (await data(client, HISTORY, variables, reader))["account"]["transactions"]
            sequences += [int(edge["node"]["sequence"]) for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                return sequences
            after = page["pageInfo"]["endCursor"]


async def test_the_migration_keeps_every_row_in_its_months_partition(
    settings: Settings, empty_database: str
) -> None:
    # given a database before partitioning, with history from this month and from two months
    # ago (moved back behind the triggers' backs, as a database of last year would have it)
    await asyncio.to_thread(migrate.upgrade, empty_database, BEFORE_PARTITIONS)
    runtime = runtime_for(settings, empty_database)
    world = World(runtime)
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    target = await world.account(bob, "USD")
    for _ in range(4):
        await transfer(runtime, alice, source, target)
    async with runtime.database.engine.begin() as connection:
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for table in ("ledger_entries", "account_events"):
            await connection.execute(
                text(
                    f"UPDATE {table} SET created_at = created_at - interval '2 months'"  # noqa: S608
                    " WHERE account_id = :account AND sequence <= 3"
                ),
                {"account": source.id},
            )
    before = await rows(runtime)
    await runtime.close()

    # when it is migrated
    await asyncio.to_thread(migrate.upgrade, empty_database)

    # then every row is there, unchanged, in the partition of its month
    runtime = runtime_for(settings, empty_database)
    try:
        assert await rows(runtime) == before
        async with runtime.database.engine.connect() as connection:
            for table in ("ledger_entries", "account_events"):
                places = (await connection.execute(text(PLACES.format(table=table)))).all()
                assert len({month for _, month in places}) == 2
                assert all(stored == f"{table}_{month}" for stored, month in places)
            # and the ledger's invariants hold
            assert await broken_invariants(connection) == []
        # and the history reads back whole and in order across the months, page by page
        assert await history_sequences(runtime, alice, source) == [5, 4, 3, 2, 1]
        # and money keeps moving, the events numbered after the copied ones
        await transfer(runtime, alice, source, target)
        entries, events = await rows(runtime)
        assert len(entries) == len(before[0]) + 2
        assert max(event.id for event in events) > max(event.id for event in before[1])
        assert await history_sequences(runtime, alice, source) == [6, 5, 4, 3, 2, 1]
        async with runtime.database.engine.connect() as connection:
            assert await broken_invariants(connection) == []
    finally:
        await runtime.close()


# --- the keys stay global ----------------------------------------------------------------------


async def test_an_accounts_ledger_sequence_is_unique_across_months(
    runtime: Runtime, world: World
) -> None:
    # given an account whose deposit took sequence 1 this month
    alice = await world.person()
    account = await world.account(alice, "USD", funds="1.00")
    async with runtime.database.engine.connect() as connection:
        transfer_id = (
            await connection.execute(
                text("SELECT transfer_id FROM ledger_entries WHERE account_id = :id"),
                {"id": account.id},
            )
        ).scalar_one()
    # when an entry dated next month reuses sequence 1
    error = await refused(
        runtime,
        """INSERT INTO ledger_entries (id, transfer_id, account_id, sequence, amount,
                                       balance_after, currency, description, created_at)
           VALUES (gen_random_uuid(), :transfer, :account, 1, 100, 100, 'USD', 'raw',
                   now() + interval '1 month')""",
        {"transfer": transfer_id, "account": account.id},
    )
    # then
    assert sqlstate(error) == UNIQUE_VIOLATION
    assert constraint_of(error) == "ledger_entries_account_sequence_key"


async def test_an_accounts_event_sequence_is_unique_across_months(
    runtime: Runtime, world: World
) -> None:
    # given an account whose deposit was its event 1 this month
    alice = await world.person()
    account = await world.account(alice, "USD", funds="1.00")
    # when an event dated next month reuses sequence 1
    error = await refused(
        runtime,
        """INSERT INTO account_events (account_id, sequence, kind, balance, available_balance,
                                       status, created_at)
           VALUES (:account, 1, 'status_changed', 100, 100, 'active',
                   now() + interval '1 month')""",
        {"account": account.id},
    )
    # then
    assert sqlstate(error) == UNIQUE_VIOLATION
    assert constraint_of(error) == "account_events_account_sequence_key"


async def test_an_events_place_in_its_accounts_stream_is_fixed(
    runtime: Runtime, world: World
) -> None:
    # given an account with one event
    alice = await world.person()
    account = await world.account(alice, "USD", funds="1.00")
    # when its sequence is rewritten (its keys would no longer hold it)
    async with runtime.database.engine.connect() as connection:
        with pytest.raises(IntegrityError) as caught:
            await connection.execute(
                text("UPDATE account_events SET sequence = 99 WHERE account_id = :account"),
                {"account": account.id},
            )
    # then it is refused
    assert "append-only" in str(caught.value.orig)


async def test_a_purged_event_frees_nothing_but_its_own_keys(
    runtime: Runtime, world: World
) -> None:
    # given an account with two events, the first of them moved to last month
    alice = await world.person()
    account = await world.account(alice, "USD", funds="1.00")
    await world.deposit(account, "1.00")
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE account_events SET created_at = created_at - interval '1 month'"
                " WHERE account_id = :account AND sequence = 1"
            ),
            {"account": account.id},
        )
        # when it is deleted (as `bff purge` does)
        await connection.execute(
            text("DELETE FROM account_events WHERE account_id = :account AND sequence = 1"),
            {"account": account.id},
        )
        # then its keys went with it, the other event's stay
        keys = await connection.execute(
            text("SELECT sequence FROM account_event_keys WHERE account_id = :account"),
            {"account": account.id},
        )
        assert keys.scalars().all() == [2]


# --- bff partitions ensure ---------------------------------------------------------------------


def month_name(months_ahead: int) -> str:
    month = months_after(datetime.now(UTC).date().replace(day=1), months_ahead)
    return f"{month:%Y_%m}"


async def test_partitions_ensure_creates_the_months_ahead_once(
    settings: Settings, tmp_path: Path, empty_database: str
) -> None:
    # given a migrated database (partitions to three months ahead), and an entry dated ten
    # months ahead, which only the default partition can take
    await asyncio.to_thread(migrate.upgrade, empty_database)
    runtime = runtime_for(settings, empty_database)
    try:
        world = World(runtime)
        alice = await world.person()
        account = await world.account(alice, "USD", funds="1.00")
        async with runtime.database.engine.begin() as connection:
            await connection.execute(
                text("""
                    INSERT INTO account_events (account_id, sequence, kind, balance,
                                                available_balance, status, created_at)
                    VALUES (:account, 2, 'status_changed', 100, 100, 'active',
                            date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                            + interval '10 months 1 day')
                """),
                {"account": account.id},
            )
    finally:
        await runtime.close()

    # when an operator ensures twelve months ahead
    env = {"DATABASE_URL": empty_database, "BFF_DATA_DIR": str(tmp_path / "data")}
    first = run_bff(["partitions", "ensure", "--months-ahead", "12"], tmp_path, **env)

    # then the months after the migration's are created, for both tables, except the month the
    # default partition holds rows of, which it keeps
    assert first.returncode == 0, first.stderr
    created = first.stdout.splitlines()[0].split(": ")[1].split(", ")
    expected = {
        f"{table}_{month_name(ahead)}"
        for table in ("ledger_entries", "account_events")
        for ahead in range(4, 13)
    } - {f"account_events_{month_name(10)}"}
    assert set(created) == expected
    assert f"account_events_{month_name(10)}" in first.stdout.splitlines()[1]
    # and a second run finds nothing to do
    again = run_bff(["partitions", "ensure", "--months-ahead", "12"], tmp_path, **env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("created 0 partitions: none")
