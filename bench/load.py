"""`make load`: a bounded load test of `bff serve` (BFF_WORKERS=2, Redis) by a population of app
users simulated with locust (bench/locustfile.py), all on loopback.

It seeds LOAD_CUSTOMERS customers (each with a funded account and a session) in a fresh
database, starts the server, runs locust headless with LOAD_USERS users spawned over the first
LOAD_SPAWN_SECONDS of LOAD_SECONDS in all, and prints: users, requests per second, average and
p95 latency, error rate and open subscriptions (the server's gauge and the clients' count), with
the machine and its load. Defaults (2,000 users, 150 s) finish in about three minutes.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from bench.database import open_postgres
from bench.processes import BenchError, Processes, bff_argv, free_port, wait_until_ready
from bench.world import World
from bench.ws import raise_fd_limit
from bff.config import Settings
from bff.db import migrate
from bff.domain.rbac import Role
from bff.runtime import build_runtime

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/14")
GOAL_ERROR_RATE = 0.001
GOAL_AVERAGE_MS = 200.0


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


async def _seed(settings: Settings, url: str, customers: int) -> dict[str, object]:
    """Customers with a funded account and a logged-in session each."""
    runtime = build_runtime(settings, url)  # also writes the key ring the server will load
    try:
        world = World(runtime)
        world.operator = await world.person("operator", Role.OPERATOR)
        people = await asyncio.gather(*(world.person(f"load-{i}") for i in range(customers)))
        await asyncio.gather(*(world.open_funded(person, "Everyday") for person in people))
        return {
            "password": world.password,
            "customers": [
                {"email": p.user.email, "token": p.token, "account": p.account_ids[0]}
                for p in people
            ],
        }
    finally:
        await runtime.close()


def _metric(port: int, name: str) -> float:
    """A family's value summed over its samples (both workers) from the server's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(match.group(1))
        for match in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, flags=re.MULTILINE)
    )


def _aggregated(stats_csv: Path) -> dict[str, str]:
    with open(stats_csv) as stats:
        return next(row for row in csv.DictReader(stats) if row["Name"] == "Aggregated")


