"""The JWT key ring: the published JWKS, rotation (Python API and `bff keys rotate`), reloading,
parse errors, and what production refuses.

Key rings for these tests live in temporary directories, never in the shared runtime's ring.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from pydantic import ValidationError

from bff.auth.keys import (
    KeyRingError,
    KeyStore,
    load_key_ring_file,
    parse_key_ring,
    rotate_key_ring_file,
)
from bff.auth.tokens import InvalidToken, TokenIssuer
from bff.config import Settings
from bff.runtime import Runtime, key_ring_loader
from tests.commands import one_line_failure, run_bff
from tests.conftest import World

ISSUER = "fintech-bff"
AUDIENCE = "fintech-app"
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

# --- helpers -----------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def rfc7638_thumbprint(public_key: Ed25519PublicKey) -> str:
    """The JWK thumbprint computed here by hand, independently of bff.auth.keys."""
    x = b64url(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}'
    return b64url(hashlib.sha256(canonical.encode()).digest())


def pem_of(private_key: Any) -> str:
    return private_key.private_bytes(  # type: ignore[no-any-return]
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    ).decode()


def ring_entry(private_key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """One key of a ring in its documented JSON form."""
    key = private_key or Ed25519PrivateKey.generate()
    return {
        "kid": rfc7638_thumbprint(key.public_key()),
        "private_key_pem": pem_of(key),
        "created_at": "2025-01-01T00:00:00+00:00",
    }


def issuer_for(path: Path, *, production: bool = False, refresh_s: float = 30.0) -> TokenIssuer:
    """A TokenIssuer over the ring file, as a server process would build it."""
    store = KeyStore(lambda: load_key_ring_file(path, production=production), refresh_s)
    return TokenIssuer(keys=store, issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(minutes=15))


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]  # type: ignore[no-any-return]


def ring_kids(path: Path) -> list[str]:
    return [entry["kid"] for entry in json.loads(path.read_text())["keys"]]


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BFF setting leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("BFF_") or name in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
    return monkeypatch


# --- the published JWKS ------------------------------------------------------------------------


async def test_the_jwks_lists_public_ed25519_keys_without_private_members(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a running server
    # when
    response = await client.get("/.well-known/jwks.json")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert key["alg"] == "EdDSA"
        assert key["use"] == "sig"
        assert "d" not in key
        assert not PRIVATE_JWK_MEMBERS & set(key)
        raw = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
        assert len(raw) == 32
        # and the kid is the key's RFC 7638 thumbprint
        public_key = Ed25519PublicKey.from_public_bytes(raw)
        assert key["kid"] == rfc7638_thumbprint(public_key)
    # and the key that signs today is among them
    assert runtime.tokens.keys.signing_key.kid in {key["kid"] for key in keys}


async def test_an_access_token_verifies_against_the_jwks_with_pyjwt_alone(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given an access token issued to a user
    person = await world.person()
    # when a third party verifies it with nothing but the published JWKS and PyJWT
    jwks = jwt.PyJWKSet.from_dict((await client.get("/.well-known/jwks.json")).json())
    key = jwks[kid_of(person.token)]
    claims = jwt.decode(
        person.token,
        key.key,
        algorithms=["EdDSA"],
        audience=runtime.settings.jwt_audience,
        issuer=runtime.settings.jwt_issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"]},
    )
    # then
    assert claims["sub"] == str(person.user.id)
    assert jwt.get_unverified_header(person.token)["typ"] == "at+jwt"
    assert jwt.get_unverified_header(person.token)["alg"] == "EdDSA"


async def test_a_token_signed_by_another_key_does_not_verify_against_the_jwks(
    client: httpx.AsyncClient, runtime: Runtime, world: World
) -> None:
    # given a token with the server's kid and claims, signed by a key outside the ring
    person = await world.person()
    claims = jwt.decode(person.token, options={"verify_signature": False})
    forged = jwt.encode(
        claims,
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": kid_of(person.token), "typ": "at+jwt"},
    )
    jwks = jwt.PyJWKSet.from_dict((await client.get("/.well-known/jwks.json")).json())
    # when / then
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            forged,
            jwks[kid_of(forged)].key,
            algorithms=["EdDSA"],
            audience=runtime.settings.jwt_audience,
            issuer=runtime.settings.jwt_issuer,
        )


# --- rotation ----------------------------------------------------------------------------------


def test_a_missing_development_ring_is_generated_private_and_marked_development(
    tmp_path: Path,
) -> None:
    # given no ring file in the data directory
    path = tmp_path / "data" / "dev-jwt-keys.json"
    # when a development process loads it
    ring = load_key_ring_file(path, production=False)
    # then a one-key ring is written, readable by its owner only, and marked as development
    data = json.loads(path.read_text())
    assert data["development"] is True
    assert [entry["kid"] for entry in data["keys"]] == [ring.current.kid]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ring.development


def test_rotation_adds_a_signing_key_and_old_tokens_keep_verifying(tmp_path: Path) -> None:
    # given a ring and a token signed by its only key
    path = tmp_path / "ring.json"
    load_key_ring_file(path, production=False)
    before = issuer_for(path)
    old_token = before.issue(uuid.uuid4(), uuid.uuid4())
    old_kid = kid_of(old_token)
    # when
    new_kid = rotate_key_ring_file(path, production=False)
    # then the ring holds both keys, the new one last
    assert ring_kids(path) == [old_kid, new_kid]
    assert new_kid != old_kid
    # and a key store built now signs with the new key
    after = issuer_for(path)
    assert after.keys.signing_key.kid == new_kid
    new_token = after.issue(uuid.uuid4(), uuid.uuid4())
    assert kid_of(new_token) == new_kid
    assert after.verify(new_token)
    # and the token signed before the rotation still verifies
    assert after.verify(old_token) == before.verify(old_token)
    # and both keys are published
    assert {key["kid"] for key in after.keys.jwks()["keys"]} == {old_kid, new_kid}


def test_a_store_that_refreshes_picks_up_the_rotated_in_signing_key(tmp_path: Path) -> None:
    # given a live key store that re-reads the ring whenever asked (refresh interval 0)
    path = tmp_path / "ring.json"
    load_key_ring_file(path, production=False)
    issuer = issuer_for(path, refresh_s=0)
    old_kid = issuer.keys.signing_key.kid
    # when the ring is rotated underneath it
    new_kid = rotate_key_ring_file(path, production=False)
    # then the same store signs with the new key, without a restart
    assert issuer.keys.signing_key.kid == new_kid != old_kid
    assert kid_of(issuer.issue(uuid.uuid4(), uuid.uuid4())) == new_kid


def test_a_store_loaded_before_rotation_verifies_tokens_of_the_new_key(tmp_path: Path) -> None:
    # given a server process whose key store read the ring before the rotation
    path = tmp_path / "ring.json"
    load_key_ring_file(path, production=False)
    stale = issuer_for(path)
    # and another process that rotated and signs with the new key
    new_kid = rotate_key_ring_file(path, production=False)
    token = issuer_for(path).issue(uuid.uuid4(), uuid.uuid4())
    assert kid_of(token) == new_kid
    # and a real second passes: the store re-reads the ring on an unknown kid at most once a
    # second after its last load (the real clock matters here; nothing else can be advanced)
    time.sleep(1.05)
    # when the stale process verifies the token
    claims = stale.verify(token)
    # then it re-read the ring and accepted the token
    assert claims.user_id
    assert new_kid in {key["kid"] for key in stale.keys.jwks()["keys"]}


def test_rotation_refuses_a_missing_ring_in_production(tmp_path: Path) -> None:
    # given no ring file where production expects one
    path = tmp_path / "missing.json"
    # when / then
    with pytest.raises(KeyRingError):
        rotate_key_ring_file(path, production=True)
    # and nothing was generated
    assert not path.exists()


def test_bff_keys_rotate_adds_a_key_and_old_tokens_keep_verifying(tmp_path: Path) -> None:
    # given a development data directory with a ring and a token signed by it
    data_dir = tmp_path / "data"
    path = data_dir / "dev-jwt-keys.json"
    load_key_ring_file(path, production=False)
    old_token = issuer_for(path).issue(uuid.uuid4(), uuid.uuid4())
    old_kid = kid_of(old_token)
    # when the operator runs the command
    result = run_bff(["keys", "rotate"], cwd=tmp_path, BFF_DATA_DIR=str(data_dir))
    # then it succeeds and names the new key
    assert result.returncode == 0, result.stderr
    kids = ring_kids(path)
    assert kids[0] == old_kid
    assert len(kids) == 2
    new_kid = kids[1]
    assert new_kid in result.stdout
    # and a new issuer signs with the new key while the old token still verifies
    after = issuer_for(path)
    assert kid_of(after.issue(uuid.uuid4(), uuid.uuid4())) == new_kid
    assert after.verify(old_token).user_id == issuer_for(path).verify(old_token).user_id


def test_bff_keys_rotate_in_production_uses_the_configured_ring_file(tmp_path: Path) -> None:
    # given a production ring file named by BFF_JWT_KEYS_FILE, and no database configured (key
    # commands need none)
    path = tmp_path / "prod-ring.json"
    path.write_text(json.dumps({"keys": [ring_entry()]}))
    old_kid = ring_kids(path)[0]
    # when
    result = run_bff(
        ["keys", "rotate"], cwd=tmp_path, BFF_ENV="production", BFF_JWT_KEYS_FILE=str(path)
    )
    # then the ring file gained a key and stays a production ring
    assert result.returncode == 0, result.stderr
    data = json.loads(path.read_text())
    assert data["keys"][0]["kid"] == old_kid
    assert len(data["keys"]) == 2
    assert not data.get("development", False)
    assert issuer_for(path, production=True).keys.signing_key.kid == data["keys"][1]["kid"]


def test_bff_keys_rotate_refuses_when_the_ring_is_an_environment_variable(tmp_path: Path) -> None:
    # given a ring handed over in BFF_JWT_KEYS (which the command cannot rewrite)
    ring = json.dumps({"keys": [ring_entry()]})
    # when
    result = run_bff(
        ["keys", "rotate"], cwd=tmp_path, BFF_DATA_DIR=str(tmp_path), BFF_JWT_KEYS=ring
    )
    # then it fails with a one-line explanation and writes no ring file
    assert "BFF_JWT_KEYS" in one_line_failure(result)
    assert not (tmp_path / "dev-jwt-keys.json").exists()


def test_bff_keys_create_writes_an_owner_only_production_ring_that_rotates_in_production(
    tmp_path: Path,
) -> None:
    # given no ring yet, and no database configured
    path = tmp_path / "ring.json"
    # when the operator creates a ring
    created = run_bff(["keys", "create", "--file", str(path)], cwd=tmp_path, BFF_ENV="production")
    # then it is a file only its owner can read, holding one key, not marked for development
    assert created.returncode == 0, created.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert "development" not in data
    [kid] = ring_kids(path)
    assert kid in created.stdout
    # and production accepts it
    assert load_key_ring_file(path, production=True).current.kid == kid
    # when the operator then rotates it in production
    rotated = run_bff(
        ["keys", "rotate"], cwd=tmp_path, BFF_ENV="production", BFF_JWT_KEYS_FILE=str(path)
    )
    # then the ring gained a signing key and kept the first
    assert rotated.returncode == 0, rotated.stderr
    kids = ring_kids(path)
    assert kids[0] == kid
    assert len(kids) == 2
    assert issuer_for(path, production=True).keys.signing_key.kid == kids[1]


def test_bff_keys_create_writes_to_bff_jwt_keys_file_when_no_file_is_named(
    tmp_path: Path,
) -> None:
    # given BFF_JWT_KEYS_FILE naming where the ring goes
    path = tmp_path / "ring.json"
    # when
    result = run_bff(["keys", "create"], cwd=tmp_path, BFF_JWT_KEYS_FILE=str(path))
    # then the ring is there
    assert result.returncode == 0, result.stderr
    assert len(ring_kids(path)) == 1


def test_bff_keys_create_refuses_to_overwrite_a_ring(tmp_path: Path) -> None:
    # given an existing ring, whose keys verify live tokens
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"keys": [ring_entry()]}))
    before = path.read_text()
    # when the operator runs create on it again
    result = run_bff(["keys", "create", "--file", str(path)], cwd=tmp_path)
    # then it fails in one line pointing at rotate, and the ring is untouched
    assert "bff keys rotate" in one_line_failure(result)
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(["keys", "create"], {}, "--file", id="create-without-a-path"),
        pytest.param(
            ["keys", "create", "--file", "{tmp}/no/such/dir/ring.json"],
            {},
            "No such file or directory",
            id="create-in-a-missing-directory",
        ),
        pytest.param(
            ["keys", "rotate"],
            {"BFF_ENV": "production", "BFF_JWT_KEYS_FILE": "{tmp}/ring.json"},
            "bff keys create",
            id="rotate-a-missing-production-ring",
        ),
        pytest.param(
            ["keys", "rotate"],
            {"BFF_ENV": "production"},
            "BFF_JWT_KEYS_FILE",
            id="rotate-in-production-without-a-ring-file",
        ),
        pytest.param(
            ["keys", "rotate"],
            {"BFF_DATA_DIR": "{tmp}", "BFF_JWT_KEYS_FILE": "{tmp}/bad.json"},
            "malformed key ring",
            id="rotate-a-malformed-ring",
        ),
    ],
)
def test_a_key_command_that_cannot_work_fails_in_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    # given a command that cannot do its job (and a malformed ring where one is named)
    (tmp_path / "bad.json").write_text('{"keys": [')
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    env = {name: value.replace("{tmp}", str(tmp_path)) for name, value in env.items()}
    # when it runs
    result = run_bff(args, cwd=tmp_path, **env)
    # then it says what is wrong in one line, without a traceback
    assert expected in one_line_failure(result)


# --- parse errors ------------------------------------------------------------------------------


def _ring_with_kid_of_another_key() -> dict[str, Any]:
    entry = ring_entry()
    entry["kid"] = rfc7638_thumbprint(Ed25519PrivateKey.generate().public_key())
    return {"keys": [entry]}


def _ring_with_made_up_kid() -> dict[str, Any]:
    return {"keys": [{**ring_entry(), "kid": "my-key-2025"}]}


def _ring_of(private_key: Any) -> dict[str, Any]:
    return {"keys": [{"kid": "k1", "private_key_pem": pem_of(private_key), "created_at": "x"}]}


def _ring_with_encrypted_pem() -> dict[str, Any]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"passphrase")
    ).decode()
    return {"keys": [{**ring_entry(key), "private_key_pem": pem}]}


def _ring_after_a_good_key(bad_entry: dict[str, Any]) -> dict[str, Any]:
    return {"keys": [ring_entry(), bad_entry]}


@pytest.mark.parametrize(
    "make_ring",
    [
        pytest.param(_ring_with_kid_of_another_key, id="kid-of-another-key"),
        pytest.param(_ring_with_made_up_kid, id="kid-not-a-thumbprint"),
        pytest.param(lambda: _ring_of(ec.generate_private_key(ec.SECP256R1())), id="ec-p256"),
        pytest.param(lambda: _ring_of(rsa.generate_private_key(65537, 2048)), id="rsa"),
        pytest.param(lambda: _ring_of(ed448.Ed448PrivateKey.generate()), id="ed448"),
        pytest.param(lambda: {"keys": []}, id="empty-ring"),
        pytest.param(lambda: {"development": True, "keys": []}, id="empty-development-ring"),
        pytest.param(lambda: {}, id="no-keys-member"),
        pytest.param(lambda: [], id="array"),
        pytest.param(lambda: None, id="null"),
        pytest.param(lambda: {"keys": "abc"}, id="keys-is-a-string"),
        pytest.param(lambda: {"keys": [{"kid": "k1"}]}, id="entry-without-pem"),
        pytest.param(
            lambda: {"keys": [{"private_key_pem": ring_entry()["private_key_pem"]}]},
            id="entry-without-kid",
        ),
        pytest.param(
            lambda: {"keys": [{"kid": "k1", "private_key_pem": "not a pem"}]}, id="garbage-pem"
        ),
        pytest.param(
            lambda: {"keys": [{"kid": "k1", "private_key_pem": 42}]}, id="pem-is-a-number"
        ),
        pytest.param(lambda: {"keys": [None]}, id="entry-is-null"),
        pytest.param(_ring_with_encrypted_pem, id="encrypted-pem"),
        pytest.param(
            lambda: _ring_after_a_good_key({**ring_entry(), "kid": "x"}),
            id="good-key-then-bad-kid",
        ),
    ],
)
def test_a_malformed_ring_is_a_key_ring_error(make_ring: Any) -> None:
    # given a ring that must not be used to sign or verify anything
    data = make_ring()
    # when / then, in development as in production
    with pytest.raises(KeyRingError):
        parse_key_ring(json.dumps(data), production=False)
    with pytest.raises(KeyRingError):
        parse_key_ring(json.dumps(data), production=True)


def test_a_ring_file_that_is_not_json_is_a_key_ring_error(tmp_path: Path) -> None:
    # given a ring file truncated or overwritten with something that is not JSON
    path = tmp_path / "ring.json"
    path.write_text('{"keys": [')
    # when / then
    with pytest.raises(KeyRingError):
        load_key_ring_file(path, production=False)


def test_a_well_formed_ring_parses_and_its_last_key_signs() -> None:
    # given a two-key ring in the documented format (the control for the malformed rings)
    first, second = ring_entry(), ring_entry()
    # when
    ring = parse_key_ring(json.dumps({"keys": [first, second]}), production=True)
    # then
    assert ring.current.kid == second["kid"]
    assert set(ring.public_keys) == {first["kid"], second["kid"]}
    assert not ring.development


# --- what production refuses -------------------------------------------------------------------


def test_production_refuses_a_development_ring(tmp_path: Path) -> None:
    # given a ring marked as generated for development
    path = tmp_path / "dev-jwt-keys.json"
    load_key_ring_file(path, production=False)
    data = json.loads(path.read_text())
    assert data["development"] is True
    # when / then production refuses it, from the file and from its JSON
    with pytest.raises(KeyRingError):
        load_key_ring_file(path, production=True)
    with pytest.raises(KeyRingError):
        parse_key_ring(json.dumps(data), production=True)
    with pytest.raises(KeyRingError):
        rotate_key_ring_file(path, production=True)
    # and the same keys without the development mark are accepted (the mark is the reason)
    newest_kid = data["keys"][-1]["kid"]
    assert (
        parse_key_ring(json.dumps({"keys": data["keys"]}), production=True).current.kid
        == newest_kid
    )


def test_production_refuses_a_missing_ring_file_and_does_not_create_one(tmp_path: Path) -> None:
    # given no ring file at the configured path
    path = tmp_path / "ring.json"
    # when / then
    with pytest.raises(KeyRingError):
        load_key_ring_file(path, production=True)
    assert not path.exists()


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param({}, id="nothing"),
        pytest.param({"DATABASE_URL": "postgresql://db/bff"}, id="no-key-ring"),
        pytest.param(
            {"DATABASE_URL": "postgresql://db/bff", "BFF_JWT_KEYS_FILE": ""},
            id="empty-key-ring-file",
        ),
    ],
)
def test_production_settings_without_a_key_ring_are_a_validation_error(
    isolated_env: pytest.MonkeyPatch, variables: dict[str, str]
) -> None:
    # given a production environment lacking the key ring (DATABASE_URL is checked by the
    # commands that use a database: tests/test_cli.py)
    isolated_env.setenv("BFF_ENV", "production")
    for name, value in variables.items():
        isolated_env.setenv(name, value)
    # when / then
    with pytest.raises(ValidationError, match="production mode needs"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    "ring_variable",
    [
        pytest.param({"BFF_JWT_KEYS_FILE": "/run/secrets/ring.json"}, id="file"),
        pytest.param({"BFF_JWT_KEYS": '{"keys": []}'}, id="variable"),
    ],
)
def test_production_settings_with_database_and_key_ring_are_accepted(
    isolated_env: pytest.MonkeyPatch, ring_variable: dict[str, str]
) -> None:
    # given a complete production environment (the control for the refusals above)
    isolated_env.setenv("BFF_ENV", "production")
    isolated_env.setenv("DATABASE_URL", "postgresql://db/bff")
    for name, value in ring_variable.items():
        isolated_env.setenv(name, value)
    # when
    settings = Settings(_env_file=None)
    # then
    assert settings.is_production


# --- BFF_JWT_KEYS ------------------------------------------------------------------------------


def test_a_ring_in_bff_jwt_keys_signs_and_verifies(isolated_env: pytest.MonkeyPatch) -> None:
    # given a production ring of two keys handed over as an environment variable
    older, newer = ring_entry(), ring_entry()
    isolated_env.setenv("BFF_ENV", "production")
    isolated_env.setenv("DATABASE_URL", "postgresql://db/bff")
    isolated_env.setenv("BFF_JWT_KEYS", json.dumps({"keys": [older, newer]}))
    settings = Settings(_env_file=None)
    # when the runtime's loader reads it
    store = KeyStore(key_ring_loader(settings))
    issuer = TokenIssuer(store, settings.jwt_issuer, settings.jwt_audience, timedelta(minutes=15))
    user_id = uuid.uuid4()
    token = issuer.issue(user_id, uuid.uuid4())
    # then the newest key signs, the token verifies, and both keys are published
    assert kid_of(token) == newer["kid"]
    assert issuer.verify(token).user_id == user_id
    assert {key["kid"] for key in store.jwks()["keys"]} == {older["kid"], newer["kid"]}
    # and a token signed by the older key verifies too
    older_only = TokenIssuer(
        KeyStore(lambda: parse_key_ring(json.dumps({"keys": [older]}), production=True)),
        settings.jwt_issuer,
        settings.jwt_audience,
        timedelta(minutes=15),
    )
    assert issuer.verify(older_only.issue(user_id, uuid.uuid4())).user_id == user_id


def test_bff_jwt_keys_takes_precedence_over_the_ring_file(
    isolated_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given both a ring file and a ring in BFF_JWT_KEYS, holding different keys
    path = tmp_path / "ring.json"
    path.write_text(json.dumps({"keys": [ring_entry()]}))
    in_variable = ring_entry()
    isolated_env.setenv("BFF_ENV", "production")
    isolated_env.setenv("DATABASE_URL", "postgresql://db/bff")
    isolated_env.setenv("BFF_JWT_KEYS_FILE", str(path))
    isolated_env.setenv("BFF_JWT_KEYS", json.dumps({"keys": [in_variable]}))
    settings = Settings(_env_file=None)
    # when
    ring = key_ring_loader(settings)()
    # then
    assert ring.current.kid == in_variable["kid"]
    assert set(ring.public_keys) == {in_variable["kid"]}


def test_a_ring_file_named_by_bff_jwt_keys_file_is_loaded_in_production(
    isolated_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given a production ring file named by BFF_JWT_KEYS_FILE
    path = tmp_path / "ring.json"
    entry = ring_entry()
    path.write_text(json.dumps({"keys": [entry]}))
    isolated_env.setenv("BFF_ENV", "production")
    isolated_env.setenv("DATABASE_URL", "postgresql://db/bff")
    isolated_env.setenv("BFF_JWT_KEYS_FILE", str(path))
    settings = Settings(_env_file=None)
    # when
    ring = key_ring_loader(settings)()
    # then
    assert ring.current.kid == entry["kid"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(json.dumps({"development": True, "keys": [ring_entry()]}), id="development"),
        pytest.param(json.dumps({"keys": []}), id="empty"),
        pytest.param('{"keys": [', id="not-json"),
    ],
)
def test_production_refuses_an_unacceptable_ring_in_bff_jwt_keys(
    isolated_env: pytest.MonkeyPatch, value: str
) -> None:
    # given an unacceptable ring handed over in BFF_JWT_KEYS
    isolated_env.setenv("BFF_ENV", "production")
    isolated_env.setenv("DATABASE_URL", "postgresql://db/bff")
    isolated_env.setenv("BFF_JWT_KEYS", value)
    settings = Settings(_env_file=None)
    # when / then
    with pytest.raises(KeyRingError):
        key_ring_loader(settings)()


def test_a_token_of_a_ring_the_server_never_had_is_invalid(tmp_path: Path) -> None:
    # given two unrelated rings
    ours = tmp_path / "ours.json"
    theirs = tmp_path / "theirs.json"
    load_key_ring_file(ours, production=False)
    load_key_ring_file(theirs, production=False)
    token = issuer_for(theirs).issue(uuid.uuid4(), uuid.uuid4())
    # when / then
    with pytest.raises(InvalidToken):
        issuer_for(ours).verify(token)
