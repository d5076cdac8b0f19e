"""The Origin check of WebSocket handshakes, exact in scheme, host and port.

Browsers apply no CORS to WebSockets: a page on any site may open one, so the server must look
at `Origin` itself (cross-site WebSocket hijacking). A handshake passes when it has no Origin
(not a browser: the apps), when the browser says it is same-origin (`Sec-Fetch-Site`, which
pages cannot set), when Origin is the server's own origin (the scheme the server was reached by,
from X-Forwarded-Proto behind a trusted proxy, and the Host), or when it is listed
(BFF_ALLOWED_ORIGINS). Anything else gets 403 `ORIGIN_NOT_ALLOWED` before the handshake is
answered. Strawberry's own check, which stays behind this one, compares host and port only:
it lets a page served over http reach the https API on the same host.
"""

from __future__ import annotations

import logging

from bff.edge.asgi import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    graphql_error,
    send_json,
    websocket_denial,
)
from bff.origins import canonical_origin

log = logging.getLogger("bff.edge")

_CLOSE_POLICY_VIOLATION = 1008
MESSAGE = "Pages of this origin may not open WebSockets to this API."


class WebSocketOrigin:
    def __init__(self, app: ASGIApp, origins: frozenset[str]) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
        log.warning("refused a WebSocket from another origin", extra={"origin": origin})
        if "websocket.http.response" in scope.get("extensions", {}):
            body = graphql_error(scope, MESSAGE, "ORIGIN_NOT_ALLOWED")
            await send_json(scope, websocket_denial(send), 403, body)
        else:  # servers without denial responses answer this close with a bare 403
            await send({"type": "websocket.close", "code": _CLOSE_POLICY_VIOLATION})

    def _allowed(self, scope: Scope) -> bool:
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is None or headers.get(b"sec-fetch-site") == b"same-origin":
            return True
        text = origin.decode("latin-1")
        return text in self.origins or text == own_origin(scope, headers.get(b"host", b""))


def own_origin(scope: Scope, host: bytes) -> str | None:
    """The origin this request was sent to: its scheme (wss for https pages) and Host."""
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    return canonical_origin(f"{scheme}://{host.decode('latin-1')}")
