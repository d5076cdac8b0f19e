"""Refuse request bodies over a size limit, declared or streamed."""

from __future__ import annotations

import contextlib

from bff.edge.asgi import ASGIApp, Message, Receive, Scope, Send, graphql_error, send_json


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, send)
            return
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # Answer before raising: the app's own error handling would answer 500 instead.
                if not started:
                    await self._refuse(scope, send)
                refused = True
                raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(BodyTooLarge):
            await self.app(scope, limited_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = graphql_error(
            scope, f"Request body is over {self.max_bytes} bytes.", "PAYLOAD_TOO_LARGE"
        )
        await send_json(scope, send, 413, body)
