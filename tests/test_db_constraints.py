"""The database enforces the ledger's invariants itself: SQL straight at the tables is refused."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.sqlstate import constraint_of
from bff.domain.models import Account
from bff.runtime import Runtime
from tests.conftest import Person, World

CHECK_VIOLATION = "23514"
UNIQUE_VIOLATION = "23505"
INTEGRITY_VIOLATION = "23000"

INSERT_TRANSFER = text("""
    INSERT INTO transfers (id, kind, status, amount, currency, from_account_id, to_account_id,
                           initiated_by)
    VALUES (:id, 'transfer', 'completed', :amount, :currency, :from_id, :to_id, :by)
""")
INSERT_ENTRY = text("""
    INSERT INTO ledger_entries (id, transfer_id, account_id, sequence, amount, balance_after,
                                currency, description)
    VALUES (gen_random_uuid(), :transfer_id, :account_id, :sequence, :amount, :amount,
            :currency, 'raw SQL')
""")


def sqlstate(error: IntegrityError) -> str | None:
    return getattr(error.orig, "sqlstate", None)


async def insert_transfer(
    connection: AsyncConnection,
    by: Person,
    source: Account,
    destination: Account,
    amount: int,
    currency: str = "USD",
) -> UUID:
    transfer_id = uuid.uuid4()
    await connection.execute(
        INSERT_TRANSFER,
        {
            "id": transfer_id,
            "amount": amount,
            "currency": currency,
            "from_id": source.id,
            "to_id": destination.id,
            "by": by.user.id,
        },
    )
    return transfer_id


async def insert_entry(
    connection: AsyncConnection,
    transfer_id: UUID,
    account: Account,
    sequence: int,
    amount: int,
    currency: str = "USD",
) -> None:
    await connection.execute(
        INSERT_ENTRY,
        {
            "transfer_id": transfer_id,
            "account_id": account.id,
            "sequence": sequence,
            "amount": amount,
            "currency": currency,
        },
    )


async def transfer_exists(runtime: Runtime, transfer_id: UUID) -> bool:
    async with runtime.database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT 1 FROM transfers WHERE id = :id"), {"id": transfer_id}
        )
        return found.first() is not None


async def refused(runtime: Runtime, sql: str, params: dict[str, Any]) -> IntegrityError:
    """Run one statement in its own transaction; it must be refused on the spot."""
    async with runtime.database.engine.connect() as connection:
        with pytest.raises(IntegrityError) as caught:
            await connection.execute(text(sql), params)
    return caught.value


async def two_accounts(world: World) -> tuple[Person, Account, Account]:
    alice, bob = await world.person(), await world.person()
    return alice, await world.account(alice, "USD"), await world.account(bob, "USD")


# --- balanced transfers, checked at commit -----------------------------------------------------


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param([], id="no-legs"),
        pytest.param([("source", -500, "USD")], id="one-leg"),
        pytest.param([("source", -500, "USD"), ("destination", 400, "USD")], id="not-zero"),
        pytest.param([("source", -500, "USD"), ("destination", 500, "EUR")], id="other-currency"),
    ],
)
async def test_unbalanced_transfer_is_refused_at_commit(
    runtime: Runtime, world: World, legs: list[tuple[str, int, str]]
) -> None:
    # given a transfer and legs that do not balance, inserted straight into the database
    alice, source, destination = await two_accounts(world)
    accounts = {"source": source, "destination": destination}
    async with runtime.database.engine.connect() as connection:
        transfer_id = await insert_transfer(connection, alice, source, destination, 500)
        for side, amount, currency in legs:
            await insert_entry(connection, transfer_id, accounts[side], 1, amount, currency)
        # when the transaction commits (every insert above was accepted)
        with pytest.raises(IntegrityError) as caught:
            await connection.commit()
    # then the deferred trigger refused it, and nothing was kept
    assert sqlstate(caught.value) == INTEGRITY_VIOLATION
    assert "unbalanced" in str(caught.value.orig)
    assert not await transfer_exists(runtime, transfer_id)


async def test_legs_must_post_on_the_transfers_own_accounts(runtime: Runtime, world: World) -> None:
    # given a 5.00 transfer from A to B whose balanced legs move 0.01 between two other accounts
    alice, source, destination = await two_accounts(world)
    _, other_source, other_destination = await two_accounts(world)
    async with runtime.database.engine.connect() as connection:
        transfer_id = await insert_transfer(connection, alice, source, destination, 500)
        await insert_entry(connection, transfer_id, other_source, 1, -1)
        await insert_entry(connection, transfer_id, other_destination, 1, 1)
        # when
        with pytest.raises(IntegrityError) as caught:
            await connection.commit()
    # then
    assert "unbalanced" in str(caught.value.orig)
    assert not await transfer_exists(runtime, transfer_id)


async def test_legs_must_be_in_their_accounts_currency(runtime: Runtime, world: World) -> None:
    # given a EUR transfer between two USD accounts, with EUR legs of the right amounts
    alice, source, destination = await two_accounts(world)
    async with runtime.database.engine.connect() as connection:
        transfer_id = await insert_transfer(connection, alice, source, destination, 500, "EUR")
        await insert_entry(connection, transfer_id, source, 1, -500, "EUR")
        await insert_entry(connection, transfer_id, destination, 1, 500, "EUR")
        # when
        with pytest.raises(IntegrityError) as caught:
            await connection.commit()
    # then
    assert "unbalanced" in str(caught.value.orig)


async def test_balanced_transfer_inserted_directly_commits(runtime: Runtime, world: World) -> None:
    # given a transfer with two legs summing to zero, inserted straight into the database
    alice, source, destination = await two_accounts(world)
    async with runtime.database.engine.connect() as connection:
        transfer_id = await insert_transfer(connection, alice, source, destination, 500)
        await insert_entry(connection, transfer_id, source, 1, -500)
        await insert_entry(connection, transfer_id, destination, 1, 500)
        # when
        await connection.commit()
    # then the trigger lets a balanced transfer through
    assert await transfer_exists(runtime, transfer_id)


async def test_leg_added_later_to_a_posted_transfer_is_refused_at_commit(
    runtime: Runtime, world: World
) -> None:
    # given a committed, balanced transfer (a deposit) and a third account
    alice, carol = await world.person(), await world.person()
    account = await world.account(alice, "USD", funds="5.00")
    third = await world.account(carol, "USD")
    async with runtime.database.engine.connect() as connection:
        transfer_id = (
            await connection.execute(
                text("SELECT transfer_id FROM ledger_entries WHERE account_id = :id"),
                {"id": account.id},
            )
        ).scalar_one()
    async with runtime.database.engine.connect() as connection:
        await insert_entry(connection, transfer_id, third, 1, 100)
        # when
        with pytest.raises(IntegrityError) as caught:
            await connection.commit()
    # then
    assert "unbalanced" in str(caught.value.orig)


# --- check constraints ---------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -100])
async def test_transfer_amount_must_be_positive(
    runtime: Runtime, world: World, amount: int
) -> None:
    # given
    alice, source, destination = await two_accounts(world)
    # when
    async with runtime.database.engine.connect() as connection:
        with pytest.raises(IntegrityError) as caught:
            await insert_transfer(connection, alice, source, destination, amount)
    # then
    assert sqlstate(caught.value) == CHECK_VIOLATION
    assert constraint_of(caught.value) == "transfers_amount_positive"


async def test_transfer_accounts_must_differ(runtime: Runtime, world: World) -> None:
    # given
    alice, source, _ = await two_accounts(world)
    # when
    async with runtime.database.engine.connect() as connection:
        with pytest.raises(IntegrityError) as caught:
            await insert_transfer(connection, alice, source, source, 100)
    # then
    assert constraint_of(caught.value) == "transfers_distinct_accounts"


async def test_ledger_entry_amount_must_not_be_zero(runtime: Runtime, world: World) -> None:
    # given a transfer row
    alice, source, destination = await two_accounts(world)
    async with runtime.database.engine.connect() as connection:
        transfer_id = await insert_transfer(connection, alice, source, destination, 100)
        # when a zero leg is inserted
        with pytest.raises(IntegrityError) as caught:
            await insert_entry(connection, transfer_id, source, 1, 0)
    # then
    assert sqlstate(caught.value) == CHECK_VIOLATION
    assert constraint_of(caught.value) == "ledger_entries_amount_nonzero"


async def test_account_sequence_is_unique(runtime: Runtime, world: World) -> None:
    # given a transfer whose legs took sequence 1 on both accounts
    alice, source, destination = await two_accounts(world)
    async with runtime.database.engine.connect() as connection:
        first = await insert_transfer(connection, alice, source, destination, 100)
        await insert_entry(connection, first, source, 1, -100)
        await insert_entry(connection, first, destination, 1, 100)
        second = await insert_transfer(connection, alice, source, destination, 100)
        # when a second transfer's leg reuses sequence 1 on the source
        with pytest.raises(IntegrityError) as caught:
            await insert_entry(connection, second, source, 1, -100)
    # then
    assert sqlstate(caught.value) == UNIQUE_VIOLATION
    assert constraint_of(caught.value) == "ledger_entries_account_sequence_key"


async def test_one_leg_per_account_per_transfer(runtime: Runtime, world: World) -> None:
    # given a transfer with a leg on the source
    alice, source, destination = await two_accounts(world)
    async with runtime.database.engine.connect() as connection:
        transfer_id = await insert_transfer(connection, alice, source, destination, 100)
        await insert_entry(connection, transfer_id, source, 1, -100)
        # when a second leg on the same account is added
        with pytest.raises(IntegrityError) as caught:
            await insert_entry(connection, transfer_id, source, 2, 100)
    # then
    assert constraint_of(caught.value) == "ledger_entries_one_leg_per_account"


@pytest.mark.parametrize(
    ("overdraft_limit", "balance"),
    [
        pytest.param(0, -1, id="no-limit-balance"),
        pytest.param(5_000, -5_001, id="beyond-limit-balance"),
    ],
)
async def test_customer_balance_cannot_go_below_the_overdraft_limit(
    runtime: Runtime, world: World, overdraft_limit: int, balance: int
) -> None:
    # given a customer account
    alice = await world.person()
    account = await world.account(alice, "USD")
    # when its balance is set below -overdraft_limit
    error = await refused(
        runtime,
        "UPDATE accounts SET overdraft_limit = :limit, balance = :balance,"
        " available_balance = :balance WHERE id = :id",
        {"limit": overdraft_limit, "balance": balance, "id": account.id},
    )
    # then
    assert sqlstate(error) == CHECK_VIOLATION
    assert constraint_of(error) == "accounts_no_overdraft"


async def test_available_balance_cannot_go_below_the_overdraft_limit(
    runtime: Runtime, world: World
) -> None:
    # given a customer account
    alice = await world.person()
    account = await world.account(alice, "USD")
    # when only its available balance goes negative
    error = await refused(
        runtime,
        "UPDATE accounts SET available_balance = -1 WHERE id = :id",
        {"id": account.id},
    )
    # then
    assert constraint_of(error) == "accounts_no_overdraft"


async def test_overdraft_within_the_limit_is_allowed(runtime: Runtime, world: World) -> None:
    # given a customer account
    alice = await world.person()
    account = await world.account(alice, "USD")
    # when its balance is set exactly to -overdraft_limit
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE accounts SET overdraft_limit = 5000, balance = -5000,"
                " available_balance = -5000 WHERE id = :id"
            ),
            {"id": account.id},
        )
    # then it was stored
    async with runtime.database.engine.connect() as connection:
        stored = (
            await connection.execute(
                text("SELECT balance FROM accounts WHERE id = :id"), {"id": account.id}
            )
        ).scalar_one()
    assert stored == -5000


# --- append-only ledger --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("UPDATE ledger_entries SET amount = amount + 1 WHERE id = :id", id="update"),
        pytest.param("UPDATE ledger_entries SET description = 'x' WHERE id = :id", id="relabel"),
        pytest.param("DELETE FROM ledger_entries WHERE id = :id", id="delete"),
    ],
)
async def test_ledger_entries_are_append_only(
    runtime: Runtime, world: World, statement: str
) -> None:
    # given a posted entry (a deposit's credit)
    alice = await world.person()
    account = await world.account(alice, "USD", funds="5.00")
    async with runtime.database.engine.connect() as connection:
        entry_id = (
            await connection.execute(
                text("SELECT id FROM ledger_entries WHERE account_id = :id"), {"id": account.id}
            )
        ).scalar_one()
    # when
    error = await refused(runtime, statement, {"id": entry_id})
    # then
    assert "append-only" in str(error.orig)
    async with runtime.database.engine.connect() as connection:
        amount = (
            await connection.execute(
                text("SELECT amount FROM ledger_entries WHERE id = :id"), {"id": entry_id}
            )
        ).scalar_one()
    assert amount == 500


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("UPDATE transfers SET amount = amount * 2 WHERE id = :id", id="amount"),
        pytest.param("UPDATE transfers SET memo = 'rewritten' WHERE id = :id", id="memo"),
        pytest.param(
            "UPDATE transfers SET initiated_by = to_account_id WHERE id = :id", id="initiator"
        ),
        pytest.param("UPDATE transfers SET created_at = now() WHERE id = :id", id="created-at"),
        pytest.param("DELETE FROM transfers WHERE id = :id", id="delete"),
    ],
)
async def test_transfers_are_immutable(runtime: Runtime, world: World, statement: str) -> None:
    # given a posted transfer (a deposit)
    alice = await world.person()
    account = await world.account(alice, "USD", funds="5.00")
    async with runtime.database.engine.connect() as connection:
        transfer_id = (
            await connection.execute(
                text("SELECT transfer_id FROM ledger_entries WHERE account_id = :id"),
                {"id": account.id},
            )
        ).scalar_one()
    # when
    error = await refused(runtime, statement, {"id": transfer_id})
    # then
    assert "append-only" in str(error.orig)
    assert await transfer_exists(runtime, transfer_id)


# --- idempotency keys and users -----------------------------------------------------------------


async def test_idempotency_key_is_unique_per_actor(runtime: Runtime, world: World) -> None:
    # given a stored key for Alice
    alice = await world.person()
    insert = (
        "INSERT INTO idempotency_keys (actor_id, key, fingerprint, expires_at)"
        " VALUES (:actor, :key, :fingerprint, now() + interval '2 days')"
    )
    params = {"actor": alice.user.id, "key": "same-key", "fingerprint": "a"}
    async with runtime.database.engine.begin() as connection:
        await connection.execute(text(insert), params)
    # when the same (actor, key) is inserted again
    error = await refused(runtime, insert, params | {"fingerprint": "b"})
    # then
    assert sqlstate(error) == UNIQUE_VIOLATION
    assert constraint_of(error) == "idempotency_keys_pkey"


async def test_idempotency_key_is_kept_at_least_a_day(runtime: Runtime, world: World) -> None:
    # given
    alice = await world.person()
    # when a key is stored to expire in an hour
    error = await refused(
        runtime,
        "INSERT INTO idempotency_keys (actor_id, key, fingerprint, expires_at)"
        " VALUES (:actor, 'short-lived', 'f', now() + interval '1 hour')",
        {"actor": alice.user.id},
    )
    # then
    assert constraint_of(error) == "idempotency_keys_kept_a_day"


@pytest.mark.parametrize("column", ["email", "display_name"])
async def test_user_personal_data_is_never_stored_in_the_clear(
    runtime: Runtime, column: str
) -> None:
    # given a user row with a plaintext email or display name (they are sealed, see
    # tests/test_sealed_fields.py)
    # when it is inserted
    error = await refused(
        runtime,
        f"INSERT INTO users ({column}, password_hash, roles)"  # noqa: S608 (a test's constants)
        " VALUES ('someone@example.com', 'hash', ARRAY['customer'])",
        {},
    )
    # then
    assert sqlstate(error) == CHECK_VIOLATION
    assert constraint_of(error) == "users_no_plaintext"


@pytest.mark.parametrize(
    "roles",
    [
        pytest.param(["root"], id="unknown"),
        pytest.param(["customer", "superuser"], id="one-unknown"),
        pytest.param(["Customer"], id="wrong-case"),
        pytest.param([], id="none"),
    ],
)
async def test_user_roles_must_be_known(runtime: Runtime, roles: list[str]) -> None:
    # given a user row with roles outside the role table
    # when it is inserted
    error = await refused(
        runtime,
        "INSERT INTO users (password_hash, roles) VALUES ('hash', CAST(:roles AS text[]))",
        {"roles": roles},
    )
    # then
    assert sqlstate(error) == CHECK_VIOLATION
    assert constraint_of(error) == "users_roles_known"
