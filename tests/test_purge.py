"""`bff purge` keeps what is still owed or in its window and deletes the rest."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from bff.db.maintenance import purge
from bff.domain import transfers
from bff.runtime import Runtime
from tests.conftest import World


async def test_purge_deletes_only_published_events_past_retention_and_expired_keys(
    runtime: Runtime, world: World
) -> None:
    # given an account with three events: an old published one, an old unpublished one, a new one
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="10.00")
    target = await world.account(bob, "USD")
    for _ in range(2):
        request = transfers.TransferRequest(
            str(uuid.uuid4()), source.id, "1.00", "USD", to_account_id=target.id
        )
        await transfers.create_transfer(
            runtime.unit_of_work(), alice.actor, request, runtime.settings.idempotency_ttl_s
        )
    async with runtime.database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE account_events SET created_at = now() - interval '40 days', "
                "published_at = CASE WHEN sequence = 1 THEN now() END "
                "WHERE account_id = :account AND sequence IN (1, 2)"
            ),
            {"account": source.id},
        )
        # and an idempotency key that expired
        await connection.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '3 days', "
                "expires_at = now() - interval '1 day' WHERE actor_id = :actor"
            ),
            {"actor": alice.user.id},
        )
    # when the housekeeping runs with a 30-day retention
    purged = await purge(runtime.database.engine, 30)
    # then only the old published event and the expired keys are gone
    async with runtime.database.engine.connect() as connection:
        kept = (
            (
                await connection.execute(
                    text(
                        "SELECT sequence FROM account_events WHERE account_id = :account "
                        "ORDER BY sequence"
                    ),
                    {"account": source.id},
                )
            )
            .scalars()
            .all()
        )
        keys_left = (
            await connection.execute(
                text("SELECT count(*) FROM idempotency_keys WHERE actor_id = :actor"),
                {"actor": alice.user.id},
            )
        ).scalar_one()
    assert kept == [2, 3]
    assert purged.account_events >= 1
    assert keys_left == 0
