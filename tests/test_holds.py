"""Two-phase transfers on PostgreSQL: a held transfer reserves its amount and posts nothing, then
is settled for exactly that amount or voided, once, by a decision or by expiry; the tables refuse
anything else, and the live stream and the caches follow every change."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bff.domain import transfers
from bff.domain.delegation import ClientRegistration, new_client
from bff.domain.errors import DomainError
from bff.domain.models import Account, EventKind, Transfer, TransferKind, TransferStatus
from bff.domain.money import Money
from bff.domain.ports import HoldOutcome, PostingCommand, PostingFields, PostingOutcome
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import Person, World, asgi_client, graphql

HOUR = 3600


@dataclass
class Pair:
    """Alice's account holding 10.00 and Bob's empty one, both USD."""

    alice: Person
    bob: Person
    source: Account
    destination: Account


@pytest.fixture
async def pair(world: World) -> Pair:
    alice, bob = await world.person(), await world.person()
    funded = await world.account(alice, "USD", funds="10.00")
    source = await account(world.runtime, funded.id)  # as the deposit left it
    return Pair(alice, bob, source, await world.account(bob, "USD"))


async def hold(runtime: Runtime, pair: Pair, cents: int, hold_s: int = HOUR) -> Transfer:
    """Alice's transfer of `cents` to Bob, held instead of posted."""
    command = PostingCommand(
        actor_id=pair.alice.user.id,
        key=str(uuid.uuid4()),
        fingerprint="held",
        ttl_s=runtime.settings.idempotency_ttl_s,
        kind=TransferKind.TRANSFER,
        transfer_id=uuid.uuid4(),
        money=Money(cents, "USD"),
        memo=None,
        description="Transfer",
        fields=PostingFields("fromAccountId", "toAccountId", "amount", "currency"),
        source_id=pair.source.id,
        destination_id=pair.destination.id,
        hold_s=hold_s,
    )
    uow = runtime.unit_of_work()
    async with uow:
        result = await uow.ledger.post_once(command)
        await uow.commit()
    assert result.outcome is PostingOutcome.POSTED
    assert result.transfer is not None
    return result.transfer


async def account(runtime: Runtime, account_id: UUID) -> Account:
    found = await runtime.database.reads.account(account_id)
    assert found is not None
    return found


async def entries_of(runtime: Runtime, transfer_id: UUID) -> list[int]:
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT amount FROM ledger_entries WHERE transfer_id = :t ORDER BY amount"),
            {"t": transfer_id},
        )
        return [amount for (amount,) in rows]


async def test_a_held_transfer_reserves_the_amount_and_posts_nothing(
    runtime: Runtime, pair: Pair
) -> None:
    # when Alice's transfer of 4.00 is held
    held = await hold(runtime, pair, 400)
    # then it is pending, her available balance is down, her balance is not, nothing is posted
    assert held.status is TransferStatus.PENDING
    assert held.hold_expires_at is not None
    source = await account(runtime, pair.source.id)
    assert (source.balance, source.available_balance) == (1000, 600)
    assert await entries_of(runtime, held.id) == []
    # and her stream has the hold at her next sequence, naming the transfer; Bob's has nothing
    events = await runtime.database.reads.events(pair.source.id, pair.source.last_sequence, 99)
    assert [(e.kind, e.sequence, e.transfer_id) for e in events] == [
        (EventKind.TRANSFER_HELD, pair.source.last_sequence + 1, held.id)
    ]
    assert await runtime.database.reads.events(pair.destination.id, 0, 99) == []


async def test_a_held_reservation_blocks_an_overdraft_by_a_second_transfer(
    runtime: Runtime, pair: Pair
) -> None:
    # given 8.00 of Alice's 10.00 held
    await hold(runtime, pair, 800)
    # when she sends 3.00 more
    request = transfers.TransferRequest(
        str(uuid.uuid4()), pair.source.id, "3.00", "USD", to_account_id=pair.destination.id
    )
    with pytest.raises(DomainError) as refused:
        await transfers.create_transfer(
            runtime.unit_of_work(), pair.alice.actor, request, runtime.settings.idempotency_ttl_s
        )
    # then it is refused: only 2.00 is available
    assert refused.value.code.value == "INSUFFICIENT_FUNDS"


