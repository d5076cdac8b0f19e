"""Trusted documents: app builds register their manifests (CLI and admin GraphQL), requests name
documents by hash (Apollo's persisted queries, over POST and GET, or `documentId`), trusted mode
runs nothing else, open mode registers hashes as Apollo clients expect, old builds are told to
upgrade, and every document of the repository's manifests validates against today's schema."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import NamedTypeNode, OperationDefinitionNode, parse
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bff.api.compiled.documents import CompiledDocuments
from bff.api.documents.check import document_check
from bff.app import build_schema
from bff.config import Settings
from bff.domain.documents import document_hash, read_manifest_json
from bff.domain.rbac import Role
from bff.runtime import Runtime, build_runtime
from schema.ids import encode_id
from tests.commands import run_bff
from tests.conftest import BOTH_EXECUTORS, ServerStarter, World, asgi_client, graphql
from tests.documents import (
    APP_BUILDS,
    CREATE_TRANSFER,
    REGISTER_APP_BUILD,
    RETIRE_APP_BUILD,
    VIEWER,
    VIEWER_ID,
)

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = sorted((ROOT / "documents").glob("*.json"))


def manifest(*bodies: str) -> str:
    """An Apollo persisted-query manifest of `bodies`."""
    operations = [{"id": document_hash(body), "type": "query", "body": body} for body in bodies]
    return json.dumps(
        {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    )


def unregistered() -> str:
    """A valid document no build has (the comment makes its hash unique)."""
    return f"# {uuid.uuid4()}\nquery ViewerId {{ viewer {{ id }} }}"


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def app_name() -> str:
    return f"app-{uuid.uuid4().hex[:8]}"


async def register(client: httpx.AsyncClient, admin: Any, app: str, *bodies: str) -> Any:
    variables = {"input": {"app": app, "version": "4.2.0", "manifest": manifest(*bodies)}}
    return (await graphql(client, REGISTER_APP_BUILD, variables, admin))["data"]["registerAppBuild"]


@pytest.fixture
async def trusted(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(
        settings.model_copy(
            update={
                "documents_mode": "trusted",
                "documents_exempt_roles": "support,admin",  # admins register over GraphQL
                "min_client_versions": "ios=4.2.0",
            }
        ),
        settings.database_url or "",
    )
    yield runtime
    await runtime.close()


@pytest.mark.parametrize("path", MANIFESTS, ids=[path.name for path in MANIFESTS])
def test_every_manifest_document_validates_against_the_schema(path: Path) -> None:
    # given a manifest of the repository and the schema this code serves
    settings = Settings()
    schema = build_schema(settings)
    check = document_check(schema, schema.document_rules, schema.gate)
    # when each of its documents is checked (its hash proven first)
    problems = {doc.hash: check(doc.body) for doc in read_manifest_json(path.read_bytes())}
    # then none has a problem: a schema change that breaks a shipped build fails here
    assert {digest: problem for digest, problem in problems.items() if problem} == {}


def test_the_app_manifest_is_there() -> None:
    assert ROOT / "documents" / "app.json" in MANIFESTS


@pytest.mark.parametrize("compiled", BOTH_EXECUTORS, indirect=True)
async def test_trusted_mode_runs_registered_documents_by_hash(
    trusted: Runtime, world: World, compiled: bool
) -> None:
    # given a build registering the viewer document, in trusted mode
    admin, alice = await world.person(Role.ADMIN), await world.person()
    async with asgi_client(trusted, compiled=compiled) as http:
        registered = await register(http, admin, app_name(), VIEWER)
        assert registered["userErrors"] == []
        digest = document_hash(VIEWER)
        # when Alice sends only its hash, by POST, by GET, and as a documentId
        by_post = await http.post(
            "/graphql", json={"extensions": persisted(digest)}, headers=alice.headers
        )
        by_get = await http.get(
            "/graphql",
            params={"extensions": json.dumps(persisted(digest))},
            headers={**alice.headers, "apollo-require-preflight": "true"},
        )
        by_id = await http.post(
            "/graphql", json={"documentId": f"sha256:{digest}"}, headers=alice.headers
        )
    # then each runs the registered document
    for response in (by_post, by_get, by_id):
        assert response.status_code == 200, response.text
        assert response.json()["data"]["viewer"]["email"] == alice.user.email


async def test_trusted_mode_refuses_arbitrary_text_and_unknown_hashes(
    trusted: Runtime, world: World
) -> None:
    # given trusted mode and a customer
    alice = await world.person()
    async with asgi_client(trusted) as http:
        # when she sends a document no build registered, as text and by hash
        as_text = await http.post("/graphql", json={"query": unregistered()}, headers=alice.headers)
        by_hash = await http.post(
            "/graphql",
            json={"extensions": persisted(document_hash(unregistered()))},
            headers=alice.headers,
        )
    # then neither runs, each with a typed code
    assert as_text.status_code == 403
    assert by_hash.status_code == 404
    for response in (as_text, by_hash):
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"


async def test_trusted_mode_runs_the_text_of_a_registered_document(
    trusted: Runtime, world: World
) -> None:
    # given a registered document
    admin, alice = await world.person(Role.ADMIN), await world.person()
    async with asgi_client(trusted) as http:
        await register(http, admin, app_name(), VIEWER_ID)
        # when its exact text is sent
        response = await http.post("/graphql", json={"query": VIEWER_ID}, headers=alice.headers)
    # then it runs: the text is the document
    assert response.json() == {"data": {"viewer": {"id": response.json()["data"]["viewer"]["id"]}}}


async def test_exempt_roles_may_send_any_document(trusted: Runtime, world: World) -> None:
    # given trusted mode exempting support staff
    agent = await world.person(Role.SUPPORT)
    async with asgi_client(trusted) as http:
        # when an agent's tool sends a document of its own
        response = await http.post(
            "/graphql", json={"query": unregistered()}, headers=agent.headers
        )
    # then it runs
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["id"]


async def test_a_hash_that_is_not_the_texts_is_refused(trusted: Runtime, world: World) -> None:
    # given a registered document
    admin, alice = await world.person(Role.ADMIN), await world.person()
    async with asgi_client(trusted) as http:
        await register(http, admin, app_name(), VIEWER)
        # when other text is sent under its hash
        response = await http.post(
            "/graphql",
            json={"query": unregistered(), "extensions": persisted(document_hash(VIEWER))},
            headers=alice.headers,
        )
    # then it is refused, not run under the registered name
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("version", "status"), [("4.1.9", 400), ("", 400), ("4.2.0", 200), ("4.10.0", 200)]
)
async def test_builds_older_than_the_minimum_must_upgrade(
    trusted: Runtime, world: World, version: str, status: int
) -> None:
    # given a minimum iOS version of 4.2.0 and a registered document
    admin, alice = await world.person(Role.ADMIN), await world.person()
    async with asgi_client(trusted) as http:
        await register(http, admin, app_name(), VIEWER_ID)
        # when an iOS build sends it
        response = await http.post(
            "/graphql",
            json={"extensions": persisted(document_hash(VIEWER_ID))},
            headers={
                **alice.headers,
                "apollographql-client-name": "ios",
                "apollographql-client-version": version,
            },
        )
    # then builds below the minimum are told to upgrade, and the rest run
    assert response.status_code == status
    if status == 400:
        assert response.json()["errors"][0]["extensions"]["code"] == "UPGRADE_REQUIRED"


async def test_a_retired_build_stops_running(trusted: Runtime, world: World) -> None:
    # given a build with a document of its own, then retired by an admin
    admin, alice = await world.person(Role.ADMIN), await world.person()
    app, body = app_name(), unregistered()
    async with asgi_client(trusted) as http:
        await register(http, admin, app, body)
        retired = await graphql(
            http, RETIRE_APP_BUILD, {"input": {"app": app, "version": "4.2.0"}}, admin
        )
    assert retired["data"]["retireAppBuild"]["build"]["retiredAt"] is not None
    # when a process (one started after the retirement) is sent the document
    async with asgi_client(trusted) as http:
        response = await http.post(
            "/graphql", json={"extensions": persisted(document_hash(body))}, headers=alice.headers
        )
    # then it no longer runs
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"


async def test_open_mode_registers_persisted_queries_as_apollo_clients_expect(
    client: httpx.AsyncClient, world: World
) -> None:
    # given open mode (the suite's) and a document never seen
    alice = await world.person()
    body = unregistered()
    request = {"extensions": persisted(document_hash(body))}
    # when the client sends its hash, then (told it is not found) hash and text, then the hash
    first = await client.post("/graphql", json=request, headers=alice.headers)
    second = await client.post("/graphql", json={**request, "query": body}, headers=alice.headers)
    third = await client.post("/graphql", json=request, headers=alice.headers)
    # then the first is PERSISTED_QUERY_NOT_FOUND, and the others run
    assert first.status_code == 404
    assert first.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert (
        second.json()["data"]
        == third.json()["data"]
        == {"viewer": {"id": third.json()["data"]["viewer"]["id"]}}
    )


async def test_open_mode_runs_any_text(client: httpx.AsyncClient, world: World) -> None:
    alice = await world.person()
    response = await client.post("/graphql", json={"query": unregistered()}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["id"]


async def test_admins_register_list_and_retire_builds(
    client: httpx.AsyncClient, world: World
) -> None:
    # given an admin
    admin = await world.person(Role.ADMIN)
    app = app_name()
    # when a build of two documents is registered, listed, then retired
    registered = await register(client, admin, app, VIEWER, VIEWER_ID)
    listed = (await graphql(client, APP_BUILDS, None, admin))["data"]["appBuilds"]
    retired = await graphql(
        client, RETIRE_APP_BUILD, {"input": {"app": app, "version": "4.2.0"}}, admin
    )
    # then each says so
    assert registered == {
        "build": {"app": app, "version": "4.2.0", "documents": 2},
        "userErrors": [],
    }
    assert {"app": app, "version": "4.2.0", "documents": 2, "retiredAt": None} in listed
    assert retired["data"]["retireAppBuild"]["build"]["retiredAt"] is not None


@pytest.mark.parametrize("mutation", ["register", "retire"])
async def test_customers_cannot_manage_builds(
    client: httpx.AsyncClient, world: World, mutation: str
) -> None:
    # given a customer
    alice = await world.person()
    # when she tries to register or retire a build
    if mutation == "register":
        payload = await register(client, alice, app_name(), VIEWER)
    else:
        answer = await graphql(
            client, RETIRE_APP_BUILD, {"input": {"app": "ios", "version": "4.2.0"}}, alice
        )
        payload = answer["data"]["retireAppBuild"]
    # then she is refused, and the builds are not shown to her
    assert payload["userErrors"][0]["code"] == "PERMISSION_DENIED"
    assert (await graphql(client, APP_BUILDS, None, alice))["data"]["appBuilds"] is None


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(manifest("query { nope }"), id="document-not-in-schema"),
        # Within the token limit, over a shape limit: no request could run it.
        pytest.param(manifest("query { viewer { " + "id " * 40 + "} }"), id="over-a-limit"),
        pytest.param(
            json.dumps({document_hash(VIEWER_ID): VIEWER}), id="codegen-hash-not-the-texts"
        ),
        pytest.param("not json", id="not-json"),
    ],
)
async def test_a_bad_manifest_is_refused_whole(
    client: httpx.AsyncClient, world: World, bad: str
) -> None:
    admin = await world.person(Role.ADMIN)
    app = app_name()
    variables = {"input": {"app": app, "version": "1.0", "manifest": bad}}
    answer = await graphql(client, REGISTER_APP_BUILD, variables, admin)
    assert answer["data"]["registerAppBuild"]["userErrors"][0]["code"] == "INVALID_MANIFEST"
    listed = (await graphql(client, APP_BUILDS, None, admin))["data"]["appBuilds"]
    assert all(build["app"] != app for build in listed)


def test_the_cli_registers_lists_and_retires_a_codegen_manifest(
    settings: Settings, tmp_path: Path
) -> None:
    # given GraphQL Code Generator's persisted-documents.json of a build
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({document_hash(CREATE_TRANSFER): CREATE_TRANSFER}))
    app = app_name()
    env = {"DATABASE_URL": settings.database_url or "", "BFF_DATA_DIR": str(tmp_path)}
    # when an operator registers, lists and retires it
    registered = run_bff(
        ["documents", "register", str(path), "--app", app, "--version", "4.2.0"], tmp_path, **env
    )
    listed = run_bff(["documents", "list"], tmp_path, **env)
    retired = run_bff(["documents", "retire", "--app", app, "--version", "4.2.0"], tmp_path, **env)
    # then each command says what it did
    assert registered.returncode == 0, registered.stderr
    assert f"registered {app} 4.2.0: 1 documents" in registered.stdout
    assert f"{app} 4.2.0: 1 documents" in listed.stdout
    assert f"retired {app} 4.2.0" in retired.stdout


async def test_the_database_refuses_a_document_under_another_hash(runtime: Runtime) -> None:
    # given a document and the hash of another
    statement = text("INSERT INTO trusted_documents (hash, body) VALUES (:hash, :body)")
    # when it is inserted directly
    with pytest.raises(IntegrityError, match="trusted_documents_hash_is_sha256"):
        async with runtime.database.engine.begin() as connection:
            await connection.execute(statement, {"hash": document_hash(VIEWER), "body": VIEWER_ID})


def sample_variables(body: str) -> dict[str, Any]:
    """A value of the right type for each variable of the document's operation."""
    samples = {"ID": encode_id("Account", uuid.uuid4()), "Int": 1, "String": "x", "Boolean": True}
    operation = next(d for d in parse(body).definitions if isinstance(d, OperationDefinitionNode))
    variables = {}
    for definition in operation.variable_definitions or ():
        type_node: Any = definition.type
        while not isinstance(type_node, NamedTypeNode):
            type_node = type_node.type  # through NonNull and List
        if type_node.name.value in samples:
            variables[definition.variable.name.value] = samples[type_node.name.value]
    return variables


