"""The consent page in a real browser (Debian's Chromium, driven by Playwright) against a real
`bff serve`, with authlib's OAuth 2.0 client as the third-party app over real HTTP: the app
pushes its request, the customer signs in, picks an account and a daily limit and approves,
the browser lands on the app's redirect URI with a code, and the app exchanges it
(private_key_jwt, DPoP) and calls /graphql, seeing the shared account only. The page asks
nothing of any other origin and runs without script.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Request, Route

from bff.config import Settings
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.browser import TIMEOUT_MS, browsed_server, chromium
from tests.conftest import PASSWORD, World
from tests.oauth_party import REDIRECT_URI, register
from tests.servers import Server

ACCOUNTS = "{ viewer { accounts { edges { node { id } } } } }"


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
    log_dir = tmp_path_factory.mktemp("oauth-server")
    async with browsed_server("oauth", settings, database_url, log_dir) as served:
        yield served


async def test_a_customer_connects_an_app_in_a_browser(
    browser: Browser, server: Server, runtime: Runtime, world: World
) -> None:
    # given a customer with two accounts, and an app (authlib's client) that pushed a request
    person = await world.person()
    shared = await world.account(person, funds="25.00")
    await world.account(person)
    party = await register(runtime, {}, server.http_url)
    authorization = await party.authorize(["accounts:read", "transfers:write"])
    # and a browser that reaches only the server (the app's redirect URI is answered here)
    context = await browser.new_context()
    page = await context.new_page()
    foreign: list[str] = []
    landed: list[str] = []

    async def route(route: Route, request: Request) -> None:
        if request.url.startswith(f"{server.http_url}/"):
            await route.continue_()
        elif request.url.startswith(REDIRECT_URI):
            landed.append(request.url)
            await route.fulfill(status=200, body="connected", content_type="text/plain")
        else:
            foreign.append(request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", route)

    try:
        # when the customer opens the consent link, signs in, picks an account and approves
        await page.goto(party.authorize_url(authorization), timeout=TIMEOUT_MS)
        await page.get_by_label("Email").fill(person.user.email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_text("Budget Buddy wants access to your bank").wait_for(
            timeout=TIMEOUT_MS
        )
        assert await page.get_by_text("Send money from the accounts you share").count() == 1
        await page.locator(f'input[name="account"][value="{shared.id}"]').check()
        await page.get_by_label("Daily limit").fill("50")
        await page.get_by_role("button", name="Approve").click()
        await page.wait_for_url(f"{REDIRECT_URI}*", timeout=TIMEOUT_MS)
    finally:
        await context.close()
    # then the browser landed on the redirect URI with a code, the state and the issuer
    assert foreign == []
    query = {name: values[0] for name, values in parse_qs(urlsplit(landed[-1]).query).items()}
    assert query["state"] == authorization.state
    assert query["iss"] == server.http_url
    # when the app exchanges the code and calls /graphql with its DPoP-bound token
    exchanged = await party.exchange(query["code"], authorization)
    assert exchanged.status_code == 200, exchanged.text
    answer = await party.graphql(exchanged.json()["access_token"], ACCOUNTS)
    # then it sees the shared account only
    assert answer.status_code == 200, answer.text
    edges = answer.json()["data"]["viewer"]["accounts"]["edges"]
    assert edges == [{"node": {"id": encode_id("Account", shared.id)}}]
    await party.http.aclose()


async def test_the_consent_page_loads_nothing_from_elsewhere(server: Server) -> None:
    # the page's stylesheet is the server's own; no script is referenced at all
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        css = await http.get("/oauth/static/consent.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
