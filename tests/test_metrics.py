"""Prometheus metrics: the families an operator scrapes exist and move with the traffic, on the
public listener only when configured, and added up over the workers of one `bff serve`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bff.app import create_app
from bff.config import Settings
from bff.metrics.labels import OTHER, OperationNames
from bff.runtime import Runtime
from tests.conftest import World, runtime_on
from tests.documents import ACCOUNT_BALANCE, LOGIN, VIEWER
from tests.graphql_calls import account_id
from tests.servers import HOST, ServerSet, free_port
from tests.services import suite_redis_url
from tests.test_subscriptions import ws_connect

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# Every family the dashboard and alerts may use (tests/test_deploy.py checks they do exist).
FAMILIES = {
    "bff_graphql_requests",
    "bff_graphql_request_duration_seconds",
    "bff_graphql_operation_cost",
    "bff_graphql_executions",
    "bff_rate_limit_refusals",
    "bff_user_errors",
    "bff_login_throttled",
    "bff_cache_lookups",
    "bff_db_pool_connections",
    "bff_db_pool_capacity_connections",
    "bff_db_pool_wait_seconds",
    "bff_redis_breaker_open",
    "bff_websocket_connections",
    "bff_graphql_subscriptions",
    "bff_outbox_relay_lag_seconds",
}


def parse(text: str) -> tuple[set[str], Samples]:
    families = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


@pytest.fixture
async def public_metrics(settings: Settings) -> AsyncIterator[Runtime]:
    # A few points besides reading the two documents the customer sends (once each).
    bucket = 3 + len(VIEWER) + len(ACCOUNT_BALANCE)
    async with runtime_on(
        settings, None, metrics_public=True, cost_bucket=bucket, cost_restore_rate=0.001
    ) as runtime:
        await runtime.sampler.sample()
        yield runtime


async def scrape(http: httpx.AsyncClient) -> tuple[set[str], Samples]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_the_families_exist_and_move_with_requests(
    public_metrics: Runtime, world: World
) -> None:
    # given a server with /metrics on its public listener, and a customer
    person = await world.person()
    account = await world.account(person, funds="1.00")
    transport = httpx.ASGITransport(app=create_app(public_metrics), client=("10.9.8.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        families, before = await scrape(http)
        assert FAMILIES - {"bff_graphql_subscriptions", "bff_websocket_connections"} <= families

        # when it answers a query, a bad document, a failed login and a refused (rate-limited)
        # query
        viewer = await http.post("/graphql", json={"query": VIEWER}, headers=person.headers)
        assert viewer.status_code == 200
        balance = {"query": ACCOUNT_BALANCE, "variables": {"id": account_id(account)}}
        assert (await http.post("/graphql", json=balance, headers=person.headers)).is_success
        await http.post("/graphql", json={"query": "query Broken { nope }"})
        wrong = {"email": person.user.email, "password": "not it at all", "deviceName": "t"}
        await http.post("/graphql", json={"query": LOGIN, "variables": {"input": wrong}})
        refused = None
        for _ in range(10):
            refused = await http.post("/graphql", json={"query": VIEWER}, headers=person.headers)
            if refused.status_code == 429:
                break
        assert refused is not None
        assert refused.status_code == 429
        _, after = await scrape(http)

    # then the request counters, latency, cost, refusals, user errors and pool use moved
    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("bff_graphql_requests_total", operation="Viewer", outcome="ok") >= 1
    assert moved("bff_graphql_requests_total", operation="Broken", outcome="rejected") == 0
    assert moved("bff_graphql_requests_total", operation="unnamed", outcome="rejected") >= 1
    assert moved("bff_graphql_requests_total", operation="Viewer", outcome="rate_limited") == 1
    assert moved("bff_graphql_requests_total", operation="AccountBalance", outcome="ok") == 1
    assert moved("bff_graphql_request_duration_seconds_count", operation="Viewer") >= 2
    assert moved("bff_graphql_operation_cost_count", operation_class="query") >= 3
    assert moved("bff_graphql_executions_total", executor="compiled") >= 2
    assert moved("bff_rate_limit_refusals_total", operation_class="query") == 1
    assert moved("bff_user_errors_total", code="INVALID_CREDENTIALS") == 1
    assert moved("bff_db_pool_wait_seconds_count", pool="primary") >= 1
    assert moved("bff_cache_lookups_total", cache="loader") >= 1
    assert value(after, "bff_db_pool_capacity_connections", pool="primary") == (
        public_metrics.settings.db_pool_size + public_metrics.settings.db_max_overflow
    )
    assert value(after, "bff_outbox_relay_lag_seconds") >= 0
    assert value(after, "bff_redis_breaker_open") == 0


async def test_the_public_listener_has_no_metrics_unless_configured(
    client: httpx.AsyncClient,
) -> None:
    # given the default settings; when /metrics is asked of the public listener
    response = await client.get("/metrics")
    # then it is not there
    assert response.status_code == 404


def test_operation_names_cannot_multiply_series() -> None:
    # given a cap of 3 distinct names
    names = OperationNames(capacity=3)
    # when a client invents many names, and a malformed or no name
    labels = [names.label(f"Op{i}") for i in range(10)]
    # then the first ones keep their label, the rest share one, malformed ones another
    assert labels[:3] == ["Op0", "Op1", "Op2"]
    assert set(labels[3:]) == {OTHER}
    assert names.label("Op1") == "Op1"
    assert names.label("x" * 65) == "invalid"
    assert names.label("drop table;") == "invalid"
    assert names.label(None) == "unnamed"


async def test_two_workers_are_added_up_on_the_metrics_listener(
    settings: Settings, database_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # given `bff serve` with two workers, Redis and a metrics listener of its own
    metrics_port = free_port()
    servers = ServerSet(
        database_url=database_url,
        redis_url=suite_redis_url(15),
        data_dir=settings.data_dir,
        log_dir=tmp_path_factory.mktemp("metrics-servers"),
    )
    person = await world.person()
    account = await world.account(person, funds="5.00")
    try:
        server = await servers.start(
            "metrics",
            {
                "BFF_WORKERS": "2",
                "BFF_METRICS_PORT": str(metrics_port),
                "BFF_DB_POOL_SIZE": "2",
                "BFF_DB_MAX_OVERFLOW": "2",
            },
        )
        metrics_url = f"http://{HOST}:{metrics_port}/metrics"
        async with httpx.AsyncClient(timeout=10) as http:
            _, before = parse((await http.get(metrics_url)).text)
            # when 20 queries are spread over the workers, and a subscription is open
            for _ in range(20):
                response = await http.post(
                    server.graphql_url, json={"query": VIEWER}, headers=person.headers
                )
                assert response.status_code == 200
            async with ws_connect(server, token=person.token) as ws:
                await ws.subscribe("1", account.id)
                await ws.event()  # the snapshot: the stream is live
                during = await _scrape_until(
                    http, metrics_url, "bff_graphql_subscriptions", lambda v: v >= 1
                )
            after = await _scrape_until(
                http, metrics_url, "bff_websocket_connections", lambda v: v == 0
            )
            public = await http.get(f"{server.http_url}/metrics")
    finally:
        await servers.stop_all()

    # then the listener counts every query, whichever worker answered it
    counted = value(after, "bff_graphql_requests_total", operation="Viewer", outcome="ok")
    assert counted - value(before, "bff_graphql_requests_total", operation="Viewer") == 20
    # and it saw the WebSocket and the subscription while they were open, and not after
    assert value(during, "bff_websocket_connections") == 1
    assert value(during, "bff_graphql_subscriptions") == 1
    assert value(after, "bff_graphql_subscriptions") == 0
    # and the public listener does not serve them
    assert public.status_code == 404
    # and the WebSocket's log line names its actor
    ws_lines = [line for line in server.log_path.read_text().splitlines() if "method=WS" in line]
    assert any(f"actor_id={person.user.id}" in line for line in ws_lines), ws_lines


async def _scrape_until(
    http: httpx.AsyncClient, url: str, name: str, condition: object, within_s: float = 30.0
) -> Samples:
    """Scrapes until the gauge `name` satisfies `condition` (a WebSocket closes on the server
    a moment after the client sees it closed)."""
    assert callable(condition)
    deadline = time.monotonic() + within_s
    while True:
        _, samples = parse((await http.get(url)).text)
        if condition(value(samples, name)) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.05)
