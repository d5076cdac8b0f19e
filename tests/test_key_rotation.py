"""Rotating the data key ring under load: `bff keys rotate-data` adds a key-encryption key, `bff
keys rewrap` moves every data key onto it in batches (with progress) while transfers and
sign-ups go on, nothing is lost, and the old version can be retired once nothing uses it."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bff.config import Settings
from bff.db import migrate
from bff.domain import transfers, users
from bff.runtime import Runtime, build_runtime
from tests.commands import run_bff
from tests.conftest import PASSWORD, World
from tests.database import fresh_database

TRANSFERS = 120


@pytest.fixture
async def isolated(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, Runtime, Path]]:
    """A database and a data key ring of their own (the test retires a key version)."""
    async with fresh_database(tmp_path / "pg") as url:
        await asyncio.to_thread(migrate.upgrade, url)
        data_dir = tmp_path / "data"
        local = settings.model_copy(update={"database_url": url, "data_dir": data_dir})
        runtime = build_runtime(local, url)
        try:
            yield url, runtime, data_dir
        finally:
            await runtime.close()


def bff(url: str, data_dir: Path, *args: str) -> tuple[int, str]:
    result = run_bff(["keys", *args], data_dir.parent, DATABASE_URL=url, BFF_DATA_DIR=str(data_dir))
    return result.returncode, result.stdout + result.stderr


async def ledger_problems(url: str) -> list[str]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        unbalanced = await connection.fetchval(
            "SELECT count(*) FROM (SELECT currency FROM accounts GROUP BY currency"
            " HAVING sum(balance) <> 0) c"
        )
        mismatched = await connection.fetchval("""
            SELECT count(*) FROM accounts a
             WHERE a.balance <> (SELECT coalesce(sum(amount), 0) FROM ledger_entries e
                                  WHERE e.account_id = a.id)""")
    finally:
        await connection.close()
    return [f"{unbalanced} currencies unbalanced"] * bool(unbalanced) + [
        f"{mismatched} accounts off their entries"
    ] * bool(mismatched)


async def test_rotating_under_a_transfer_workload_loses_nothing(
    isolated: tuple[str, Runtime, Path],
) -> None:
    url, runtime, data_dir = isolated
    world = World(runtime)
    # Given customers with money, their data keys under version 1
    people = [await world.person() for _ in range(6)]
    accounts = [await world.account(person, funds="1000.00") for person in people]
    ttl = runtime.settings.idempotency_ttl_s

    async def pay() -> None:
        sender = random.randrange(len(people))
        receiver = (sender + 1 + random.randrange(len(people) - 1)) % len(people)
        request = transfers.TransferRequest(
            str(uuid.uuid4()), accounts[sender].id, "0.01", "USD", accounts[receiver].id
        )
        await transfers.create_transfer(runtime.unit_of_work(), people[sender].actor, request, ttl)

    async def workload() -> list[str]:
        emails = []
        for batch in range(0, TRANSFERS, 8):
            await asyncio.gather(*(pay() for _ in range(8)))
            email = f"joiner-{batch}@example.com"
            await users.sign_up(runtime.unit_of_work(), users.SignUp(email, PASSWORD, "Joiner"))
            emails.append(email)
        return emails

    async def rotate_and_rewrap() -> tuple[tuple[int, str], tuple[int, str], tuple[int, str]]:
        await asyncio.sleep(0.2)
        rotated = await asyncio.to_thread(bff, url, data_dir, "rotate-data")
        # Retiring the old version is refused while data keys use it
        early = await asyncio.to_thread(bff, url, data_dir, "retire-data", "--version", "1")
        rewrapped = await asyncio.to_thread(bff, url, data_dir, "rewrap", "--batch", "2")
        return rotated, early, rewrapped

    # When the ring is rotated and every data key re-wrapped while money moves and people join
    joined, (rotated, early, rewrapped) = await asyncio.gather(workload(), rotate_and_rewrap())
    assert rotated[0] == 0, rotated[1]
    assert early[0] != 0
    assert "still use version 1" in early[1]
    assert rewrapped[0] == 0, rewrapped[1]
    assert "re-wrapped 2 of" in rewrapped[1]  # progress, batch by batch
    # A second run has nothing left to do (idempotent, resumable)
    again = bff(url, data_dir, "rewrap")
    assert again[0] == 0
    assert "0 data keys to re-wrap" in again[1]
    # Then every transfer is there and the ledger holds
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        posted = await connection.fetchval("SELECT count(*) FROM transfers WHERE kind = 'transfer'")
        versions = await connection.fetch("SELECT DISTINCT kek_version FROM data_keys")
    finally:
        await connection.close()
    assert posted == TRANSFERS
    assert await ledger_problems(url) == []
    assert [row["kek_version"] for row in versions] == [2]
    # and once version 1 is retired, everyone can still log in and be read
    retired = bff(url, data_dir, "retire-data", "--version", "1")
    assert retired[0] == 0, retired[1]
    runtime.database.sealing.vault.keys.reload()
    assert 1 not in runtime.database.sealing.vault.keys.ring.keks
    # and every key change is in the audit log
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        changes = await connection.fetch(
            "SELECT DISTINCT operation FROM audit_log WHERE operation LIKE 'key.%' ORDER BY 1"
        )
    finally:
        await connection.close()
    assert [row["operation"] for row in changes] == ["key.retire", "key.rewrap", "key.rotate"]
    for person in people:
        (user,) = await runtime.database.reads.users([person.user.id])
        assert user.email == person.user.email
    for email in joined:
        logged_in = await world.log_in(
            (await runtime.database.reads.users([await _id_of(runtime, email)]))[0]
        )
        assert logged_in.user.email == email


async def _id_of(runtime: Runtime, email: str) -> uuid.UUID:
    async with runtime.unit_of_work() as uow:
        found = await uow.users.credentials(email)
    assert found is not None
    return found[0].id