def test_every_query_of_the_app_manifest_runs_compiled() -> None:
    # given the app's manifest and the compiler of the schema this code serves
    settings = Settings()
    schema = build_schema(settings)
    compiled = CompiledDocuments(schema, schema.document_rules, schema.gate)
    queries = [
        doc.body
        for doc in read_manifest_json((ROOT / "documents" / "app.json").read_bytes())
        if doc.body.lstrip().startswith(("query", "{"))
    ]
    # when each is planned with variables of the right types
    fallbacks = [
        body for body in queries if compiled.plan(body, None, sample_variables(body)) is None
    ]
    # then none falls back to graphql-core: the app's queries all run compiled
    assert queries
    assert fallbacks == []


async def test_trusted_mode_holds_subscriptions_to_registered_documents(
    one_server: ServerStarter, world: World
) -> None:
    # given a server in trusted mode and a customer connected over graphql-transport-ws
    alice = await world.person()
    env = {"BFF_DOCUMENTS_MODE": "trusted", "BFF_DB_POOL_SIZE": "2", "BFF_DB_MAX_OVERFLOW": "2"}
    async with (
        one_server("trusted-ws", env) as server,
        connect(server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws,
    ):
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        # when she subscribes with a document no build registered
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": unregistered()}}
        await ws.send(json.dumps(subscribe))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
    # then the operation is refused with the same code as over HTTP
    assert answer["type"] == "error"
    assert answer["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
