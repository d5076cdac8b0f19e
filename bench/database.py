"""Where the benchmark's PostgreSQL comes from: the server on 127.0.0.1:5432 when it answers (a
fresh database per run, dropped at the end), else an embedded server from the `pgserver` wheel in
a temporary directory, stopped and deleted at the end."""

from __future__ import annotations

import asyncio
import glob
import os
import secrets
import shutil
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from bff.db.engine import postgres_reachable

SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@dataclass
class Postgres:
    """One PostgreSQL server for the run and the databases the run created on it."""

    admin_url: str
    embedded: bool
    description: str = ""
    created: list[str] = field(default_factory=list)

    async def create_database(self, prefix: str) -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(self.admin_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.created.append(name)
        return with_database(self.admin_url, name)

    async def drop_databases(self) -> None:
        if not self.created:
            return
        admin = await asyncpg.connect(self.admin_url)
        try:
            for name in self.created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        self.created.clear()

    async def version(self) -> str:
        connection = await asyncpg.connect(self.admin_url)
        try:
            return str(await connection.fetchval("SHOW server_version"))
        finally:
            await connection.close()

    def pgbench(self) -> str:
        """The pgbench binary matching this server as closely as the machine allows."""
        wheel = sorted(
            glob.glob(
                str(Path(sys.prefix) / "lib" / "python3*" / "site-packages")
                + "/pgserver/pginstall/bin/pgbench"
            )
        )
        system = shutil.which("pgbench") or (
            "/usr/bin/pgbench" if Path("/usr/bin/pgbench").exists() else None
        )
        candidates = [*wheel, system] if self.embedded else [system, *wheel]
        for candidate in candidates:
            if candidate and os.access(candidate, os.X_OK):
                return candidate
        raise FileNotFoundError("pgbench not found (neither on PATH nor in the pgserver wheel)")


def open_postgres(stack: ExitStack, scratch: Path) -> Postgres:
    """The server to use; an embedded one lives until `stack` closes."""
    if asyncio.run(postgres_reachable(SERVER_URL)):
        host = make_url(SERVER_URL)
        return Postgres(SERVER_URL, embedded=False, description=f"{host.host}:{host.port or 5432}")
    import pgserver

    data = scratch / "pgdata"
    server = pgserver.get_server(data, cleanup_mode="delete")
    stack.callback(server.cleanup)
    return Postgres(str(server.get_uri()), embedded=True, description=f"embedded ({data})")
