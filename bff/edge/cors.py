"""CORS for the browser origins the deployment lists (BFF_ALLOWED_ORIGINS): the app's web
builds (Expo web) and hosted GraphQL explorers.

A listed origin gets Starlette's CORSMiddleware: preflights answered (methods GET and POST, the
headers below, cached by the browser for `MAX_AGE_S`), `Access-Control-Allow-Origin` naming it,
`Access-Control-Allow-Credentials`, the exposed headers, `Vary: Origin`. Any other origin gets
no CORS header at all, so its pages cannot read an answer: its preflight is refused with 403
`ORIGIN_NOT_ALLOWED`, its other requests go on untouched (CSRF prevention refuses what they
could forge). Starlette alone would send Allow-Credentials and Expose-Headers to every origin,
and refuse an unlisted origin's preflight in plain text with the policy in its headers.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware

from bff.edge.asgi import ASGIApp, Message, Receive, Scope, Send, graphql_error, send_json
from bff.edge.csrf import PREFLIGHT_HEADERS

# What pages send: the bearer token, JSON bodies, the CSRF preflight headers, a request id of
# their own (Accept and Content-Language are always allowed).
ALLOWED_HEADERS = ("authorization", "content-type", *PREFLIGHT_HEADERS, "x-request-id")
# Beyond the CORS-safelisted response headers: what a client needs to report or to back off.
EXPOSED_HEADERS = ("x-request-id", "retry-after")
# Chromium keeps a preflight at most two hours whatever is asked; Firefox a day.
MAX_AGE_S = 7200
_VARY = (b"vary", b"Origin")
_REFUSED = "ORIGIN_NOT_ALLOWED"


class Cors:
    def __init__(self, app: ASGIApp, origins: frozenset[str]) -> None:
        self.app = app
        self.origins = origins
        self.listed = CORSMiddleware(
            app,
            allow_origins=sorted(origins),
            allow_methods=("GET", "POST"),
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=True,
            expose_headers=EXPOSED_HEADERS,
            max_age=MAX_AGE_S,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        preflight = scope["method"] == "OPTIONS" and b"access-control-request-method" in headers
        if origin in self.origins:
            await self.listed(scope, receive, send)
        elif origin and preflight:
            body = graphql_error(scope, "Pages of this origin may not call this API.", _REFUSED)
            await send_json(scope, send, 403, body, [_VARY])
        else:
            await self.app(scope, receive, _varying_by_origin(send))


def _varying_by_origin(send: Send) -> Send:
    """Answers differ by Origin (listed ones get CORS headers): say so to every cache."""

    async def send_with_vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            varies = [value for name, value in headers if name.lower() == b"vary"]
            if not any(b"origin" in value.lower() for value in varies):
                headers.append(_VARY)
            message["headers"] = headers
        await send(message)

    return send_with_vary
