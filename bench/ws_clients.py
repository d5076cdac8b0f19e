"""Many graphql-transport-ws subscribers in one asyncio process, as cheap per message as it gets.

Each connection is one app instance of one customer: it authenticates in `connection_init`,
subscribes to `accountEvents` for each of the customer's accounts (without `afterSequence`, so
the first event of each is a SNAPSHOT) and then only reads. A reader task per connection stamps
every message with CLOCK_MONOTONIC as soon as the event loop hands it over, and keeps, while
recording, (transfer index, receipt time) for each TRANSACTION_POSTED whose description is a
benchmark memo `ws <index>`. The stamp includes this process's own queueing, so latencies are
if anything overstated.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from bench.processes import BenchError

SUBSCRIPTION = (
    "subscription Live($id: ID!) { accountEvents(accountId: $id) { sequence kind "
    "balance { amount currency } availableBalance { amount } transaction { id amount { amount } "
    "direction description createdAt } } }"
)
PROTOCOL = Subprotocol("graphql-transport-ws")
MEMO_PREFIX = "ws "


class SubscribeError(BenchError):
    """A subscriber could not connect, authenticate or get its SNAPSHOT."""


@dataclass(frozen=True)
class Plan:
    """One connection: whose token it carries and which accounts it watches."""

    token: str
    account_ids: Sequence[str]


@dataclass
class Fleet:
    url: str
    compression: bool = True  # offer permessage-deflate, as browsers and OkHttp do
    open_timeout_s: float = 30.0
    connections: list[tuple[Plan, ClientConnection, asyncio.Task[None]]] = field(
        default_factory=list
    )
    recording: bool = False
    receipts: list[tuple[int, float]] = field(default_factory=list)
    messages: int = 0
    failures: int = 0  # streams that ended (error/complete) or connections that closed
    failure_sample: str | None = None
    leaving: set[int] = field(default_factory=set)  # ids of connections being closed on purpose
    extensions: str = ""  # what the server agreed to, e.g. permessage-deflate

    @property
    def subscriptions(self) -> int:
        return sum(len(plan.account_ids) for plan, _, _ in self.connections)

    async def watch_lag(self, lags: list[float], period_s: float = 0.01) -> None:
        """Until cancelled: how late this process's event loop wakes a 10 ms timer (ms), i.e.
        how long a message may have waited here before being stamped."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + period_s
            await asyncio.sleep(period_s)
            lags.append((loop.time() - due) * 1000)

    def subscribers_per_account(self) -> Counter[str]:
        return Counter(account for plan, _, _ in self.connections for account in plan.account_ids)

    def _fail(self, sample: str) -> None:
        self.failures += 1
        self.failure_sample = self.failure_sample or sample[:500]

    async def open(self, plans: Sequence[Plan], concurrency: int) -> None:
        """Open every planned connection, at most `concurrency` handshakes at a time, and return
        once each of their subscriptions has delivered its SNAPSHOT."""
        gate = asyncio.Semaphore(concurrency)

        async def one(plan: Plan) -> None:
            async with gate:
                await self._open_one(plan)

        results = await asyncio.gather(*(one(plan) for plan in plans), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                raise SubscribeError(f"{type(result).__name__}: {result}") from result
            if isinstance(result, BaseException):
                raise result

    async def _open_one(self, plan: Plan) -> None:
        ws = await connect(
            self.url,
            subprotocols=[PROTOCOL],
            compression="deflate" if self.compression else None,
            open_timeout=self.open_timeout_s,
            ping_interval=None,  # idle apps: no client keep-alive traffic
            close_timeout=2,
            max_queue=64,
        )
        try:
            async with asyncio.timeout(self.open_timeout_s):
                await ws.send(
                    json.dumps(
                        {
                            "type": "connection_init",
                            "payload": {"authorization": f"Bearer {plan.token}"},
                        }
                    )
                )
                ack = json.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    raise SubscribeError(f"expected connection_ack, got {ack}")
                for number, account_id in enumerate(plan.account_ids):
                    message = {
                        "id": str(number),
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": {"id": account_id}},
                    }
                    await ws.send(json.dumps(message))
                waiting = set(range(len(plan.account_ids)))
                while waiting:
                    reply = json.loads(await ws.recv())
                    data = (reply.get("payload") or {}).get("data") or {}
                    event = data.get("accountEvents") or {}
                    if reply.get("type") != "next" or event.get("kind") != "SNAPSHOT":
                        raise SubscribeError(f"expected a SNAPSHOT, got {str(reply)[:300]}")
                    waiting.discard(int(reply["id"]))
        except BaseException:
            ws.transport.abort()
            raise
        self.extensions = ", ".join(extension.name for extension in ws.protocol.extensions)
        reader = asyncio.create_task(self._read(ws))
        self.connections.append((plan, ws, reader))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                received = time.monotonic()
                self.messages += 1
                message = json.loads(raw)
                kind = message.get("type")
                if kind != "next":
                    if kind != "pong":
                        self._fail(f"stream message {str(message)[:300]}")
                    continue
                if not self.recording:
                    continue
                event = message["payload"]["data"]["accountEvents"]
                transaction = event.get("transaction")
                if event["kind"] == "TRANSACTION_POSTED" and transaction:
                    description = transaction["description"]
                    if description.startswith(MEMO_PREFIX):
                        self.receipts.append((int(description[len(MEMO_PREFIX) :]), received))
        except (ConnectionClosed, WebSocketException, OSError) as error:
            if id(ws) not in self.leaving:
                self._fail(f"connection closed: {type(error).__name__}: {error}")
            return
        if id(ws) not in self.leaving:
            code = ws.close_code
            self._fail(f"connection closed by the server (code {code}, {ws.close_reason!r})")

    async def close(self, count: int | None = None) -> None:
        """Close the last `count` connections (all by default) with a normal closing handshake."""
        count = len(self.connections) if count is None else count
        leaving = self.connections[len(self.connections) - count :]
        del self.connections[len(self.connections) - count :]
        self.leaving.update(id(ws) for _, ws, _ in leaving)
        gate = asyncio.Semaphore(100)

        async def one(ws: ClientConnection, reader: asyncio.Task[None]) -> None:
            async with gate:
                with suppress(Exception):
                    await ws.close()
                reader.cancel()
                with suppress(asyncio.CancelledError):
                    await reader
                self.leaving.discard(id(ws))

        await asyncio.gather(*(one(ws, reader) for _, ws, reader in leaving))

    def abort(self) -> None:
        """Drop every connection at once (errors and Ctrl-C): no handshake, no waiting."""
        for _, ws, reader in self.connections:
            self.leaving.add(id(ws))
            reader.cancel()
            with suppress(Exception):
                ws.transport.abort()
        self.connections.clear()
