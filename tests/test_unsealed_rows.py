"""Rows from before field encryption (migration 0021) are sealed by `bff migrate`: the customer
who signed up before it can still log in by email and be paid by account number, no table keeps
their plaintext, and the constraints that refuse plaintext then hold for every row."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bff.config import Settings
from bff.db import migrate
from bff.domain import transfers, users
from bff.domain.passwords import hash_password
from bff.runtime import Runtime, build_runtime
from tests.commands import run_bff
from tests.conftest import PASSWORD, World
from tests.database import fresh_database

BEFORE_SEALING = "0070"
EMAIL, NAME, DEVICE, NUMBER = "early.bird@example.com", "Early Bird", "Bird's phone", "400012345678"


@pytest.fixture
async def upgraded(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """A database at the last revision before sealing, holding a customer with an account and
    a session in the clear; the data directory its key rings live in."""
    async with fresh_database(tmp_path / "pg") as url:
        await asyncio.to_thread(migrate.upgrade, url, BEFORE_SEALING)
        connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            user_id = await connection.fetchval(
                "INSERT INTO users (email, password_hash, display_name, roles)"
                " VALUES ($1, $2, $3, ARRAY['customer']) RETURNING id",
                EMAIL,
                await hash_password(PASSWORD),
                NAME,
            )
            await connection.execute(
                "INSERT INTO accounts (owner_id, kind, name, currency, account_number)"
                " VALUES ($1, 'customer', 'Savings', 'USD', $2)",
                user_id,
                NUMBER,
            )
            await connection.execute(
                "INSERT INTO sessions (user_id, device_name, expires_at) VALUES ($1, $2, $3)",
                user_id,
                DEVICE,
                datetime.now(UTC) + timedelta(days=1),
            )
        finally:
            await connection.close()
        yield url, str(tmp_path / "data")


def bff_migrate(url: str, data_dir: str) -> str:
    result = run_bff(["migrate"], Path(data_dir).parent, DATABASE_URL=url, BFF_DATA_DIR=data_dir)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_migrate_seals_the_rows_from_before_sealing(
    upgraded: tuple[str, str], settings: Settings
) -> None:
    url, data_dir = upgraded
    # when the operator migrates the database
    said = bff_migrate(url, data_dir)
    # then it says what it sealed, and no table holds the plaintext any more
    assert "sealed the personal fields of 1 users, 1 sessions and 1 accounts" in said
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = []
        for table in ("users", "sessions", "accounts"):
            rows += await connection.fetch(f"SELECT * FROM {table}")  # noqa: S608 (fixed names)
        dump = "\n".join(str(tuple(row)) for row in rows)
        unchecked = await connection.fetch(
            "SELECT conname FROM pg_constraint WHERE NOT convalidated AND conname = ANY($1)",
            ["users_no_plaintext", "sessions_no_plaintext", "accounts_customer_number_sealed"],
        )
    finally:
        await connection.close()
    for plaintext in (EMAIL, NAME, DEVICE, NUMBER):
        assert plaintext not in dump
    # and the constraints that refuse plaintext now hold for every row
    assert unchecked == []
    # and a second run has nothing left to do
    assert "sealed" not in bff_migrate(url, data_dir)
    # and the early customer logs in by email, and is paid by account number
    local = settings.model_copy(update={"database_url": url, "data_dir": Path(data_dir)})
    runtime = build_runtime(local, url)
    try:
        await _log_in_and_be_paid(runtime)
    finally:
        await runtime.close()


async def _log_in_and_be_paid(runtime: Runtime) -> None:
    settings = runtime.settings
    opened = await users.log_in(
        runtime.unit_of_work(),
        users.LogIn(EMAIL, PASSWORD, "Bird's new phone", "127.0.0.1"),
        settings.session_policy,
        settings.throttle_policy,
    )
    assert opened.user.display_name == NAME
    world = World(runtime)
    payer = await world.person()
    source = await world.account(payer, funds="5.00")
    request = transfers.TransferRequest(
        str(uuid.uuid4()), source.id, "1.00", "USD", to_account_number=NUMBER
    )
    paid = await transfers.create_transfer(
        runtime.unit_of_work(), payer.actor, request, settings.idempotency_ttl_s
    )
    assert paid.amount == 100
