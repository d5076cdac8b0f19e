"""A cheap closed-loop HTTP/1.1 load generator, run as its own process: `python -m bench.loadgen
SPEC.json` prints one JSON line of results.

N keep-alive connections each send a request, wait for the whole response, check it and send the
next one. Requests are written and responses read with plain asyncio streams on uvloop (a few tens
of microseconds of CPU per request, against several hundred for a full-featured client), so the
generator takes as little CPU as possible from the server and PostgreSQL on a small machine, and
exactly the same generator drives every side of a comparison.

Only responses that complete inside the measurement window (after the warm-up) are counted, and
their latencies are the ones reported. Everything is bounded: the run stops by itself at the end
of the window, and gives up after too many errors.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_ERRORS = 200
TRANSFER_MUTATION = (
    "mutation Send($input: CreateTransferInput!) { createTransfer(input: $input) "
    "{ transfer { id } userErrors { code message field } } }"
)

Check = Callable[[bytes], bool]


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection to the server under test."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = None
        close = False
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise HttpError("chunked responses are not supported by this load generator")
        if length is None:
            raise HttpError("response without Content-Length")
        payload = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, payload


def head_for(host: str, port: int, path: str, token: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


@dataclass
class Stats:
    measured_from: float
    measured_to: float
    latencies: list[float] = field(default_factory=list)
    ok_total: int = 0  # successful responses, warm-up included (each transfer is a real write)
    errors: int = 0
    error_sample: str | None = None

    def record(self, started: float, finished: float, ok: bool, sample: str) -> None:
        if ok:
            self.ok_total += 1
            if self.measured_from <= finished <= self.measured_to:
                self.latencies.append(finished - started)
            return
        self.errors += 1
        if self.error_sample is None:
            self.error_sample = sample[:500]


class HomeRequests:
    """The same GraphQL (or baseline) request body, with the viewers' tokens in turn.

    A response is good when it starts with `spec["expect"]` (by default the start of a home
    query's answer) and holds no errors."""

    def __init__(self, spec: dict[str, Any]) -> None:
        body = spec["body"].encode()
        self.requests = [
            (head_for(spec["host"], spec["port"], spec["path"], token, len(body)), body)
            for token in spec["tokens"]
        ]
        self.turn = 0
        expect = spec.get("expect", '{"data":{"viewer":{').encode()

        def answered(payload: bytes) -> bool:
            # A full parse of a 20 kB body would cost the generator more than a substring search.
            return payload.startswith(expect) and b'"errors"' not in payload

        self.check: Check = answered

    def next(self) -> tuple[bytes, bytes, Check]:
        self.turn = (self.turn + 1) % len(self.requests)
        head, body = self.requests[self.turn]
        return head, body, self.check


def _transfer_ok(payload: bytes) -> bool:
    try:
        result = json.loads(payload)["data"]["createTransfer"]
    except (ValueError, KeyError, TypeError):
        return False
    return result["userErrors"] == [] and result["transfer"] is not None


class TransferRequests:
    """createTransfer mutations with unique idempotency keys between random accounts.

    `uniform`: a random customer pays from one of its accounts into any other account.
    `hot`: every transfer touches the one hot account, half paying out of it, half into it.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.mode = spec["mode"]
        self.tokens: list[str] = spec["tokens"]
        # (global id, index of the owner's token)
        self.accounts: list[tuple[str, int]] = [(a[0], a[1]) for a in spec["accounts"]]
        self.hot: tuple[str, int] = (spec["hot"][0], spec["hot"][1])
        self.not_hot = [account for account in self.accounts if account[0] != self.hot[0]]
        self.heads: dict[tuple[int, int], bytes] = {}

    def _pick(self) -> tuple[tuple[str, int], tuple[str, int]]:
        if self.mode == "hot":
            other = random.choice(self.not_hot)
            return (self.hot, other) if random.random() < 0.5 else (other, self.hot)
        source = random.choice(self.accounts)
        while (destination := random.choice(self.accounts))[0] == source[0]:
            pass
        return source, destination

    def next(self) -> tuple[bytes, bytes, Check]:
        source, destination = self._pick()
        cents = random.randint(1, 999)
        variables = {
            "input": {
                "idempotencyKey": uuid.uuid4().hex,
                "fromAccountId": source[0],
                "toAccountId": destination[0],
                "amount": {"amount": f"{cents // 100}.{cents % 100:02d}", "currency": "USD"},
                "memo": "bench",
            }
        }
        body = json.dumps({"query": TRANSFER_MUTATION, "variables": variables}).encode()
        key = (source[1], len(body))
        head = self.heads.get(key)
        if head is None:
            spec = self.spec
            head = head_for(
                spec["host"], spec["port"], spec["path"], self.tokens[source[1]], key[1]
            )
            self.heads[key] = head
        return head, body, _transfer_ok


async def _client(
    requests: HomeRequests | TransferRequests, spec: dict[str, Any], stats: Stats
) -> None:
    connection = Connection(spec["host"], spec["port"])
    try:
        while time.perf_counter() < stats.measured_to and stats.errors < MAX_ERRORS:
            head, body, check = requests.next()
            started = time.perf_counter()
            try:
                status, payload = await connection.request(head, body)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                HttpError,
            ) as e:
                connection.close()
                stats.record(started, time.perf_counter(), False, f"{type(e).__name__}: {e}")
                await asyncio.sleep(0.05)
                continue
            ok = status == 200 and check(payload)
            stats.record(started, time.perf_counter(), ok, f"HTTP {status}: {payload[:400]!r}")
    finally:
        connection.close()


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    requests: HomeRequests | TransferRequests = (
        HomeRequests(spec) if spec["kind"] == "home" else TransferRequests(spec)
    )
    start = time.perf_counter()
    stats = Stats(
        measured_from=start + spec["warmup_s"],
        measured_to=start + spec["warmup_s"] + spec["duration_s"],
    )
    clients = [_client(requests, spec, stats) for _ in range(spec["concurrency"])]
    await asyncio.wait_for(asyncio.gather(*clients), spec["warmup_s"] + spec["duration_s"] + 60)
    ordered = sorted(stats.latencies)
    return {
        "requests": len(ordered),
        "seconds": spec["duration_s"],
        "rps": len(ordered) / spec["duration_s"],
        "latencies_ms": [round(value * 1000, 3) for value in ordered],
        "p50_ms": _percentile(ordered, 0.50) * 1000,
        "p95_ms": _percentile(ordered, 0.95) * 1000,
        "p99_ms": _percentile(ordered, 0.99) * 1000,
        "ok_total": stats.ok_total,
        "errors": stats.errors,
        "error_sample": stats.error_sample,
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    if spec["host"] not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("the load generator only targets the loopback interface")
    try:
        import uvloop

        result = uvloop.run(run(spec))
    except ImportError:
        result = asyncio.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
