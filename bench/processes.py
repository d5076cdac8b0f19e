"""The child processes of a benchmark run (servers, load generators, pgbench), always stopped.

Every child starts in its own session (process group), so a uvicorn supervisor and its workers
stop together, and a Ctrl-C in the terminal reaches only the harness, which then stops them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Processes:
    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.running: list[subprocess.Popen[Any]] = []

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> tuple[subprocess.Popen[Any], Path]:
        log_path = self.scratch / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(process)
        return process, log_path

    def run(
        self,
        name: str,
        argv: Sequence[str],
        timeout_s: float,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Run a child to completion; its stdout, or BenchError with the tail of its stderr."""
        with tempfile.TemporaryFile(dir=self.scratch) as out:
            with open(self.scratch / f"{name}.log", "ab") as err:
                process = subprocess.Popen(
                    list(argv),
                    cwd=ROOT,
                    env=dict(env) if env is not None else None,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
                self.running.append(process)
                try:
                    code = process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self.stop(process)
                    raise BenchError(f"{name} did not finish within {timeout_s:.0f} s") from None
                finally:
                    if process in self.running:
                        self.running.remove(process)
            out.seek(0)
            stdout = out.read().decode(errors="replace")
        if code != 0:
            raise BenchError(f"{name} exited with {code}:\n{tail(self.scratch / f'{name}.log')}")
        return stdout

    def stop(self, process: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=grace_s)
        else:
            # The group leader is gone; make sure none of its workers outlived it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            with contextlib.suppress(Exception):
                self.stop(process)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_ready(
    process: subprocess.Popen[Any], log_path: Path, port: int, timeout_s: float = 60.0
) -> None:
    """Poll GET /healthz until it answers 200; fail early when the server dies."""
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{port}/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"server on port {port} exited early:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise BenchError(f"server on port {port} not ready after {timeout_s:.0f} s:\n{tail(log_path)}")


def bff_argv() -> list[str]:
    """The BFF exactly as shipped: `bff serve` (host, port and workers from BFF_* variables)."""
    return [sys.executable, "-m", "bff.cli", "serve"]


def uvicorn_argv(factory: str, port: int, workers: int) -> list[str]:
    """The baseline under the same server with the flags `bff serve` passes to uvicorn."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--no-proxy-headers",
        "--log-level",
        "warning",
        "--lifespan",
        "on",
    ]


def run_loadgen(processes: Processes, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator in its own process (not on the harness's or a server's loop)."""
    spec_path = processes.scratch / f"{name}.json"
    spec_path.write_text(json.dumps(spec))
    timeout = spec["warmup_s"] + spec["duration_s"] + 90
    output = processes.run(
        name, [sys.executable, "-m", "bench.loadgen", str(spec_path)], timeout_s=timeout
    )
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result
