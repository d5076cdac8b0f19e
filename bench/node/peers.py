"""`python -m bench`, the Node.js peers: the BFF against Apollo Server 5 and GraphQL Yoga (with
graphql-jit) serving the same home query from the same tables, measured side by side in one run.

Five servers, one process each, on the same database, data and key ring, every one with a pool of
at most BFF_DB_POOL_SIZE + BFF_DB_MAX_OVERFLOW connections, in two groups:
- caches off: the BFF (`bff serve`, one worker, BFF_CACHE_ENABLED=false), Apollo Server
  (bench/node/apollo.js) and Yoga with graphql-jit (bench/node/yoga.js);
- caches on: the BFF with its caches, and Yoga with graphql-jit and its response cache keyed per
  user and session (`yoga.js --response-cache`).
The Node servers run with NODE_ENV=production. Every side checks every request the same way:
it verifies the EdDSA access token and reads the live session and its user from PostgreSQL (the
BFF's one-second session cache is off on both BFF servers, BFF_SESSION_CACHE_TTL_S=0, as the
peers have none). Before anything is timed, every server must answer the home query (twice, so
that a cache answers the second) exactly as the BFF does, and `{ __typename }` alike; the SQL
statements each sends per request are counted (the peers' /healthz reports theirs, the BFF's are
counted on its engine in-process) and shown next to its figures, with the server process's CPU
time per response (from /proc), which moves far less than req/s when the machine is shared.

Sides, alternated round by round within their group at BENCH_NODE_CONCURRENCY (32) connections
each: the home query on the BFF, Yoga + jit and Apollo, and `{ __typename }` (the per-request
floor: authentication and GraphQL, no data) on the same three; then the home query with caches
on, on the BFF and on Yoga + response cache.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from dataclasses import dataclass
from subprocess import Popen
from typing import Any

from bench.compare import (
    FLOOR_ANSWER,
    FLOOR_QUERY,
    HOME_QUERY,
    Measure,
    Side,
    Stage,
    Timing,
    alternate,
    bff_statements,
    post,
    print_bound,
    print_ratio_header,
    print_ratios,
    print_sides,
    query_load,
    with_server_cpu,
)
from bench.node.install import NODE_DIR, install_packages
from bench.processes import BenchError, Processes, bff_argv, free_port, wait_until_ready


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    process: Popen[Any]


def _statements_so_far(port: int) -> int:
    """What a Node peer's /healthz says it has sent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return int(json.loads(response.read())["statements"])


def _node_statements(server: Server, token: str, query: str = HOME_QUERY) -> int:
    """The SQL statements a Node peer sends for one request."""
    before = _statements_so_far(server.port)
    post(server.port, "/graphql", {"query": query}, token)
    return _statements_so_far(server.port) - before


