"""Notifications and the activity feed, with workers reading customer events straight from
PostgreSQL (no broker): what is pushed, to whom, once; what the feed shows; who may see it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bff.config import Settings
from bff.domain.models import Account
from bff.domain.rbac import Role
from bff.notify.commands import dead_letters
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import Person, World, asgi_client, graphql, runtime_on
from tests.documents import (
    CREATE_TRANSFER,
    LOGOUT,
    REGISTER_PUSH_DEVICE,
    UPDATE_NOTIFICATION_PREFERENCES,
    USER_ACTIVITY,
    VIEWER_ACTIVITY,
    VIEWER_SPENDING,
)
from tests.fake_expo import FakeExpo
from tests.fake_fcm import FakeFcm
from tests.graphql_calls import account_id, transfer_input

WAIT_S = 20.0  # a bound on waiting, never a claim about speed


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


@dataclass
class Bank:
    runtime: Runtime
    client: httpx.AsyncClient
    world: World
    expo: FakeExpo

    async def call(
        self, person: Person | None, document: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await graphql(self.client, document, variables, person)

    async def register(self, person: Person) -> str:
        token = f"ExponentPushToken[{uuid.uuid4().hex}]"
        body = await self.call(
            person, REGISTER_PUSH_DEVICE, {"input": {"token": token, "platform": "EXPO"}}
        )
        assert body["data"]["registerPushDevice"]["userErrors"] == []
        return token

    async def payer_and_payee(self, funds: str) -> tuple[Person, Account, Person, Account, str]:
        """A sender with `funds` in an account, and a receiver with an account and a device."""
        sender = await self.world.person()
        source = await self.world.account(sender, funds=funds)
        receiver = await self.world.person()
        destination = await self.world.account(receiver)
        return sender, source, receiver, destination, await self.register(receiver)

    async def activity(self, person: Person) -> list[dict[str, Any]]:
        body = await self.call(person, VIEWER_ACTIVITY, {"first": 50})
        return [edge["node"] for edge in body["data"]["viewer"]["activity"]["edges"]]

    async def send(self, sender: Person, source: Any, destination: Any, amount: str) -> None:
        body = await self.call(
            sender,
            CREATE_TRANSFER,
            transfer_input(account_id(source), account_id(destination), amount),
        )
        assert body["data"]["createTransfer"]["userErrors"] == []


@pytest.fixture
async def bank(settings: Settings) -> AsyncIterator[Bank]:
    expo = FakeExpo()
    async with (
        expo.serving(),
        runtime_on(
            settings,
            None,
            push_expo_url=expo.send_url,
            push_expo_receipts_url=expo.receipts_url,
            worker_retry_delays_s="0.2",
            worker_max_attempts=3,
        ) as runtime,
        asgi_client(runtime) as client,
    ):
        worker = asyncio.create_task(runtime.notifications.worker())
        try:
            yield Bank(runtime, client, World(runtime), expo)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)


async def test_a_sign_in_is_pushed_to_the_customers_other_devices_never_to_its_own(
    bank: Bank,
) -> None:
    # Given a customer signed in on a phone and then on a tablet, each registered as soon as
    # it signed in (maybe before its own sign-in went out)
    customer = await bank.world.person()
    phone = await bank.register(customer)
    tablet = await bank.register(await bank.world.log_in(customer.user))

    # When they sign in once more, on a third device
    await bank.world.log_in(customer.user)

    # Then the phone is told of the tablet's sign-in and of the third, the tablet of the third
    # (and of the phone's, should that go out after the tablet registered): neither of its own
    phones, tablets, third = await _sign_ins(bank.runtime, customer.user.id)

    def told(token: str) -> set[str]:
        return {m["data"]["eventId"] for m in bank.expo.to(token, "New sign-in")}

    async def third_told() -> bool:
        return third in told(phone) and third in told(tablet)

    await eventually(third_told, "the third sign-in told to both devices")
    assert told(phone) == {tablets, third}
    assert told(tablet) - {phones} == {third}


async def _sign_ins(runtime: Runtime, user_id: uuid.UUID) -> list[str]:
    """The ids of the user's sign-in events, oldest first."""
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT event_id FROM customer_events WHERE user_id = :u AND kind = 'new_sign_in'"
                " ORDER BY occurred_at"
            ),
            {"u": user_id},
        )
    return [str(row.event_id) for row in rows]


