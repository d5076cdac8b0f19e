"""WebSocket Origin check: browsers from foreign origins are refused before the handshake.

Native apps send no Origin header and pass; a browser always sends one, so a page on another
site cannot ride a user's credentials into a WebSocket (cross-site WebSocket hijacking)."""

from __future__ import annotations

from bff.edge.asgi import ASGIApp, Receive, Scope, Send


class WebSocketOrigin:
    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            origin = dict(scope["headers"]).get(b"origin")
            if origin is not None and origin.decode("latin-1") not in self.allowed:
                # Closing before accepting makes the server answer the handshake with 403.
                await send({"type": "websocket.close", "code": 4403})
                return
        await self.app(scope, receive, send)
