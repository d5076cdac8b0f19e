"""The simulator's transfers, replayed end to end: for a simulated transfer, the customer, their
accounts, their past transfers, their sessions and devices, their failed logins and password
change, and the payee with its age and its other senders are made for real (through the domain
API, with the past moved back in time), then the transfer is sent through GraphQL to a server
that screens it. Each fraud pattern is stopped as the model decides on the simulated transfer,
normal customers pass at the false-positive rate of the model card, a held transfer's
reservation keeps the money from being spent twice, and a retry is never scored again."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bff.domain import accounts, sessions, transfers, users
from bff.domain.actor import Actor
from bff.domain.errors import DomainError
from bff.domain.fraud import Decision, Rules, decide
from bff.domain.fraud_signals import Signals, features
from bff.domain.models import Account
from bff.domain.rbac import Role
from bff.fraud import model, training
from bff.fraud.commands import THRESHOLDS
from bff.fraud.simulator import Pattern, Sample, simulate
from bff.runtime import Runtime
from tests.conftest import PASSWORD, Person, World
from tests.screened import UNTHROTTLED
from tests.test_fraud_screening import (  # noqa: F401 - fixtures: the screening server and its model
    client,
    model_file,
    screened,
    send,
)
from tests.test_second_factors import enrolled

# Normal transfers replayed; their false positives are compared with the model card's rate.
NORMAL_REPLAYS = 40
# The tolerance: a false-positive count that the card's rate gives with less than this chance.
FALSE_ALARM = 0.001
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True)
class Staged:
    customer: Person
    source: Account
    payee: Account
    # Another payee of the customer's, paid before (their shop).
    shop: Account
    amount: str


def held_out() -> list[Sample]:
    """The split the model card is measured on."""
    data = simulate(training.SAMPLES, training.SEED)
    return data[int(len(data) * (1 - training.HELD_OUT)) :]


def decimal(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def offline_decision(risk_model: model.RiskModel, signals: Signals) -> Decision:
    """What the model and the default rules decide on the simulated transfer itself."""
    risk, reasons = risk_model.explain(features(signals))
    customer = uuid.uuid4()
    decision, _ = decide(
        Rules(), risk, reasons, customer=customer, source=customer, destination=None, amount=0
    )
    return decision


async def stage(world: World, signals: Signals) -> Staged:
    """Make the customer, accounts, past and sessions that `signals` describe; the transfer
    itself is left to send."""
    runtime = world.runtime
    policy = runtime.settings.session_policy
    ttl = runtime.settings.idempotency_ttl_s
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    user = await users.provision_user(
        runtime.unit_of_work(),
        users.SignUp(email, PASSWORD, "Replayed customer"),
        frozenset({Role.CUSTOMER}),
    )
    actor = Actor(user.id, user.roles)
    source = await accounts.open_account(runtime.unit_of_work(), actor, "Everyday", "USD")
    other = await world.person()
    payee, shop = await world.account(other), await world.account(other)

    # The past transfers, newest first: those of the last hour, of the last day, then older
    # ones; each older one at its hour of day, shifted as the transfer's own hour is to now.
    history = list(zip(signals.history_amounts, signals.history_hours, strict=True))
    extra = max(0, signals.sent_24h - len(history))
    outgoing = [(signals.amount, signals.hour)] * extra + history
    ages = []
    for index, (_, hour) in enumerate(outgoing):
        shift = (signals.hour - hour) % 24
        if index < signals.sent_1h:
            ages.append((index + 1) * MINUTE)
        elif index < signals.sent_24h:
            ages.append((shift if 2 <= shift <= 23 else 12) * HOUR - MINUTE)
        else:
            ages.append((index + 2) * DAY + shift * HOUR)
    await world.deposit(source, decimal(max(signals.available_balance, signals.amount)))
    if outgoing:
        await world.deposit(source, decimal(sum(amount for amount, _ in outgoing)))
    paid: list[tuple[uuid.UUID, float]] = []
    for index, ((amount, _), age) in enumerate(zip(outgoing, ages, strict=True)):
        to_payee = signals.paid_payee_before and index == len(outgoing) - 1
        request = transfers.TransferRequest(
            str(uuid.uuid4()),
            source.id,
            decimal(amount),
            "USD",
            to_account_id=payee.id if to_payee else shop.id,
        )
        made = await transfers.create_transfer(runtime.unit_of_work(), actor, request, ttl)
        paid.append((made.id, age))

    # The payee's other senders today (a mule's fan-in), each from an account of its own.
    if signals.payee_senders_24h:
        sender = await world.person()
        for _ in range(signals.payee_senders_24h):
            account = await world.account(sender, funds="1.00")
            request = transfers.TransferRequest(
                str(uuid.uuid4()), account.id, "0.50", "USD", to_account_id=payee.id
            )
            await transfers.create_transfer(runtime.unit_of_work(), sender.actor, request, ttl)

    # Sessions: the one the transfer is sent through, the sign-ins of the last day, and, for a
    # new device, an older session from another one.
    current_age = signals.session_age_hours * HOUR
    device = "phone" if signals.device_seen_before else "new laptop"
    recent = max(0, signals.new_sessions_24h - (1 if current_age < DAY else 0))
    opened: list[tuple[str, float]] = []
    if not signals.device_seen_before:
        opened.append(("old phone", current_age + 30 * DAY))
    for index in range(recent):
        if current_age < DAY:
            age = current_age + (DAY - current_age) * (index + 1) / (recent + 1)
        else:
            age = DAY * (index + 1) / (recent + 1)
        opened.append((device if signals.device_seen_before else "old phone", age))
    opened.append((device, current_age))
    session_ages: list[tuple[uuid.UUID, float]] = []
    for name, age in opened:
        uow = runtime.unit_of_work()
        async with uow:
            session = (await sessions.open_session(uow, user, name, policy)).session
            await uow.commit()
        session_ages.append((session.id, age))
    current = session_ages[-1][0]

    async with runtime.database.engine.begin() as connection:
        # Moving the past back in time: the ledger's append-only guards would refuse it.
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        if paid:
            await connection.execute(
                text(
                    "UPDATE transfers SET created_at = now() - make_interval(secs => :age)"
                    " WHERE id = :id"
                ),
                [{"id": transfer, "age": age} for transfer, age in paid],
            )
        await connection.execute(
            text(
                "UPDATE sessions SET created_at = now() - make_interval(secs => :age)"
                " WHERE id = :id"
            ),
            [{"id": session, "age": age} for session, age in session_ages],
        )
        await connection.execute(
            text(
                "UPDATE accounts SET created_at = now() - make_interval(secs => :age)"
                " WHERE id = :id"
            ),
            [
                {"id": payee.id, "age": signals.payee_age_days * DAY},
                {"id": shop.id, "age": 1000 * DAY},
            ],
        )

    if signals.password_changed_24h:
        await users.change_password(
            runtime.unit_of_work(),
            Actor(user.id, user.roles, session_id=current),
            PASSWORD,
            PASSWORD + " again",
        )
    for attempt in range(signals.failed_logins):
        wrong = users.LogIn(email, "not the password", "unknown", f"198.51.100.{attempt + 1}")
        with pytest.raises(DomainError):
            await users.log_in(runtime.unit_of_work(), wrong, policy, UNTHROTTLED)
    customer = Person(user, runtime.tokens.issue(user.id, current))
    return Staged(customer, source, payee, shop, decimal(signals.amount))


async def decisions(runtime: Runtime, customer: Person) -> list[str]:
    """The decisions stored for the customer's screened requests."""
    async with runtime.database.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT screening ->> 'decision' FROM transfer_screenings"
                " WHERE actor_id = :actor ORDER BY created_at"
            ),
            {"actor": customer.user.id},
        )
        return [row[0] for row in rows]


