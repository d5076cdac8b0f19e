"""Request ids and the one structured log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from bff import logging as bff_logging
from bff.edge.asgi import ASGIApp, Message, Receive, Scope, Send, state

log = logging.getLogger("bff.request")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


class RequestLog:
    """Give every request an id (kept from `X-Request-Id` when well-formed), echo it back, and log
    method, path, status, duration, GraphQL operation and actor once the response is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else uuid.uuid4().hex
        request_state = state(scope)
        request_state["request_id"] = request_id
        # Every line logged while serving it names the request (bff.logging.RequestContext).
        served = bff_logging.request_state.set(request_state)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            actor = request_state.get("actor")
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method", "WS"),
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "operation": request_state.get("operation_name"),
                    "actor_id": str(actor.user_id) if actor else None,
                },
            )
            bff_logging.request_state.reset(served)
