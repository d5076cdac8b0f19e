"""A seeded simulator of transfers: normal customers and the fraud patterns screening must catch.

Normal customers each have a habit (a typical amount, a spread, a time of day, a pace) and send
from their own devices to payees they mostly know. The fraud patterns:

- account takeover: a fresh session on a new device, often after failed logins or a password
  change, draining much of the balance to a new payee;
- scam (authorised push payment): the customer's own session, but a large first transfer, far
  above habit, to a recently opened account;
- mule fan-in: an ordinary-looking amount to a young account that many others paid today;
- card-testing-like burst: many small transfers within the hour to new payees.

Each draw is the `Signals` the ledger would report at that moment, so the features come from
the same code at training and at screening time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from enum import StrEnum

from bff.domain.fraud_signals import HISTORY, Signals


class Pattern(StrEnum):
    NORMAL = "normal"
    ACCOUNT_TAKEOVER = "account_takeover"
    SCAM = "scam"
    MULE_FAN_IN = "mule_fan_in"
    CARD_TESTING = "card_testing"


# Of every 1000 simulated transfers, how many follow each fraud pattern.
FRAUD_PER_MILLE = {
    Pattern.ACCOUNT_TAKEOVER: 15,
    Pattern.SCAM: 15,
    Pattern.MULE_FAN_IN: 15,
    Pattern.CARD_TESTING: 15,
}


@dataclass(frozen=True, slots=True)
class Sample:
    signals: Signals
    pattern: Pattern

    @property
    def fraud(self) -> bool:
        return self.pattern is not Pattern.NORMAL


@dataclass(frozen=True, slots=True)
class Habit:
    """A normal customer's way of sending money."""

    typical: float  # minor units
    spread: float  # of the log amount
    hour: int
    per_day: float
    balance: int


def simulate(count: int, seed: int) -> list[Sample]:
    """`count` transfers, reproducibly from `seed`."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by design
    return [_draw(rng) for _ in range(count)]


def _draw(rng: random.Random) -> Sample:
    habit = _habit(rng)
    roll = rng.randrange(1000)
    for pattern, per_mille in FRAUD_PER_MILLE.items():
        if roll < per_mille:
            return Sample(_FRAUD[pattern](rng, habit), pattern)
        roll -= per_mille
    return Sample(normal(rng, habit), Pattern.NORMAL)


def _habit(rng: random.Random) -> Habit:
    typical = rng.lognormvariate(8.0, 1.0)  # around 30.00, from cents to thousands
    return Habit(
        typical=typical,
        spread=rng.uniform(0.2, 0.8),
        hour=rng.randrange(6, 23),
        per_day=rng.uniform(0.2, 4.0),
        balance=int(typical * rng.uniform(5, 60)),
    )


def _history(rng: random.Random, habit: Habit) -> tuple[tuple[int, ...], tuple[int, ...]]:
    size = min(HISTORY, int(rng.expovariate(1 / 25)))
    amounts = tuple(
        max(1, int(rng.lognormvariate(0, habit.spread) * habit.typical)) for _ in range(size)
    )
    hours = tuple(int(rng.gauss(habit.hour, 2)) % 24 for _ in range(size))
    return amounts, hours


def _pace(rng: random.Random, habit: Habit) -> tuple[int, int]:
    day = _poisson(rng, habit.per_day)
    return min(day, _poisson(rng, habit.per_day / 24)), day


def normal(rng: random.Random, habit: Habit) -> Signals:
    amounts, hours = _history(rng, habit)
    sent_1h, sent_24h = _pace(rng, habit)
    amount = max(1, int(rng.lognormvariate(0, habit.spread) * habit.typical))
    # Now and then a normal customer does something unusual: a big purchase, a new payee, a
    # new phone, a night transfer. The model must not take each oddity alone for fraud.
    if rng.random() < 0.08:
        amount *= rng.randint(3, 20)
    new_payee = rng.random() < 0.15
    return Signals(
        amount=amount,
        available_balance=max(
            amount, habit.balance + rng.randint(-habit.balance // 2, habit.balance)
        ),
        history_amounts=amounts,
        history_hours=hours,
        sent_1h=sent_1h,
        sent_24h=sent_24h,
        paid_payee_before=not new_payee and bool(amounts),
        payee_age_days=rng.uniform(1, 30)
        if new_payee and rng.random() < 0.1
        else rng.uniform(60, 3000),
        payee_senders_24h=_poisson(rng, 0.5 if rng.random() < 0.9 else 4.0),
        # Many customers sign in and pay at once.
        session_age_hours=rng.uniform(0, 1) if rng.random() < 0.3 else rng.uniform(1, 24 * 60),
        device_seen_before=rng.random() > 0.05,
        failed_logins=_poisson(rng, 0.1),
        password_changed_24h=rng.random() < 0.01,
        new_sessions_24h=_poisson(rng, 0.3) + (rng.random() < 0.3),
        hour=int(rng.gauss(habit.hour, 2.5)) % 24 if rng.random() < 0.9 else rng.randrange(24),
    )


def account_takeover(rng: random.Random, habit: Habit) -> Signals:
    base = normal(rng, habit)
    amount = int(base.available_balance * rng.uniform(0.6, 1.0))
    return replace(
        base,
        amount=max(1, amount),
        paid_payee_before=False,
        payee_age_days=rng.uniform(0, 400),
        session_age_hours=rng.uniform(0.0, 1.0) if rng.random() < 0.8 else rng.uniform(1, 72),
        device_seen_before=rng.random() < 0.25,
        failed_logins=rng.randint(0, 6),
        password_changed_24h=rng.random() < 0.5,
        new_sessions_24h=rng.randint(1, 3),
        hour=rng.randrange(24),
    )


def scam(rng: random.Random, habit: Habit) -> Signals:
    base = normal(rng, habit)
    amount = int(
        max(habit.typical * rng.uniform(3, 40), base.available_balance * rng.uniform(0.2, 0.9))
    )
    return replace(
        base,
        amount=amount,
        available_balance=max(amount, base.available_balance),
        paid_payee_before=False,
        payee_age_days=rng.uniform(0, 45) if rng.random() < 0.7 else rng.uniform(45, 1000),
    )


def mule_fan_in(rng: random.Random, habit: Habit) -> Signals:
    base = normal(rng, habit)
    return replace(
        base,
        paid_payee_before=False,
        payee_age_days=rng.uniform(0, 20),
        payee_senders_24h=rng.randint(3, 40),
    )


def card_testing(rng: random.Random, habit: Habit) -> Signals:
    base = normal(rng, habit)
    burst = rng.randint(4, 40)
    return replace(
        base,
        amount=rng.randint(1, 300),
        sent_1h=burst,
        sent_24h=burst + base.sent_24h,
        paid_payee_before=False,
        session_age_hours=rng.uniform(0.0, 3.0),
    )


_FRAUD = {
    Pattern.ACCOUNT_TAKEOVER: account_takeover,
    Pattern.SCAM: scam,
    Pattern.MULE_FAN_IN: mule_fan_in,
    Pattern.CARD_TESTING: card_testing,
}


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: small means only, which is all this needs."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
