"""Races on real PostgreSQL: many concurrent transfers keep the ledger exact."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from uuid import UUID

from sqlalchemy import text

from bff.domain import transfers
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import Account, Transfer
from bff.runtime import Runtime
from tests.conftest import Person, World

ACCOUNTS = 10
TRANSFERS = 200
OPENING = 10_000  # 100.00 USD in each account


async def send(
    runtime: Runtime, owner: Person, source: Account, destination: Account, minor: int
) -> Transfer:
    whole, cents = divmod(minor, 100)
    request = transfers.TransferRequest(
        idempotency_key=str(uuid.uuid4()),
        from_account_id=source.id,
        amount=f"{whole}.{cents:02d}",
        currency=source.currency,
        to_account_id=destination.id,
    )
    return await transfers.create_transfer(
        runtime.unit_of_work(), owner.actor, request, runtime.settings.idempotency_ttl_s
    )


async def test_hot_account_race_keeps_the_ledger_exact(runtime: Runtime, world: World) -> None:
    # given ten funded USD accounts, one of them hot, each owned by its own customer
    people = [await world.person() for _ in range(ACCOUNTS)]
    accounts = [await world.account(person, "USD", funds="100.00") for person in people]
    owner_of = {account.id: person for account, person in zip(accounts, people, strict=True)}
    hot, others = accounts[0], accounts[1:]
    # and 200 transfers, half of them touching the hot account, in random directions and sizes
    rng = random.Random(20261128)
    plan: list[tuple[Account, Account, int]] = []
    for _ in range(TRANSFERS):
        if rng.random() < 0.5:
            other = rng.choice(others)
            source, destination = (hot, other) if rng.random() < 0.5 else (other, hot)
        else:
            source, destination = rng.sample(others, 2)
        plan.append((source, destination, rng.randint(1, 6_000)))

    # when they all run at once
    outcomes = await asyncio.gather(
        *(send(runtime, owner_of[s.id], s, d, minor) for s, d, minor in plan),
        return_exceptions=True,
    )

    # then each transfer either posted or failed for lack of funds, and nothing else
    posted = [outcome for outcome in outcomes if isinstance(outcome, Transfer)]
    for outcome in outcomes:
        if not isinstance(outcome, Transfer):
            assert isinstance(outcome, DomainError), repr(outcome)
            assert outcome.code is ErrorCode.INSUFFICIENT_FUNDS, outcome.to_dict()
    assert posted
    ids = [account.id for account in accounts]
    async with runtime.database.engine.connect() as connection:
        balances = {
            row.id: row
            for row in await connection.execute(
                text(
                    "SELECT id, balance, available_balance, last_sequence"
                    " FROM accounts WHERE id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        }
        entries = (
            await connection.execute(
                text(
                    "SELECT transfer_id, account_id, sequence, amount, balance_after"
                    " FROM ledger_entries WHERE account_id = ANY(:ids)"
                    " ORDER BY account_id, sequence"
                ),
                {"ids": ids},
            )
        ).all()
        events = (
            await connection.execute(
                text(
                    "SELECT account_id, sequence, kind FROM account_events"
                    " WHERE account_id = ANY(:ids)"
                ),
                {"ids": ids},
            )
        ).all()
        legs = (
            await connection.execute(
                text(
                    "SELECT t.id, t.amount, count(e.id) AS legs, sum(e.amount) AS total"
                    " FROM transfers t JOIN ledger_entries e ON e.transfer_id = t.id"
                    " WHERE t.kind = 'transfer' AND t.from_account_id = ANY(:ids)"
                    " GROUP BY t.id, t.amount"
                ),
                {"ids": ids},
            )
        ).all()

    # and the total is conserved, with no negative balance
    assert sum(row.balance for row in balances.values()) == ACCOUNTS * OPENING
    assert all(row.balance >= 0 and row.available_balance >= 0 for row in balances.values())
    # and each balance is the sum of its entries, each entry's balance_after the running sum
    entries_of: dict[UUID, list[int]] = defaultdict(list)
    for entry in entries:
        running = sum(entries_of[entry.account_id]) + entry.amount
        assert entry.balance_after == running, entry
        entries_of[entry.account_id].append(entry.amount)
    for account_id, row in balances.items():
        assert row.balance == sum(entries_of[account_id]), account_id
        assert row.available_balance == row.balance
    # and per account, the sequences of entries and status events are exactly 1..last_sequence
    sequences: dict[UUID, list[int]] = defaultdict(list)
    for entry in entries:
        sequences[entry.account_id].append(entry.sequence)
    status_events: dict[UUID, int] = defaultdict(int)
    event_sequences: dict[UUID, list[int]] = defaultdict(list)
    for event in events:
        event_sequences[event.account_id].append(event.sequence)
        if event.kind == "status_changed":
            status_events[event.account_id] += 1
            sequences[event.account_id].append(event.sequence)
    for account_id, row in balances.items():
        expected = list(range(1, row.last_sequence + 1))
        assert row.last_sequence == len(entries_of[account_id]) + status_events[account_id]
        assert sorted(sequences[account_id]) == expected, account_id
        assert sorted(event_sequences[account_id]) == expected, account_id
    # and every posted transfer has two legs summing to zero, one per successful call
    assert {leg.id for leg in legs} == {transfer.id for transfer in posted}
    assert all(leg.legs == 2 and leg.total == 0 for leg in legs)
    # and every account saw its deposit plus each transfer it took part in
    touched: defaultdict[UUID, int] = defaultdict(int)
    for transfer in posted:
        touched[transfer.from_account_id] += 1
        touched[transfer.to_account_id] += 1
    for account_id in ids:
        assert len(entries_of[account_id]) == 1 + touched[account_id]


async def test_draining_race_never_overdraws(runtime: Runtime, world: World) -> None:
    # given an account holding exactly 10.00
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    destination = await world.account(bob, "USD")
    # when 30 transfers of 1.00 race to drain it
    outcomes = await asyncio.gather(
        *(send(runtime, alice, source, destination, 100) for _ in range(30)),
        return_exceptions=True,
    )
    # then exactly ten succeed, the rest are refused for lack of funds, and it ends at zero
    posted = [outcome for outcome in outcomes if isinstance(outcome, Transfer)]
    refused = [outcome for outcome in outcomes if not isinstance(outcome, Transfer)]
    assert len(posted) == 10
    for outcome in refused:
        assert isinstance(outcome, DomainError), repr(outcome)
        assert outcome.code is ErrorCode.INSUFFICIENT_FUNDS
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, balance FROM accounts WHERE id = ANY(:ids)"),
            {"ids": [source.id, destination.id]},
        )
        balances = {row.id: row.balance for row in rows}
    assert balances == {source.id: 0, destination.id: 1000}
