"""GraphiQL without the internet, over HTTP: the page loads only assets this server serves, the
vendored npm files are the ones recorded (versions and SHA-256 checksums in vendored.json), the
page's Content-Security-Policy allows nothing from elsewhere, and production serves none of it.
tests/test_graphiql_browser.py runs the page in a real browser."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from bff.api.graphiql.assets import VENDOR_DIR, uncompressed_sha256, vendored_files
from bff.config import Settings
from bff.runtime import build_runtime
from tests.conftest import asgi_client
from tests.production_keys import production_keys

HTML = {"accept": "text/html"}


class _AssetLinks(HTMLParser):
    """The URLs of the scripts and stylesheets a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"] or "")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.urls.append(attributes.get("href") or "")


def _asset_urls(html: str) -> list[str]:
    parser = _AssetLinks()
    parser.feed(html)
    return parser.urls


def _directives(policy: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (directive.split() for directive in policy.split(";") if directive)
    }


def test_the_vendored_files_are_the_recorded_ones() -> None:
    # given the files recorded in vendored.json (package, pinned version, SHA-256)
    recorded = vendored_files()
    # when the files on disk are uncompressed and hashed
    on_disk = {path.name: uncompressed_sha256(path) for path in VENDOR_DIR.iterdir()}
    # then each matches its checksum, and nothing else lies in static/vendor/
    assert on_disk == {file.stored_at.name: file.sha256 for file in recorded}
    # and each is pinned to one version (no range, no tag)
    assert all(file.version[:1].isdigit() for file in recorded), recorded


async def test_the_page_loads_its_scripts_and_styles_from_this_server(
    client: httpx.AsyncClient,
) -> None:
    # given the GraphiQL page of a development server
    page = await client.get("/graphql", headers=HTML)
    assert page.status_code == 200
    urls = _asset_urls(page.text)
    # when the browser would fetch its scripts and stylesheets
    assets = [await client.get(url) for url in urls]
    # then every one is a path of this server under /graphiql/, served with its type
    assert {"/graphiql/vendor/graphiql.min.js", "/graphiql/page.js"} <= set(urls)
    assert all(url.startswith("/graphiql/") for url in urls), urls
    for url, asset in zip(urls, assets, strict=True):
        assert asset.status_code == 200, url
        expected = "text/css" if url.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(expected), url


@pytest.mark.parametrize("accept_encoding", ["gzip, deflate, br", "identity"])
async def test_vendored_files_are_served_as_recorded_compressed_or_not(
    client: httpx.AsyncClient, accept_encoding: str
) -> None:
    # given GraphiQL's bundle as recorded in vendored.json
    (bundle,) = [file for file in vendored_files() if file.name == "graphiql.min.js"]
    # when a browser (gzip) or a client without compression asks for it
    asset = await client.get(
        "/graphiql/vendor/graphiql.min.js", headers={"accept-encoding": accept_encoding}
    )
    # then it gets the recorded bytes, gzip-encoded only when it said it accepts that
    assert asset.status_code == 200
    assert hashlib.sha256(asset.content).hexdigest() == bundle.sha256
    gzipped = accept_encoding.startswith("gzip")
    assert (asset.headers.get("content-encoding") == "gzip") is gzipped
    assert "accept-encoding" in asset.headers["vary"]


async def test_an_unknown_vendored_file_is_not_found(client: httpx.AsyncClient) -> None:
    # given / when a path under vendor/ that vendored.json does not list
    asset = await client.get("/graphiql/vendor/page.js")
    # then
    assert asset.status_code == 404


async def test_the_page_allows_scripts_and_styles_from_this_server_only(
    client: httpx.AsyncClient,
) -> None:
    # given
    page = await client.get("/graphql", headers=HTML)
    # when
    policy = _directives(page.headers["content-security-policy"])
    # then nothing runs or loads from elsewhere, and no inline script runs at all
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"][0] == "'self'"
    assert all(value.startswith("'sha256-") for value in policy["style-src"][1:]), policy
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "<script>" not in page.text
    assert "<style" not in page.text


async def test_api_responses_keep_the_strict_policy_and_the_page_has_one_policy(
    client: httpx.AsyncClient,
) -> None:
    # given the page and an API response of the same server
    page = await client.get("/graphql", headers=HTML)
    # when
    api = await client.post("/graphql", json={"query": "{ __typename }"})
    # then the API's policy still allows nothing, and only the page's allows its assets
    assert api.headers.get_list("content-security-policy") == [
        "default-src 'none'; frame-ancestors 'none'"
    ]
    assert len(page.headers.get_list("content-security-policy")) == 1


@pytest.fixture
async def production_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        _env_file=None,
        env="production",
        database_url=database_url,
        data_dir=tmp_path,
        **production_keys(tmp_path),
    )
    runtime = build_runtime(settings, database_url)
    try:
        async with asgi_client(runtime) as http:
            yield http
    finally:
        await runtime.close()


async def test_production_serves_neither_graphiql_nor_its_assets(
    production_client: httpx.AsyncClient,
) -> None:
    # given a production server
    # when a browser asks for GraphiQL and its script
    page = await production_client.get("/graphql", headers=HTML)
    script = await production_client.get("/graphiql/vendor/graphiql.min.js")
    # then it gets neither
    assert not page.headers.get("content-type", "").startswith("text/html")
    assert script.status_code == 404
