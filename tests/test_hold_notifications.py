"""What the sender of a held transfer is told, and the receiver once it posts, with workers on
PostgreSQL alone and through RabbitMQ: held for review, approved (the receiver's one
money_received, the sender's approval instead of a money_sent besides), rejected, voided by the
expiry job, and voided by a failed step-up; each pushed once to the device and in the feed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bff.config import Settings
from bff.domain.notification_models import CustomerEventKind, Preferences
from bff.domain.notification_texts import compose
from bff.domain.rbac import Role
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import Person, World, asgi_client, runtime_on
from tests.documents import APPROVE_TRANSFER, REJECT_TRANSFER, VIEWER_SPENDING
from tests.fake_expo import FakeExpo
from tests.screened import Held, held_transfer, model_file
from tests.test_notifications import Bank, eventually
from tests.test_notifications_rabbitmq import AMQP_URL, own_names
from tests.test_second_factors import code_at, enrolled, wrong
from tests.test_step_up import confirm, send, step_up_rules

__all__ = ["model_file", "step_up_rules"]  # the fixtures used here


@pytest.fixture(params=["postgresql", "rabbitmq"])
async def bank(
    request: pytest.FixtureRequest, settings: Settings, model_file: Path
) -> AsyncIterator[Bank]:
    """A screening server whose workers read customer events from PostgreSQL, or take them
    from RabbitMQ (the machine's broker, under names of the test's own)."""
    expo = FakeExpo()
    update: dict[str, object] = {
        "fraud_model_file": model_file,
        "fraud_screening": True,
        "push_expo_url": expo.send_url,
        "push_expo_receipts_url": expo.receipts_url,
        "worker_retry_delays_s": "0.2",
        "worker_max_attempts": 3,
    }
    async with AsyncExitStack() as stack:
        if request.param == "rabbitmq":
            names = await stack.enter_async_context(own_names())
            update |= {"amqp_url": AMQP_URL, "amqp_prefix": names.prefix, "inline_worker": True}
        await stack.enter_async_context(expo.serving())
        runtime = await stack.enter_async_context(runtime_on(settings, None, **update))
        client = await stack.enter_async_context(asgi_client(runtime))
        if request.param == "rabbitmq":
            runtime.notifications.start_for_server()
        else:
            worker = asyncio.create_task(runtime.notifications.worker())
            stack.push_async_callback(_stopped, worker)
        yield Bank(runtime, client, World(runtime), expo)


async def _stopped(worker: asyncio.Task[None]) -> None:
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)


@pytest.fixture
async def screened(bank: Bank) -> Runtime:
    """The bank's runtime, for the step-up rules."""
    return bank.runtime


async def held_with_devices(bank: Bank) -> tuple[Held, str, str]:
    """Alice's transfer of 30.00 to Bob, held for review; Alice's and Bob's push tokens."""
    alice = await bank.world.person()
    alice_token = await bank.register(alice)
    held = await held_transfer(bank.world, bank.runtime, bank.client, alice)
    return held, alice_token, await bank.register(held.bob)


async def pushed(bank: Bank, person: Person, token: str, title: str) -> dict[str, Any]:
    """The one push with `title` to the person's device `token`, once it came."""
    await eventually(lambda: _now(bool(bank.expo.to(token, title))), f"the {title!r} push")
    await settled(bank, person, token)
    (message,) = bank.expo.to(token, title)
    return message


async def settled(bank: Bank, person: Person, token: str) -> None:
    """Once a later event (a new sign-in) is pushed to the person's device `token` too: what
    was to be told before has been told by then."""
    before = len(bank.expo.to(token, "New sign-in"))
    await bank.world.log_in(person.user)
    await eventually(lambda: _now(len(bank.expo.to(token, "New sign-in")) > before), "a later push")


async def _now(value: bool) -> bool:
    await asyncio.sleep(0)
    return value


async def kinds_in_feed(bank: Bank, person: Person, transfer: str) -> list[str]:
    """The kinds of the person's feed entries, oldest first, that name the transfer's amount."""
    entries = await bank.activity(person)
    return [
        e["kind"]
        for e in reversed(entries)
        if e["amount"] == {"amount": transfer, "currency": "USD"}
    ]


