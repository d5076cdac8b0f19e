"""The answer of last resort: an exception that nothing below handled still gets a typed answer.

HTTP: a GraphQL-shaped JSON error with the request id, `INTERNAL` (500), or `SERVICE_UNAVAILABLE`
(503 with `Retry-After`) when a dependency is unreachable; never the server's plain-text 500.
WebSocket: the same JSON as a denial response before the handshake is answered (where the server
supports denial responses), else close code 1011 (internal error) or 1013 (try again later).
Nothing is sent once an answer has started: the client keeps the one it is already reading
(and a response cut short is left to the server to abort, so the client knows it is short).
"""

from __future__ import annotations

import logging
from contextlib import suppress

from bff.api.errors import masked_message
from bff.db.failures import as_unavailable
from bff.domain.errors import ServiceUnavailable
from bff.edge.asgi import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    graphql_error,
    send_json,
    state,
    websocket_denial,
)

log = logging.getLogger("bff.errors")

_CLOSE_INTERNAL_ERROR = 1011
_CLOSE_TRY_AGAIN_LATER = 1013
# Messages after which a WebSocket client has had its answer (a closing or a denial).
_WEBSOCKET_ENDINGS = frozenset({"websocket.close", "websocket.http.response.start"})


class LastResort:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent: set[str] = set()
        complete = False  # an HTTP response whose last body part went out

        async def tracking_send(message: Message) -> None:
            nonlocal complete
            sent.add(message["type"])  # before sending: a send that fails counts as sent
            complete = complete or (
                message["type"] == "http.response.body" and not message.get("more_body")
            )
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            outage = as_unavailable(error)
            _log(scope, error, outage)
            if scope["type"] == "http" and "http.response.start" in sent:
                if not complete:
                    # Half an answer: the server must cut the connection, so that the client
                    # knows it is incomplete rather than take it for the whole.
                    raise
                return
            # The client may be gone already: answering is best effort and must not raise.
            with suppress(Exception):
                if scope["type"] == "http":
                    await _answer_http(scope, send, outage)
                elif not sent & _WEBSOCKET_ENDINGS:
                    await _answer_websocket(scope, send, outage, "websocket.accept" in sent)


def _log(scope: Scope, error: Exception, outage: ServiceUnavailable | None) -> None:
    request_id = state(scope).get("request_id")
    if outage is None:
        log.error("unhandled error", exc_info=error, extra={"request_id": request_id})
    else:
        extra = {"request_id": request_id, "dependency": outage.dependency}
        log.warning("dependency unavailable: %s", error, extra=extra)


async def _answer_http(scope: Scope, send: Send, outage: ServiceUnavailable | None) -> None:
    if outage is None:
        message = masked_message(state(scope).get("request_id"))
        await send_json(scope, send, 500, graphql_error(scope, message, "INTERNAL"))
        return
    wait = outage.retry_after_s
    body = graphql_error(scope, outage.client_message, outage.code, retryAfter=wait)
    await send_json(scope, send, 503, body, [(b"retry-after", str(wait).encode())])


async def _answer_websocket(
    scope: Scope, send: Send, outage: ServiceUnavailable | None, accepted: bool
) -> None:
    if accepted or "websocket.http.response" not in scope.get("extensions", {}):
        code = _CLOSE_INTERNAL_ERROR if outage is None else _CLOSE_TRY_AGAIN_LATER
        reason = "internal error" if outage is None else "service unavailable"
        await send({"type": "websocket.close", "code": code, "reason": reason})
        return
    # The denial response is HTTP inside the WebSocket scope: the same answer.
    await _answer_http(scope, websocket_denial(send), outage)
