"""GraphiQL in a real browser: Debian's Chromium, driven by Playwright, against a real
`bff serve` process. The editor renders, a typed query runs with the typed headers, a
subscription runs over graphql-transport-ws to the same server, and the page loads nothing from
anywhere else: every request for another origin is recorded and refused, as it would fail on a
machine without the internet.

Chromium and the server come from tests/browser.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bff.config import Settings
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.browser import TIMEOUT_MS, browsed_server, chromium
from tests.conftest import World
from tests.servers import Server

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESPONSE = ".graphiql-response .CodeMirror"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
async def server(
    runtime: Runtime,
    settings: Settings,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Server]:
    log_dir = tmp_path_factory.mktemp("graphiql-server")
    async with browsed_server("graphiql", settings, database_url, log_dir) as served:
        yield served


@dataclass
class GraphiQL:
    """The GraphiQL page of `server` in one fresh browser context, and what it asked for."""

    page: Page
    server: Server
    requests: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def open(self) -> None:
        await self.page.goto(self.server.graphql_url, timeout=TIMEOUT_MS)
        try:
            await self.page.wait_for_selector(QUERY_EDITOR, timeout=TIMEOUT_MS)
        except PlaywrightTimeoutError:
            raise AssertionError(
                f"GraphiQL did not render; refused: {self.foreign_requests}, errors: {self.errors}"
            ) from None

    async def type_query(self, text: str) -> None:
        await self._type(QUERY_EDITOR, text)

    async def type_headers(self, text: str) -> None:
        await self.page.get_by_role("button", name="Headers", exact=True).click()
        await self._type(HEADERS_EDITOR, text)

    async def _type(self, editor: str, text: str) -> None:
        await self.page.click(editor)
        await self.page.keyboard.press("Control+A")
        await self.page.keyboard.press("Delete")
        # As pasted: typed key by key, the editor would close every bracket a second time.
        await self.page.keyboard.insert_text(text)

    async def run(self) -> None:
        await self.page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    async def response_containing(self, text: str) -> Any:
        """The response pane's JSON, once it shows `text`."""
        # Functions, not expressions: Playwright would eval() an expression, which the page's
        # Content-Security-Policy refuses.
        value = f"() => document.querySelector({RESPONSE!r}).CodeMirror.getValue()"
        try:
            await self.page.wait_for_function(
                f"(text) => ({value})().includes(text)", arg=text, timeout=TIMEOUT_MS
            )
        except PlaywrightTimeoutError:
            shown = await self.page.evaluate(value)
            raise AssertionError(f"no {text!r} in the response pane: {shown!r}") from None
        return json.loads(await self.page.evaluate(value))

    def assert_only_this_server_was_asked(self) -> None:
        assert self.foreign_requests == []
        own = f"{self.server.http_url}/"
        assert [url for url in self.requests if not url.startswith(own)] == []
        assert [url for url in self.websockets if url != self.server.ws_url] == []
        assert self.errors == []


@pytest.fixture
async def graphiql(browser: Browser, server: Server) -> AsyncIterator[GraphiQL]:
    context = await browser.new_context()
    graphiql = GraphiQL(await context.new_page(), server)

    async def only_this_server(route: Route, request: Request) -> None:
        if request.url.startswith(f"{server.http_url}/"):
            await route.continue_()
        else:
            graphiql.foreign_requests.append(request.url)
            await route.abort("internetdisconnected")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":  # refusals by the page's CSP among them
            graphiql.errors.append(message.text)

    await context.route("**/*", only_this_server)
    graphiql.page.on("request", lambda request: graphiql.requests.append(request.url))
    graphiql.page.on("websocket", lambda socket: graphiql.websockets.append(socket.url))
    graphiql.page.on("console", on_console)
    graphiql.page.on("pageerror", lambda error: graphiql.errors.append(str(error)))
    try:
        yield graphiql
    finally:
        await context.close()


async def test_graphiql_renders_from_this_server_alone(graphiql: GraphiQL) -> None:
    # given a browser that may reach nothing but the server
    # when it opens GraphiQL and a dialog (which locks the page's scroll with a <style>)
    await graphiql.open()
    await graphiql.page.get_by_role("button", name="Open settings dialog").click()
    await graphiql.page.get_by_role("dialog").wait_for(timeout=TIMEOUT_MS)
    # then the editor rendered from the vendored scripts, with nothing asked of anyone else
    # and nothing refused by the page's Content-Security-Policy
    assert await graphiql.page.locator(".graphiql-container .graphiql-sessions").count() == 1
    assert f"{graphiql.server.http_url}/graphiql/vendor/graphiql.min.js" in graphiql.requests
    graphiql.assert_only_this_server_was_asked()


async def test_a_typed_query_runs_with_the_typed_headers(graphiql: GraphiQL, world: World) -> None:
    # given a customer's access token, and GraphiQL open
    person = await world.person()
    await graphiql.open()
    # when the query and the README's headers are typed and the query is run
    await graphiql.type_query("{ viewer { email } }")
    await graphiql.type_headers(json.dumps({"Authorization": f"Bearer {person.token}"}))
    await graphiql.run()
    # then the response is the customer's own
    response = await graphiql.response_containing(person.user.email)
    assert response == {"data": {"viewer": {"email": person.user.email}}}
    graphiql.assert_only_this_server_was_asked()


async def test_a_subscription_runs_over_graphql_transport_ws_with_the_typed_headers(
    graphiql: GraphiQL, world: World
) -> None:
    # given a customer with an account, and GraphiQL open
    person = await world.person()
    account = await world.account(person, funds="3.00")
    await graphiql.open()
    # when a subscription to the account's events runs with the README's headers
    await graphiql.type_query(
        f'subscription {{ accountEvents(accountId: "{encode_id("Account", account.id)}") '
        "{ kind balance { amount currency } } }"
    )
    await graphiql.type_headers(json.dumps({"Authorization": f"Bearer {person.token}"}))
    await graphiql.run()
    # then the account's snapshot arrives over a WebSocket to the same server
    response = await graphiql.response_containing("SNAPSHOT")
    assert response == {
        "data": {
            "accountEvents": {"kind": "SNAPSHOT", "balance": {"amount": "3.00", "currency": "USD"}}
        }
    }
    assert graphiql.websockets == [graphiql.server.ws_url]
    graphiql.assert_only_this_server_was_asked()
