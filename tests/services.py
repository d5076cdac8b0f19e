"""The Redis the suite uses: its own, never the machine's shared one.

By default the session starts a `redis-server` of its own on a free port of 127.0.0.1 (the
suite flushes its databases freely). `TEST_REDIS_URL` names one database of another Redis
instead; every Redis case then uses (and flushes) that one database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests.database import in_ci
from tests.servers import free_port

START_TIMEOUT_S = 10.0


def redis_executable() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


class RedisServer:
    """A redis-server of the test's own, on a free port of 127.0.0.1, keeping nothing on disk."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        executable = redis_executable()
        if executable is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                executable,
                *("--bind", "127.0.0.1", "--port", str(self.port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if Redis.from_url(self.url(), socket_timeout=0.2).ping():
                    return
            except (OSError, RedisError):
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None


def require_redis_server() -> None:
    """Skip the calling test when redis-server is missing, or fail it under CI=true."""
    if redis_executable() is None:
        import pytest

        if in_ci():
            pytest.fail("CI=true but redis-server is not installed")
        pytest.skip("redis-server is not installed")


_session_server: RedisServer | None = None


def suite_redis_url(database: int) -> str:
    """A Redis database for the suite: `TEST_REDIS_URL` when set, else database `database` of
    the session's own redis-server (started on first use, stopped when the session ends)."""
    global _session_server
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        return configured
    if _session_server is None:
        require_redis_server()
        server = RedisServer(Path(tempfile.mkdtemp(prefix="bff-test-redis-")))
        server.start()
        _session_server = server
    return _session_server.url(database)


def stop_suite_redis() -> None:
    global _session_server
    if _session_server is not None:
        _session_server.stop()
        shutil.rmtree(_session_server.directory, ignore_errors=True)
        _session_server = None
