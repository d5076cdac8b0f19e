"""The GraphiQL page: Strawberry's page, on the assets this server serves itself under
/graphiql/ instead of a CDN, so that it works without the internet."""

from __future__ import annotations

from functools import cache

from starlette.responses import HTMLResponse

from bff.api.graphiql.assets import PACKAGE_DIR

# Everything from this server: scripts and styles from /graphiql/ (the page has no inline script
# or style), fetches and the graphql-transport-ws WebSocket to /graphql. GraphiQL's stylesheet
# embeds its fonts and a few images as data: URLs, and the favicon is one.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # GraphiQL's dialogs lock the page's scroll with one <style> element of fixed content
        # (react-remove-scroll-bar, for a page without a scroll bar): allowed by its hash.
        "style-src 'self' 'sha256-Y/huXlwoYkVyQlxwSVcCi1RCDGDCSVBzDt0hYP9qlTc='",
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


@cache
def _html() -> str:
    return (PACKAGE_DIR / "page.html").read_text()


def graphiql_page() -> HTMLResponse:
    """GraphiQL's HTML with its Content-Security-Policy."""
    return HTMLResponse(_html(), headers={"content-security-policy": CONTENT_SECURITY_POLICY})
