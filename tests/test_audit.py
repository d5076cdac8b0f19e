"""The tamper-evident audit log: entries written with the changes they record, readable by
auditors and admins only (keyset pages), refused updates and deletes, and `bff audit verify`
naming the first entry that was changed, removed, inserted or reordered behind the triggers'
back; `bff audit anchor` signs the heads so that even a recomputed chain is caught."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bff.audit.chain import entry_hash
from bff.config import Settings
from bff.db import migrate
from bff.domain.rbac import Role
from bff.runtime import Runtime, build_runtime
from schema.ids import encode_id
from tests.commands import run_bff
from tests.conftest import PASSWORD, Person, World
from tests.database import fresh_database
from tests.graphql_calls import account_id, call, data, transfer_input

AUDIT_LOG = """
query AuditLog($first: Int!, $after: String, $filter: AuditLogFilter) {
  auditLog(first: $first, after: $after, filter: $filter) {
    edges { cursor node {
      id operation result actorId sessionId address objectType objectId idempotencyKey
      subjectId detail chain position previousHash hash } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CREATE_TRANSFER = """
mutation Transfer($input: CreateTransferInput!) {
  createTransfer(input: $input) { transfer { id } userErrors { code } }
}
"""
LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken userErrors { code } }
}
"""


def user_id(person: Person) -> str:
    return encode_id("User", person.user.id)


def plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def entries(url: str, where: str = "TRUE", *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(plain_url(url))
    try:
        rows: list[asyncpg.Record] = await connection.fetch(
            "SELECT *, detail::text AS detail_text FROM audit_log WHERE "  # noqa: S608 (tests' own)
            + where
            + " ORDER BY id",
            *args,
        )
        return rows
    finally:
        await connection.close()


# --- what is recorded, and who may read it --------------------------------------------------


async def test_a_transfer_is_recorded_with_who_asked_and_auditors_read_it(
    client: httpx.AsyncClient, world: World
) -> None:
    # Given a customer with money and an auditor
    sender = await world.person()
    receiver = await world.person()
    source = await world.account(sender, funds="50.00")
    destination = await world.account(receiver)
    auditor = await world.person(Role.AUDITOR)
    # When the customer sends money under an idempotency key
    request = transfer_input(account_id(source), account_id(destination), "5.00")
    created = await data(client, CREATE_TRANSFER, request, sender)
    transfer_id = created["createTransfer"]["transfer"]["id"]
    assert transfer_id
    # Then the auditor finds the movement with the actor, session, address and key
    page = await data(
        client,
        AUDIT_LOG,
        {"first": 5, "filter": {"operation": "transfer.create", "subjectId": user_id(sender)}},
        auditor,
    )
    (edge,) = page["auditLog"]["edges"]
    entry = edge["node"]
    assert entry["result"] == "success"
    assert entry["actorId"] == user_id(sender)
    assert entry["sessionId"] is not None
    # (the address by its blind index: the log holds no IP address)
    assert entry["address"] == world.runtime.database.sealing.address("127.0.0.1")
    assert entry["idempotencyKey"] == request["input"]["idempotencyKey"]
    assert entry["objectType"] == "transfer"
    assert '"amount": 500' in entry["detail"]
    assert len(entry["hash"]) == 64


async def test_a_refused_transfer_is_recorded_as_refused(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    # Given a customer without money
    sender = await world.person()
    source = await world.account(sender)
    destination = await world.account(await world.person())
    # When they try to send some
    request = transfer_input(account_id(source), account_id(destination), "5.00")
    refused = await data(client, CREATE_TRANSFER, request, sender)
    assert refused["createTransfer"]["userErrors"][0]["code"] == "INSUFFICIENT_FUNDS"
    # Then the attempt is in the log, refused, under its key
    (entry,) = await entries(
        database_url, "idempotency_key = $1", request["input"]["idempotencyKey"]
    )
    assert (entry["operation"], entry["result"]) == ("transfer.create", "refused")
    assert entry["actor_id"] == sender.user.id


async def test_logins_and_failed_logins_are_recorded_without_the_email(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    # Given a customer
    person = await world.person()
    email = person.user.email
    # When someone fails to log in as them, then they log in
    for password in ("wrong password!", PASSWORD):
        variables = {"input": {"email": email, "password": password, "deviceName": "phone"}}
        await call(client, LOGIN, variables)
    # Then both attempts are recorded about them, and no entry holds the address
    about = await entries(database_url, "subject_id = $1", person.user.id)
    operations = [(row["operation"], row["result"]) for row in about]
    assert ("login.fail", "failure") in operations
    assert operations.count(("login.succeed", "success")) == 2  # the world's login and this
    assert not any(email in str(dict(row)) for row in about)


ACCOUNT_BY_ID = "query A($id: ID!) { account(id: $id) { id balance { amount } } }"


async def test_staff_reading_a_customers_account_leaves_an_entry_and_owners_do_not(
    client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    # Given a customer's account
    ada = await world.person()
    account = await world.account(ada, funds="3.00")
    support = await world.person(Role.SUPPORT)
    # When the customer reads it, then support does
    for reader in (ada, support):
        body = await data(client, ACCOUNT_BY_ID, {"id": account_id(account)}, reader)
        assert body["account"]["balance"] == {"amount": "3.00"}
    # Then only support's read is in the log, about the customer
    reads = await entries(
        database_url, "operation = 'customer_data.read' AND object_id = $1", str(account.id)
    )
    assert [(row["actor_id"], row["subject_id"]) for row in reads] == [
        (support.user.id, ada.user.id)
    ]


async def test_customers_and_support_may_not_read_the_log(
    client: httpx.AsyncClient, world: World
) -> None:
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.OPERATOR):
        # Given someone who is neither auditor nor admin
        person = await world.person(role)
        # When they ask for the log
        body = await call(client, AUDIT_LOG, {"first": 1}, person)
        # Then they are refused
        assert body["data"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    anonymous = await call(client, AUDIT_LOG, {"first": 1})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_admins_page_through_the_log_by_keyset(
    client: httpx.AsyncClient, world: World
) -> None:
    # Given an admin and some history
    admin = await world.person(Role.ADMIN)
    # When they read three pages of one entry each
    seen: list[int] = []
    after = None
    for _ in range(3):
        page = await data(client, AUDIT_LOG, {"first": 1, "after": after}, admin)
        (edge,) = page["auditLog"]["edges"]
        assert page["auditLog"]["pageInfo"]["hasNextPage"]
        seen.append(int(edge["node"]["id"]))
        after = page["auditLog"]["pageInfo"]["endCursor"]
    # Then the pages go newest first, without repeats
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 3


async def test_the_database_refuses_to_change_or_delete_entries(database_url: str) -> None:
    # Given the log
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        await connection.execute(
            "SELECT audit_append(p_operation => 'user.create', p_result => 'success')"
        )
        # When anyone updates, deletes or truncates it, or deletes a chain's head
        for statement in (
            "UPDATE audit_log SET result = 'failure'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM audit_heads",
        ):
            # Then the database refuses
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await connection.execute(statement)
    finally:
        await connection.close()


# --- verification against tampering ---------------------------------------------------------


@asynccontextmanager
async def audited_database(
    settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[str, Runtime]]:
    """A database of its own (tampering must not break the suite's), with some history written
    through one connection, so that it is all in one chain."""
    async with fresh_database(tmp_path / "pg") as url:
        await asyncio.to_thread(migrate.upgrade, url)
        local = settings.model_copy(
            update={"database_url": url, "db_pool_size": 1, "db_max_overflow": 0}
        )
        runtime = build_runtime(local, url)
        try:
            world = World(runtime)
            owner = await world.person()
            account = await world.account(owner, funds="10.00")
            for _ in range(3):
                await world.deposit(account, "1.00")
            yield url, runtime
        finally:
            await runtime.close()


def verify(url: str, cwd: Path, *extra: str) -> tuple[int, str]:
    result = run_bff(
        ["audit", "verify", *extra], cwd, DATABASE_URL=url, BFF_DATA_DIR=str(cwd / "data")
    )
    return result.returncode, result.stdout + result.stderr


async def tamper(url: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run statements as a database administrator would, with the triggers disabled."""
    connection = await asyncpg.connect(plain_url(url))
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            for statement, args in statements:
                await connection.execute(statement, *args)
    finally:
        await connection.close()


async def test_an_honest_log_verifies(settings: Settings, tmp_path: Path) -> None:
    async with audited_database(settings, tmp_path) as (url, _):
        code, output = verify(url, tmp_path)
        assert code == 0, output
        assert "audit log intact" in output


async def test_verify_names_a_changed_entry(settings: Settings, tmp_path: Path) -> None:
    async with audited_database(settings, tmp_path) as (url, _):
        victim = (await entries(url))[3]
        # When an entry's result is rewritten
        await tamper(
            url, ("UPDATE audit_log SET result = 'failure' WHERE id = $1", (victim["id"],))
        )
        # Then verification names it
        code, output = verify(url, tmp_path)
        assert code == 1
        assert f"changed: chain {victim['chain']} position {victim['position']}" in output
        assert f"entry {victim['id']}:" in output


async def test_verify_names_where_an_entry_was_removed(settings: Settings, tmp_path: Path) -> None:
    async with audited_database(settings, tmp_path) as (url, _):
        rows = await entries(url)
        removed, after = rows[2], rows[3]
        await tamper(url, ("DELETE FROM audit_log WHERE id = $1", (removed["id"],)))
        code, output = verify(url, tmp_path)
        assert code == 1
        assert f"removed: chain {after['chain']} position {after['position']}" in output
        assert f"entry {after['id']}: the entry before it was removed" in output


async def test_verify_names_an_inserted_entry(settings: Settings, tmp_path: Path) -> None:
    async with audited_database(settings, tmp_path) as (url, _):
        rows = await entries(url)
        before = rows[2]
        # When a forged entry, hashed just as the database would, is slipped in after an entry
        forged: dict[str, Any] = {
            **dict(before),
            "prev_hash": before["hash"],
            "result": "success",
            "operation": "deposit.create",
            "object_id": str(uuid.uuid4()),
            "client_id": None,
            "address": None,
            "idempotency_key": None,
        }
        forged["hash"] = entry_hash(forged)
        shifts = [
            ("UPDATE audit_log SET position = position + 1 WHERE id = $1", (row["id"],))
            for row in reversed(rows[3:])
        ]
        insert = (
            """INSERT INTO audit_log (chain, position, occurred_at, actor_id, session_id,
                   operation, object_type, object_id, result, subject_id, detail, prev_hash, hash)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13)""",
            (
                before["chain"],
                before["position"] + 1,
                forged["occurred_at"],
                forged["actor_id"],
                forged["session_id"],
                forged["operation"],
                forged["object_type"],
                forged["object_id"],
                forged["result"],
                forged["subject_id"],
                forged["detail_text"],
                forged["prev_hash"],
                forged["hash"],
            ),
        )
        await tamper(url, *shifts, insert)
        (inserted,) = await entries(url, "object_id = $1", forged["object_id"])
        code, output = verify(url, tmp_path)
        assert code == 1
        assert f"inserted: chain {inserted['chain']} position {inserted['position']}" in output
        assert f"entry {inserted['id']}: is not part of the chain" in output


async def test_verify_names_a_reordered_entry(settings: Settings, tmp_path: Path) -> None:
    async with audited_database(settings, tmp_path) as (url, _):
        rows = await entries(url)
        first, second = rows[2], rows[3]
        # When two entries swap places
        move = "UPDATE audit_log SET position = $2 WHERE id = $1"
        await tamper(
            url,
            (move, (first["id"], 1_000_000)),
            (move, (second["id"], first["position"])),
            (move, (first["id"], second["position"])),
        )
        code, output = verify(url, tmp_path)
        assert code == 1
        assert f"reordered: chain {second['chain']} position {first['position']}" in output
        assert f"entry {second['id']}:" in output


async def test_an_anchor_catches_a_recomputed_chain(settings: Settings, tmp_path: Path) -> None:
    async with audited_database(settings, tmp_path) as (url, _):
        # Given a signed anchor of the honest log
        anchor = tmp_path / "anchor.json"
        result = run_bff(
            ["audit", "anchor", "--out", str(anchor)],
            tmp_path,
            DATABASE_URL=url,
            BFF_DATA_DIR=str(tmp_path / "data"),
        )
        assert result.returncode == 0, result.stderr
        assert verify(url, tmp_path, "--anchor", str(anchor))[0] == 0
        # When an administrator rewrites an entry and recomputes every hash after it, and heads
        rows = await entries(url)
        previous = rows[0]["prev_hash"]
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for index, row in enumerate(rows):
            changed = {**dict(row), "prev_hash": previous}
            if index == 1:
                changed["result"] = "failure"
            changed["hash"] = entry_hash(changed)
            previous = changed["hash"]
            statements.append(
                (
                    "UPDATE audit_log SET result = $2, prev_hash = $3, hash = $4 WHERE id = $1",
                    (row["id"], changed["result"], changed["prev_hash"], changed["hash"]),
                )
            )
        chain, position = rows[-1]["chain"], rows[-1]["position"]
        statements.append(
            (
                "UPDATE audit_heads SET hash = $3 WHERE chain = $1 AND position = $2",
                (chain, position, previous),
            )
        )
        await tamper(url, *statements)
        # Then the chain alone looks sound, but not against the anchor
        assert verify(url, tmp_path)[0] == 0
        code, output = verify(url, tmp_path, "--anchor", str(anchor))
        assert code == 1
        assert "the anchored entry" in output
