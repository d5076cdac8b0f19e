"""Time-based one-time passwords (RFC 6238) as a second factor: a secret per user, codes of
the current 30-second step (one step either side for clock drift), each step accepted once."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import pyotp


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A user's authenticator app: pending until a first code confirms it."""

    id: UUID
    user_id: UUID
    secret: str
    active: bool
    # The last time step a code was accepted for; a code of it or an earlier one is refused.
    last_step: int | None
    # While pending, for a customer who has passkeys: the challenge one of them signs as proof.
    challenge: bytes | None = None


def new_secret() -> str:
    """A fresh 160-bit secret, in the base32 authenticator apps read."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an app scans as a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def accepted_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step `code` is valid for, if it is valid now and for a step later than
    `after` (so a code, even one seen over a shoulder, cannot be replayed)."""
    totp = pyotp.TOTP(secret)
    if len(code) != totp.digits or not code.isascii() or not code.isdigit():
        return None
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