async def decide(bank: Bank, document: str, held: Held, note: str) -> None:
    analyst = await bank.world.person(Role.FRAUD_ANALYST)
    body = await bank.call(
        analyst, document, {"input": {"transferId": held.transfer_id, "note": note}}
    )
    (payload,) = body["data"].values()
    assert payload["userErrors"] == [], body


async def test_a_held_transfer_is_told_once_to_the_sender_and_fed(bank: Bank) -> None:
    # Given Alice and Bob with registered devices
    # When Alice's transfer of 30.00 is held for review
    held, alice_token, bob_token = await held_with_devices(bank)

    # Then Alice's device is told once, with the amount and Bob's last four digits only
    message = await pushed(bank, held.alice, alice_token, "Transfer on hold")
    assert "$30.00" in message["body"]
    assert f"••{held.destination.account_number[-4:]}" in message["body"]
    for number in (held.source.account_number, held.destination.account_number):
        assert number not in message["body"]
    assert message["data"]["kind"] == "transfer_held"
    assert message["data"]["transferId"] == str(held.uuid)
    # ... her feed has it, on her account; Bob is told nothing yet
    entries = [e for e in await bank.activity(held.alice) if e["kind"] == "TRANSFER_HELD"]
    assert [(e["amount"]["amount"], e["summary"]) for e in entries] == [("30.00", message["body"])]
    assert entries[0]["accountId"] == encode_id("Account", held.source.id)
    await settled(bank, held.bob, bob_token)
    assert [m["title"] for m in bank.expo.to(bob_token)] == ["New sign-in"]


async def test_an_approved_transfer_is_told_once_to_each_side(bank: Bank) -> None:
    # Given a transfer held for review, both sides with a device
    held, alice_token, bob_token = await held_with_devices(bank)
    await pushed(bank, held.alice, alice_token, "Transfer on hold")

    # When an analyst approves it
    await decide(bank, APPROVE_TRANSFER, held, "known payee")

    # Then Alice is told it was approved and sent, once, and not again as money sent
    approved = await pushed(bank, held.alice, alice_token, "Transfer approved")
    assert "$30.00" in approved["body"]
    assert bank.expo.to(alice_token, "Money sent") == []
    # ... Bob is told of the money once
    received = await pushed(bank, held.bob, bob_token, "Money received")
    assert "$30.00" in received["body"]
    # ... each feed has the transfer once for each thing that happened to it
    assert await kinds_in_feed(bank, held.alice, "30.00") == ["TRANSFER_HELD", "TRANSFER_APPROVED"]
    assert await kinds_in_feed(bank, held.bob, "30.00") == ["MONEY_RECEIVED"]
    # ... and Alice's spending counts it as sent
    month = datetime.now(UTC).strftime("%Y-%m")
    body = await bank.call(held.alice, VIEWER_SPENDING, {"period": month})
    assert body["data"]["viewer"]["spending"] == [
        {
            "month": month,
            "counterparty": f"••{held.destination.account_number[-4:]}",
            "total": {"amount": "30.00", "currency": "USD"},
            "transfers": 1,
        }
    ]


async def test_a_rejected_transfer_is_told_to_the_sender_without_the_note(bank: Bank) -> None:
    # Given a transfer held for review, both sides with a device
    held, alice_token, bob_token = await held_with_devices(bank)

    # When an analyst rejects it with a note
    await decide(bank, REJECT_TRANSFER, held, "suspected scam")

    # Then Alice is told once that it was declined and her money is free again, never the note
    message = await pushed(bank, held.alice, alice_token, "Transfer declined")
    assert "$30.00" in message["body"]
    assert "available to you again" in message["body"]
    assert "scam" not in str(bank.expo.accepted)
    assert await kinds_in_feed(bank, held.alice, "30.00") == ["TRANSFER_HELD", "TRANSFER_REJECTED"]
    # ... and Bob hears of nothing
    await settled(bank, held.bob, bob_token)
    assert [m["title"] for m in bank.expo.to(bob_token)] == ["New sign-in"]


async def test_a_hold_the_expiry_job_voids_is_told_to_the_sender(bank: Bank) -> None:
    # Given a transfer held for review whose hold has run out
    held, alice_token, _ = await held_with_devices(bank)
    async with bank.runtime.database.engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE transfers SET hold_expires_at = now() - interval '1 second' WHERE id = :t"
            ),
            {"t": held.uuid},
        )

    # When the server's expiry job runs
    bank.runtime.holds.start()
    try:
        message = await pushed(bank, held.alice, alice_token, "Transfer cancelled")
    finally:
        await bank.runtime.holds.stop()

    # Then Alice was told once that nobody checked it in time
    assert "could not be checked in time" in message["body"]
    assert "$30.00" in message["body"]
    assert await kinds_in_feed(bank, held.alice, "30.00") == ["TRANSFER_HELD", "TRANSFER_EXPIRED"]


