"""Backups with a tested restore: transfers, `bff backup`, more transfers, then
`bff backup restore --to` a moment between them into a fresh cluster, which holds exactly the
transfers committed before that moment and satisfies every ledger invariant (on a cluster of
the test's own, archiving its WAL)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from bff.app import create_app
from bff.config import Settings
from bff.db import migrate
from bff.runtime import Runtime, build_runtime
from tests.commands import one_line_failure, run_bff
from tests.conftest import Person, World
from tests.documents import CREATE_TRANSFER
from tests.graphql_calls import account_id, data, transfer_input
from tests.postgres_cluster import BIN_DIR, PostgresCluster, own_cluster
from tests.servers import free_port

ARCHIVE_TIMEOUT_S = 30.0


def postgres_owned(path: Path) -> Path:
    """A directory the test cluster's server may write (it runs as `postgres` under root)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(path, account.pw_uid, account.pw_gid)
    return path


@dataclass
class Archiving:
    cluster: PostgresCluster
    backups: Path

    @property
    def url(self) -> str:
        return self.cluster.url


@pytest.fixture(scope="module")
def archiving() -> Iterator[Archiving]:
    """A cluster whose server archives its WAL into `backups/wal`, as `bff backup` expects;
    outside pytest's own temporary directories, which the `postgres` user cannot enter."""
    root = Path(tempfile.mkdtemp(prefix="bff-test-backup-"))
    root.chmod(0o755)
    backups = root / "backups"
    wal = postgres_owned(backups / "wal")
    with own_cluster() as cluster:
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"archive_mode = on\narchive_command = 'test ! -f {wal}/%f && cp %p {wal}/%f'\n"
            )
        cluster.restart()
        migrate.upgrade(cluster.url)
        try:
            yield Archiving(cluster, backups)
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def runtime(settings: Settings, archiving: Archiving) -> AsyncIterator[Runtime]:
    configured = settings.model_copy(
        update={"database_url": archiving.url, "db_pool_size": 4, "db_max_overflow": 2}
    )
    runtime = build_runtime(configured, archiving.url)
    try:
        yield runtime
    finally:
        await runtime.close()


async def send(runtime: Runtime, person: Person, source: str, target: str, amount: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://t"
    ) as http:
        sent = await data(http, CREATE_TRANSFER, transfer_input(source, target, amount), person)
    assert sent["createTransfer"]["userErrors"] == [], sent


async def fetch(url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(query))
    finally:
        await connection.close()


async def archived_up_to_now(url: str) -> None:
    """Closes the current WAL segment and waits until the server has archived it."""
    [row] = await fetch(url, "SELECT pg_walfile_name(pg_switch_wal()) AS segment")
    deadline = time.monotonic() + ARCHIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        [archiver] = await fetch(
            url, "SELECT last_archived_wal, failed_count FROM pg_stat_archiver"
        )
        if archiver["last_archived_wal"] and archiver["last_archived_wal"] >= row["segment"]:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"segment {row['segment']} not archived: {archiver}")


INVARIANTS = {
    "every balance is the sum of its entries": """
        SELECT count(*) FROM accounts a
         WHERE a.balance <> coalesce((SELECT sum(amount) FROM ledger_entries e
                                       WHERE e.account_id = a.id), 0)""",
    "every transfer has two legs summing to zero": """
        SELECT count(*) FROM transfers t
         WHERE (SELECT count(*) FROM ledger_entries e WHERE e.transfer_id = t.id) <> 2
            OR (SELECT sum(amount) FROM ledger_entries e WHERE e.transfer_id = t.id) <> 0""",
    "every account's last sequence is its newest entry's": """
        SELECT count(*) FROM accounts a
         WHERE a.last_sequence <> coalesce((SELECT max(sequence) FROM ledger_entries e
                                             WHERE e.account_id = a.id), 0)""",
    "sequences have no gaps": """
        SELECT count(*) FROM accounts a
         WHERE a.last_sequence <> (SELECT count(*) FROM ledger_entries e
                                    WHERE e.account_id = a.id)""",
}


async def test_a_restore_to_a_moment_holds_exactly_the_transfers_committed_before_it(
    runtime: Runtime, archiving: Archiving, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": archiving.url, "BFF_BACKUP_DIR": str(archiving.backups)}
    env |= {"BFF_PG_BIN_DIR": str(BIN_DIR)}
    world = World(runtime)
    person = await world.person()
    source = account_id(await world.account(person, funds="100.00"))
    target = account_id(await world.account(person))

    # given transfers before a backup, the backup, and more transfers after it
    for amount in ("1.01", "1.02", "1.03"):
        await send(runtime, person, source, target, amount)
    taken = await asyncio.to_thread(run_bff, ["backup"], tmp_path, **env)
    assert taken.returncode == 0, taken.stderr
    assert "base backup" in taken.stdout
    for amount in ("2.01", "2.02"):
        await send(runtime, person, source, target, amount)
    # and a moment, after which yet more transfers commit
    [now] = await fetch(archiving.url, "SELECT clock_timestamp() AS moment")
    moment: datetime = now["moment"]
    for amount in ("3.01", "3.02"):
        await send(runtime, person, source, target, amount)
    await archived_up_to_now(archiving.url)

    # when the backup is restored to that moment into a new cluster
    port = free_port()
    into = postgres_owned(archiving.backups.parent / "restored")
    restored = await asyncio.to_thread(
        run_bff,
        ["backup", "restore", "--to", moment.isoformat(), "--into", str(into), "--port", str(port)],
        tmp_path,
        **env,
    )
    assert restored.returncode == 0, restored.stderr
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        # then it holds exactly the transfers committed before the moment
        rows = await fetch(url, "SELECT amount FROM transfers WHERE kind = 'transfer'")
        assert sorted(row["amount"] for row in rows) == [101, 102, 103, 201, 202]
        # and every ledger invariant holds
        for name, violations in INVARIANTS.items():
            [row] = await fetch(url, violations)
            assert row[0] == 0, name
        # and it accepts writes (promoted, not a standby)
        [row] = await fetch(url, "SELECT pg_is_in_recovery() AS recovering")
        assert row["recovering"] is False
    finally:
        await asyncio.to_thread(
            subprocess.run,
            [str(BIN_DIR / "pg_ctl"), f"--pgdata={into}", "--mode=immediate", "stop"],
            user="postgres" if os.geteuid() == 0 else None,
            capture_output=True,
            timeout=60,
            check=False,
        )


def test_a_restore_without_a_backup_before_the_moment_is_one_line(tmp_path: Path) -> None:
    # given an empty backup directory; when a restore is asked for
    result = run_bff(
        ["backup", "restore", "--to", "2020-01-01T00:00:00Z", "--into", str(tmp_path / "x")],
        tmp_path,
        BFF_BACKUP_DIR=str(tmp_path),
    )
    # then it fails with one line saying why
    assert "no base backup" in one_line_failure(result)


def test_a_moment_without_a_time_zone_is_refused(tmp_path: Path) -> None:
    result = run_bff(
        ["backup", "restore", "--to", "2020-01-01T00:00:00", "--into", str(tmp_path / "x")],
        tmp_path,
        BFF_BACKUP_DIR=str(tmp_path),
    )
    assert "time zone" in one_line_failure(result)
