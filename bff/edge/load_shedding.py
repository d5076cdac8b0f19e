"""Load shedding by priority: while the process is saturated (too many HTTP requests in flight,
or the event loop lagging behind its timers), the requests that matter least are refused at
once with `503`, `Retry-After` and the code `OVERLOADED`, so that money writes, logins and token
refreshes keep being served instead of everyone slowing down together.

Here, at the edge, before authentication or parsing: introspection is recognised in the
document's text and refused. Heavy reads are known only by their static cost, which the rate
limits compute before execution (bff/api/rate_limits.py); the edge marks the request as arriving
under saturation and they refuse a query that costs more than the heavy-read threshold.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

import orjson

from bff.edge.asgi import ASGIApp, Message, Receive, Scope, Send, graphql_error, send_json, state
from bff.metrics.families import REQUESTS_SHED

OVERLOADED = "OVERLOADED"
RETRY_AFTER_S = 1
# The request state key the rate limits read (see `shed_heavy_reads`).
SATURATED = "saturated"
_INTROSPECTION = re.compile(rb"\b__(schema|type)\b")
# How often the event loop is asked to wake: its lateness is the lag.
_LAG_PROBE_INTERVAL_S = 0.05


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Saturation: more than `max_in_flight` requests at once, or a loop lag over `max_lag_s`."""

    max_in_flight: int
    max_lag_s: float
    heavy_cost: int  # a query costing more is a heavy read


class LoadGauge:
    """The process's load: requests in flight here and the event loop's lag (probed by a task
    that sleeps a fixed interval and measures how late it woke)."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.in_flight = 0
        self.lag_s = 0.0
        self._probe: asyncio.Task[None] | None = None

    @property
    def saturated(self) -> bool:
        """Whether the process is over either threshold now."""
        limits = self.thresholds
        return self.in_flight > limits.max_in_flight or self.lag_s > limits.max_lag_s

    def start_probe(self) -> None:
        """Probe the loop's lag from the first request on (the loop exists by then)."""
        if self._probe is None:
            self._probe = asyncio.get_running_loop().create_task(self._measure(), name="loop-lag")

    async def _measure(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(_LAG_PROBE_INTERVAL_S)
            self.lag_s = max(0.0, time.monotonic() - before - _LAG_PROBE_INTERVAL_S)


class LoadShedding:
    """Counts the GraphQL HTTP requests in flight and, while saturated, refuses introspection
    and marks the rest for the heavy-read check."""

    def __init__(self, app: ASGIApp, gauge: LoadGauge) -> None:
        self.app = app
        self.gauge = gauge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/graphql":
            await self.app(scope, receive, send)
            return
        gauge = self.gauge
        gauge.start_probe()
        gauge.in_flight += 1
        try:
            triaged = await self._triage(scope, receive, send) if gauge.saturated else receive
            if triaged is not None:
                await self.app(scope, triaged, send)
        finally:
            gauge.in_flight -= 1

    async def _triage(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Refuse introspection (None), or mark the request and give the body back to read."""
        messages: list[Message] = []
        body = b""
        if scope["method"] == "POST":
            while True:  # bounded by the body size limit outside
                message = await receive()
                messages.append(message)
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        if _INTROSPECTION.search(_document_text(scope, body)):
            REQUESTS_SHED.labels("introspection").inc()
            await send_json(
                scope,
                send,
                503,
                graphql_error(scope, "The server is overloaded; retry shortly.", OVERLOADED),
                [(b"retry-after", str(RETRY_AFTER_S).encode())],
            )
            return None
        state(scope)[SATURATED] = self.gauge.thresholds.heavy_cost
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        return replayed


def _document_text(scope: Scope, body: bytes) -> bytes:
    """The request's document, cheaply: the `query` of a JSON body or the query string (a body
    that is not JSON is scanned whole; the view refuses it anyway)."""
    if scope["method"] != "POST":
        query_string: bytes = scope.get("query_string", b"")
        found = parse_qs(query_string.decode("latin-1")).get("query", [""])
        return found[0].encode("utf-8", "replace")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    query = data.get("query") if isinstance(data, dict) else None
    return query.encode("utf-8", "replace") if isinstance(query, str) else b""
