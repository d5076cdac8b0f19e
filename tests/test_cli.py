"""The `bff` command as a newcomer and an operator meet it: `.env.example` works as a `.env`,
a database that is missing or unreachable is one line (never a traceback, never the password),
and the demo users' passwords can be had again in development, never in production.

The commands run as real processes (tests/commands.py) in a scratch directory.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from bff.config import Settings
from bff.db import migrate
from bff.runtime import build_runtime
from tests.commands import one_line_failure, run_bff
from tests.conftest import asgi_client
from tests.database import fresh_database
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_IN_URL = "hunter2-not-for-logs"

LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken userErrors { code } }
}
"""
REFRESH = """
mutation Refresh($input: RefreshSessionInput!) {
  refreshSession(input: $input) { accessToken userErrors { code } }
}
"""

# Every command that opens the database, with arguments that would otherwise succeed.
DATABASE_COMMANDS = [
    pytest.param(["migrate"], id="migrate"),
    pytest.param(["serve", "--migrate"], id="serve"),
    pytest.param(["seed"], id="seed"),
    pytest.param(["seed", "--reset-passwords"], id="seed-reset-passwords"),
    pytest.param(["purge"], id="purge"),
    pytest.param(
        [
            *("user", "create", "--email", "ops@example.com"),
            *("--password", "long enough password", "--role", "operator"),
        ],
        id="user-create",
    ),
]


# --- .env.example ------------------------------------------------------------------------------


def test_env_example_as_a_dotenv_is_valid_and_uses_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given nothing configured but .env.example, copied to .env as its first line invites
    for name in list(os.environ):
        if name.startswith("BFF_") or name in ("DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name)
    # when the settings are read from it
    settings = Settings(_env_file=ROOT / ".env.example")
    # then every value in it is valid, and no database server is assumed to exist: `make run`
    # starts the embedded one
    assert settings.database_url is None
    assert not settings.is_production


# --- a database that cannot be used ------------------------------------------------------------


@pytest.mark.parametrize("args", DATABASE_COMMANDS)
def test_a_missing_database_is_one_line_naming_the_fix(
    tmp_path: Path, database_url: str, args: list[str]
) -> None:
    # given a reachable PostgreSQL server, but a database on it that does not exist
    name = f"bff_missing_{secrets.token_hex(4)}"
    missing = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    # when a command runs against it
    result = run_bff(args, cwd=tmp_path, DATABASE_URL=missing, BFF_DATA_DIR=str(tmp_path))
    # then it fails in one line that names the database and how to fix it
    line = one_line_failure(result)
    assert line.startswith("bff: cannot use the database at postgresql://"), line
    assert f'database "{name}" does not exist' in line, line
    assert "createdb" in line, line
    assert "unset DATABASE_URL" in line, line


# All commands share the check (the test above shows it); two suffice here.
@pytest.mark.parametrize("args", [DATABASE_COMMANDS[0], DATABASE_COMMANDS[1]])
def test_an_unreachable_server_is_one_line_without_the_password(
    tmp_path: Path, args: list[str]
) -> None:
    # given a URL, with a password, of a port nothing listens on
    port = free_port()
    url = f"postgresql://postgres:{PASSWORD_IN_URL}@127.0.0.1:{port}/bff"
    # when a command runs against it
    result = run_bff(args, cwd=tmp_path, DATABASE_URL=url, BFF_DATA_DIR=str(tmp_path))
    # then it fails in one line naming the address, with the password masked
    line = one_line_failure(result)
    assert f"postgresql://postgres:***@127.0.0.1:{port}/bff" in line, line
    assert f"nothing accepts connections at 127.0.0.1:{port}" in line, line
    assert PASSWORD_IN_URL not in result.stdout + result.stderr


def test_production_without_database_url_is_one_line(tmp_path: Path) -> None:
    # given production settings with a key ring but no DATABASE_URL
    ring = tmp_path / "ring.json"
    assert run_bff(["keys", "create", "--file", str(ring)], cwd=tmp_path).returncode == 0
    # when a database command runs
    result = run_bff(["migrate"], cwd=tmp_path, BFF_ENV="production", BFF_JWT_KEYS_FILE=str(ring))
    # then it refuses in one line instead of starting an embedded server
    assert "production needs DATABASE_URL" in one_line_failure(result)
    assert not (tmp_path / ".data").exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"BFF_PORT": "eighty"}, "BFF_PORT: Input should be a valid integer", id="bad-type"
        ),
        pytest.param(
            {"BFF_ENV": "production", "DATABASE_URL": f"postgresql://u:{PASSWORD_IN_URL}@db/x"},
            "production mode needs BFF_JWT_KEYS_FILE or BFF_JWT_KEYS",
            id="production-without-key-ring",
        ),
    ],
)
def test_invalid_settings_are_one_line_naming_the_variable_without_values(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    # given a setting that is wrong
    # when any command reads the settings
    result = run_bff(["migrate"], cwd=tmp_path, **env)
    # then the failure is one line saying which and why, and echoes no value (a secret, maybe)
    line = one_line_failure(result)
    assert line.startswith("bff: invalid settings: "), line
    assert expected in line, line
    assert PASSWORD_IN_URL not in result.stderr


# --- demo passwords ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def demo_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database of its own (seeding needs an empty one), migrated and seeded by `bff seed`."""
    async with fresh_database(tmp_path_factory.mktemp("demo-pg")) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="module")
