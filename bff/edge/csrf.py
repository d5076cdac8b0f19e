"""CSRF prevention as Apollo Server does it by default, for the GraphQL endpoint.

A page on any site can make the browser send a "simple" request, without asking the server
first: a GET, or a POST whose Content-Type is absent or one of text/plain,
application/x-www-form-urlencoded and multipart/form-data (an HTML form can send those). The
browser hides the answer from the page, but the operation has run by then. Any other request is
preflighted (CORS asks the server whether the page's origin may send it), so it is only sent
when `bff.edge.cors` allows that origin. Hence: a simple request is refused with 400
`CSRF_PREVENTED` unless it carries a non-empty header no page can set without a preflight
(`PREFLIGHT_HEADERS`). POSTs with `application/json` pass as they are; GETs need the header.
A GET with no query string names no operation and passes (GraphiQL's page, or the view's 400).
"""

from __future__ import annotations

from bff.edge.asgi import ASGIApp, Receive, Scope, Send, graphql_error, send_json

# Apollo's two (Apollo iOS and Kotlin send x-apollo-operation-name on every request), and the
# BFF's own for clients that use neither library (any non-empty value).
PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight")
# What a browser sends cross-site without a preflight (fetch's CORS-safelisted content types).
_SIMPLE_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
_SIMPLE_METHODS = frozenset({"GET", "HEAD", "POST"})
MESSAGE = (
    "Refused as a possible cross-site request forgery (CSRF): send a POST with Content-Type "
    f"application/json, or add a non-empty header {' or '.join(PREFLIGHT_HEADERS)} (a GET must)."
)


class CsrfPrevention:
    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and could_be_forged(scope):
            await send_json(scope, send, 400, graphql_error(scope, MESSAGE, "CSRF_PREVENTED"))
            return
        await self.app(scope, receive, send)


def could_be_forged(scope: Scope) -> bool:
    """Whether a page on another site could have made a browser send this HTTP request without
    a preflight, while it names an operation."""
    method = scope["method"]
    if method not in _SIMPLE_METHODS:
        return False
    if method != "POST" and not scope["query_string"]:
        return False
    headers: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    # Repeated headers are one comma-joined value to a browser, as here.
    content_type = ", ".join(headers.get("content-type", []))
    essence = content_type.split(";", 1)[0].strip().lower()
    if essence and essence not in _SIMPLE_CONTENT_TYPES:
        return False  # a browser would have asked first
    return not any("".join(headers.get(name, [])) for name in PREFLIGHT_HEADERS)
