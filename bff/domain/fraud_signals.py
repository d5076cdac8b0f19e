"""What is known about a transfer when it is screened, and the features the risk model reads.

`Signals` are raw facts the storage gathers in one query (the source's recent history, the payee,
the session); `features` turns them into the model's inputs. The simulator builds `Signals` too,
so training and serving compute features with the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import median

# Per customer: how much history the z-score and the hour pattern look at.
HISTORY = 50


@dataclass(frozen=True, slots=True)
class Signals:
    amount: int
    available_balance: int
    # The source's latest outgoing transfers (not voided), newest first: amounts, UTC hours.
    history_amounts: tuple[int, ...]
    history_hours: tuple[int, ...]
    sent_1h: int
    sent_24h: int
    paid_payee_before: bool
    payee_age_days: float
    # Distinct accounts that paid the payee in the last 24 h (fan-in of a mule).
    payee_senders_24h: int
    session_age_hours: float
    device_seen_before: bool
    # Wrong passwords for the account in the last 24 h, a successful login after them or not.
    failed_logins: int
    password_changed_24h: bool
    new_sessions_24h: int
    hour: int


# The model's inputs, in order, each with what it means in plain words (shown to analysts).
FEATURES: tuple[tuple[str, str], ...] = (
    ("amount_z", "amount far from the customer's usual (robust z-score)"),
    ("history_count", "how many earlier transfers the customer made"),
    ("velocity_1h", "transfers in the last hour"),
    ("velocity_24h", "transfers in the last 24 hours"),
    ("first_to_payee", "first transfer to this payee"),
    ("payee_age_days", "age of the payee's account"),
    ("payee_senders_24h", "different senders paying this payee in 24 hours"),
    ("session_age_hours", "age of the session"),
    ("new_device", "device not seen before for this customer"),
    ("failed_logins", "recent failed logins"),
    ("password_changed_24h", "password changed in the last 24 hours"),
    ("new_sessions_24h", "new sign-ins in the last 24 hours"),
    ("unusual_hour", "unusual time of day for this customer"),
    ("balance_share", "share of the available balance being moved"),
)
FEATURE_NAMES = tuple(name for name, _ in FEATURES)
WORDS = dict(FEATURES)


def features(signals: Signals) -> list[float]:
    """The model's input vector for `signals`, in `FEATURES` order."""
    return [
        _robust_z(signals.amount, signals.history_amounts),
        float(len(signals.history_amounts)),
        float(signals.sent_1h),
        float(signals.sent_24h),
        0.0 if signals.paid_payee_before else 1.0,
        min(signals.payee_age_days, 3650.0),
        float(signals.payee_senders_24h),
        min(signals.session_age_hours, 24.0 * 365),
        0.0 if signals.device_seen_before else 1.0,
        float(signals.failed_logins),
        1.0 if signals.password_changed_24h else 0.0,
        float(signals.new_sessions_24h),
        _unusual_hour(signals.hour, signals.history_hours),
        signals.amount / signals.available_balance if signals.available_balance > 0 else 1.0,
    ]


def _robust_z(amount: int, history: tuple[int, ...]) -> float:
    """How far the amount is from the customer's median, in robust standard deviations of the
    log amount (median absolute deviation), so one large past transfer does not hide a spike."""
    if len(history) < 3:
        return 0.0
    logs = [math.log(max(value, 1)) for value in history]
    centre = median(logs)
    spread = median(abs(value - centre) for value in logs)
    # The floor keeps a customer who always sends the same amount from scoring infinities.
    return (math.log(max(amount, 1)) - centre) / (1.4826 * spread + 0.25)


def _unusual_hour(hour: int, hours: tuple[int, ...]) -> float:
    """The share of the customer's past transfers made more than two hours (on the clock face)
    from this one's hour; 0.5 when there are too few to tell."""
    if len(hours) < 5:
        return 0.5
    far = sum(1 for past in hours if min((hour - past) % 24, (past - hour) % 24) > 2)
    return far / len(hours)