async def test_settling_posts_exactly_the_reserved_amount_once(
    runtime: Runtime, pair: Pair
) -> None:
    # given a held transfer of 4.00
    held = await hold(runtime, pair, 400)
    # when it is settled, then settled again
    first = await transfers.settle_held(runtime.unit_of_work(), held.id)
    second = await transfers.settle_held(runtime.unit_of_work(), held.id)
    # then it posted once: both legs of 4.00, the reservation consumed
    assert first.outcome is HoldOutcome.RESOLVED
    assert first.transfer is not None
    assert first.transfer.status is TransferStatus.COMPLETED
    assert second.outcome is HoldOutcome.NOT_PENDING
    assert await entries_of(runtime, held.id) == [-400, 400]
    source, destination = (
        await account(runtime, pair.source.id),
        await account(runtime, pair.destination.id),
    )
    assert (source.balance, source.available_balance) == (600, 600)
    assert (destination.balance, destination.available_balance) == (400, 400)
    # and both streams show the posting, after the hold on Alice's
    mine = await runtime.database.reads.events(pair.source.id, pair.source.last_sequence, 99)
    assert [e.kind for e in mine] == [EventKind.TRANSFER_HELD, EventKind.TRANSACTION_POSTED]
    assert [e.sequence for e in mine] == [
        pair.source.last_sequence + 1,
        pair.source.last_sequence + 2,
    ]
    theirs = await runtime.database.reads.events(pair.destination.id, 0, 99)
    assert [(e.kind, e.transfer_id) for e in theirs] == [(EventKind.TRANSACTION_POSTED, held.id)]


async def test_voiding_releases_the_reservation(runtime: Runtime, pair: Pair) -> None:
    # given a held transfer of 4.00
    held = await hold(runtime, pair, 400)
    # when it is voided
    result = await transfers.void_held(runtime.unit_of_work(), held.id)
    # then it is cancelled, the money is available again and nothing was posted
    assert result.transfer is not None
    assert result.transfer.status is TransferStatus.CANCELLED
    source = await account(runtime, pair.source.id)
    assert (source.balance, source.available_balance) == (1000, 1000)
    assert await entries_of(runtime, held.id) == []
    events = await runtime.database.reads.events(pair.source.id, pair.source.last_sequence, 99)
    assert [e.kind for e in events] == [EventKind.TRANSFER_HELD, EventKind.HOLD_RELEASED]
    # and it can no longer be settled
    late = await transfers.settle_held(runtime.unit_of_work(), held.id)
    assert late.outcome is HoldOutcome.NOT_PENDING


async def test_a_voided_hold_gives_a_connected_app_its_daily_room_back(
    runtime: Runtime, pair: Pair
) -> None:
    # given an app that Alice let pay 9.00 a day, whose transfer of 4.00 is held
    registration = ClientRegistration(
        "Budget Buddy", ["https://app.example.com/cb"], ["transfers:write"], None
    )
    client = new_client(registration, datetime.now(UTC))
    held = await hold(runtime, pair, 400)
    uow = runtime.unit_of_work()
    async with uow:
        await uow.oauth.add_client(client, None)
        scopes = frozenset({"transfers:write"})
        grant = await uow.oauth.add_grant(pair.alice.user.id, client.id, scopes, [], 9)
        await uow.oauth.record_transfer(held.id, grant.id, client.id, Money(400, "USD"))
        await uow.commit()
    async with uow:
        spent_while_held = await uow.oauth.spent_today(grant.id, "USD")
    # when the hold is voided (rejected, a failed step-up, expiry)
    await transfers.void_held(runtime.unit_of_work(), held.id)
    # then its amount no longer counts against the app's daily limit
    async with uow:
        spent_after = await uow.oauth.spent_today(grant.id, "USD")
    assert (spent_while_held, spent_after) == (400, 0)


async def test_concurrent_settle_and_void_resolve_exactly_once(
    runtime: Runtime, pair: Pair
) -> None:
    # given a held transfer
    held = await hold(runtime, pair, 400)
    # when it is settled and voided at once, several times over
    results = await asyncio.gather(
        *(
            (transfers.settle_held if index % 2 else transfers.void_held)(
                runtime.unit_of_work(), held.id
            )
            for index in range(6)
        )
    )
    # then exactly one resolution happened, and the balances agree with it
    winners = [result for result in results if result.outcome is HoldOutcome.RESOLVED]
    assert len(winners) == 1
    assert winners[0].transfer is not None
    source = await account(runtime, pair.source.id)
    expected = 600 if winners[0].transfer.status is TransferStatus.COMPLETED else 1000
    assert (source.balance, source.available_balance) == (expected, expected)