async def test_money_received_is_pushed_once_to_each_device_of_the_receiver_and_fed_to_both(
    bank: Bank,
) -> None:
    # Given a sender with money and a receiver signed in on two devices, each registered
    sender = await bank.world.person()
    source = await bank.world.account(sender, funds="100.00")
    receiver = await bank.world.person()
    destination = await bank.world.account(receiver)
    phone = await bank.register(receiver)
    tablet = await bank.register(await bank.world.log_in(receiver.user))

    # When the sender sends 12.50
    await bank.send(sender, source, destination, "12.50")

    # Then each device of the receiver is told once, in words with the amount and no account number
    async def both_told() -> bool:
        return all(bank.expo.to(token, "Money received") for token in (phone, tablet))

    await eventually(both_told, "both devices told of the money")
    for token in (phone, tablet):
        (message,) = bank.expo.to(token, "Money received")
        assert "$12.50" in message["body"]
        assert destination.account_number not in message["body"]
        assert source.account_number not in message["body"]
        assert message["data"]["kind"] == "money_received"
    # ... and the activity feeds of both say what happened
    received = [e for e in await bank.activity(receiver) if e["kind"] == "MONEY_RECEIVED"]
    sent = [e for e in await bank.activity(sender) if e["kind"] == "MONEY_SENT"]
    assert [entry["amount"] for entry in received] == [{"amount": "12.50", "currency": "USD"}]
    assert [entry["amount"] for entry in sent] == [{"amount": "12.50", "currency": "USD"}]
    assert received[0]["accountId"] == account_id(destination)


async def test_a_customer_who_turned_money_alerts_off_still_hears_of_a_new_sign_in(
    bank: Bank,
) -> None:
    # Given a receiver who turned off money-received pushes and writes amounts the German way
    sender = await bank.world.person()
    source = await bank.world.account(sender, currency="USD", funds="5000.00")
    receiver = await bank.world.person()
    destination = await bank.world.account(receiver)
    token = await bank.register(receiver)
    body = await bank.call(
        receiver,
        UPDATE_NOTIFICATION_PREFERENCES,
        {"input": {"moneyReceived": False, "locale": "de_DE"}},
    )
    preferences = body["data"]["updateNotificationPreferences"]["preferences"]
    assert preferences == {
        "moneyReceived": False,
        "moneySent": True,
        "accountChanges": True,
        "locale": "de_DE",
    }

    # When money arrives
    await bank.send(sender, source, destination, "1234.50")

    # Then the feed has it, in the customer's locale; its pushes were decided in the same
    # transaction as the entry, and there are none
    async def in_feed() -> list[dict[str, Any]]:
        return [e for e in await bank.activity(receiver) if e["kind"] == "MONEY_RECEIVED"]

    await eventually(lambda: _has(in_feed), "the money in the feed")
    (entry,) = await in_feed()
    assert "1.234,50" in entry["summary"]
    assert await _deliveries(bank.runtime, receiver, "money_received") == 0
    assert bank.expo.to(token, "Money received") == []

    # When the receiver signs in on another device
    await bank.world.log_in(receiver.user)

    # Then that is pushed: security notifications cannot be turned off
    async def sign_in_pushed() -> bool:
        return await _deliveries(bank.runtime, receiver, "new_sign_in") >= 1

    await eventually(sign_in_pushed, "the sign-in pushed")


async def _has(entries: Callable[[], Awaitable[list[dict[str, Any]]]]) -> bool:
    return bool(await entries())


async def _deliveries(runtime: Runtime, person: Person, kind: str) -> int:
    """How many pushes of `person`'s events of `kind` were sent."""
    async with runtime.database.engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM push_deliveries d"
                        " JOIN customer_events e ON e.event_id = d.event_id"
                        " WHERE e.user_id = :u AND e.kind = :k AND d.status = 'sent'"
                    ),
                    {"u": person.user.id, "k": kind},
                )
            ).scalar_one()
        )


async def _async(value: bool) -> bool:
    return value


