"""A streaming replica of a test's own cluster: a base backup of the primary (pg_basebackup
with its recovery settings), started as a hot standby on a port of its own."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from tests.postgres_cluster import PostgresCluster
from tests.servers import HOST

REPLAY_TIMEOUT_S = 30.0


class Standby(PostgresCluster):
    def create_from(self, primary: PostgresCluster) -> None:
        """Clone `primary` (which streams its WAL to us from then on)."""
        self._run(
            "pg_basebackup",
            f"--pgdata={self.data}",
            f"--host={HOST}",
            f"--port={primary.port}",
            "--username=postgres",
            "--write-recovery-conf",
            "--checkpoint=fast",
            "--wal-method=stream",
        )
        with (self.data / "postgresql.conf").open("a") as conf:  # the primary's, then ours
            conf.write(f"port = {self.port}\nunix_socket_directories = '{self.directory}'\n")


async def scalar(url: str, query: str) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def wait_replayed(primary: PostgresCluster, standby: Standby) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    target = await scalar(primary.url, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    while time.monotonic() < deadline:
        caught_up = await scalar(
            standby.url, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        )
        if caught_up:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"standby did not replay up to {target} in {REPLAY_TIMEOUT_S} s")