def main() -> None:
    users = _env_int("LOAD_USERS", 2000)
    seconds = _env_int("LOAD_SECONDS", 150)
    spawn_s = _env_int("LOAD_SPAWN_SECONDS", min(60, seconds // 2))
    customers = _env_int("LOAD_CUSTOMERS", min(users, 200))
    raise_fd_limit(2 * users + 4096)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bff-load-") as scratch_dir:
        scratch = Path(scratch_dir)
        processes = Processes(scratch)
        stack.callback(processes.stop_all)
        postgres = open_postgres(stack, scratch)
        stack.callback(lambda: asyncio.run(postgres.drop_databases()))
        url = asyncio.run(postgres.create_database("bff_load"))
        migrate.upgrade(url)
        port, metrics_port = free_port(), free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("BFF_", "LOAD_"))},
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "BFF_DATA_DIR": str(scratch / "data"),
            "BFF_ENV": "development",
            "BFF_HOST": "127.0.0.1",
            "BFF_PORT": str(port),
            "BFF_WORKERS": "2",
            "BFF_METRICS_PORT": str(metrics_port),
            "BFF_DOCUMENTS_MODE": "open",
            # Every simulated phone comes from 127.0.0.1: per-address budgets sized for that.
            "BFF_RATE_LIMIT_LOGIN": "1000000",
            "BFF_RATE_LIMIT_MONEY": "1000000",
            "BFF_RATE_LIMIT_MUTATIONS": "1000000",
            # Screening would hold the population's bursts of transfers for review.
            "BFF_FRAUD_SCREENING": "false",
            "BFF_LOG_LEVEL": "WARNING",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("BFF_")})
        os.environ.update({"DATABASE_URL": url, "REDIS_URL": REDIS_URL})
        print(f"seeding {customers} customers ...", flush=True)
        population = asyncio.run(_seed(Settings(), url, customers))
        population_file = scratch / "population.json"
        population_file.write_text(json.dumps(population))
        server, log = processes.start("server", bff_argv(), env=env)
        wait_until_ready(server, log, port, timeout_s=120)
        subscriptions_file = scratch / "subscriptions"
        load_before = os.getloadavg()
        locust = [
            sys.executable,
            "-m",
            "locust",
            *("-f", str(ROOT / "bench" / "locustfile.py")),
            "--headless",
            "--only-summary",
            *("--users", str(users)),
            *("--spawn-rate", f"{users / max(spawn_s, 1):.1f}"),
            *("--run-time", f"{seconds}s"),
            *("--host", f"http://127.0.0.1:{port}"),
            *("--csv", str(scratch / "load")),
            "--stop-timeout",
            "5",
            "--loglevel",
            "WARNING",
        ]
        print(f"{users} users for {seconds} s (spawned over {spawn_s} s) ...", flush=True)
        started = time.monotonic()
        client = subprocess.Popen(
            locust,
            cwd=ROOT,
            env={
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "LOAD_POPULATION": str(population_file),
                "LOAD_SUBSCRIPTIONS_FILE": str(subscriptions_file),
            },
            stdout=subprocess.DEVNULL,
            stderr=open(scratch / "locust.log", "wb"),  # noqa: SIM115 (closed with the dir)
        )
        server_open = client_open = peak_connections = 0.0
        while client.poll() is None:
            time.sleep(5)
            if time.monotonic() - started < seconds - 3:  # the last sample still under load
                server_open = _metric(metrics_port, "bff_graphql_subscriptions")
                peak_connections = max(
                    peak_connections, _metric(metrics_port, "bff_websocket_connections")
                )
                if subscriptions_file.exists():
                    client_open = float(subscriptions_file.read_text() or 0)
        if server.poll() is not None:
            raise BenchError("the server died during the run")
        row = _aggregated(scratch / "load_stats.csv")
        requests, failures = int(row["Request Count"]), int(row["Failure Count"])
        error_rate = failures / requests if requests else 1.0
        average = float(row["Average Response Time"])
        _report(
            users,
            customers,
            seconds,
            float(row["Requests/s"]),
            average,
            float(row["95%"]),
            error_rate,
            server_open,
            client_open,
            peak_connections,
            load_before,
        )
        if failures:
            failures_csv = scratch / "load_failures.csv"
            print("failures (first 5):")
            print("".join(failures_csv.read_text().splitlines(keepends=True)[1:6]))
        ok = error_rate < GOAL_ERROR_RATE and average < GOAL_AVERAGE_MS
        sys.exit(0 if ok else 1)


def _report(
    users: int,
    customers: int,
    seconds: int,
    rps: float,
    average: float,
    p95: float,
    error_rate: float,
    server_open: float,
    client_open: float,
    peak_connections: float,
    load_before: tuple[float, float, float],
) -> None:
    cores = os.cpu_count()
    print(
        f"\nmake load: `bff serve` BFF_WORKERS=2, Redis, locust on loopback, {cores} cores\n"
        f"  concurrent users      {users} ({customers} customers; 95 % idle on their stream)\n"
        f"  run                   {seconds} s, ramp included\n"
        f"  requests per second   {rps:.1f}\n"
        f"  average latency       {average:.0f} ms (goal < {GOAL_AVERAGE_MS:.0f})\n"
        f"  p95 latency           {p95:.0f} ms\n"
        f"  error rate            {error_rate:.3%} (goal < {GOAL_ERROR_RATE:.1%})\n"
        f"  open subscriptions    {server_open:.0f} (server gauge), {client_open:.0f} (clients)\n"
        f"  WebSocket connections {peak_connections:.0f} at the most\n"
        f"  load average before   {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.exit(f"make load: {error}")
