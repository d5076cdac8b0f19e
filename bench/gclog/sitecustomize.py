"""Loaded by the benchmark's server process only (its PYTHONPATH names this folder): appends
every garbage collection that paused the process for 5 ms or more to $BENCH_GC_LOG, as
`<CLOCK_MONOTONIC at its start> <milliseconds> <generation>`, so that the harness can put
latency outliers next to collector pauses. Nothing else changes in the server."""

import gc
import os
import time

_PATH = os.environ.get("BENCH_GC_LOG")
_MIN_S = 0.005

if _PATH:
    _fd = os.open(_PATH, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    _started = [0.0]

    def _log(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _started[0] = time.monotonic()
            return
        paused = time.monotonic() - _started[0]
        if paused >= _MIN_S:
            line = f"{_started[0]:.6f} {paused * 1000:.1f} {info['generation']}\n"
            os.write(_fd, line.encode())

    gc.callbacks.append(_log)