async def test_a_push_service_outage_delays_the_push_but_sends_it_once(bank: Bank) -> None:
    # Given a registered receiver, and a push service that fails its next two requests
    sender, source, receiver, destination, token = await bank.payer_and_payee("10.00")
    bank.expo.failures_to_come = 2

    # When money arrives
    await bank.send(sender, source, destination, "1.00")

    # Then the push goes out once the service recovers, exactly once
    await eventually(
        lambda: _async(bool(bank.expo.to(token, "Money received"))), "the push after recovery"
    )
    await bank.world.log_in(receiver.user)  # a later event: once it is pushed, the first is done
    await eventually(lambda: _async(bool(bank.expo.to(token, "New sign-in"))), "a later push")
    assert len(bank.expo.to(token, "Money received")) == 1
    assert bank.expo.failures_to_come == 0


async def test_a_token_the_service_calls_dead_is_forgotten(bank: Bank) -> None:
    # Given a registered receiver whose token the push service no longer knows
    sender, source, receiver, destination, token = await bank.payer_and_payee("10.00")
    bank.expo.dead_tokens.add(token)

    # When money arrives
    await bank.send(sender, source, destination, "1.00")

    # Then the device's registration is removed
    async def forgotten() -> bool:
        return await _devices(bank.runtime, receiver) == 0

    await eventually(forgotten, "the dead token forgotten")


async def test_ending_a_session_removes_its_push_registration(bank: Bank) -> None:
    # Given a customer registered for push on this session
    customer = await bank.world.person()
    await bank.register(customer)
    assert await _devices(bank.runtime, customer) == 1

    # When the session ends
    await bank.call(customer, LOGOUT)

    # Then its registration is gone with it
    assert await _devices(bank.runtime, customer) == 0


async def test_registering_again_replaces_the_sessions_token(bank: Bank) -> None:
    # Given a registered session
    customer = await bank.world.person()
    await bank.register(customer)

    # When the app registers a refreshed token
    await bank.register(customer)

    # Then the session still has one registration
    assert await _devices(bank.runtime, customer) == 1


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (
            REGISTER_PUSH_DEVICE,
            {"input": {"token": "ExponentPushToken[abcdefghijkl]", "platform": "EXPO"}},
        ),
        (UPDATE_NOTIFICATION_PREFERENCES, {"input": {"moneySent": False}}),
    ],
)
async def test_notification_mutations_need_a_signed_in_user(
    bank: Bank, document: str, variables: dict[str, Any]
) -> None:
    # When someone without a token calls the mutation
    body = await bank.call(None, document, variables)

    # Then it is refused as unauthenticated, and nothing is stored
    (payload,) = body["data"].values()
    assert [error["code"] for error in payload["userErrors"]] == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        (REGISTER_PUSH_DEVICE, {"input": {"token": "not-a-token", "platform": "EXPO"}}, "token"),
        (UPDATE_NOTIFICATION_PREFERENCES, {"input": {"locale": "xx_YY_ZZ"}}, "locale"),
    ],
)
async def test_malformed_notification_input_is_invalid_input(
    bank: Bank, document: str, variables: dict[str, Any], field: str
) -> None:
    # Given a signed-in customer
    customer = await bank.world.person()

    # When they send a malformed token or locale
    body = await bank.call(customer, document, variables)

    # Then it is INVALID_INPUT on that field, and nothing is stored
    (payload,) = body["data"].values()
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID_INPUT", field)]
    assert await _devices(bank.runtime, customer) == 0


async def test_staff_cannot_read_a_customers_activity_or_preferences(bank: Bank) -> None:
    # Given a customer with activity, and a support agent who may read any user
    customer = await bank.world.person()
    await bank.world.account(customer, funds="3.00")
    agent = await bank.world.person(Role.SUPPORT)

    # When the agent asks for the customer's activity and preferences
    body = await bank.call(agent, USER_ACTIVITY, {"id": encode_id("User", customer.user.id)})

    # Then both are null: the feed is the customer's own
    assert body["data"]["user"] == {"notificationPreferences": None, "activity": None}