class Peers:
    def __init__(self, processes: Processes, node: str, versions: str) -> None:
        self.processes = processes
        self.node = node
        self.versions = versions

    def _bff(self, name: str, **env: str) -> Server:
        port = free_port()
        # One process like each peer; the session read on every request like the peers do.
        settings = {"BFF_PORT": str(port), "BFF_WORKERS": "1", "BFF_SESSION_CACHE_TTL_S": "0"}
        process, log = self.processes.start(name, bff_argv(), {**os.environ, **settings, **env})
        wait_until_ready(process, log, port)
        return Server(name, port, process)

    def _node(self, name: str, *argv: str) -> Server:
        port = free_port()
        script = [self.node, str(NODE_DIR / argv[0]), *argv[1:]]
        env = {**os.environ, "NODE_ENV": "production", "PORT": str(port)}
        process, log = self.processes.start(name, script, env)
        wait_until_ready(process, log, port)
        return Server(name, port, process)

    def run(self, timing: Timing, concurrency: int, stage: Stage) -> bool:
        """Check every server's answers, measure, report; True when every target is met.

        The servers without caches run first, then those with caches: never more than three at
        once, so that the pools (every BFF keeps its pool's connections open) fit within the
        connections a PostgreSQL server allows by default."""
        print(
            f"\n[node] the BFF and Node.js peers, one process each, pools of "
            f"{stage.settings.db_pool_size}+{stage.settings.db_max_overflow} connections, "
            f"{concurrency} connections per side\n  {self.versions}"
        )
        token = stage.tokens[0]
        comparison = _Comparison(self.processes, timing, concurrency, stage)
        uncached = stage.settings.model_copy(
            update={"cache_enabled": False, "session_cache_ttl_s": 0.0}
        )
        bff_home, bff_floor = asyncio.run(
            bff_statements(uncached, stage.app_url, token, [HOME_QUERY, FLOOR_QUERY])
        )
        cached = stage.settings.model_copy(update={"session_cache_ttl_s": 0.0})
        bff_warm = asyncio.run(
            bff_statements(cached, stage.app_url, token, [HOME_QUERY, HOME_QUERY])
        )[1]
        expected, sides = self._caches_off(comparison, token, bff_home, bff_floor)
        cached_sides = self._caches_on(comparison, token, expected, bff_warm)
        return _report(concurrency, [side for side, _ in sides + cached_sides])

    def _caches_off(
        self, comparison: _Comparison, token: str, bff_home: int, bff_floor: int
    ) -> tuple[Any, list[tuple[Side, Measure]]]:
        """The BFF's home answer, and the sides measured without caches."""
        servers = [
            self._bff("node-bff-caches-off", BFF_CACHE_ENABLED="false"),
            self._node("node-apollo", "apollo.js"),
            self._node("node-yoga-jit", "yoga.js"),
        ]
        try:
            bff, apollo, yoga = servers
            expected = post(bff.port, "/graphql", {"query": HOME_QUERY}, token)
            self._check_home(expected, token, [apollo, yoga])
            for server in servers:
                answer = post(server.port, "/graphql", {"query": FLOOR_QUERY}, token)
                if answer != json.loads(FLOOR_ANSWER):
                    raise BenchError(f"{server.name} answers {FLOOR_QUERY} with {answer}")
            sides = [
                comparison.side("home: BFF, caches off", bff, HOME_QUERY, bff_home),
                comparison.side(
                    "home: Yoga + graphql-jit", yoga, HOME_QUERY, _node_statements(yoga, token)
                ),
                comparison.side(
                    "home: Apollo Server", apollo, HOME_QUERY, _node_statements(apollo, token)
                ),
                comparison.side(f"{FLOOR_QUERY}: BFF", bff, FLOOR_QUERY, bff_floor),
                comparison.side(
                    f"{FLOOR_QUERY}: Apollo Server",
                    apollo,
                    FLOOR_QUERY,
                    _node_statements(apollo, token, FLOOR_QUERY),
                ),
                comparison.side(
                    f"{FLOOR_QUERY}: Yoga + graphql-jit",
                    yoga,
                    FLOOR_QUERY,
                    _node_statements(yoga, token, FLOOR_QUERY),
                ),
            ]
            print(f"  caches off: the same home answers from all three, and {FLOOR_QUERY}")
            alternate(comparison.timing.rounds, sides)
        finally:
            self._stop(servers)
        return expected, sides

    def _caches_on(
        self, comparison: _Comparison, token: str, expected: Any, bff_warm: int
    ) -> list[tuple[Side, Measure]]:
        servers = [
            self._bff("node-bff-caches-on"),
            self._node("node-yoga-response-cache", "yoga.js", "--response-cache"),
        ]
        try:
            bff_cached, yoga_cached = servers
            self._check_home(expected, token, servers)
            cached_sides = [
                comparison.side(
                    "home, caches on: BFF, warm cache", bff_cached, HOME_QUERY, bff_warm
                ),
                comparison.side(
                    "home, caches on: Yoga + jit + response cache",
                    yoga_cached,
                    HOME_QUERY,
                    _node_statements(yoga_cached, token),
                ),
            ]
            print("  caches on: the same home answers again, the second from the cache")
            alternate(comparison.timing.rounds, cached_sides)
        finally:
            self._stop(servers)
        return cached_sides

    def _check_home(self, expected: Any, token: str, servers: list[Server]) -> None:
        """Each server answers the home query as the BFF did, twice: where there is a cache, it
        answers the second."""
        for server in servers:
            for attempt in ("first", "second"):
                answer = post(server.port, "/graphql", {"query": HOME_QUERY}, token)
                if answer != expected:
                    scratch = self.processes.scratch
                    name = f"home-{server.name}-{attempt}.json"
                    (scratch / name).write_text(json.dumps(answer, indent=1))
                    (scratch / "home-bff.json").write_text(json.dumps(expected, indent=1))
                    raise BenchError(
                        f"{server.name}'s {attempt} home answer differs from the BFF's; "
                        f"see {name} and home-bff.json in {scratch}"
                    )

    def _stop(self, servers: list[Server]) -> None:
        for server in servers:
            self.processes.stop(server.process)


@dataclass(frozen=True)
class _Comparison:
    processes: Processes
    timing: Timing
    concurrency: int
    stage: Stage

    def side(self, label: str, server: Server, query: str, statements: int) -> tuple[Side, Measure]:
        """A side that loads `server` with `query`, and what measures one round of it (the
        server's CPU time included)."""
        floor = query == FLOOR_QUERY
        measure = query_load(
            self.processes,
            f"loadgen-{server.name}-{'floor' if floor else 'home'}",
            server.port,
            "/graphql",
            query,
            self.stage.tokens,
            self.concurrency,
            self.timing,
            FLOOR_ANSWER if floor else None,
        )
        measured = Side(label, statements=statements)
        return measured, with_server_cpu(measure, measured, server.process.pid)


def _report(concurrency: int, sides: list[Side]) -> bool:
    home_bff, home_yoga, home_apollo, floor_bff, floor_apollo, _, cached_bff, cached_yoga = sides
    print_sides(sides)
    print_ratio_header()
    passed = print_ratios(
        [
            ("home req/s: BFF / Yoga + graphql-jit", home_bff, home_yoga, 1.0),
            ("home req/s: BFF / Apollo Server", home_bff, home_apollo, 2.0),
            (f"{FLOOR_QUERY} req/s: BFF / Apollo Server", floor_bff, floor_apollo, 1.0),
            ("home req/s, caches on: BFF / Yoga + response cache", cached_bff, cached_yoga, 1.5),
        ]
    )
    tail = home_bff.percentile(0.99) / home_bff.percentile(0.50)
    label = f"home p99 / p50: BFF, caches off, {concurrency} connections"
    return print_bound(label, tail, 3.0) and passed


def install(processes: Processes, *, required: bool) -> Peers | None:
    """The peers, their packages installed; None (and why) when Node.js is not usable here and
    the run did not ask for the peers alone."""
    try:
        node, versions = install_packages(processes)
    except BenchError as error:
        if required:
            raise
        print(f"node      : the Node.js peers are skipped: {error}")
        return None
    return Peers(processes, node, versions)
