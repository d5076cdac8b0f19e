"""Registering third-party clients: `bff oauth client create`, the admins' registerOAuthClient
mutation (refused to anyone else), and the rules the database holds them to."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import ECKey
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bff.domain.rbac import Role
from bff.runtime import Runtime
from tests.commands import run_bff
from tests.conftest import World, graphql
from tests.documents import REGISTER_OAUTH_CLIENT
from tests.oauth_party import REDIRECT_URI, public_jwks


def registration(**changes: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "name": "Ledger Lens",
        "redirectUris": [REDIRECT_URI],
        "scopes": ["accounts:read", "transactions:read"],
        "jwks": public_jwks(ECKey.generate_key("P-256")),
    }
    return {"input": fields | changes}


async def test_an_admin_registers_a_confidential_client(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = await world.person(Role.ADMIN)
    answer = await graphql(client, REGISTER_OAUTH_CLIENT, registration(), admin)
    registered = answer["data"]["registerOAuthClient"]
    assert registered["userErrors"] == []
    assert registered["client"]["kind"] == "CONFIDENTIAL"
    assert registered["client"]["redirectUris"] == [REDIRECT_URI]
    assert len(registered["client"]["clientId"]) >= 16


async def test_a_public_client_has_no_keys(client: httpx.AsyncClient, world: World) -> None:
    admin = await world.person(Role.ADMIN)
    answer = await graphql(client, REGISTER_OAUTH_CLIENT, registration(jwks=None), admin)
    assert answer["data"]["registerOAuthClient"]["client"]["kind"] == "PUBLIC"


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.SUPPORT, Role.OPERATOR, Role.AUDITOR])
async def test_registering_a_client_is_denied_to_anyone_but_admins(
    client: httpx.AsyncClient, world: World, runtime: Runtime, role: Role
) -> None:
    person = await world.person(role)
    answer = await graphql(
        client, REGISTER_OAUTH_CLIENT, registration(name=f"Denied {role}"), person
    )
    assert answer["data"]["registerOAuthClient"] == {
        "client": None,
        "userErrors": [{"code": "PERMISSION_DENIED", "field": None}],
    }
    async with runtime.database.engine.connect() as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM oauth_clients WHERE name = :name"),
            {"name": f"Denied {role}"},
        )
    assert found == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"redirectUris": ["http://app.example.com/cb"]}, "redirectUris", id="http"),
        pytest.param({"redirectUris": ["https://a.example/cb#x"]}, "redirectUris", id="fragment"),
        pytest.param({"redirectUris": ["https://u@a.example/cb"]}, "redirectUris", id="userinfo"),
        pytest.param({"redirectUris": []}, "redirectUris", id="none"),
        pytest.param({"scopes": ["admin"]}, "scopes", id="unknown-scope"),
        pytest.param({"jwks": {"keys": [{"kty": "EC", "d": "secret"}]}}, "jwks", id="private"),
    ],
)
async def test_a_bad_registration_is_refused(
    client: httpx.AsyncClient, world: World, changes: dict[str, object], field: str
) -> None:
    admin = await world.person(Role.ADMIN)
    answer = await graphql(client, REGISTER_OAUTH_CLIENT, registration(**changes), admin)
    assert answer["data"]["registerOAuthClient"]["userErrors"] == [
        {"code": "INVALID_INPUT", "field": field}
    ]


async def test_the_database_refuses_a_confidential_client_without_keys(runtime: Runtime) -> None:
    with pytest.raises(IntegrityError, match="oauth_clients_keys"):
        async with runtime.database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO oauth_clients (id, name, kind, redirect_uris, scopes)"
                    " VALUES ('abcdefghijklmnopqrst', 'x', 'confidential',"
                    " ARRAY['https://a.example/cb'], ARRAY['accounts:read'])"
                )
            )


async def test_the_database_refuses_an_unknown_scope(runtime: Runtime) -> None:
    with pytest.raises(IntegrityError, match="oauth_clients_scopes_check"):
        async with runtime.database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO oauth_clients (id, name, kind, redirect_uris, scopes)"
                    " VALUES ('abcdefghijklmnopqrsu', 'x', 'public',"
                    " ARRAY['https://a.example/cb'], ARRAY['everything'])"
                )
            )


def test_the_cli_registers_a_client_and_prints_its_id(tmp_path: Path, database_url: str) -> None:
    # given a JWK Set file of the client's public key
    jwks = tmp_path / "client.jwks.json"
    jwks.write_text(json.dumps(public_jwks(ECKey.generate_key("P-256"))))
    # when an operator registers the client
    result = run_bff(
        [
            *("oauth", "client", "create", "--name", "Budget Buddy"),
            *("--redirect-uri", REDIRECT_URI, "--scope", "accounts:read"),
            *("--scope", "transfers:write", "--jwks-file", str(jwks)),
        ],
        cwd=tmp_path,
        DATABASE_URL=database_url,
        BFF_DATA_DIR=str(tmp_path),
    )
    # then it prints the client_id
    assert result.returncode == 0, result.stderr
    assert re.search(r"created confidential client 'Budget Buddy' client_id=\S{16,}", result.stdout)


def test_the_cli_refuses_a_bad_redirect_uri_in_one_line(tmp_path: Path, database_url: str) -> None:
    result = run_bff(
        [
            *("oauth", "client", "create", "--name", "Sloppy"),
            *("--redirect-uri", "http://evil.example/cb", "--scope", "accounts:read"),
        ],
        cwd=tmp_path,
        DATABASE_URL=database_url,
        BFF_DATA_DIR=str(tmp_path),
    )
    # then it fails with one line naming the code, and no traceback
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("bff: INVALID_INPUT:")
    assert "Traceback" not in result.stderr
