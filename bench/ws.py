"""`python -m bench`, live subscriptions: each case on a fresh `bff serve` process.

Cases (each one its own server process, BFF_WORKERS=1, so RSS and CPU are those of the one
process that serves everything, the outbox relay included):

- shared, at BENCH_WS_SMALL (1,000) and BENCH_WS_SUBSCRIPTIONS (10,000) subscriptions: every
  connection is one app instance of one customer watching all of that customer's accounts, so it
  carries A subscriptions; connection i belongs to customer i mod C (C customers with A accounts
  each, 100 x 10 by default). 10,000 subscriptions are 1,000 connections and every account is
  watched by 10 of them (the same account open on several devices and screens); 1,000 are one
  connection per customer. Transfers at BENCH_WS_RATE (50/s).
- distinct, at BENCH_WS_DISTINCT (10,000) subscriptions: every connection watches one account and
  no two watch the same one (phones, each showing its own account), so no two subscribers share
  an event: every delivery is paid in full. The accounts belong to as many customers as it takes
  at A accounts each. Transfers at BENCH_WS_DISTINCT_RATE (250/s, as high as this machine's
  transfer process sustains); printed: deliveries per second, and per core of server CPU.
- idle, at BENCH_WS_IDLE (50,000) subscriptions in the shared layout: memory per subscription,
  and latency under a light BENCH_WS_IDLE_RATE (10/s).

In each: start the server, open one connection and close it (so that what the first subscription
initialises once per process is not counted), read RSS, open all the subscriptions, wait for the
streams to settle (each reads the database once more 1 s after it started), read RSS again, then
run the transfer load, then close everything and stop the server. Memory per subscription is
(RSS after - RSS before) / subscriptions.

Latency of one received event = its receipt time in the subscriber process (CLOCK_MONOTONIC,
stamped when the client's event loop hands the message over) minus the time at which
`create_transfer` returned in the transfer process (the same clock; its last step is the
COMMIT). That "commit as its client sees it" comes at most one loopback round trip after the
commit was visible to the relay's NOTIFY; the receipt includes the subscriber process's own
queueing (its loop lag is printed). Also shown: the p99 measured from just before the call, an
upper bound. The server's garbage-collector pauses of 5 ms or more during the run are logged by
bench/gclog/sitecustomize.py (a gc callback, nothing else) and summarised.

Clients send no Origin (like the mobile apps) and offer permessage-deflate, as browsers and OkHttp
do (the server declines it).

Knobs (environment): BENCH_WS_SUBSCRIPTIONS (10000), BENCH_WS_SMALL (1000; 0 skips it),
BENCH_WS_DISTINCT (10000; 0 skips), BENCH_WS_IDLE (50000; 0 skips), BENCH_WS_CUSTOMERS (100),
BENCH_WS_ACCOUNTS_PER_CUSTOMER (10), BENCH_WS_RATE (50 transfers/s), BENCH_WS_DISTINCT_RATE (250),
BENCH_WS_IDLE_RATE (10), BENCH_WS_WARMUP_S (2), BENCH_WS_DURATION_S (15 measured seconds per
case), BENCH_WS_BROKER (redis or memory; redis when BENCH_REDIS_URL answers,
redis://127.0.0.1:6379/15 by default), BENCH_WS_COMPRESSION (deflate or none), BENCH_WS_GC_LOG (1;
0 starts the server without the gc callback).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

from bench.database import Postgres
from bench.processes import BenchError, Processes, bff_argv, free_port, tail, wait_until_ready
from bench.world import Person, World
from bench.ws_clients import Fleet, Plan
from bff.config import Settings
from bff.db import migrate
from bff.domain.rbac import Role
from bff.runtime import build_runtime

MEMORY_TARGET_KIB = 32.0
LATENCY_TARGET_MS = 100.0
CPU_TARGET = 0.5  # share of one core, shared case at its largest size
PER_CORE_TARGET = 10_000.0  # deliveries per second per core of server CPU, distinct case
OPEN_CONCURRENCY = 32  # connection handshakes in flight while the subscribers join
SETTLE_S = 3.0  # each stream reads the database once more, 1 s after it started
DRAIN_S = 5.0  # how long events of the last transfers may take before they count as missing
TICKS = os.sysconf("SC_CLK_TCK")
GC_LOG_DIR = Path(__file__).resolve().parent / "gclog"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class WsConfig:
    subscriptions: int
    small: int
    distinct: int
    idle: int
    customers: int
    accounts_per_customer: int
    rate: float
    distinct_rate: float
    idle_rate: float
    warmup_s: float
    duration_s: float
    broker: str  # "redis", "memory", or "" for redis when it answers
    redis_url: str
    compression: bool
    gc_log: bool

    @classmethod
    def from_env(cls) -> WsConfig:
        config = cls(
            subscriptions=_env_int("BENCH_WS_SUBSCRIPTIONS", 10_000),
            small=_env_int("BENCH_WS_SMALL", 1_000),
            distinct=_env_int("BENCH_WS_DISTINCT", 10_000),
            idle=_env_int("BENCH_WS_IDLE", 50_000),
            customers=_env_int("BENCH_WS_CUSTOMERS", 100),
            accounts_per_customer=_env_int("BENCH_WS_ACCOUNTS_PER_CUSTOMER", 10),
            rate=_env_float("BENCH_WS_RATE", 50),
            distinct_rate=_env_float("BENCH_WS_DISTINCT_RATE", 250),
            idle_rate=_env_float("BENCH_WS_IDLE_RATE", 10),
            warmup_s=_env_float("BENCH_WS_WARMUP_S", 2),
            duration_s=_env_float("BENCH_WS_DURATION_S", 15),
            broker=os.environ.get("BENCH_WS_BROKER", ""),
            redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
            compression=os.environ.get("BENCH_WS_COMPRESSION", "deflate") != "none",
            gc_log=os.environ.get("BENCH_WS_GC_LOG", "1") not in ("0", "no", "false"),
        )
        per = config.accounts_per_customer
        shared = (config.subscriptions, config.small, config.idle)
        if any(size % per for size in shared) or config.small > config.subscriptions:
            raise BenchError(
                f"BENCH_WS_SUBSCRIPTIONS ({config.subscriptions}), BENCH_WS_SMALL "
                f"({config.small}) and BENCH_WS_IDLE ({config.idle}) must be multiples of "
                f"BENCH_WS_ACCOUNTS_PER_CUSTOMER ({per}), the small one not larger"
            )
        if config.broker not in ("", "redis", "memory"):
            raise BenchError("BENCH_WS_BROKER must be redis or memory")
        if os.environ.get("BENCH_WS_COMPRESSION", "deflate") not in ("deflate", "none"):
            raise BenchError("BENCH_WS_COMPRESSION must be deflate or none")
        return config

    @property
    def cases(self) -> list[Case]:
        shared = [
            Case("shared", size, self.rate) for size in sorted({self.small, self.subscriptions})
        ]
        optional = [
            Case("distinct", self.distinct, self.distinct_rate),
            Case("idle", self.idle, self.idle_rate),
        ]
        return [case for case in shared + optional if case.subscriptions > 0]

    @property
    def customers_needed(self) -> int:
        """Customers enough for the distinct case to watch a different account per connection."""
        return max(self.customers, math.ceil(self.distinct / self.accounts_per_customer))


@dataclass(frozen=True)
class Case:
    """What one server process is measured with: a layout, a size and a transfer rate."""

    layout: str  # "shared", "distinct" or "idle"
    subscriptions: int
    rate: float

    @property
    def label(self) -> str:
        return f"{self.subscriptions} {self.layout}"


@dataclass
class Size:
    """One case: the server's memory with its idle subscriptions, then the latency run."""

    case: Case
    subscriptions: int
    connections: int
    open_s: float
    rss_before: int
    rss_after: int
    rss_peak: int
    transfers: int = 0  # measured transfers that committed
    expected: int = 0  # events the measured transfers should reach subscribers with
    after_ms: list[float] | None = None  # receipt - after the call returned, sorted
    before_ms: list[float] | None = None  # receipt - before the call, sorted
    call_ms: list[float] | None = None  # duration of create_transfer, sorted
    errors: int = 0
    error_sample: str | None = None
    skipped: int = 0
    server_cpu: float = 0.0  # share of one core over the latency run
    client_cpu: float = 0.0
    client_lag_ms: list[float] | None = None  # how late the subscriber loop ran a 10 ms timer
    gc_pauses_ms: list[float] | None = None  # the server's collector pauses >= 5 ms, in order
    gc_longest_generation: int | None = None  # which generation the longest pause collected
    deliveries_per_s: float = 0.0  # every message the subscribers received, over the run

    @property
    def kib_per_subscription(self) -> float:
        return (self.rss_after - self.rss_before) / self.subscriptions / 1024

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_after - self.rss_before) / self.connections / 1024

    @property
    def received(self) -> int:
        return len(self.after_ms or [])

    @property
    def missing(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def per_core(self) -> float:
        """Deliveries per second per core of server CPU."""
        return self.deliveries_per_s / self.server_cpu if self.server_cpu else float("nan")


def percentile(ordered: list[float] | None, fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(value.split()[0]) * 1024
    return values


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def raise_fd_limit(needed: int) -> None:
    """Let this process and the servers it starts (children inherit it) hold every socket."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchError(f"RLIMIT_NOFILE hard limit {hard} is below the {needed} sockets needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _redis_answers(url: str) -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(client.ping())
    except (RedisError, OSError):
        return False
    finally:
        client.close()


def _gc_pauses(path: Path, start: float, end: float) -> list[tuple[float, int]]:
    """The collector pauses logged between `start` and `end`: (milliseconds, generation)."""
    if not path.exists():
        return []
    pauses = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) != 3 or line.startswith("#"):
            continue
        at, paused, generation = fields
        if start <= float(at) <= end:
            pauses.append((float(paused), int(generation)))
    return pauses


async def _populate(config: WsConfig, settings: Settings, url: str) -> list[Person]:
    runtime = build_runtime(settings, url)  # also writes the JWT key ring the servers will load
    try:
        world = World(runtime)
        world.operator = await world.person("operator", Role.OPERATOR)
        customers = await asyncio.gather(
            *(world.person(f"live-{index}") for index in range(config.customers_needed))
        )

        async def accounts(customer: Person) -> None:
            for index in range(config.accounts_per_customer):
                await world.open_funded(customer, f"Account {index + 1}")

        await asyncio.gather(*(accounts(customer) for customer in customers))
        return list(customers)
    except Exception as error:  # whatever it is, the run cannot measure: say so in one line
        raise BenchError(
            f"could not build the customers: {type(error).__name__}: {error}"[:300]
        ) from error
    finally:
        await runtime.close()


def _plans(config: WsConfig, case: Case, customers: list[Person]) -> list[Plan]:
    """The connections of a case: whose token each carries and what it watches."""
    if case.layout == "distinct":
        watched = [
            (customer, account_id) for customer in customers for account_id in customer.account_ids
        ][: case.subscriptions]
        return [Plan(customer.token, [account_id]) for customer, account_id in watched]
    shared = customers[: config.customers]
    return [
        Plan(shared[index % len(shared)].token, shared[index % len(shared)].account_ids)
        for index in range(case.subscriptions // config.accounts_per_customer)
    ]


def run(config: WsConfig, processes: Processes, postgres: Postgres) -> bool:
    scratch = processes.scratch
    per = config.accounts_per_customer
    most = max(
        case.subscriptions // (1 if case.layout == "distinct" else per) for case in config.cases
    )
    raise_fd_limit(most + 1024)
    broker = config.broker or ("redis" if _redis_answers(config.redis_url) else "memory")
    if broker == "redis" and not _redis_answers(config.redis_url):
        raise BenchError(f"BENCH_WS_BROKER=redis but {config.redis_url} does not answer")
    url = asyncio.run(postgres.create_database("bff_bench_ws"))
    os.environ.update(
        {
            "DATABASE_URL": url,
            "BFF_DATA_DIR": str(scratch / "ws-data"),
            "BFF_ENV": "development",
            "BFF_HOST": "127.0.0.1",
            "BFF_WORKERS": "1",
            "BFF_WS_MAX_SUBSCRIPTIONS": str(max(20, per)),
        }
    )
    # The server's own pool defaults (10+10): the PostgreSQL server may be shared.
    for name in ("BFF_DB_POOL_SIZE", "BFF_DB_MAX_OVERFLOW", "BFF_REDIS_URL"):
        os.environ.pop(name, None)
    if broker == "redis":
        os.environ["REDIS_URL"] = config.redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    settings = Settings()
    where = f"Redis pub/sub ({config.redis_url})" if broker == "redis" else "in-memory"

    print(
        f"\n[4, 5] live subscriptions: `bff serve` with BFF_WORKERS=1, {where} broker, the "
        "outbox relay in that process; a fresh server per case"
    )
    started = time.monotonic()
    migrate.upgrade(url)
    customers = asyncio.run(_populate(config, settings, url))
    accounts = len(customers) * per
    print(
        f"  data    : {len(customers)} customers x {per} funded accounts = {accounts} accounts, "
        f"built through the domain API in {time.monotonic() - started:.1f} s"
    )
    shared = config.customers * per
    layouts = [
        f"{case.label}: {case.subscriptions // per} connections of {per} (one customer's app "
        f"watching all its accounts), {case.subscriptions // shared} per account, "
        f"{case.rate:g} transfers/s"
        if case.layout != "distinct"
        else f"{case.label}: {case.subscriptions} connections of one subscription, each a "
        f"different account, {case.rate:g} transfers/s"
        for case in config.cases
    ]
    print("  cases   : " + "\n            ".join(layouts))
    print(
        f"  load    : open loop through the domain API between random watched accounts, "
        f"{config.warmup_s:g} s warm-up + {config.duration_s:g} s measured per case; compression "
        f"{'offered' if config.compression else 'not offered'}, no Origin; load average before: "
        f"{', '.join(f'{load:.1f}' for load in os.getloadavg())}"
    )
    # The subscriber process keeps its setup objects out of the collector's way.
    gc.collect()
    gc.freeze()

    sizes = []
    for case in config.cases:
        port = free_port()
        gc_log = scratch / f"ws-server-{case.layout}-{case.subscriptions}.gc"
        env = {**os.environ, "BFF_PORT": str(port)}
        if config.gc_log:
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(GC_LOG_DIR), os.environ.get("PYTHONPATH")])
            )
            env["BENCH_GC_LOG"] = str(gc_log)
        name = f"ws-server-{case.layout}-{case.subscriptions}"
        server, log = processes.start(name, bff_argv(), env=env)
        plans = _plans(config, case, customers)
        try:
            wait_until_ready(server, log, port)
            measured = _measure(
                config, processes, server, log, customers, plans, case, port, gc_log
            )
            sizes.append(asyncio.run(measured))
        finally:
            processes.stop(server)
        if sizes and sizes[-1].case == case and (sizes[-1].missing or sizes[-1].errors):
            # A task that died in the server (the outbox relay, say) shows up at shutdown.
            for line in _exceptions(log):
                print(f"    server log: {line}")
    return _report(config, sizes)


def _exceptions(log: Path, most: int = 3) -> list[str]:
    """The last distinct exception lines of a server log."""
    found: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        head, colon, message = line.partition(": ")
        if colon and message and " " not in head and head.endswith(("Error", "Exception")):
            if line in found:
                found.remove(line)
            found.append(line[:300])
    return found[-most:]


async def _measure(
    config: WsConfig,
    processes: Processes,
    server: Popen[Any],
    log: Path,
    customers: list[Person],
    plans: list[Plan],
    case: Case,
    port: int,
    gc_log: Path,
) -> Size:
    if _children(server.pid):
        raise BenchError("the server runs worker processes: BFF_WORKERS=1 was not honoured")
    fleet = Fleet(f"ws://127.0.0.1:{port}/graphql", compression=config.compression)
    subscriptions = case.subscriptions
    try:
        # One connection first, so that what the first subscription initialises once per process
        # (lazy imports, schema caches, the relay's and pool's connections) is not counted.
        await fleet.open(plans[:1], 1)
        await fleet.close()
        await asyncio.sleep(SETTLE_S)
        before = _proc_status(server.pid)["VmRSS"]

        print(
            f"\n  {case.label}: {subscriptions} subscriptions on {len(plans)} connections ...",
            end="",
            flush=True,
        )
        started = time.monotonic()
        await fleet.open(plans, OPEN_CONCURRENCY)
        opened_s = time.monotonic() - started
        # The subscriber process's own collector must not pause it over thousands of sockets.
        gc.collect()
        gc.freeze()
        await asyncio.sleep(SETTLE_S)
        _check_alive(server, log, fleet)
        status = _proc_status(server.pid)
        size = Size(
            case=case,
            subscriptions=subscriptions,
            connections=len(plans),
            open_s=opened_s,
            rss_before=before,
            rss_after=status["VmRSS"],
            rss_peak=status["VmHWM"],
        )
        print(
            f" acknowledged with their SNAPSHOT in {opened_s:.1f} s "
            f"(extensions: {fleet.extensions or 'none'}); server RSS "
            f"{before / 2**20:.1f} -> {size.rss_after / 2**20:.1f} MiB: "
            f"{size.kib_per_subscription:.1f} KiB per subscription",
            flush=True,
        )
        await _latency(config, processes, server, log, fleet, customers, size, gc_log)
        return size
    finally:
        fleet.abort()


def _check_alive(server: Popen[Any], log: Path, fleet: Fleet) -> None:
    if server.poll() is not None:
        raise BenchError(f"the server exited:\n{tail(log)}")
    if fleet.failures:
        raise BenchError(f"{fleet.failures} streams ended, e.g. {fleet.failure_sample}")


async def _latency(
    config: WsConfig,
    processes: Processes,
    server: Popen[Any],
    log: Path,
    fleet: Fleet,
    customers: list[Person],
    size: Size,
    gc_log: Path,
) -> None:
    watching = fleet.subscribers_per_account()
    # Transfers only between watched accounts: every event has subscribers.
    accounts = [
        (global_id, account.id, owner)
        for owner, customer in enumerate(customers)
        for global_id, account in zip(customer.account_ids, customer.accounts, strict=True)
        if watching[global_id]
    ]
    name = f"ws-transfers-{size.case.layout}-{size.subscriptions}"
    result_path = processes.scratch / f"{name}.result.json"
    spec = {
        "accounts": [[str(account_id), owner] for _, account_id, owner in accounts],
        "owners": [str(customer.user.id) for customer in customers],
        "roles": sorted(role.value for role in customers[0].user.roles),
        "rate": size.case.rate,
        "warmup_s": config.warmup_s,
        "duration_s": config.duration_s,
        "result_path": str(result_path),
    }
    spec_path = processes.scratch / f"{name}.json"
    spec_path.write_text(json.dumps(spec))

    print("    transfers running ...", end="", flush=True)
    fleet.receipts.clear()
    fleet.recording = True
    messages = fleet.messages
    server_cpu, client_cpu = _cpu_seconds(server.pid), time.process_time()
    lags: list[float] = []
    watcher = asyncio.create_task(fleet.watch_lag(lags))
    started = time.monotonic()
    driver, driver_log = processes.start(
        name, [sys.executable, "-m", "bench.ws_transfers", str(spec_path)]
    )
    deadline = started + config.warmup_s + config.duration_s + 60
    try:
        while driver.poll() is None:
            if time.monotonic() > deadline:
                raise BenchError(f"{name} did not finish in time:\n{tail(driver_log)}")
            await asyncio.sleep(0.2)
    finally:
        processes.stop(driver)
    if driver.returncode != 0 or not result_path.exists():
        raise BenchError(f"{name} exited with {driver.returncode}:\n{tail(driver_log)}")
    result = json.loads(result_path.read_text())

    first = result["measured_from_index"]
    committed = {int(row[0]): (row[1], row[2], row[3], row[4]) for row in result["done"]}
    measured = {index: times for index, times in committed.items() if index >= first}
    expected = sum(
        watching[accounts[source][0]] + watching[accounts[destination][0]]
        for _, _, source, destination in measured.values()
    )

    def received() -> int:
        return sum(1 for index, _ in fleet.receipts if index in measured)

    for _ in range(int(DRAIN_S / 0.1)):  # the last transfers' events may still be on the way
        if received() >= expected:
            break
        await asyncio.sleep(0.1)
    watcher.cancel()
    ended = time.monotonic()
    size.server_cpu = (_cpu_seconds(server.pid) - server_cpu) / (ended - started)
    size.client_cpu = (time.process_time() - client_cpu) / (ended - started)
    size.deliveries_per_s = (fleet.messages - messages) / (ended - started)
    fleet.recording = False
    _check_alive(server, log, fleet)

    after_ms, before_ms = [], []
    for index, at in fleet.receipts:
        times = measured.get(index)
        if times is not None:
            after_ms.append((at - times[1]) * 1000)
            before_ms.append((at - times[0]) * 1000)
    size.transfers = len(measured)
    size.expected = expected
    size.after_ms = sorted(after_ms)
    size.before_ms = sorted(before_ms)
    size.call_ms = sorted((times[1] - times[0]) * 1000 for times in measured.values())
    size.errors = result["errors"]
    size.error_sample = result["error_sample"]
    size.skipped = result["skipped"]
    size.client_lag_ms = sorted(lags)
    pauses = _gc_pauses(gc_log, started, ended)
    size.gc_pauses_ms = [paused for paused, _ in pauses]
    size.gc_longest_generation = max(pauses)[1] if pauses else None
    print(
        f" {size.transfers} measured, {size.received} of {size.expected} events received, "
        f"p99 {percentile(size.after_ms, 0.99):.1f} ms",
        flush=True,
    )
    if size.errors or size.skipped:
        print(
            f"    {size.errors} failed and {size.skipped} skipped transfers, "
            f"e.g. {size.error_sample}"
        )


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        cell.ljust(width) if index == 0 else cell.rjust(width)
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def _table(header: list[str], rows: list[list[str]], widths: list[int]) -> None:
    print(_row(header, widths))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for row in rows:
        print(_row(row, widths))


def _report(config: WsConfig, sizes: list[Size]) -> bool:
    print()
    _table(
        [
            "idle subscriptions",
            "conns",
            "open s",
            "RSS before",
            "RSS after",
            "peak",
            "KiB/sub",
            "KiB/conn",
        ],
        [
            [
                size.case.label,
                str(size.connections),
                f"{size.open_s:.1f}",
                f"{size.rss_before / 2**20:.1f} MiB",
                f"{size.rss_after / 2**20:.1f} MiB",
                f"{size.rss_peak / 2**20:.1f} MiB",
                f"{size.kib_per_subscription:.1f}",
                f"{size.kib_per_connection:.1f}",
            ]
            for size in sizes
        ],
        [26, 6, 7, 11, 11, 11, 8, 8],
    )
    print()
    _table(
        [
            "commit-to-receipt",
            "tps",
            "events",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99 ms*",
            "commit",
            "server",
            "client",
            "deliv/s",
            "per core",
            "lag max",
            "GC max",
            "GC>=100",
        ],
        [
            [
                size.case.label,
                f"{size.case.rate:g}",
                f"{size.received}/{size.expected}",
                f"{percentile(size.after_ms, 0.50):.1f}",
                f"{percentile(size.after_ms, 0.99):.1f}",
                f"{percentile(size.after_ms, 1.0):.1f}",
                f"{percentile(size.before_ms, 0.99):.1f}",
                f"{percentile(size.call_ms, 0.50):.1f}",
                f"{size.server_cpu:.0%}",
                f"{size.client_cpu:.0%}",
                f"{size.deliveries_per_s:.0f}",
                f"{size.per_core:.0f}",
                f"{percentile(size.client_lag_ms, 1.0):.0f}",
                _longest_pause(size) if config.gc_log else "-",
                str(_long_pauses(size)) if config.gc_log else "-",
            ]
            for size in sizes
        ],
        [16, 4, 11, 7, 7, 7, 7, 6, 6, 6, 7, 8, 7, 8, 7],
    )
    print(
        "  events: received / expected (every subscriber of both accounts of each measured "
        "transfer); p99 ms*: from just before the\n  transfer call (an upper bound); commit: "
        "create_transfer p50 ms; server, client: CPU of the server and of the subscriber\n"
        "  process, share of one core; deliv/s: messages the subscribers received per second "
        "over the run; per core: deliv/s\n  divided by the server's CPU share; lag max: the "
        "subscriber loop's worst lateness, ms; GC max, GC>=100: the server's\n  longest "
        "garbage-collector pause (ms, gN: of generation N) and how many lasted 100 ms or more "
        "during the run"
    )

    print()
    rows: list[list[str]] = []
    passed = True

    def verdict(what: str, value: float, shown: str, target: str, ok: bool, clean: bool) -> None:
        nonlocal passed
        passed = passed and ok and clean
        result = "PASS" if ok and clean else "FAIL" if clean else "FAIL (lost events or errors)"
        rows.append([what, shown.format(value), target, result])

    memory = next((s for s in sizes if s.case.layout == "idle"), sizes[-1])
    verdict(
        f"server memory per idle subscription ({memory.case.label}), KiB",
        memory.kib_per_subscription,
        "{:.1f}",
        f"<= {MEMORY_TARGET_KIB:g}",
        memory.kib_per_subscription <= MEMORY_TARGET_KIB,
        True,
    )
    for size in sizes:
        p99 = percentile(size.after_ms, 0.99)
        clean = not size.missing and not size.errors and size.transfers > 0
        verdict(
            f"commit-to-receipt p99, {size.case.label}, ms",
            p99,
            "{:.1f}",
            f"<= {LATENCY_TARGET_MS:g}",
            p99 <= LATENCY_TARGET_MS,
            clean,
        )
    largest = max((s for s in sizes if s.case.layout == "shared"), key=lambda s: s.subscriptions)
    verdict(
        f"server CPU, {largest.case.label}, share of a core",
        largest.server_cpu,
        "{:.0%}",
        f"<= {CPU_TARGET:.0%}",
        largest.server_cpu <= CPU_TARGET,
        True,
    )
    if config.gc_log:
        verdict(
            f"GC pauses >= 100 ms, {largest.case.label}",
            _long_pauses(largest),
            "{:.0f}",
            "0",
            _long_pauses(largest) == 0,
            True,
        )
    for size in sizes:
        if size.case.layout == "distinct":
            verdict(
                f"deliveries per second per core, {size.case.label}",
                size.per_core,
                "{:.0f}",
                f">= {PER_CORE_TARGET:g}",
                size.per_core >= PER_CORE_TARGET,
                True,
            )
    _table(["live subscriptions", "value", "target", "result"], rows, [58, 7, 8, 6])
    return passed


def _longest_pause(size: Size) -> str:
    longest = max(size.gc_pauses_ms or [0.0])
    generation = size.gc_longest_generation
    return f"{longest:.0f}" + (f" g{generation}" if generation is not None else "")


def _long_pauses(size: Size) -> int:
    return sum(1 for pause in size.gc_pauses_ms or [] if pause >= 100)
