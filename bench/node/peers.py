"""`python -m bench`, the Node.js peers: the BFF against Apollo Server 5 and GraphQL Yoga (with
graphql-jit) serving the same home query from the same tables, measured side by side in one run.

Five servers, one process each, on the same database, data and key ring, every one with a pool of
at most BFF_DB_POOL_SIZE + BFF_DB_MAX_OVERFLOW connections:
- the BFF (`bff serve`, one worker) with its caches off, and a second one with its caches on;
- Apollo Server (bench/node/apollo.js) and Yoga with graphql-jit (bench/node/yoga.js), no cache;
- Yoga with graphql-jit and its response cache, keyed per user and session (`--response-cache`).
The Node servers run with NODE_ENV=production. Every side checks every request the same way:
it verifies the EdDSA access token and reads the live session and its user from PostgreSQL (the
BFF's own one-second session cache is off on both BFF servers, BFF_SESSION_CACHE_TTL_S=0, as the
peers have none). Before anything is timed, every server must answer the home query (twice, so
that a cache answers the second) exactly as the BFF does, and `{ __typename }` alike; the SQL
statements each sends per request are counted (the peers' /healthz reports theirs, the BFF's are
counted on its engine in-process) and shown next to its figures, with the server process's CPU
time per response (from /proc), which moves far less than req/s when the machine is shared.

Sides, alternated round by round at BENCH_NODE_CONCURRENCY (32) connections each: the home query
on the BFF (caches off), Yoga + jit and Apollo; the home query with caches on, on the BFF and on
Yoga + response cache; `{ __typename }` (the per-request floor: authentication and GraphQL, no
data) on the BFF, Apollo and Yoga + jit.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from collections.abc import Mapping
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
    cpu_seconds,
    post,
    print_bound,
    print_ratio_header,
    print_ratios,
    print_sides,
    query_load,
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


def _node_statements(port: int, token: str, query: str) -> int:
    before = _statements_so_far(port)
    post(port, "/graphql", {"query": query}, token)
    return _statements_so_far(port) - before


class Peers:
    def __init__(self, processes: Processes, node: str, versions: str) -> None:
        self.processes = processes
        self.node = node
        self.versions = versions

    def _start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Server:
        port = free_port()
        process, log = self.processes.start(name, argv, {**env, "PORT": str(port)})
        wait_until_ready(process, log, port)
        return Server(name, port, process)

    def _bff(self, name: str, **env: str) -> Server:
        port = free_port()
        # One process like each peer; the session read on every request like the peers do.
        settings = {"BFF_PORT": str(port), "BFF_WORKERS": "1", "BFF_SESSION_CACHE_TTL_S": "0"}
        process, log = self.processes.start(name, bff_argv(), {**os.environ, **settings, **env})
        wait_until_ready(process, log, port)
        return Server(name, port, process)

    def _node(self, name: str, *argv: str) -> Server:
        script = [self.node, str(NODE_DIR / argv[0]), *argv[1:]]
        return self._start(name, script, {**os.environ, "NODE_ENV": "production"})

    def run(self, timing: Timing, concurrency: int, stage: Stage) -> bool:
        """Start the five servers, check their answers, measure, report; True when every
        target is met."""
        print(
            f"\n[node] the BFF and Node.js peers, one process each, pools of "
            f"{stage.settings.db_pool_size}+{stage.settings.db_max_overflow} connections, "
            f"{concurrency} connections per side\n  {self.versions}"
        )
        bff = self._bff("node-bff-caches-off", BFF_CACHE_ENABLED="false")
        bff_cached = self._bff("node-bff-caches-on")
        apollo = self._node("node-apollo", "apollo.js")
        yoga = self._node("node-yoga-jit", "yoga.js")
        yoga_cached = self._node("node-yoga-response-cache", "yoga.js", "--response-cache")
        servers = [bff, bff_cached, apollo, yoga, yoga_cached]
        try:
            counts = self._check(stage, bff, bff_cached, apollo, yoga, yoga_cached)
            return self._measure(timing, concurrency, stage, servers, counts)
        finally:
            for server in servers:
                self.processes.stop(server.process)

    def _check(
        self,
        stage: Stage,
        bff: Server,
        bff_cached: Server,
        apollo: Server,
        yoga: Server,
        yoga_cached: Server,
    ) -> dict[str, int]:
        """Every server answers as the BFF does; the SQL statements per request of each side."""
        token = stage.tokens[0]
        expected = post(bff.port, "/graphql", {"query": HOME_QUERY}, token)
        for server in (bff_cached, apollo, yoga, yoga_cached):
            for attempt in ("first", "second"):  # the second comes from a cache, where one is
                answer = post(server.port, "/graphql", {"query": HOME_QUERY}, token)
                if answer != expected:
                    self._keep(f"home-{server.name}-{attempt}", answer, "home-bff", expected)
                    raise BenchError(
                        f"{server.name}'s {attempt} home answer differs from the BFF's; "
                        f"see {self.processes.scratch}"
                    )
        for server in (bff, apollo, yoga):
            answer = post(server.port, "/graphql", {"query": FLOOR_QUERY}, token)
            if answer != json.loads(FLOOR_ANSWER):
                raise BenchError(f"{server.name} answers {FLOOR_QUERY} with {answer}")
        print(
            "  answers : home query identical on all five (twice each), "
            f"{FLOOR_QUERY} identical on the BFF, Apollo and Yoga"
        )
        uncached = stage.settings.model_copy(
            update={"cache_enabled": False, "session_cache_ttl_s": 0.0}
        )
        cached = stage.settings.model_copy(update={"session_cache_ttl_s": 0.0})
        bff_home, bff_floor = asyncio.run(
            bff_statements(uncached, stage.app_url, token, [HOME_QUERY, FLOOR_QUERY])
        )
        bff_warm = asyncio.run(
            bff_statements(cached, stage.app_url, token, [HOME_QUERY, HOME_QUERY])
        )[1]
        return {
            "bff home": bff_home,
            "bff floor": bff_floor,
            "bff warm": bff_warm,
            "apollo home": _node_statements(apollo.port, token, HOME_QUERY),
            "apollo floor": _node_statements(apollo.port, token, FLOOR_QUERY),
            "yoga home": _node_statements(yoga.port, token, HOME_QUERY),
            "yoga floor": _node_statements(yoga.port, token, FLOOR_QUERY),
            "yoga warm": _node_statements(yoga_cached.port, token, HOME_QUERY),
        }

    def _keep(self, name: str, answer: Any, reference_name: str, reference: Any) -> None:
        scratch = self.processes.scratch
        (scratch / f"{name}.json").write_text(json.dumps(answer, indent=1))
        (scratch / f"{reference_name}.json").write_text(json.dumps(reference, indent=1))

    def _measure(
        self,
        timing: Timing,
        concurrency: int,
        stage: Stage,
        servers: list[Server],
        counts: dict[str, int],
    ) -> bool:
        bff, bff_cached, apollo, yoga, yoga_cached = servers

        def side(label: str, server: Server, query: str, statements: int) -> tuple[Side, Measure]:
            floor = query == FLOOR_QUERY
            measure = query_load(
                self.processes,
                f"loadgen-{server.name}-{'floor' if floor else 'home'}",
                server.port,
                "/graphql",
                query,
                stage.tokens,
                concurrency,
                timing,
                FLOOR_ANSWER if floor else None,
            )
            measured = Side(label, statements=statements)

            def with_cpu(number: int) -> dict[str, Any]:
                before = cpu_seconds(server.process.pid)
                result = measure(number)
                measured.add_cpu(cpu_seconds(server.process.pid) - before, result["ok_total"])
                return result

            return measured, with_cpu

        sides = [
            side("home: BFF, caches off", bff, HOME_QUERY, counts["bff home"]),
            side("home: Yoga + graphql-jit", yoga, HOME_QUERY, counts["yoga home"]),
            side("home: Apollo Server", apollo, HOME_QUERY, counts["apollo home"]),
            side("home, caches on: BFF, warm cache", bff_cached, HOME_QUERY, counts["bff warm"]),
            side(
                "home, caches on: Yoga + jit + response cache",
                yoga_cached,
                HOME_QUERY,
                counts["yoga warm"],
            ),
            side(f"{FLOOR_QUERY}: BFF", bff, FLOOR_QUERY, counts["bff floor"]),
            side(f"{FLOOR_QUERY}: Apollo Server", apollo, FLOOR_QUERY, counts["apollo floor"]),
            side(f"{FLOOR_QUERY}: Yoga + graphql-jit", yoga, FLOOR_QUERY, counts["yoga floor"]),
        ]
        alternate(timing.rounds, sides)
        measured = [measured_side for measured_side, _ in sides]
        home_bff, home_yoga, home_apollo, cached_bff, cached_yoga = measured[:5]
        floor_bff, floor_apollo = measured[5:7]
        print_sides(measured)
        print_ratio_header()
        passed = print_ratios(
            [
                ("home req/s: BFF / Yoga + graphql-jit", home_bff, home_yoga, 1.0),
                ("home req/s: BFF / Apollo Server", home_bff, home_apollo, 2.0),
                (f"{FLOOR_QUERY} req/s: BFF / Apollo Server", floor_bff, floor_apollo, 1.0),
                (
                    "home req/s, caches on: BFF / Yoga + response cache",
                    cached_bff,
                    cached_yoga,
                    1.5,
                ),
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
