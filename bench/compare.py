"""Side-by-side measurement, shared by the BFF's ratios (bench/harness.py) and the Node.js peers
(bench/node/peers.py): the queries, the sides of a comparison merged over alternated rounds, the
SQL a side sends per request, and the tables that show them with their targets."""

from __future__ import annotations

import json
import math
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import TRANSFER_MUTATION
from bench.processes import BenchError, Processes, run_loadgen
from bench.world import Population
from bff.config import Settings
from bff.runtime import build_runtime

HOME_QUERY = (
    "query Home { viewer { accounts(first: 20) { edges { node { id name "
    "balance { amount currency } availableBalance { amount } "
    "transactions(first: 20) { edges { node { id amount { amount } direction "
    "balanceAfter { amount } description createdAt transfer { id memo } } } } } } } } }"
)
# The least a GraphQL server can do for an authenticated request: its per-request floor.
FLOOR_QUERY = "{ __typename }"
FLOOR_ANSWER = '{"data":{"__typename":"Query"}}'


@dataclass(frozen=True)
class Stage:
    """What every part measures on: the application's database, its data and its settings (the
    environment of every server started from here)."""

    settings: Settings
    app_url: str
    population: Population

    @property
    def tokens(self) -> list[str]:
        """The home viewers' access tokens, which the load generator sends in turn."""
        return [viewer.token for viewer in self.population.viewers]


@dataclass(frozen=True)
class Timing:
    """How long each side runs: `rounds` times `round_s` measured seconds after a warm-up."""

    rounds: int
    warmup_s: float
    round_s: float


@dataclass
class Side:
    """One side of a comparison, merged over its rounds."""

    label: str
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    error_sample: str | None = None
    ok_total: int = 0
    latencies: list[float] | None = None
    statements: int | None = None  # SQL statements per request, where counted
    cpu_s: float = 0.0  # the server process's CPU time over its loads, where measured
    served: int = 0  # the successful responses of those loads, warm-ups included

    def add(self, result: dict[str, Any]) -> None:
        self.requests += result["requests"]
        self.seconds += result["seconds"]
        self.errors += result["errors"]
        self.ok_total += result.get("ok_total", 0)
        self.error_sample = self.error_sample or result.get("error_sample")
        self.latencies = sorted([*(self.latencies or []), *result["latencies_ms"]])

    def add_cpu(self, seconds: float, served: int) -> None:
        self.cpu_s += seconds
        self.served += served

    @property
    def cpu_ms(self) -> float | None:
        """Server CPU milliseconds per successful response: unlike req/s, it barely moves when
        other work shares the machine."""
        return self.cpu_s * 1000 / self.served if self.served else None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = self.latencies or []
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


Measure = Callable[[int], dict[str, Any]]


def alternate(rounds: int, sides: list[tuple[Side, Measure]]) -> None:
    """Run every side once per round, rotating the order so that no side always goes first."""
    for number in range(rounds):
        shift = number % len(sides)
        for side, measure in sides[shift:] + sides[:shift]:
            print(f"  round {number + 1}/{rounds}: {side.label} ...", end="", flush=True)
            result = measure(number)
            side.add(result)
            print(f" {result['rps']:.1f}/s", flush=True)
            if result["errors"]:
                print(f"    {result['errors']} errors, e.g. {result['error_sample']}")


def query_load(
    processes: Processes,
    name: str,
    port: int,
    path: str,
    query: str,
    tokens: list[str],
    concurrency: int,
    timing: Timing,
    expect: str | None = None,
) -> Measure:
    """One round of `query` at `port` per call, from the closed-loop load generator; a response
    must start with `expect` (by default, a home query's answer)."""
    spec = {
        "kind": "home",
        "host": "127.0.0.1",
        "port": port,
        "path": path,
        "body": json.dumps({"query": query}),
        "tokens": tokens,
        "concurrency": concurrency,
        **({"expect": expect} if expect is not None else {}),
    }
    return _rounds(processes, name, spec, timing)


def transfer_load(
    processes: Processes,
    name: str,
    port: int,
    population: Population,
    mode: str,
    concurrency: int,
    timing: Timing,
) -> Measure:
    """One round of createTransfer at `port` per call, between the population's customers'
    accounts (`mode` uniform: random pairs; hot: every transfer touches its hot account)."""
    customers = population.customers
    accounts = [
        [account_id, owner]
        for owner, customer in enumerate(customers)
        for account_id in customer.account_ids
    ]
    hot = [customers[population.hot_owner].account_ids[0], population.hot_owner]

    spec = {
        "kind": "transfer",
        "mode": mode,
        "host": "127.0.0.1",
        "port": port,
        "path": "/graphql",
        "tokens": [customer.token for customer in customers],
        "accounts": accounts,
        "hot": hot,
        "concurrency": concurrency,
    }
    return _rounds(processes, name, spec, timing)


