"""Fuzzing the edge with a fixed budget: JSON bodies of every shape, raw bytes, lone surrogates,
GraphQL-ish documents made of the schema's own names, cursors and headers over HTTP, and random
graphql-transport-ws messages over a WebSocket, against a real `bff serve`. Whatever arrives,
the answer is never a 5xx, never an `INTERNAL` error, and refused input changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from bff.runtime import Runtime
from tests.conftest import Person, ServerStarter, World
from tests.documents import VIEWER_ACCOUNTS
from tests.servers import Server

PROTOCOL = Subprotocol("graphql-transport-ws")
# A fixed budget: the same examples every run (derandomized), a few seconds each.
HTTP_EXAMPLES = 800
WS_EXAMPLES = 80
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=HTTP_EXAMPLES,
    suppress_health_check=list(HealthCheck),
)
# Rows that only an accepted money write or sign-up adds.
COUNTED_TABLES = ("transfers", "ledger_entries", "users", "accounts")

_SDL = (Path(__file__).parent.parent / "schema.graphql").read_text()
NAMES = sorted(set(re.findall(r"\b[_A-Za-z][_0-9A-Za-z]*\b", _SDL)) - {"_"})
PUNCTUATION = ["{", "}", "(", ")", "[", "]", ":", "...", "@", "$", "!", "=", "|", "&", ","]
KEYWORDS = ["query", "mutation", "subscription", "fragment", "on", "true", "false", "null"]
LITERALS = ['"a\\ud800b"', '"\\u0000"', '"""block"""', "1e999", "-0", "0x1", '"' + "x" * 300 + '"']


def tokens() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NAMES),
        st.sampled_from(PUNCTUATION),
        st.sampled_from(KEYWORDS),
        st.sampled_from(LITERALS),
        st.text(max_size=8),
    )


documents = st.lists(tokens(), max_size=60).map(" ".join)
# A well-formed skeleton with random fields, arguments and directives inside it.
shaped = st.builds(
    lambda kind, inner, args: f"{kind} {{ {inner} }}" if not args else f"{kind} {{ {args} }}",
    st.sampled_from(["", "query", "mutation", "subscription", "query Q($v: String)"]),
    documents,
    st.lists(st.sampled_from(NAMES), max_size=6).map(
        lambda names: " ".join(
            f"{name}(first: 3, after: $v) @include(if: true) {{ id }}" for name in names
        )
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
cursors = st.one_of(
    st.text(max_size=30),
    st.binary(max_size=40).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    json_values.map(lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).decode()),
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
    st.builds(
        lambda query, variables, name, extensions: json.dumps(
            {
                "query": query,
                "variables": variables,
                "operationName": name,
                "extensions": extensions,
            }
        ).encode(),
        documents | shaped | st.sampled_from([VIEWER_ACCOUNTS]) | json_values,
        st.dictionaries(st.sampled_from(["v", "first", "after", "id", "input"]), json_values)
        | json_values,
        st.none() | st.sampled_from(NAMES) | st.text(max_size=5),
        st.none() | json_values,
    ),
    st.builds(
        lambda cursor, first: json.dumps(
            {"query": VIEWER_ACCOUNTS, "variables": {"after": cursor, "first": first}}
        ).encode(),
        cursors,
        st.integers(-(2**40), 2**40) | st.none(),
    ),
)
# JSON escapes of lone surrogates and raw invalid UTF-8 spliced into otherwise valid bodies.
corrupted = st.builds(
    lambda body, at, junk: body[:at] + junk + body[at:],
    bodies,
    st.integers(0, 200),
    st.sampled_from([b"\\ud800", b"\\udfff", b"\xff", b"\xed\xa0\x80", b"\x00", b'"']),
)
header_values = st.one_of(
    # Any byte HTTP/1.1 lets a header value carry (no control characters, no edge whitespace).
    st.binary(max_size=40).map(
        lambda raw: bytes(byte for byte in raw if byte > 0x20 and byte != 0x7F) or b"x"
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(
        lambda value: value.strip().encode() or b"x"
    ),
)
HEADER_NAMES = [
    b"authorization",
    b"x-request-id",
    b"content-type",
    b"accept",
    b"origin",
    b"x-forwarded-for",
    b"apollo-require-preflight",
    b"x-query-cost",
    b"dpop",
    b"cookie",
]
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=4)
WS_MESSAGE_TYPES = ["connection_init", "subscribe", "complete", "ping", "pong", "next", "x"]
ws_messages = st.one_of(
    st.builds(
        lambda kind, identifier, payload: json.dumps(
            {"type": kind, "id": identifier, "payload": payload}
        ),
        st.sampled_from(WS_MESSAGE_TYPES),
        st.text(max_size=5) | json_values,
        st.builds(
            lambda query, variables: {"query": query, "variables": variables},
            documents | shaped,
            st.dictionaries(st.sampled_from(["accountId", "after", "v"]), json_values),
        )
        | json_values,
    ),
    json_values.map(json.dumps),
    st.binary(max_size=60),
    st.text(max_size=60),
)


def error_codes(body: object) -> list[object]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        (error.get("extensions") or {}).get("code") for error in errors if isinstance(error, dict)
    ]


def check_http(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if "json" in response.headers.get("content-type", ""):
        assert "INTERNAL" not in error_codes(response.json()), response.text


def check_ws_frame(frame: str | bytes) -> None:
    assert b"INTERNAL" not in (frame.encode() if isinstance(frame, str) else frame), frame


@pytest.fixture(scope="module")
async def server(one_server: ServerStarter) -> AsyncIterator[Server]:
    # Budgets out of the fuzzer's reach: its examples must reach the parser, not stop at a 429.
    env = {
        "BFF_RATE_LIMIT_LOGIN": "1000000",
        "BFF_RATE_LIMIT_MONEY": "1000000",
        "BFF_RATE_LIMIT_MUTATIONS": "1000000",
        "BFF_COST_BUCKET": "100000000",
        "BFF_COST_ANONYMOUS_BUCKET": "100000000",
        "BFF_COST_REFUSAL_STRIKES": "0",
    }
    async with one_server("fuzz", env) as started:
        yield started


async def row_counts(runtime: Runtime) -> dict[str, int]:
    async with runtime.database.engine.connect() as connection:
        return {
            # The table names are this module's constants, never input.
            table: (
                await connection.execute(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
            ).scalar_one()
            for table in COUNTED_TABLES
        }


def fuzz_http(server: Server, person: Person) -> None:
    with httpx.Client(base_url=server.http_url, timeout=30.0) as http:

        @FUZZ
        @given(
            body=bodies | corrupted,
            extra=headers,
            authenticated=st.booleans(),
            method=st.sampled_from(["POST", "POST", "GET"]),
        )
        def one(body: bytes, extra: dict[bytes, bytes], authenticated: bool, method: str) -> None:
            sent: dict[bytes, bytes] = {b"content-type": b"application/json"}
            if authenticated:
                sent[b"authorization"] = person.headers["authorization"].encode()
            sent.update(extra)
            if method == "GET":
                query = body.decode("latin-1")
                response = http.get("/graphql", params={"query": query}, headers=list(sent.items()))
            else:
                response = http.post("/graphql", content=body, headers=list(sent.items()))
            check_http(response)

        one()


def fuzz_ws(server: Server, person: Person) -> None:
    @settings(FUZZ, max_examples=WS_EXAMPLES)
    @given(
        authenticated=st.booleans(),
        messages=st.lists(ws_messages, min_size=1, max_size=5),
    )
    def one(authenticated: bool, messages: list[str | bytes]) -> None:
        with connect(server.ws_url, subprotocols=[PROTOCOL], open_timeout=10) as ws:
            if authenticated:
                init = {"type": "connection_init", "payload": dict(person.headers)}
                ws.send(json.dumps(init))
                check_ws_frame(ws.recv(timeout=10))
            try:
                for message in messages:
                    ws.send(message)
                while True:
                    check_ws_frame(ws.recv(timeout=0.2))
            except TimeoutError:
                return
            except ConnectionClosed as closed:
                frame = closed.rcvd
                # 1011 is "internal error": what a crashed handler closes with.
                assert frame is None or frame.code != 1011, frame

    one()


@pytest.mark.parametrize(
    "fuzz",
    [pytest.param(fuzz_http, id="http"), pytest.param(fuzz_ws, id="websocket")],
)
async def test_fuzzed_input_is_never_a_5xx_nor_internal_nor_a_change(
    server: Server, world: World, runtime: Runtime, fuzz: Callable[[Server, Person], None]
) -> None:
    # given a customer with money, and the rows there are
    person = await world.person()
    await world.account(person, funds="100.00")
    before = await row_counts(runtime)
    # when the fuzzer sends its requests or messages (each answer is checked as it comes)
    await asyncio.to_thread(fuzz, server, person)
    # then nothing it sent changed the books, and the server is still up
    assert await row_counts(runtime) == before
    assert server.running
