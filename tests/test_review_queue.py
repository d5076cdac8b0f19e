"""The review queue through GraphQL: transfers screening held for review wait there with their
explanation (score, model, rules, reasons, masked numbers, age) for fraud analysts only; an
analyst approves one (it posts for exactly the reserved amount) or rejects it (voided), once,
with a note that is audited, labels the screening and never reaches the customer; nobody
decides a transfer of their own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bff.domain.policies import MASK
from bff.domain.rbac import Role
from bff.fraud import training
from bff.fraud.commands import train_model
from bff.runtime import Runtime
from schema.ids import decode_id
from tests.conftest import Person, World, graphql
from tests.documents import APPROVE_TRANSFER, REJECT_TRANSFER, REVIEW_QUEUE, TRANSFER
from tests.screened import Held, held_transfer, model_file, screened, screened_client, send

__all__ = ["model_file", "screened", "screened_client"]  # the fixtures used here


async def queue(client: httpx.AsyncClient, person: Person) -> list[dict[str, Any]]:
    """Every held transfer the person's queue shows, page by page (two per page)."""
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        body = await graphql(client, REVIEW_QUEUE, {"first": 2, "after": after}, person)
        page = body["data"]["reviewQueue"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def decide(
    client: httpx.AsyncClient, document: str, person: Person, transfer_id: str, note: str
) -> dict[str, Any]:
    body = await graphql(
        client, document, {"input": {"transferId": transfer_id, "note": note}}, person
    )
    payload = next(iter(body["data"].values()))
    assert isinstance(payload, dict), body
    return payload


async def balances(runtime: Runtime, held: Held) -> tuple[int, int, int]:
    """Alice's balance and available balance, and Bob's balance, in cents."""
    source = await runtime.database.reads.account(held.source.id)
    destination = await runtime.database.reads.account(held.destination.id)
    assert source is not None
    assert destination is not None
    return source.balance, source.available_balance, destination.balance


async def label_of(runtime: Runtime, held: Held) -> tuple[str | None, str | None]:
    async with runtime.database.engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT review, note FROM transfer_screenings WHERE transfer_id = :id"),
                {"id": held.uuid},
            )
        ).one()
    return row.review, row.note


async def audited(runtime: Runtime, held: Held) -> list[tuple[str, Any]]:
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT operation, actor_id, detail FROM audit_log WHERE object_id = :id"
                " AND operation IN ('transfer.approve', 'transfer.reject') ORDER BY id"
            ),
            {"id": str(held.uuid)},
        )
        return [(row.operation, (row.actor_id, row.detail)) for row in rows]


@pytest.fixture
async def held(world: World, screened: Runtime, screened_client: httpx.AsyncClient) -> Held:
    return await held_transfer(world, screened, screened_client)


# --- the queue ------------------------------------------------------------------------------


async def test_an_analyst_sees_a_held_transfer_with_its_explanation(
    screened_client: httpx.AsyncClient, world: World, held: Held
) -> None:
    # given a transfer held for review, and an analyst
    analyst = await world.person(Role.FRAUD_ANALYST)
    # when the analyst reads the queue
    [item] = [
        node
        for node in await queue(screened_client, analyst)
        if node["transferId"] == held.transfer_id
    ]
    # then it is there, with its amount, the sides' masked numbers, its age and its screening
    assert item["status"] == "PENDING"
    assert item["amount"] == {"amount": "30.00", "currency": "USD"}
    assert item["fromAccountNumber"] == MASK + held.source.account_number[-4:]
    assert item["toAccountNumber"] == MASK + held.destination.account_number[-4:]
    assert item["ageSeconds"] >= 0
    assert item["holdExpiresAt"] > item["heldAt"]
    screening = item["screening"]
    assert 0 <= screening["score"] <= 1
    assert screening["modelVersion"]
    assert screening["rulesVersion"] >= 1
    assert screening["reasons"][0] == "above the customer's limit per transfer"
    assert len(screening["reasons"]) > 1  # the model's own reasons follow


