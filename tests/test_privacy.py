"""Privacy rights: a customer's copy of their data (exportMyData, `bff privacy export`), and
erasure by crypto-shredding (`bff privacy erase`, eraseUser): blocked by money in the accounts,
audited, and leaving the ledger's invariants and the audit chain intact."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import httpx

from bff.config import Settings
from bff.db.sealing import ERASED
from bff.domain import transfers
from tests.commands import run_bff
from tests.conftest import PASSWORD, Person, World
from tests.graphql_calls import call, data

EXPORT = "mutation { exportMyData { document userErrors { code } } }"
LOGIN = """
mutation Login($input: LoginInput!) { login(input: $input) { accessToken userErrors { code } } }
"""


def bff(settings: Settings, cwd: Path, *args: str) -> tuple[int, str, str]:
    result = run_bff(
        list(args),
        cwd,
        DATABASE_URL=settings.database_url or "",
        BFF_DATA_DIR=str(settings.data_dir),
    )
    return result.returncode, result.stdout, result.stderr


async def pay(
    world: World, sender: Person, source_id: uuid.UUID, to: uuid.UUID, amount: str
) -> None:
    request = transfers.TransferRequest(
        str(uuid.uuid4()), source_id, amount, "USD", to, memo="rent"
    )
    ttl = world.runtime.settings.idempotency_ttl_s
    await transfers.create_transfer(world.runtime.unit_of_work(), sender.actor, request, ttl)


async def test_a_customer_exports_their_data_in_one_document(
    client: httpx.AsyncClient, world: World
) -> None:
    # Given a customer with an account, money received and a session
    ada = await world.person()
    account = await world.account(ada, funds="12.00")
    # When they ask for their data
    payload = (await data(client, EXPORT, {}, ada))["exportMyData"]
    document = json.loads(payload["document"])
    # Then it holds their profile, accounts with full numbers and transactions, sessions and
    # the audit entries about them, all opened
    assert document["profile"]["email"] == ada.user.email
    assert document["profile"]["display_name"] == ada.user.display_name
    (exported,) = document["accounts"]
    assert exported["account_number"] == account.account_number
    assert [entry["amount"] for entry in exported["transactions"]] == [1200]
    assert [session["device_name"] for session in document["sessions"]] == ["pytest"]
    operations = {entry["operation"] for entry in document["audit_entries"]}
    assert {"user.create", "login.succeed", "account.open", "deposit.create"} <= operations
    assert document["connected_apps"] == []


async def test_only_a_logged_in_customer_exports_data(client: httpx.AsyncClient) -> None:
    body = await call(client, EXPORT, {})
    assert body["data"]["exportMyData"]["userErrors"] == [{"code": "UNAUTHENTICATED"}]


async def test_the_command_exports_a_user_by_email(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    ada = await world.person()
    code, out, err = bff(settings, tmp_path, "privacy", "export", "--user", ada.user.email)
    assert code == 0, err
    document = json.loads(out)
    assert document["profile"]["id"] == str(ada.user.id)
    assert document["profile"]["email"] == ada.user.email


async def test_erasure_shreds_the_customer_and_keeps_ledger_and_audit_intact(
    client: httpx.AsyncClient, world: World, settings: Settings, tmp_path: Path
) -> None:
    # Given a customer who received money from a friend
    ada, friend = await world.person(), await world.person()
    mine = await world.account(ada)
    theirs = await world.account(friend, funds="50.00")
    await pay(world, friend, theirs.id, mine.id, "20.00")
    # When an admin tries to erase her while her account holds money
    refused = run_bff(
        ["privacy", "erase", "--user", str(ada.user.id), "--reason", "asked to be forgotten"],
        tmp_path,
        DATABASE_URL=settings.database_url or "",
        BFF_DATA_DIR=str(settings.data_dir),
    )
    # Then it is refused, and nothing changed
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].startswith("bff: INVALID_STATE")
    assert (await world.runtime.database.reads.users([ada.user.id]))[0].email == ada.user.email
    # When she has sent the money back and is erased
    await pay(world, ada, mine.id, theirs.id, "20.00")
    code, out, err = bff(
        settings, tmp_path, "privacy", "erase", "--user", ada.user.email, "--reason", "GDPR 17"
    )
    assert code == 0, err
    # Then her personal data reads as erased, she cannot log in, and no index finds her
    (erased,) = await world.runtime.database.reads.users([ada.user.id])
    assert (erased.email, erased.display_name) == (ERASED, ERASED)
    (account,) = await world.runtime.database.reads.accounts([mine.id])
    assert account.account_number == "********" + mine.account_number[-4:]
    variables = {"input": {"email": ada.user.email, "password": PASSWORD}}
    assert (await data(client, LOGIN, variables))["login"]["userErrors"] == [
        {"code": "INVALID_CREDENTIALS"}
    ]
    connection = await asyncpg.connect(
        (settings.database_url or "").replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        keys = await connection.fetchval(
            "SELECT count(*) FROM data_keys WHERE user_id = $1", ada.user.id
        )
        indexes = await connection.fetchrow(
            "SELECT u.email_index, a.number_index FROM users u JOIN accounts a"
            " ON a.owner_id = u.id WHERE u.id = $1",
            ada.user.id,
        )
        # (her accounts and her counterparty's: other tests of the suite share the database)
        touched = [mine.id, theirs.id]
        unbalanced = await connection.fetchval(
            "SELECT count(*) FROM (SELECT transfer_id FROM ledger_entries WHERE transfer_id IN"
            " (SELECT transfer_id FROM ledger_entries WHERE account_id = ANY($1))"
            " GROUP BY transfer_id HAVING sum(amount) <> 0) t",
            touched,
        )
        mismatched = await connection.fetchval(
            "SELECT count(*) FROM accounts a WHERE a.id = ANY($1) AND a.balance <>"
            " (SELECT coalesce(sum(amount), 0) FROM ledger_entries e WHERE e.account_id = a.id)",
            touched,
        )
        erasure = await connection.fetchrow(
            "SELECT detail FROM audit_log WHERE operation = 'privacy.erase' AND subject_id = $1",
            ada.user.id,
        )
    finally:
        await connection.close()
    assert keys == 0
    assert tuple(indexes) == (None, None)
    # and the ledger still balances, her history included
    assert (unbalanced, mismatched) == (0, 0)
    assert json.loads(erasure["detail"])["reason"] == "GDPR 17"
    # and the audit chain still verifies
    code, out, err = bff(settings, tmp_path, "audit", "verify")
    assert code == 0, out + err
