"""Real `bff serve` processes for WebSocket and multi-process tests.

Each server is its own operating-system process (uvicorn, one worker) on 127.0.0.1 and a free
port, configured only through the environment, exactly as in production. Tests can stop one
gracefully (SIGTERM), kill it outright (SIGKILL) and start it again on the same port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
# Inherited variables that would configure the server behind the test's back.
_OWN_VARIABLES = ("DATABASE_URL", "REDIS_URL")


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("bff")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "bff.cli", "serve"]


class Server:
    """One `bff serve` process. `env` adds to (or overrides) the base configuration; with
    BFF_TLS_CERT_FILE in it the server speaks TLS, and that (self-signed) certificate is the
    one its clients trust."""

    def __init__(
        self,
        name: str,
        *,
        database_url: str,
        redis_url: str | None,
        data_dir: Path,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self._cwd = log_dir  # never the repository: a developer's .env must not leak in
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("BFF_") and key not in _OWN_VARIABLES
        }
        environment.update(
            {
                "PYTHONUNBUFFERED": "1",
                "BFF_ENV": "development",
                "BFF_DOCUMENTS_MODE": "open",  # tests send documents of their own making
                # Screening would hold a test's bursts of transfers (the fraud tests turn it on).
                "BFF_FRAUD_SCREENING": "false",
                # A loaded machine lags the loop: shedding only where a test asks for it.
                "BFF_SHED_MAX_IN_FLIGHT": "100000",
                "BFF_SHED_MAX_LOOP_LAG_MS": "600000",
                "BFF_HOST": HOST,
                "BFF_PORT": str(self.port),
                "BFF_DATA_DIR": str(data_dir),
                "DATABASE_URL": database_url,
                **({"REDIS_URL": redis_url} if redis_url else {}),
                **(env or {}),
            }
        )
        self._env = environment
        self.certificate = environment.get("BFF_TLS_CERT_FILE")
        self.process: subprocess.Popen[bytes] | None = None

    def client_tls(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (TLS servers only)."""
        assert self.certificate, f"{self.name} does not speak TLS"
        return ssl.create_default_context(cafile=self.certificate)

    @property
    def http_url(self) -> str:
        return f"{'https' if self.certificate else 'http'}://{HOST}:{self.port}"

    @property
    def graphql_url(self) -> str:
        return f"{self.http_url}/graphql"

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self.certificate else 'ws'}://{HOST}:{self.port}/graphql"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self) -> None:
        """Start the process (again, on the same port) and wait until /healthz answers."""
        assert not self.running, f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            log.write(f"--- starting {self.name} on port {self.port}\n".encode())
            log.flush()
            # Popen returns once the child is forked: nothing here blocks the event loop.
            self.process = subprocess.Popen(  # noqa: ASYNC220 (our executable, no shell)
                _command(),
                env=self._env,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal is pytest's, not ours
            )
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        verify = self.client_tls() if self.certificate else True
        async with httpx.AsyncClient(timeout=2.0, verify=verify) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    raise RuntimeError(f"{self.name} exited while starting:\n{self.log_tail()}")
                try:
                    response = await http.get(f"{self.http_url}/healthz")
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name} not healthy in {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def send_signal(self, signum: signal.Signals) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, with no cleanup of any kind."""
        if self.process is not None and self.running:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=STOP_TIMEOUT_S)

    async def wait_exit(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """The exit status once the process has ended; TimeoutError if it does not."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.name} still running after {timeout_s} s")
            await asyncio.sleep(0.05)
        return self.process.returncode

    async def stop(self) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL if it does not end in time."""
        if not self.running:
            return
        self.send_signal(signal.SIGTERM)
        try:
            await self.wait_exit()
        except TimeoutError:
            self.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def local_ports(self, remote_port: int | None = None) -> set[int]:
        """The local TCP ports of this process's sockets (Linux /proc), only those connected to
        `remote_port` when given: e.g. to tell which PostgreSQL backend belongs to it through
        pg_stat_activity.client_port."""
        inodes: set[str] = set()
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        ports: set[int] = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                rows = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                remote = int(fields[2].rsplit(":", 1)[1], 16)
                if fields[9] in inodes and remote_port in (None, remote):
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports

    def __repr__(self) -> str:
        return f"<Server {self.name} :{self.port} {'up' if self.running else 'down'}>"


class ServerSet:
    """The servers of a test module: started on demand, all stopped at the end."""

    def __init__(
        self, *, database_url: str, redis_url: str | None, data_dir: Path, log_dir: Path
    ) -> None:
        self._database_url = database_url
        self._redis_url = redis_url
        self._data_dir = data_dir
        self._log_dir = log_dir
        self.servers: list[Server] = []

    async def start(self, name: str, env: Mapping[str, str] | None = None) -> Server:
        server = Server(
            name,
            database_url=self._database_url,
            redis_url=self._redis_url,
            data_dir=self._data_dir,
            log_dir=self._log_dir,
            env=env,
        )
        self.servers.append(server)
        await server.start()
        return server

    async def start_many(self, *names: str, env: Mapping[str, str] | None = None) -> list[Server]:
        return list(await asyncio.gather(*(self.start(name, env) for name in names)))

    async def ensure_running(self, *servers: Server) -> None:
        """Restart, on their ports, any of `servers` that a test stopped or killed."""
        await asyncio.gather(*(server.start() for server in servers if not server.running))

    async def stop_all(self) -> None:
        await asyncio.gather(*(server.stop() for server in self.servers))


@asynccontextmanager
async def serving(
    name: str,
    *,
    database_url: str,
    data_dir: Path,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Server]:
    """One started `bff serve` (no Redis, small pools: a test module's own), stopped after."""
    server = Server(
        name,
        database_url=database_url,
        redis_url=None,
        data_dir=data_dir,
        log_dir=log_dir,
        env={"BFF_DB_POOL_SIZE": "2", "BFF_DB_MAX_OVERFLOW": "2", **(env or {})},
    )
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
