"""A local stand-in for Expo's push service (the machine cannot reach exp.host), speaking its
documented protocol: POST /--/api/v2/push/send with up to 100 messages, a ticket per message
(`DeviceNotRegistered` for dead tokens), and POST /--/api/v2/push/getReceipts. It records what
it accepted and can fail on demand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.local_http import serving_app
from tests.servers import HOST, free_port


@dataclass
class FakeExpo:
    port: int = field(default_factory=free_port)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    dead_tokens: set[str] = field(default_factory=set)
    # The next this-many send requests answer 503, as Expo does when it is overloaded.
    failures_to_come: int = 0
    requests: int = 0
    # How long each send request takes to answer (a slow push service keeps batches in flight).
    delay_s: float = 0.0
    # Called with each accepted message as it arrives (the benchmark times arrivals).
    on_accept: Callable[[dict[str, Any]], None] | None = None

    @property
    def send_url(self) -> str:
        return f"http://{HOST}:{self.port}/--/api/v2/push/send"

    @property
    def receipts_url(self) -> str:
        return f"http://{HOST}:{self.port}/--/api/v2/push/getReceipts"

    def to(self, token: str, title: str | None = None) -> list[dict[str, Any]]:
        """The accepted messages to `token` (with `title`, if given)."""
        return [
            message
            for message in self.accepted
            if message["to"] == token and (title is None or message["title"] == title)
        ]

    async def _send(self, request: Request) -> JSONResponse:
        self.requests += 1
        messages = await request.json()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures_to_come > 0:
            self.failures_to_come -= 1
            return JSONResponse({"errors": [{"code": "INTERNAL_SERVER_ERROR"}]}, status_code=503)
        if not isinstance(messages, list) or len(messages) > 100:
            return JSONResponse({"errors": [{"code": "VALIDATION_ERROR"}]}, status_code=400)
        tickets = []
        for message in messages:
            if message["to"] in self.dead_tokens:
                tickets.append(
                    {
                        "status": "error",
                        "message": f"{message['to']} is not a registered push token",
                        "details": {"error": "DeviceNotRegistered"},
                    }
                )
            else:
                self.accepted.append(message)
                if self.on_accept is not None:
                    self.on_accept(message)
                tickets.append({"status": "ok", "id": str(uuid.uuid4())})
        return JSONResponse({"data": tickets})

    async def _receipts(self, request: Request) -> JSONResponse:
        ids = (await request.json())["ids"]
        return JSONResponse({"data": {ticket: {"status": "ok"} for ticket in ids}})

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeExpo]:
        app = Starlette(
            routes=[
                Route("/--/api/v2/push/send", self._send, methods=["POST"]),
                Route("/--/api/v2/push/getReceipts", self._receipts, methods=["POST"]),
            ]
        )
        async with serving_app(app, self.port):
            yield self
