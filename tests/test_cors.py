"""CORS (bff/edge/cors.py) for the origins of BFF_ALLOWED_ORIGINS: the app's web build and a
hosted explorer may call the API from their pages, with credentials; a page of any other origin
gets no CORS header at all, so the browser keeps every answer from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bff.app import create_app
from bff.config import Settings
from tests.commands import one_line_failure, run_bff
from tests.conftest import Person, World, runtime_on
from tests.documents import VIEWER

WEB_APP = "https://app.example.com"
EXPLORER = "https://studio.example.org:8443"
EVIL = "https://evil.example.net"


@pytest.fixture(scope="module")
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    origins = f"{WEB_APP}, {EXPLORER}"
    async with runtime_on(settings, None, allowed_origins=origins, db_pool_size=2) as runtime:
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(
            transport=transport, base_url="https://api.example.com"
        ) as http:
            yield http


def preflight(
    origin: str, method: str = "POST", headers: str = "authorization, content-type"
) -> dict[str, str]:
    """The request a browser sends before a POST of JSON with a bearer token."""
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": headers,
    }


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def listed(header: str) -> set[str]:
    return {item.strip().lower() for item in header.split(",")}


def varies_by_origin(response: httpx.Response) -> bool:
    return "origin" in listed(response.headers.get("vary", ""))


# --- preflights -----------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [WEB_APP, EXPLORER])
async def test_a_listed_origin_gets_a_preflight_that_allows_what_apps_send(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    # given a page of the web app or of the explorer, about to POST JSON with a bearer token
    headers = preflight(origin, headers="authorization, content-type, apollo-require-preflight")
    # when the browser asks first
    response = await cors_client.options("/graphql", headers=headers)
    # then it may send it, with credentials, and keep the answer two hours
    assert response.status_code == 200
    allowed = cors_headers(response)
    assert allowed["access-control-allow-origin"] == origin
    assert allowed["access-control-allow-credentials"] == "true"
    assert {"get", "post"} <= listed(allowed["access-control-allow-methods"])
    assert {
        "authorization",
        "content-type",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "graphql-preflight",
    } <= listed(allowed["access-control-allow-headers"])
    assert allowed["access-control-max-age"] == "7200"
    assert varies_by_origin(response)


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(EVIL, id="another-site"),
        pytest.param("http://app.example.com", id="listed-host-other-scheme"),
        pytest.param("https://app.example.com:8443", id="listed-host-other-port"),
        pytest.param("https://studio.example.org", id="listed-host-without-its-port"),
        pytest.param("null", id="opaque-origin"),
    ],
)
async def test_an_unlisted_origin_gets_a_refused_preflight_without_cors_headers(
    cors_client: httpx.AsyncClient, origin: str
) -> None:
    # given a page of an origin that is not listed (the comparison is exact)
    # when its browser asks to POST
    response = await cors_client.options("/graphql", headers=preflight(origin))
    # then it is refused in the API's own shape, and nothing in it lets the browser go on
    assert response.status_code == 403
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    assert cors_headers(response) == {}
    assert varies_by_origin(response)


async def test_a_listed_origin_may_not_send_headers_beyond_the_list(
    cors_client: httpx.AsyncClient,
) -> None:
    # given the web app asking to send a header the API does not take
    # when
    response = await cors_client.options("/graphql", headers=preflight(WEB_APP, headers="x-evil"))
    # then the browser is not told it may
    assert response.status_code != 200
    assert "x-evil" not in listed(response.headers.get("access-control-allow-headers", ""))


# --- requests -------------------------------------------------------------------------------


async def test_a_listed_origin_reads_the_answer_with_credentials(
    cors_client: httpx.AsyncClient, world: World
) -> None:
    # given a signed-in user of the web app
    person = await world.person()
    # when its page queries the API
    response = await cors_client.post(
        "/graphql", json={"query": VIEWER}, headers={**person.headers, "origin": WEB_APP}
    )
    # then the browser hands the answer, and the request id, to the page
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["email"] == person.user.email
    allowed = cors_headers(response)
    assert allowed["access-control-allow-origin"] == WEB_APP
    assert allowed["access-control-allow-credentials"] == "true"
    assert {"x-request-id", "retry-after"} <= listed(allowed["access-control-expose-headers"])
    assert varies_by_origin(response)


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [
        pytest.param(
            {"authorization": "Bearer expired", "content-type": "application/json"},
            "UNAUTHENTICATED",
            id="bad-token",
        ),
        pytest.param({"content-type": "text/plain"}, "CSRF_PREVENTED", id="form-post"),
    ],
)
async def test_a_listed_origin_reads_refusals_too(
    cors_client: httpx.AsyncClient, headers: dict[str, str], refusal: str
) -> None:
    # given the web app's page sending something the edge refuses
    # when
    response = await cors_client.post(
        "/graphql",
        content=b'{"query": "{ viewer { id } }"}',
        headers={**headers, "origin": WEB_APP},
    )
    # then the page can read why (and log in again, say)
    assert response.json()["errors"][0]["extensions"]["code"] == refusal
    assert response.headers["access-control-allow-origin"] == WEB_APP


@pytest.mark.parametrize(
    "origin",
    [pytest.param(EVIL, id="another-site"), pytest.param("http://app.example.com", id="http")],
)
async def test_an_unlisted_origins_answer_carries_no_cors_header(
    cors_client: httpx.AsyncClient, world: World, origin: str
) -> None:
    # given a request from an unlisted page (say one the browser sent without asking: the
    # server cannot tell, so it answers as to anyone)
    person = await world.person()
    # when
    response = await cors_client.post(
        "/graphql", json={"query": VIEWER}, headers={**person.headers, "origin": origin}
    )
    # then nothing lets the browser show the answer to the page
    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert varies_by_origin(response)


async def test_apps_send_no_origin_and_get_no_cors_headers(
    cors_client: httpx.AsyncClient, world: World
) -> None:
    # given the native app (no Origin)
    person: Person = await world.person()
    # when
    response = await cors_client.post("/graphql", json={"query": VIEWER}, headers=person.headers)
    # then
    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert varies_by_origin(response)


async def test_without_listed_origins_options_is_no_longer_405(client: httpx.AsyncClient) -> None:
    # given the default settings (no origin listed) and a page of another site
    # when its browser sends a preflight
    response = await client.options("/graphql", headers=preflight(EVIL))
    # then it is a typed refusal, not "method not allowed"
    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"


# --- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("https://app.example.com/", "https://app.example.com", id="trailing-slash"),
        pytest.param("https://App.Example.com", "https://app.example.com", id="upper-case"),
        pytest.param("https://app.example.com:443", "https://app.example.com", id="default-port"),
        pytest.param("*", "scheme://host[:port]", id="wildcard"),
        pytest.param("app.example.com", "scheme://host[:port]", id="no-scheme"),
    ],
)
def test_an_origin_not_written_as_browsers_send_it_is_one_line_saying_how(
    tmp_path: Path, value: str, expected: str
) -> None:
    # given an origin that would never equal a browser's Origin header
    # when any command reads the settings
    result = run_bff(["migrate"], cwd=tmp_path, BFF_ALLOWED_ORIGINS=f"{WEB_APP},{value}")
    # then it refuses, naming the variable and the spelling that would work
    line = one_line_failure(result)
    assert line.startswith("bff: invalid settings: BFF_ALLOWED_ORIGINS: "), line
    assert expected in line, line
