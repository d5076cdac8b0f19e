"""pgbench `tpcb-like` on a scratch database of the same server: the database's own speed for a
short read-write transaction, measured like the load generator measures (transactions completed
inside the window after the warm-up, with their latencies, read from pgbench's per-transaction
log)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bench.processes import BenchError, Processes


def initialise(processes: Processes, pgbench: str, url: str) -> None:
    processes.run("pgbench-init", [pgbench, "-i", "-s", "1", "-q", url], timeout_s=120)


def run(
    processes: Processes,
    pgbench: str,
    url: str,
    clients: int,
    warmup_s: float,
    duration_s: float,
    name: str,
) -> dict[str, Any]:
    log_dir = processes.scratch / name
    log_dir.mkdir()
    total_s = int(warmup_s + duration_s + 1.999)
    argv = [
        pgbench,
        "-b",
        "tpcb-like",
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(total_s),
        "-l",
        "--log-prefix",
        str(log_dir / "tx"),
        url,
    ]
    output = processes.run(name, argv, timeout_s=total_s + 60)
    finished: list[tuple[float, float]] = []  # (completion time, latency) in seconds
    for path in sorted(Path(log_dir).iterdir()):
        for line in path.read_text().splitlines():
            fields = line.split()
            # client_id transaction_no time script_no time_epoch time_us [...]
            if len(fields) < 6 or not fields[2].isdigit():
                continue  # failed or skipped transactions
            completed = int(fields[4]) + int(fields[5]) / 1e6
            finished.append((completed, int(fields[2]) / 1e6))
    if not finished:
        raise BenchError(f"pgbench logged no transaction:\n{output}")
    start = min(completed for completed, _ in finished) + warmup_s
    end = start + duration_s
    latencies = sorted(latency for completed, latency in finished if start <= completed <= end)
    reported = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    return {
        "requests": len(latencies),
        "seconds": duration_s,
        "rps": len(latencies) / duration_s,
        "latencies_ms": [round(value * 1000, 3) for value in latencies],
        "errors": 0,
        "error_sample": None,
        "pgbench_reported_tps": float(reported.group(1)) if reported else None,
    }