def _rounds(processes: Processes, name: str, spec: dict[str, Any], timing: Timing) -> Measure:
    """A round of the load generator's `spec` per call, timed by `timing`."""

    def measure(number: int) -> dict[str, Any]:
        timed = {**spec, "warmup_s": timing.warmup_s, "duration_s": timing.round_s}
        return run_loadgen(processes, f"{name}-{number}", timed)

    return measure


def with_server_cpu(measure: Measure, side: Side, pid: int) -> Measure:
    """`measure`, also adding the server process's CPU time over each round to `side`."""

    def measured(number: int) -> dict[str, Any]:
        before = cpu_seconds(pid)
        result = measure(number)
        side.add_cpu(cpu_seconds(pid) - before, result["ok_total"])
        return result

    return measured


def probe_transfer(port: int, population: Population, key: str) -> None:
    """One createTransfer of 0.01 between the first two customers, which must post."""
    customers = population.customers
    probe = post(
        port,
        "/graphql",
        {
            "query": TRANSFER_MUTATION,
            "variables": {
                "input": {
                    "idempotencyKey": key,
                    "fromAccountId": customers[0].account_ids[0],
                    "toAccountId": customers[1].account_ids[0],
                    "amount": {"amount": "0.01", "currency": "USD"},
                    "memo": "bench",
                }
            },
        },
        customers[0].token,
    )
    if probe.get("errors") or probe["data"]["createTransfer"]["userErrors"]:
        raise BenchError(f"a probe transfer failed: {probe}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(port: int, path: str, body: dict[str, Any], token: str) -> Any:
    """One JSON POST to a server under test, its JSON answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


async def bff_statements(settings: Settings, url: str, token: str, queries: list[str]) -> list[int]:
    """The SQL statements of each query, sent one after the other by one client to an in-process
    BFF configured by `settings`, counted on its driver connections (so statements sent on the
    driver without SQLAlchemy, like the session check, count too)."""
    import httpx
    from sqlalchemy import event

    from bff.app import create_app

    runtime = build_runtime(settings, url)
    statements: list[str] = []

    def log_queries(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(
            lambda record: statements.append(record.query)
        )

    event.listen(runtime.database.engine.sync_engine, "connect", log_queries)
    counts = []
    try:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for query in queries:
                statements.clear()
                await http.post(
                    "/graphql", json={"query": query}, headers={"authorization": f"Bearer {token}"}
                )
                counts.append(len(statements))
    finally:
        await runtime.close()
    return counts


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        cell.ljust(width) if index == 0 else cell.rjust(width)
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
    )


def print_sides(sides: list[Side]) -> None:
    """Each side's throughput and latency percentiles, and where measured its SQL statements and
    server CPU per request."""
    print()
    widths = [48, 9, 8, 8, 8, 9, 6, 7, 6]
    header = ["side", "req/s", "p50 ms", "p95 ms", "p99 ms", "requests", "errors", "SQL/req"]
    header.append("CPU ms")
    print(_row(header, widths))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for side in sides:
        cells = [
            side.label,
            f"{side.rps:.1f}",
            *(f"{side.percentile(fraction):.2f}" for fraction in (0.50, 0.95, 0.99)),
            str(side.requests),
            str(side.errors),
            "-" if side.statements is None else str(side.statements),
            "-" if side.cpu_ms is None else f"{side.cpu_ms:.2f}",
        ]
        print(_row(cells, widths))


_RATIO_WIDTHS = [58, 7, 8, 6]


def print_ratio_header() -> None:
    print()
    print(_row(["ratio", "value", "target", "result"], _RATIO_WIDTHS))
    print("-" * (sum(_RATIO_WIDTHS) + 2 * (len(_RATIO_WIDTHS) - 1)))


def print_ratios(ratios: list[tuple[str, Side, Side, float]]) -> bool:
    """req/s of numerator over denominator, each at least its target (no errors on either)."""
    passed = True
    for label, numerator, denominator, target in ratios:
        value = numerator.rps / denominator.rps if denominator.rps else 0.0
        clean = not numerator.errors and not denominator.errors
        ok = clean and value >= target
        passed = passed and ok
        verdict = "PASS" if ok else "FAIL" if clean else "FAIL (errors)"
        print(_row([label, f"{value:.3f}", f">= {target}", verdict], _RATIO_WIDTHS))
    return passed


def print_bound(label: str, value: float, bound: float, decimals: int = 3) -> bool:
    """A figure that must stay at or below `bound`."""
    ok = value <= bound
    cells = [label, f"{value:.{decimals}f}", f"<= {bound:g}", "PASS" if ok else "FAIL"]
    print(_row(cells, _RATIO_WIDTHS))
    return ok