async def test_expired_holds_are_voided_by_the_job(runtime: Runtime, pair: Pair) -> None:
    # given a hold that has run out, and one that has not
    expired = await hold(runtime, pair, 300)
    current = await hold(runtime, pair, 200)
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE transfers SET hold_expires_at = now() - interval '1 second' WHERE id = :t"
            ),
            {"t": expired.id},
        )
    # when the server's expiry job runs
    runtime.holds.start()
    try:
        for _ in range(200):
            if (await account(runtime, pair.source.id)).available_balance == 800:
                break
            await asyncio.sleep(0.05)
    finally:
        await runtime.holds.stop()
    # then the expired hold is voided, the other still held
    statuses = await runtime.database.reads.transfers([expired.id, current.id])
    assert {t.id: t.status for t in statuses} == {
        expired.id: TransferStatus.CANCELLED,
        current.id: TransferStatus.PENDING,
    }
    assert (await account(runtime, pair.source.id)).available_balance == 800


async def test_a_cached_transfer_never_shows_a_stale_status(runtime: Runtime, pair: Pair) -> None:
    # given Alice has read her held transfer (now in the caches)
    held = await hold(runtime, pair, 400)
    query = "query ($id: ID!) { node(id: $id) { ... on Transfer { status } } }"
    variables = {"id": encode_id("Transfer", held.id)}
    async with asgi_client(runtime) as client:
        before = await graphql(client, query, variables, pair.alice)
        again = await graphql(client, query, variables, pair.alice)
        # when it is settled
        await transfers.settle_held(runtime.unit_of_work(), held.id)
        after = await graphql(client, query, variables, pair.alice)
    # then the next read shows it completed
    assert before["data"]["node"]["status"] == again["data"]["node"]["status"] == "PENDING"
    assert after["data"]["node"]["status"] == "COMPLETED"


# --- the tables' own rules -------------------------------------------------------------------


async def refused(runtime: Runtime, *statements: tuple[str, dict[str, object]]) -> str:
    """Run `statements` in one transaction, which must fail; the database's message."""

    async def run() -> None:
        async with runtime.database.engine.begin() as connection:
            for statement, params in statements:
                await connection.execute(text(statement), params)

    with pytest.raises(DBAPIError) as failure:
        await run()
    return str(failure.value.orig)


ENTRY = """
    INSERT INTO ledger_entries (id, transfer_id, account_id, sequence, amount, balance_after,
                                currency, description)
    VALUES (gen_random_uuid(), :t, :a, 1000 + :n, :amount, 0, 'USD', 'raw SQL')
"""


async def test_a_pending_transfer_can_have_no_entries(runtime: Runtime, pair: Pair) -> None:
    held = await hold(runtime, pair, 400)
    message = await refused(
        runtime,
        (ENTRY, {"t": held.id, "a": pair.source.id, "n": 1, "amount": -400}),
        (ENTRY, {"t": held.id, "a": pair.destination.id, "n": 1, "amount": 400}),
    )
    assert "it has no entries" in message


async def test_a_reservation_is_consumed_once(runtime: Runtime, pair: Pair) -> None:
    held = await hold(runtime, pair, 400)
    await transfers.void_held(runtime.unit_of_work(), held.id)
    message = await refused(
        runtime, ("UPDATE transfers SET status = 'pending' WHERE id = :t", {"t": held.id})
    )
    assert "a hold is settled or released once" in message


async def test_settling_without_entries_is_unbalanced(runtime: Runtime, pair: Pair) -> None:
    held = await hold(runtime, pair, 400)
    message = await refused(
        runtime, ("UPDATE transfers SET status = 'completed' WHERE id = :t", {"t": held.id})
    )
    assert "unbalanced" in message


async def test_available_balance_is_balance_less_reservations(runtime: Runtime, pair: Pair) -> None:
    # given 4.00 held: available 6.00 of 10.00
    await hold(runtime, pair, 400)
    # when the available balance is set back to the balance, as if nothing were held
    message = await refused(
        runtime,
        ("UPDATE accounts SET available_balance = balance WHERE id = :a", {"a": pair.source.id}),
    )
    assert "less 400 reserved" in message


async def test_a_transfer_cannot_start_cancelled(runtime: Runtime, pair: Pair) -> None:
    message = await refused(
        runtime,
        (
            """INSERT INTO transfers (id, kind, status, amount, currency, from_account_id,
                                      to_account_id, initiated_by)
               VALUES (gen_random_uuid(), 'transfer', 'cancelled', 1, 'USD', :s, :d, :by)""",
            {"s": pair.source.id, "d": pair.destination.id, "by": pair.alice.user.id},
        ),
    )
    assert "cannot start cancelled" in message