async def test_spending_sums_a_months_transfers_by_counterparty(bank: Bank) -> None:
    # Given a customer who sent two transfers to one account and one to another this month
    sender = await bank.world.person()
    source = await bank.world.account(sender, funds="100.00")
    first = await bank.world.account(await bank.world.person())
    second = await bank.world.account(await bank.world.person())
    for destination, amount in ((first, "10.00"), (first, "5.50"), (second, "1.00")):
        await bank.send(sender, source, destination, amount)

    # When the activity has been recorded and the customer asks for this month's spending
    async def recorded() -> bool:
        sent = [e for e in await bank.activity(sender) if e["kind"] == "MONEY_SENT"]
        return len(sent) == 3

    await eventually(recorded, "three transfers in the feed")
    month = datetime.now(UTC).strftime("%Y-%m")
    body = await bank.call(sender, VIEWER_SPENDING, {"period": month})

    # Then it is two lines, largest first, each named by the account's last four digits
    assert body["data"]["viewer"]["spending"] == [
        {
            "month": month,
            "counterparty": f"••{first.account_number[-4:]}",
            "total": {"amount": "15.50", "currency": "USD"},
            "transfers": 2,
        },
        {
            "month": month,
            "counterparty": f"••{second.account_number[-4:]}",
            "total": {"amount": "1.00", "currency": "USD"},
            "transfers": 1,
        },
    ]


async def test_the_feed_pages_newest_first(bank: Bank) -> None:
    # Given a customer with three deposits in the feed
    customer = await bank.world.person()
    account = await bank.world.account(customer)
    for amount in ("1.00", "2.00", "3.00"):
        await bank.world.deposit(account, amount)

    async def recorded() -> bool:
        return len(await bank.activity(customer)) >= 4  # the sign-in and three deposits

    await eventually(recorded, "the deposits in the feed")

    # When the customer reads it two at a time
    first_page = await bank.call(customer, VIEWER_ACTIVITY, {"first": 2})
    page = first_page["data"]["viewer"]["activity"]
    second_page = await bank.call(
        customer, VIEWER_ACTIVITY, {"first": 2, "after": page["pageInfo"]["endCursor"]}
    )
    rest = second_page["data"]["viewer"]["activity"]

    # Then the newest come first, with no entry twice
    amounts = [edge["node"]["amount"] for edge in page["edges"] + rest["edges"]]
    assert [amount["amount"] for amount in amounts if amount] == ["3.00", "2.00", "1.00"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_the_database_keeps_one_registration_per_session_and_one_entry_per_event(
    runtime: Runtime, world: World
) -> None:
    # Given a registered session and an activity entry
    customer = await world.person()
    async with runtime.database.engine.begin() as connection:
        session_id = (
            await connection.execute(
                text("SELECT id FROM sessions WHERE user_id = :u"), {"u": customer.user.id}
            )
        ).scalar_one()
        row = {"u": customer.user.id, "s": session_id}
        await connection.execute(
            text(
                "INSERT INTO push_devices (user_id, session_id, platform, token)"
                " VALUES (:u, :s, 'expo', 'ExponentPushToken[a]')"
            ),
            row,
        )
    # When a second registration of the same session is written past the domain
    # Then the database refuses it
    with pytest.raises(IntegrityError, match="push_devices_one_per_session"):
        async with runtime.database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO push_devices (user_id, session_id, platform, token)"
                    " VALUES (:u, :s, 'fcm', 'another')"
                ),
                row,
            )
    # ... and likewise a second feed entry for one event
    event_id = uuid.uuid4()
    insert = text(
        "INSERT INTO activity_entries (user_id, event_id, kind, occurred_at, data)"
        " VALUES (:u, :e, 'money_sent', now(), '{}')"
    )
    async with runtime.database.engine.begin() as connection:
        await connection.execute(insert, {"u": customer.user.id, "e": event_id})
    with pytest.raises(IntegrityError, match="activity_entries_once"):
        async with runtime.database.engine.begin() as connection:
            await connection.execute(insert, {"u": customer.user.id, "e": event_id})


async def test_a_transfer_and_its_customer_events_commit_together(
    runtime: Runtime, world: World
) -> None:
    # Given two customers
    sender = await world.person()
    source = await world.account(sender, funds="9.00")
    receiver = await world.person()
    destination = await world.account(receiver)

    # When a transfer is posted
    async with asgi_client(runtime) as client:
        body = await graphql(
            client,
            CREATE_TRANSFER,
            transfer_input(account_id(source), account_id(destination), "2.00"),
            sender,
        )
    transfer_id = body["data"]["createTransfer"]["transfer"]["id"]
    assert transfer_id

    # Then the outbox holds one event for each side, written by the same transaction
    async with runtime.database.engine.connect() as connection:
        kinds = (
            await connection.execute(
                text(
                    "SELECT user_id, kind FROM customer_events WHERE kind LIKE 'money_%'"
                    " AND user_id IN (:s, :r) AND payload ->> 'amount' = '200'"
                ),
                {"s": sender.user.id, "r": receiver.user.id},
            )
        ).all()
    assert sorted((row.user_id, row.kind) for row in kinds) == sorted(
        [(sender.user.id, "money_sent"), (receiver.user.id, "money_received")]
    )