async def demo_client(
    settings: Settings, demo_database: str, demo_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    runtime = build_runtime(
        settings.model_copy(update={"database_url": demo_database, "data_dir": demo_dir}),
        demo_database,
    )
    async with asgi_client(runtime) as client:
        yield client
    await runtime.close()


def printed_passwords(stdout: str) -> dict[str, str]:
    """email -> password, from the table `bff seed` prints."""
    rows = [line.split() for line in stdout.splitlines() if line.startswith("  ")]
    return {row[0]: row[1] for row in rows}


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    variables = {"input": {"email": email, "password": password, "deviceName": "pytest"}}
    response = await client.post("/graphql", json={"query": LOGIN, "variables": variables})
    return response.json()["data"]["login"]  # type: ignore[no-any-return]


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> dict[str, Any]:
    variables = {"input": {"refreshToken": refresh_token}}
    response = await client.post("/graphql", json={"query": REFRESH, "variables": variables})
    return response.json()["data"]["refreshSession"]  # type: ignore[no-any-return]


async def test_seed_reset_passwords_prints_new_ones_and_ends_the_old_sessions(
    demo_database: str, demo_dir: Path, demo_client: httpx.AsyncClient
) -> None:
    # given a seeded database, its printed passwords, and Alice logged in with hers
    env = {"DATABASE_URL": demo_database, "BFF_DATA_DIR": str(demo_dir)}
    seeded = run_bff(["seed"], cwd=demo_dir, **env)
    assert seeded.returncode == 0, seeded.stderr
    first = printed_passwords(seeded.stdout)
    assert set(first) == {
        "alice@example.com",
        "bob@example.com",
        "operator@example.com",
        "analyst@example.com",
        "admin@example.com",
    }
    session = await log_in(demo_client, "alice@example.com", first["alice@example.com"])
    assert session["userErrors"] == [], session
    # and a second seed, which seeds nothing, says how to get passwords again
    again = run_bff(["seed"], cwd=demo_dir, **env)
    assert again.returncode == 0, again.stderr
    assert "--reset-passwords" in again.stdout
    # when the developer asks for new passwords
    reset = run_bff(["seed", "--reset-passwords"], cwd=demo_dir, **env)
    # then every demo user has a new one, printed
    assert reset.returncode == 0, reset.stderr
    second = printed_passwords(reset.stdout)
    assert set(second) == set(first)
    for email, password in second.items():
        assert password != first[email]
        assert (await log_in(demo_client, email, password))["userErrors"] == [], email
    # and the old password no longer logs in
    old = await log_in(demo_client, "alice@example.com", first["alice@example.com"])
    assert old["userErrors"] == [{"code": "INVALID_CREDENTIALS"}], old
    # and the session opened with it has ended
    refreshed = await refresh(demo_client, session["refreshToken"])
    assert refreshed["userErrors"] == [{"code": "INVALID_REFRESH_TOKEN"}], refreshed


async def test_seed_reset_passwords_is_refused_in_production(
    demo_database: str, demo_dir: Path, demo_client: httpx.AsyncClient
) -> None:
    # given a production configuration on a database with the demo users, and Bob's password
    ring = demo_dir / "production-ring.json"
    if not ring.exists():
        assert run_bff(["keys", "create", "--file", str(ring)], cwd=demo_dir).returncode == 0
    env = {"DATABASE_URL": demo_database, "BFF_DATA_DIR": str(demo_dir)}
    current = run_bff(["seed", "--reset-passwords"], cwd=demo_dir, **env)
    assert current.returncode == 0, current.stderr
    bob = printed_passwords(current.stdout)["bob@example.com"]
    # when the reset runs in production
    result = run_bff(
        ["seed", "--reset-passwords"],
        cwd=demo_dir,
        BFF_ENV="production",
        BFF_JWT_KEYS_FILE=str(ring),
        **env,
    )
    # then it is refused in one line, prints no password, and changes none
    assert "refusing" in one_line_failure(result)
    assert result.stdout == ""
    assert (await log_in(demo_client, "bob@example.com", bob))["userErrors"] == []
