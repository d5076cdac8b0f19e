"""Figure 9: the server CPU an abusive document costs, over the home query's.

One `bff serve`; each class of abusive document (fragment fan-out, repeated fields, many
directives, aliases, deep nesting, a token count over the limit, a long string) is made as large
as the token and length limits admit (the defaults of `bff.config.Settings`), varied per request
by a comment (so the parser cache never answers it), and sent by one client one after the
other. The server's CPU time (user + system, from /proc, the process and its children) over
those requests, per request, is divided by the same for the home query (as the app sends it,
cache warm). Goal: at most 1 for every class.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.compare import HOME_QUERY
from bench.processes import Processes, bff_argv, free_port, wait_until_ready
from bff.config import Settings

REQUESTS = int(os.environ.get("BENCH_ABUSE_REQUESTS", "200"))
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_LIMITS = Settings()
# Inside the default limits, with room for the comment that varies each request.
_TOKENS = _LIMITS.graphql_max_tokens - 10
_CHARS = _LIMITS.graphql_max_document_chars - 40


def _fan_out() -> str:
    count = _TOKENS // 12
    fragments = " ".join(
        f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(count)
    )
    return f"{{ viewer {{ ...F0 }} }} {fragments} fragment F{count} on User {{ id }}"


ABUSE: dict[str, Callable[[], str]] = {
    "fragment fan-out": _fan_out,
    "repeated fields": lambda: "{ viewer { " + "id " * (_TOKENS - 6) + "} }",
    "many directives": lambda: (
        "{ viewer { " + "id @include(if: true) " * ((_TOKENS - 6) // 8) + "} }"
    ),
    "aliases": lambda: (
        "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(_TOKENS // 6)) + " }"
    ),
    "deep nesting": lambda: "{ " + "viewer { " * (_TOKENS // 3) + "}" * (_TOKENS // 3) + " }",
    # As many tokens as the length limit admits: far over the token limit.
    "huge token count": lambda: "{ viewer { " + "id " * (_CHARS // 3 - 6) + "} }",
    "long string": lambda: '{ account(id: "' + "x" * (_CHARS - 30) + '") { id } }',
}


def _server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants (the workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except FileNotFoundError:
            continue
    return total


def _send(port: int, query: str, token: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as refused:
        refused.read()
        return int(refused.code)


def _cpu_per_request(pid: int, port: int, document: str, token: str) -> tuple[float, set[int]]:
    statuses: set[int] = set()
    before = _server_cpu_s(pid)
    for number in range(REQUESTS):
        # A comment makes every request a document the server has not seen (no cache hit).
        statuses.add(_send(port, f"# {number}\n{document}", token))
    return (_server_cpu_s(pid) - before) / REQUESTS, statuses


def run(processes: Processes, stage: Any) -> bool:
    """Print each class's CPU ratio; True when every one is at most 1."""
    port = free_port()
    os.environ["BFF_PORT"] = str(port)
    server, log = processes.start("bff-server-abuse", bff_argv())
    wait_until_ready(server, log, port)
    token = stage.population.viewers[0].token
    _send(port, HOME_QUERY, token)  # warm
    home, _ = _cpu_per_request(server.pid, port, HOME_QUERY, token)
    print(f"\n[9] abusive documents: server CPU per request / home query's ({REQUESTS} each)")
    print(f"  home query{'':34}{home * 1000:8.2f} ms CPU per request")
    passed = True
    for name, make in ABUSE.items():
        cpu, statuses = _cpu_per_request(server.pid, port, make(), token)
        ratio = cpu / home if home else float("inf")
        passed = passed and ratio <= 1.0
        answered = ",".join(str(status) for status in sorted(statuses))
        print(
            f"  {name:<20} {cpu * 1000:8.2f} ms  ratio {ratio:6.2f}  "
            f"(goal <= 1, {'met' if ratio <= 1.0 else 'MISSED'}; HTTP {answered})"
        )
    processes.stop(server)
    return passed