def answer_of(decision: Decision) -> tuple[str | None, list[str]]:
    """What createTransfer answers for a decision: the transfer's status and the error codes."""
    return {
        Decision.ALLOW: ("COMPLETED", []),
        Decision.REVIEW: ("PENDING", []),
        Decision.STEP_UP: ("PENDING", ["STEP_UP_REQUIRED"]),
        Decision.BLOCK: (None, ["TRANSFER_BLOCKED"]),
    }[decision]


def answered(payload: dict[str, object]) -> tuple[str | None, list[str]]:
    transfer = payload["transfer"]
    errors = payload["userErrors"]
    assert isinstance(errors, list)
    status = transfer["status"] if isinstance(transfer, dict) else None
    return status, [error["code"] for error in errors]


@pytest.fixture(scope="module")
def risk_model(model_file: Path) -> model.RiskModel:  # noqa: F811 - the imported fixture
    return model.load(model_file)


def first_caught(
    samples: Sequence[Sample],
    risk_model: model.RiskModel,
    pattern: Pattern | None = None,
    decision: Decision | None = None,
) -> tuple[Sample, Decision]:
    """The first held-out fraud transfer (of `pattern`, when given) that the model stops (with
    `decision`, when given), and its decision."""
    for sample in samples:
        if sample.fraud and pattern in (None, sample.pattern):
            decided = offline_decision(risk_model, sample.signals)
            if decided is not Decision.ALLOW and decision in (None, decided):
                return sample, decided
    raise AssertionError(f"the model stops no {pattern or 'fraud'} transfer with {decision}")