async def _devices(runtime: Runtime, person: Person) -> int:
    async with runtime.database.engine.connect() as connection:
        return int(
            (
                await connection.execute(
                    text("SELECT count(*) FROM push_devices WHERE user_id = :u"),
                    {"u": person.user.id},
                )
            ).scalar_one()
        )


async def test_an_android_device_is_pushed_through_fcm_with_a_service_account_token(
    settings: Settings, tmp_path: Path
) -> None:
    # Given FCM configured with a service account, and a receiver with an FCM token
    fcm = FakeFcm()
    expo = FakeExpo()
    async with (
        fcm.serving(),
        expo.serving(),
        runtime_on(
            settings,
            None,
            push_expo_url=expo.send_url,
            push_fcm_credentials_file=fcm.credentials(tmp_path),
            push_fcm_url=fcm.base_url,
        ) as runtime,
        asgi_client(runtime) as client,
    ):
        worker = asyncio.create_task(runtime.notifications.worker())
        try:
            bank = Bank(runtime, client, World(runtime), expo)
            sender = await bank.world.person()
            source = await bank.world.account(sender, funds="10.00")
            receiver = await bank.world.person()
            destination = await bank.world.account(receiver)
            token = f"fcm-{uuid.uuid4().hex}:{uuid.uuid4().hex}"
            dead = await bank.world.log_in(receiver.user)
            for person, device_token in ((receiver, token), (dead, f"{token}-gone")):
                body = await bank.call(
                    person,
                    REGISTER_PUSH_DEVICE,
                    {"input": {"token": device_token, "platform": "FCM"}},
                )
                assert body["data"]["registerPushDevice"]["userErrors"] == []
            fcm.dead_tokens.add(f"{token}-gone")

            # When money arrives
            await bank.send(sender, source, destination, "2.00")

            # Then FCM got it for the live token, and the token FCM calls unregistered is gone
            def money_pushes() -> list[dict[str, Any]]:
                return [
                    m
                    for m in fcm.accepted
                    if m["token"] == token and m["notification"]["title"] == "Money received"
                ]

            async def pushed() -> bool:
                return bool(money_pushes())

            await eventually(pushed, "the FCM push")

            async def forgotten() -> bool:
                return await _devices(runtime, receiver) == 1

            await eventually(forgotten, "the unregistered FCM token forgotten")
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    (message,) = money_pushes()
    assert message["data"]["kind"] == "money_received"
    assert "US$2.00" in message["notification"]["body"]


async def test_without_a_broker_a_poison_event_goes_dead_after_its_attempts_and_can_be_retried(
    bank: Bank, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a customer with a device, and an event for them that cannot be told (no amount)
    customer = await bank.world.person()
    await bank.register(customer)
    async with bank.runtime.database.engine.begin() as connection:
        event_id = (
            await connection.execute(
                text(
                    "INSERT INTO customer_events (user_id, kind, payload)"
                    " VALUES (:u, 'money_received', '{}') RETURNING event_id"
                ),
                {"u": customer.user.id},
            )
        ).scalar_one()

    # When the worker has tried it as often as allowed
    async def dead() -> bool:
        async with bank.runtime.database.engine.connect() as connection:
            row = (
                await connection.execute(
                    text("SELECT attempts, dead_at FROM customer_events WHERE event_id = :e"),
                    {"e": event_id},
                )
            ).one()
        return row.dead_at is not None

    await eventually(dead, "the poison event dead")

    # Then `bff worker dlq list` shows it with its attempts and error
    settings = bank.runtime.settings
    await asyncio.to_thread(dead_letters, settings, settings.database_url or "", retry=False)
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()[:-1]]
    (letter,) = [entry for entry in listed if entry["eventId"] == str(event_id)]
    assert letter["attempts"] == settings.worker_max_attempts
    assert "amount" in letter["error"]
    # ... and `bff worker dlq retry` puts it back, from where it dies again
    await asyncio.to_thread(dead_letters, settings, settings.database_url or "", retry=True)
    assert not await dead()
    await eventually(dead, "the retried poison event dead again")