async def test_the_queue_pages_oldest_first_without_the_analysts_own(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given three held transfers, the last one sent by a customer who is also an analyst
    first = await held_transfer(world, screened, screened_client)
    second = await held_transfer(world, screened, screened_client)
    insider = await world.person(Role.CUSTOMER, Role.FRAUD_ANALYST)
    own = await held_transfer(world, screened, screened_client, insider)
    # when the insider and another analyst page through the queue, two at a time
    theirs = [node["transferId"] for node in await queue(screened_client, insider)]
    analyst = await world.person(Role.FRAUD_ANALYST)
    everyone = [node["transferId"] for node in await queue(screened_client, analyst)]
    # then the pages hold each transfer once, oldest first, and nobody sees their own
    assert len(everyone) == len(set(everyone))
    mine = [everyone.index(t.transfer_id) for t in (first, second, own)]
    assert mine == sorted(mine)
    assert first.transfer_id in theirs
    assert own.transfer_id not in theirs


async def test_customers_and_other_staff_cannot_read_the_queue(
    screened_client: httpx.AsyncClient, world: World, held: Held
) -> None:
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.AUDITOR):
        # given someone who is no fraud analyst (the held transfer's sender among them)
        person = held.alice if role is Role.CUSTOMER else await world.person(role)
        # when they ask for the queue
        body = await graphql(screened_client, REVIEW_QUEUE, {"first": 5}, person)
        # then they are refused
        assert body["data"] is None, body
        assert body["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
    anonymous = await graphql(screened_client, REVIEW_QUEUE, {"first": 5})
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- approving and rejecting ----------------------------------------------------------------


async def test_approving_posts_exactly_the_reserved_amount_audited_and_labelled(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World, held: Held
) -> None:
    # given a held transfer: 30.00 of Alice's 100.00 reserved, nothing posted
    assert await balances(screened, held) == (10_000, 7_000, 0)
    analyst = await world.person(Role.FRAUD_ANALYST)
    # when an analyst approves it with a note
    payload = await decide(
        screened_client, APPROVE_TRANSFER, analyst, held.transfer_id, "called the customer"
    )
    # then it is posted for exactly the reserved amount
    assert payload["userErrors"] == []
    assert payload["transfer"] == {
        "id": held.transfer_id,
        "status": "COMPLETED",
        "amount": {"amount": "30.00"},
    }
    assert await balances(screened, held) == (7_000, 7_000, 3_000)
    # and the decision is audited with the note, labelled for training, and out of the queue
    [(operation, (actor, detail))] = await audited(screened, held)
    assert (operation, actor) == ("transfer.approve", analyst.user.id)
    assert detail["note"] == "called the customer"
    assert await label_of(screened, held) == ("approved", "called the customer")
    assert held.transfer_id not in [n["transferId"] for n in await queue(screened_client, analyst)]


async def test_rejecting_voids_the_transfer_and_releases_the_reservation(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World, held: Held
) -> None:
    analyst = await world.person(Role.FRAUD_ANALYST)
    # when an analyst rejects the held transfer
    payload = await decide(
        screened_client, REJECT_TRANSFER, analyst, held.transfer_id, "mule account"
    )
    # then it is cancelled, Alice's money all available again, nothing reached Bob
    assert payload["userErrors"] == []
    assert payload["transfer"]["status"] == "CANCELLED"
    assert await balances(screened, held) == (10_000, 10_000, 0)
    [(operation, _)] = await audited(screened, held)
    assert operation == "transfer.reject"
    assert await label_of(screened, held) == ("rejected", "mule account")


@pytest.mark.parametrize("second", [APPROVE_TRANSFER, REJECT_TRANSFER], ids=["both", "crossed"])
async def test_two_analysts_at_once_resolve_it_exactly_once(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World, held: Held, second: str
) -> None:
    # given two analysts looking at the same held transfer
    one, other = await world.person(Role.FRAUD_ANALYST), await world.person(Role.FRAUD_ANALYST)
    # when both decide it at the same moment
    payloads = await asyncio.gather(
        decide(screened_client, APPROVE_TRANSFER, one, held.transfer_id, "looks fine"),
        decide(screened_client, second, other, held.transfer_id, "also looked"),
    )
    # then exactly one decision wins; the other is told the transfer is not held any more
    errors = sorted(str([e["code"] for e in p["userErrors"]]) for p in payloads)
    assert errors == ["['TRANSFER_NOT_HELD']", "[]"]
    [winner] = [p for p in payloads if not p["userErrors"]]
    # and the ledger, the audit log and the label all say the winner's decision, once
    posted = winner["transfer"]["status"] == "COMPLETED"
    expected = (7_000, 7_000, 3_000) if posted else (10_000, 10_000, 0)
    assert await balances(screened, held) == expected
    assert len(await audited(screened, held)) == 1
    assert (await label_of(screened, held))[0] == ("approved" if posted else "rejected")


async def test_customers_and_other_staff_cannot_decide_a_held_transfer(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World, held: Held
) -> None:
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.OPERATOR, Role.AUDITOR):
        person = held.bob if role is Role.CUSTOMER else await world.person(role)
        for document in (APPROVE_TRANSFER, REJECT_TRANSFER):
            # when someone who is no analyst approves or rejects it
            payload = await decide(screened_client, document, person, held.transfer_id, "ok")
            # then they are refused, and nothing changed
            assert [e["code"] for e in payload["userErrors"]] == ["PERMISSION_DENIED"]
            assert payload["transfer"] is None
    assert await balances(screened, held) == (10_000, 7_000, 0)
    assert await label_of(screened, held) == (None, None)


