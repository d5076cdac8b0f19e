"""Traces and the log lines that join them: a span per request named by its operation, child
spans for the domain call, SQL and Redis, the trace id in log lines and masked errors (spans
collected by the OpenTelemetry SDK's in-memory exporter)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import httpx
import pytest
import strawberry
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from strawberry.extensions import SchemaExtension

from bff import logging as bff_logging
from bff import tracing
from bff.api.errors import ErrorBoundary
from bff.app import create_app
from bff.config import Settings
from bff.runtime import Runtime
from tests.conftest import World, runtime_on
from tests.documents import CREATE_TRANSFER, LOGIN
from tests.graphql_calls import account_id, transfer_input
from tests.services import suite_redis_url

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def spans(settings: Settings) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    if not tracing.configure(settings, exporter):
        pytest.fail("tracing is off")
    return exporter


@pytest.fixture
async def traced(settings: Settings, spans: InMemorySpanExporter) -> AsyncIterator[Runtime]:
    # Built after tracing started: its engine and schema are traced.
    async with runtime_on(settings, suite_redis_url(13)) as runtime:
        spans.clear()
        yield runtime


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The test's log records, with what the service's log handler adds to each."""
    caplog.set_level(logging.INFO)
    context = bff_logging.RequestContext()
    caplog.handler.addFilter(context)
    yield caplog
    caplog.handler.removeFilter(context)


def children_of(parent: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [
        span
        for span in spans
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


async def test_a_request_is_one_trace_with_spans_for_the_domain_call_sql_and_redis(
    traced: Runtime,
    spans: InMemorySpanExporter,
    world: World,
    logs: pytest.LogCaptureFixture,
) -> None:
    # given a customer with two accounts
    person = await world.person()
    source = await world.account(person, funds="10.00")
    target = await world.account(person)
    spans.clear()
    # when the app sends a transfer inside a trace of its own (W3C traceparent)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(traced)), base_url="http://t"
    ) as http:
        response = await http.post(
            "/graphql",
            json={
                "query": CREATE_TRANSFER,
                "variables": transfer_input(account_id(source), account_id(target)),
            },
            headers={**person.headers, "traceparent": TRACEPARENT},
        )
    assert response.status_code == 200
    assert response.json()["data"]["createTransfer"]["userErrors"] == []

    # then the request's span continues the caller's trace, named by the operation
    finished = list(spans.get_finished_spans())
    assert {format(span.context.trace_id, "032x") for span in finished} == {TRACE_ID}
    [server] = [span for span in finished if span.kind is SpanKind.SERVER]
    assert server.name == "POST /graphql CreateTransfer"
    assert server.attributes is not None
    assert server.attributes["graphql.operation.name"] == "CreateTransfer"
    assert server.attributes["enduser.id"] == str(person.user.id)
    assert server.attributes["http.response.status_code"] == 200
    # and the domain call is its child, with the transfer's SQL under it
    [domain] = [span for span in children_of(server, finished) if span.name.startswith("mutation")]
    assert domain.name == "mutation createTransfer"
    sql = [
        span
        for span in children_of(domain, finished)
        if span.attributes is not None and span.attributes.get("db.system.name") == "postgresql"
    ]
    assert sql  # the whole transfer is one statement (bff/db/migrations: post_transfer)
    assert all(span.attributes and span.attributes["db.query.text"] for span in sql)
    # and the Redis commands (the cache fences after commit) are in the same trace
    redis_spans = [
        span
        for span in finished
        if span.attributes is not None and span.attributes.get("db.system") == "redis"
    ]
    assert redis_spans

    # and the request's log line carries the trace id, the operation and the actor
    [line] = [record for record in logs.records if record.name == "bff.request"]
    assert line.__dict__["trace_id"] == TRACE_ID
    assert line.__dict__["operation"] == "CreateTransfer"
    assert line.__dict__["actor_id"] == str(person.user.id)


async def test_every_line_of_a_request_names_its_operation_actor_and_trace(
    traced: Runtime, world: World, logs: pytest.LogCaptureFixture
) -> None:
    # given a customer's own transfer to itself (refused: from and to must differ)
    person = await world.person()
    account = await world.account(person, funds="1.00")
    # when it is sent
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(traced)), base_url="http://t"
    ) as http:
        variables = transfer_input(account_id(account), account_id(account))
        await http.post(
            "/graphql",
            json={"query": CREATE_TRANSFER, "variables": variables},
            headers=person.headers,
        )
    # then the line about the user error (not the request's own) names all of it too
    [line] = [record for record in logs.records if record.getMessage() == "user error"]
    assert line.__dict__["operation"] == "CreateTransfer"
    assert line.__dict__["actor_id"] == str(person.user.id)
    assert re.fullmatch(r"[0-9a-f]{32}", line.__dict__["trace_id"])
    assert line.__dict__["request_id"]


async def test_a_refused_input_is_logged_with_its_details_but_not_its_values(
    traced: Runtime, logs: pytest.LogCaptureFixture
) -> None:
    # given a login whose password is not a string
    variables = {"input": {"email": "a@example.com", "password": ["hunter2-secret"]}}
    # when it is sent
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(traced)), base_url="http://t"
    ) as http:
        response = await http.post("/graphql", json={"query": LOGIN, "variables": variables})
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    # then the log says what was wrong, without the value
    [line] = [
        record for record in logs.records if record.getMessage().startswith("request refused")
    ]
    assert line.__dict__["code"] == "INVALID_INPUT"
    assert line.getMessage() == "request refused: Variable '$input' has invalid value at .password"
    assert "hunter2" not in line.getMessage()


@strawberry.type
class Probe:
    @strawberry.field
    def ok(self) -> bool:
        return True


class Failing(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        raise RuntimeError("secret internals")
        yield


async def test_a_masked_error_carries_the_trace_id(spans: InMemorySpanExporter) -> None:
    # given a schema that fails unexpectedly, run inside a traced request
    schema = strawberry.Schema(query=Probe, extensions=[ErrorBoundary, Failing])
    with tracing.tracer.start_as_current_span("request") as span:
        result = await schema.execute(
            "{ ok }", context_value=SimpleNamespace(request_id="r-1", response=None)
        )
    # then the masked error names the trace, for support to find it
    assert result.errors is not None
    [error] = result.errors
    assert error.extensions is not None
    assert error.extensions["traceId"] == trace.format_trace_id(span.get_span_context().trace_id)
    assert error.extensions["code"] == "INTERNAL"


def test_log_lines_are_timestamped_to_the_millisecond() -> None:
    # given a record; when it is written as JSON and as text
    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "bff"})
    as_json = json.loads(bff_logging.JsonFormatter().format(record))
    as_text = bff_logging.TextFormatter("%(message)s").format(record)
    # then both carry UTC time to the millisecond
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(stamp, as_json["time"])
    assert re.match(stamp + " hello", as_text)
