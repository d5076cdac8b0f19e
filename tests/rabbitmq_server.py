"""A RabbitMQ node of a test's own (the machine's server binaries, its own port and data
directory), for tests that stop and restart the broker without touching the shared one."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers import HOST, free_port

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


# Debian's /usr/sbin/rabbitmq-server runs this script under `su`, in a session of its own,
# where stopping the wrapper leaves the node serving; the script itself stops the node
# cleanly on SIGTERM.
SERVER_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def rabbitmq_executable() -> str | None:
    if SERVER_SCRIPT.exists():
        return str(SERVER_SCRIPT)
    return shutil.which("rabbitmq-server")


class RabbitNode:
    def __init__(self) -> None:
        self.port = free_port()
        # Under /tmp itself: the node runs as another user, who cannot enter pytest's own
        # (owner-only) temporary directories.
        self.directory = Path(tempfile.mkdtemp(prefix="bff-rabbitmq-"))
        self.name = f"bfftest{self.port}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{HOST}:{self.port}/"

    def start(self) -> None:
        """Start the node (again, on the same port and data) and wait until it accepts."""
        executable = rabbitmq_executable()
        if executable is None:
            raise RuntimeError("rabbitmq-server is not installed")
        for sub in ("db", "log"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        plugins = self.directory / "plugins"
        plugins.write_text("[].\n")
        user = _rabbitmq_user()
        if user is not None:
            for path in (self.directory, *self.directory.rglob("*")):
                os.chown(path, user.pw_uid, user.pw_gid)
        environment = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": HOST,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "db"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_PID_FILE": str(self.directory / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "none"),
            "HOME": str(self.directory),  # the Erlang cookie of this node only
        }
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [executable],
                env=environment,
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=None if user is None else user.pw_uid,
                group=None if user is None else user.pw_gid,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: see {self.directory}/server.log")
            if self._accepts():
                return
            time.sleep(0.2)
        raise RuntimeError("rabbitmq-server did not start")

    def stop(self) -> None:
        """Stop the node cleanly (messages of durable queues survive a restart)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        self.process = None
        if self._accepts():
            raise RuntimeError(f"rabbitmq-server still accepts on port {self.port}")

    def _accepts(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex((HOST, self.port)) == 0

    def remove(self) -> None:
        """Stop the node and delete its data."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _rabbitmq_user() -> pwd.struct_passwd | None:
    """The user the node runs as when started by root, as Debian's wrapper would."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("rabbitmq")
    except KeyError:
        return None