@pytest.mark.usefixtures("step_up_rules")
async def test_a_failed_step_up_is_told_as_a_cancelled_transfer(bank: Bank) -> None:
    # Given Alice with an authenticator app and a device, whose transfer waits for her code
    alice = await bank.world.person()
    token = await bank.register(alice)
    secret = await enrolled(bank.client, alice)
    source = await bank.world.account(alice, "USD", funds="100.00")
    destination = await bank.world.account(await bank.world.person(), "USD")
    payload = await send(bank.client, alice, source, destination)
    [error] = payload["userErrors"]
    assert error["code"] == "STEP_UP_REQUIRED"

    # When she answers wrong as often as allowed
    for _ in range(bank.runtime.settings.step_up_max_failures):
        await confirm(bank.client, alice, error["challengeId"], wrong(code_at(secret)))

    # Then she was asked to confirm it, and told once it was cancelled; never that it was held
    message = await pushed(bank, alice, token, "Transfer cancelled")
    assert "too many wrong codes" in message["body"]
    assert len(bank.expo.to(token, "Confirm your transfer")) == 1
    assert bank.expo.to(token, "Transfer on hold") == []
    assert await kinds_in_feed(bank, alice, "40.00") == ["STEP_UP_REQUESTED", "TRANSFER_EXPIRED"]


def test_the_texts_follow_the_locale_and_only_an_approval_can_be_muted() -> None:
    # Given a held transfer's payload, in euros, and a customer who writes amounts the German way
    payload = {
        "account_id": str(uuid.uuid4()),
        "account_name": "Haushalt",
        "transfer_id": str(uuid.uuid4()),
        "amount": 123_450,
        "currency": "EUR",
        "counterparty_account_id": str(uuid.uuid4()),
        "counterparty_last_four": "4321",
        "counterparty_is_bank": False,
    }
    kinds = {
        CustomerEventKind.TRANSFER_HELD: ("Transfer on hold", payload),
        CustomerEventKind.TRANSFER_APPROVED: ("Transfer approved", payload),
        CustomerEventKind.TRANSFER_REJECTED: ("Transfer declined", payload),
        CustomerEventKind.TRANSFER_EXPIRED: (
            "Transfer cancelled",
            {**payload, "reason": "not_confirmed"},
        ),
    }
    # When each is composed for her
    for kind, (title, data) in kinds.items():
        push = compose(kind, data, "de_DE")
        # Then it has the amount as she writes it and the payee's last four digits
        assert push.title == title
        assert "1.234,50\xa0€" in push.body
        assert "Haushalt" in push.body
        assert "••4321" in push.body
        assert push.data == {
            "kind": kind.value,
            "accountId": payload["account_id"],
            "transferId": payload["transfer_id"],
        }
    # ... and with every optional notification off, only the approval (money sent) is muted
    muted = Preferences(money_received=False, money_sent=False, account_changes=False)
    assert {kind for kind in kinds if not muted.wants(kind)} == {
        CustomerEventKind.TRANSFER_APPROVED
    }


async def test_the_database_accepts_the_kinds_of_held_transfers_and_no_other(
    runtime: Runtime, world: World
) -> None:
    # Given a customer
    customer = await world.person()
    insert = text("INSERT INTO customer_events (user_id, kind, payload) VALUES (:u, :k, '{}')")
    # When events of each kind of a held transfer are written past the domain, they are kept
    # (and rolled back: no worker is to find them)
    async with runtime.database.engine.connect() as connection:
        for kind in ("transfer_held", "transfer_approved", "transfer_rejected", "transfer_expired"):
            await connection.execute(insert, {"u": customer.user.id, "k": kind})
        await connection.rollback()
    # ... and a kind the domain does not know is refused
    with pytest.raises(IntegrityError, match="customer_events_kind_check"):
        async with runtime.database.engine.begin() as connection:
            await connection.execute(insert, {"u": customer.user.id, "k": "transfer_frozen"})