async def replay_and_check(
    http: httpx.AsyncClient, runtime: Runtime, world: World, sample: Sample, expected: Decision
) -> None:
    # given a customer, their past and the payee as the simulator drew them
    staged = await stage(world, sample.signals)
    if expected is Decision.STEP_UP:
        # with an authenticator app to answer it (without one, a step-up is held for review)
        await enrolled(http, staged.customer)
    # when the suspicious transfer is sent, and retried with the same key
    key = str(uuid.uuid4())
    first = await send(http, staged.customer, staged.source, staged.payee, staged.amount, key)
    again = await send(http, staged.customer, staged.source, staged.payee, staged.amount, key)
    # then the server decides as the model does on the simulated transfer: held or refused
    assert answered(first) == answer_of(expected), sample
    # and the retry gets the same answer and the same transfer, without a second score
    assert again == first
    assert await decisions(runtime, staged.customer) == [expected.value]


@pytest.mark.parametrize(
    "pattern", [pattern for pattern in Pattern if pattern is not Pattern.NORMAL]
)
async def test_each_fraud_pattern_is_stopped_as_the_model_decides(
    pattern: Pattern,
    client: httpx.AsyncClient,  # noqa: F811 - the imported fixture
    screened: Runtime,  # noqa: F811 - the imported fixture
    world: World,
    risk_model: model.RiskModel,
) -> None:
    # given the first transfer of the pattern in the held-out split that the model stops
    sample, expected = first_caught(held_out(), risk_model, pattern=pattern)
    await replay_and_check(client, screened, world, sample, expected)


@pytest.mark.parametrize("decision", [Decision.STEP_UP, Decision.REVIEW, Decision.BLOCK])
async def test_each_decision_is_reached_end_to_end(
    decision: Decision,
    client: httpx.AsyncClient,  # noqa: F811 - the imported fixture
    screened: Runtime,  # noqa: F811 - the imported fixture
    world: World,
    risk_model: model.RiskModel,
) -> None:
    # given the first fraud transfer of the held-out split that the model answers so
    sample, expected = first_caught(held_out(), risk_model, decision=decision)
    await replay_and_check(client, screened, world, sample, expected)


async def test_normal_customers_pass_at_the_model_cards_false_positive_rate(
    client: httpx.AsyncClient,  # noqa: F811 - the imported fixture
    screened: Runtime,  # noqa: F811 - the imported fixture
    world: World,
    risk_model: model.RiskModel,
) -> None:
    # given the held-out split the model card measures, and its false-positive rate on normal
    # customers at the lowest threshold (anything but ALLOW is a false positive)
    split = held_out()
    card = training.measure(risk_model, split, THRESHOLDS, trained_on=0)
    rate = card.at_thresholds[min(THRESHOLDS)][2]
    normal = [sample for sample in split if sample.pattern is Pattern.NORMAL][:NORMAL_REPLAYS]
    # when its first normal customers are replayed and send their transfers
    stopped = []
    for sample in normal:
        staged = await stage(world, sample.signals)
        payload = await send(client, staged.customer, staged.source, staged.payee, staged.amount)
        if answered(payload) != answer_of(Decision.ALLOW):
            stopped.append((answered(payload), sample.signals))
    # then no more are stopped than the card's rate makes plausible (chance under FALSE_ALARM)
    assert len(stopped) <= tolerated(rate, len(normal)), stopped


def tolerated(rate: float, count: int) -> int:
    """The smallest number of false positives that `count` transfers exceed, at `rate`, with a
    chance below FALSE_ALARM (binomial)."""
    beyond = 1.0
    for allowed in range(count + 1):
        beyond -= math.comb(count, allowed) * rate**allowed * (1 - rate) ** (count - allowed)
        if beyond < FALSE_ALARM:
            return allowed
    return count


async def test_a_held_transfers_reservation_blocks_an_overdraft(
    client: httpx.AsyncClient,  # noqa: F811 - the imported fixture
    screened: Runtime,  # noqa: F811 - the imported fixture
    world: World,
    risk_model: model.RiskModel,
) -> None:
    # given a customer whose suspicious transfer (the model reviews it) is held
    sample = next(
        sample
        for sample in held_out()
        if offline_decision(risk_model, sample.signals) is Decision.REVIEW
    )
    staged = await stage(world, sample.signals)
    held = await send(client, staged.customer, staged.source, staged.payee, staged.amount)
    assert answered(held) == ("PENDING", [])
    before = await screened.database.reads.account(staged.source.id)
    assert before is not None
    reserved = sample.signals.amount
    assert before.available_balance == before.balance - reserved
    # when they send their shop one cent more than what the reservation leaves
    overdraft = await send(
        client,
        staged.customer,
        staged.source,
        staged.shop,
        decimal(before.available_balance + 1),
    )
    # then it is refused for want of funds and nothing moves
    assert answered(overdraft) == (None, ["INSUFFICIENT_FUNDS"])
    after = await screened.database.reads.account(staged.source.id)
    assert after == before