async def test_nobody_decides_their_own_transfer_even_as_an_analyst(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a customer who is also an analyst, whose own transfer was held
    insider = await world.person(Role.CUSTOMER, Role.FRAUD_ANALYST)
    held = await held_transfer(world, screened, screened_client, insider)
    # and an analyst who is its payee
    payee = await world.person(Role.CUSTOMER, Role.FRAUD_ANALYST)
    receiving = await world.account(payee, "USD")
    paid = await send(screened_client, insider, held.source, receiving, "20.00")
    for person, transfer_id in ((insider, held.transfer_id), (payee, paid["transfer"]["id"])):
        for document in (APPROVE_TRANSFER, REJECT_TRANSFER):
            # when they try to approve or reject it
            payload = await decide(screened_client, document, person, transfer_id, "mine")
            # then it is refused
            assert [e["code"] for e in payload["userErrors"]] == ["PERMISSION_DENIED"]
    assert await label_of(screened, held) == (None, None)


async def test_a_decided_or_unknown_transfer_is_not_held(
    screened_client: httpx.AsyncClient, world: World, held: Held
) -> None:
    analyst = await world.person(Role.FRAUD_ANALYST)
    await decide(screened_client, REJECT_TRANSFER, analyst, held.transfer_id, "no")
    # when it is decided again, or a transfer that was never held is named
    again = await decide(screened_client, APPROVE_TRANSFER, analyst, held.transfer_id, "yes")
    posted = await held_transfer_posted(world, screened_client)
    unknown = await decide(screened_client, APPROVE_TRANSFER, analyst, posted, "yes")
    # then both are told it is not held; an empty note is refused before anything
    for payload in (again, unknown):
        assert payload["userErrors"][0]["code"] == "TRANSFER_NOT_HELD"
    empty = await decide(screened_client, APPROVE_TRANSFER, analyst, held.transfer_id, " ")
    assert empty["userErrors"][0]["field"] == "note"


async def held_transfer_posted(world: World, client: httpx.AsyncClient) -> str:
    """A transfer screening let through (its id)."""
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="500.00")
    payload = await send(client, alice, source, await world.account(bob, "USD"), "1.00")
    assert payload["transfer"]["status"] == "COMPLETED", payload
    return str(payload["transfer"]["id"])


async def test_the_customer_never_sees_the_analysts_note(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World, held: Held
) -> None:
    # given an analyst rejected Alice's held transfer with a note
    analyst = await world.person(Role.FRAUD_ANALYST)
    note = "suspected scam: payee reported by another bank"
    await decide(screened_client, REJECT_TRANSFER, analyst, held.transfer_id, note)
    # when Alice reads the transfer, and everything the bank tells her about it
    body = await graphql(screened_client, TRANSFER, {"id": held.transfer_id}, held.alice)
    async with screened.database.engine.connect() as connection:
        told = await connection.execute(
            text("SELECT payload::text FROM customer_events WHERE user_id = :u"),
            {"u": held.alice.user.id},
        )
        events = [row[0] for row in told]
    # then she sees it cancelled, and the note nowhere
    assert body["data"]["transfer"]["status"] == "CANCELLED"
    assert "scam" not in str(body)
    assert not any("scam" in event for event in events)


async def test_the_database_keeps_a_decision_final_and_only_for_held_transfers(
    screened_client: httpx.AsyncClient, screened: Runtime, world: World, held: Held
) -> None:
    analyst = await world.person(Role.FRAUD_ANALYST)
    await decide(screened_client, APPROVE_TRANSFER, analyst, held.transfer_id, "fine")
    posted = decode_id(await held_transfer_posted(world, screened_client), "Transfer", "id")
    statements = [
        # a decision changed afterwards
        (
            "UPDATE transfer_screenings SET review = 'rejected' WHERE transfer_id = :id",
            held.uuid,
        ),
        # a label on a transfer screening let through
        (
            "UPDATE transfer_screenings SET review = 'approved', reviewed_by = actor_id,"
            " reviewed_at = now() WHERE transfer_id = :id",
            posted,
        ),
    ]
    for statement, transfer_id in statements:
        with pytest.raises(DBAPIError) as refused:
            async with screened.database.engine.begin() as connection:
                await connection.execute(text(statement), {"id": transfer_id})
        assert "append-only" in str(refused.value) or "review_of_held" in str(refused.value)


async def test_decisions_are_the_labels_of_the_next_training(
    screened_client: httpx.AsyncClient,
    screened: Runtime,
    world: World,
    held: Held,
    tmp_path: Path,
) -> None:
    # given an analyst's decision on a held transfer
    analyst = await world.person(Role.FRAUD_ANALYST)
    await decide(screened_client, REJECT_TRANSFER, analyst, held.transfer_id, "fraud")
    async with screened.database.engine.connect() as connection:
        labels = (
            await connection.execute(
                text("SELECT count(*) FROM transfer_screenings WHERE review IS NOT NULL")
            )
        ).scalar_one()
    # when `bff fraud train` runs
    settings = screened.settings.model_copy(update={"fraud_model_file": tmp_path / "m.skops"})
    card = await asyncio.to_thread(train_model, settings, settings.database_url or "")
    # then every decided screening joined the simulator's training split
    assert labels >= 1
    assert card.trained_on == int(training.SAMPLES * (1 - training.HELD_OUT)) + labels
    assert (tmp_path / "m.skops").exists()
