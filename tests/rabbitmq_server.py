"""A RabbitMQ node of a test's own (the machine's server binaries, its own port and data
directory), for tests that stop and restart the broker without touching the shared one."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers import HOST, free_port

START_TIMEOUT_S = 60.0


def rabbitmq_executable() -> str | None:
    return shutil.which("rabbitmq-server") or (
        "/usr/sbin/rabbitmq-server" if Path("/usr/sbin/rabbitmq-server").exists() else None
    )


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
        self._hand_over(self.directory)
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
        }
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [executable], env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited: see {self.directory}/server.log")
            with socket.socket() as probe:
                if probe.connect_ex((HOST, self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError("rabbitmq-server did not start")

    def stop(self) -> None:
        """Stop the node cleanly (messages of durable queues survive a restart)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
            self.process = None

    def remove(self) -> None:
        """Stop the node and delete its data."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    @staticmethod
    def _hand_over(directory: Path) -> None:
        # Started as root, the server script runs the node as the `rabbitmq` user.
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam("rabbitmq")
        except KeyError:
            return
        for path in (directory, *directory.rglob("*")):
            os.chown(path, user.pw_uid, user.pw_gid)
