"""A PostgreSQL cluster of the test's own, for fault tests: started, stopped, restarted (pg_ctl)
and paused (SIGSTOP) by the test, on a free port of 127.0.0.1, in a temporary directory.

initdb refuses to run as root: as root, the cluster runs as the `postgres` system user.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.database import in_ci
from tests.servers import HOST, free_port

BIN_DIR = Path(os.environ.get("TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
COMMAND_TIMEOUT_S = 60


class PostgresCluster:
    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="bff-test-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            account = pwd.getpwnam(self._user)
            os.chown(self.directory, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def _run(self, program: str, *arguments: str) -> None:
        subprocess.run(
            [str(BIN_DIR / program), *arguments],
            user=self._user,
            check=True,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
        )

    def _ctl(self, *arguments: str) -> None:
        log = self.directory / "server.log"
        self._run("pg_ctl", "--pgdata", str(self.data), "--log", str(log), "--wait", *arguments)

    def create(self) -> None:
        self._run(
            "initdb", "--pgdata", str(self.data), "--username=postgres", "--auth=trust", "--no-sync"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\n"
                f"listen_addresses = '{HOST}'\n"
                f"unix_socket_directories = '{self.directory}'\n"
                "fsync = off\n"  # a test cluster: crash safety of the OS is not under test
            )

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def start(self) -> None:
        self._ctl("start")

    def ensure_running(self) -> None:
        """Resumed if paused, started if stopped: as the next test expects to find it."""
        if self.running:
            self.resume()
        else:
            self.start()

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "--mode", mode)

    def restart(self, mode: str = "fast") -> None:
        self._ctl("restart", "--mode", mode)

    async def restart_async(self, mode: str = "fast") -> None:
        await asyncio.to_thread(self.restart, mode)

    def _processes(self) -> list[int]:
        """The postmaster and its children (each backend is in a session of its own, so a
        signal to the postmaster's process group would not reach them)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                children.append(int(entry.name))
        return [postmaster, *children]

    def pause(self) -> None:
        """SIGSTOP every process of the server: it accepts TCP connections and answers nothing,
        like a server behind a network partition."""
        for pid in self._processes():  # the postmaster first: it forks no child while stopped
            _signal(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in reversed(self._processes()):
            _signal(pid, signal.SIGCONT)

    def destroy(self) -> None:
        if self.running:
            self.resume()
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def _signal(pid: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):  # a backend that ended since it was listed
        os.kill(pid, signum)


def require_postgres_binaries() -> None:
    """Skip the calling test when the server binaries are missing, or fail it under CI=true."""
    if not (BIN_DIR / "pg_ctl").exists():
        if in_ci():
            pytest.fail(f"CI=true but PostgreSQL binaries are missing in {BIN_DIR}")
        pytest.skip(f"PostgreSQL binaries are missing in {BIN_DIR} (set TEST_POSTGRES_BIN)")


@contextmanager
def own_cluster() -> Iterator[PostgresCluster]:
    """A running cluster of the test's own, destroyed afterwards."""
    require_postgres_binaries()
    cluster = PostgresCluster()
    try:
        cluster.create()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
