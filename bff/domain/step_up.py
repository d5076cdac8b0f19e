"""Confirming a transfer held for step-up with the customer's second factor.

The right answer posts the held transfer (the ledger's two-phase settle), in the transaction
that closes the challenge, so a challenge is answered once and a transfer posts once. Wrong
answers count on the challenge (after `max_failures` it fails and the transfer is voided) and
on the customer's second-factor throttle (like logins). An expired challenge voids its
transfer when it is used, if the hold-expiry job has not already. Only the customer's session
that made the transfer may confirm it: to anyone else the challenge does not exist.

The answer is a current code of the customer's authenticator app, or an assertion of one of
their passkeys over the WebAuthn challenge `begin_passkey_confirmation` handed out for this
challenge. That WebAuthn challenge is spent by the assertion checked against it, right or wrong;
a wrong one counts like a wrong code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from uuid import UUID

from bff.domain import audit, idempotency, passkeys, second_factors
from bff.domain.actor import Actor
from bff.domain.audit_models import AuditOperation, AuditResult
from bff.domain.challenges import Challenge, ChallengeStatus
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.models import Transfer, TransferStatus
from bff.domain.ports import HoldOutcome, Refusal, UnitOfWork
from bff.domain.throttle import ThrottlePolicy
from bff.domain.transfers import refused

CHALLENGE_FIELD = "challengeId"
CODE_FIELD = "totpCode"
ASSERTION_FIELD = "passkeyAssertion"
_TRANSFER = "Transfer"  # the entries' description, as the ledger's other resolutions write it


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A second-factor answer to a challenge: exactly one of a code and a passkey assertion
    (navigator.credentials.get()'s credential, as JSON)."""

    challenge_id: UUID
    totp_code: str | None = None
    passkey_assertion: str | None = None


class _Ended(Enum):
    POSTED = "posted"
    WRONG = "wrong"
    FAILED = "failed"
    EXPIRED = "expired"
    NOT_HELD = "not_held"


async def confirm_transfer(
    uow: UnitOfWork,
    actor: Actor,
    confirmation: Confirmation,
    policy: ThrottlePolicy,
    max_failures: int,
    rp: passkeys.RelyingParty,
) -> Transfer:
    """Answer the challenge of a held transfer; the posted transfer, or a typed error."""
    second_factors.require_own_factors(actor)
    if (confirmation.totp_code is None) == (confirmation.passkey_assertion is None):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Give exactly one of totpCode and passkeyAssertion.",
            CODE_FIELD,
        )
    await second_factors.admit_attempt(uow, policy, actor.user_id)
    outcome: tuple[_Ended, Transfer | None, Refusal | None] | None = None

    async def answer() -> None:
        nonlocal outcome
        challenge = await uow.step_up.lock(confirmation.challenge_id)
        _check_binding(actor, challenge)
        assert challenge is not None
        outcome = await _answer(uow, actor, challenge, confirmation, policy, max_failures, rp)

    await idempotency.retried(uow, answer)
    assert outcome is not None
    ended, transfer, refusal = outcome
    if refusal is not None:
        raise refused(refusal)
    if ended is _Ended.POSTED:
        assert transfer is not None
        return transfer
    wrong_field = CODE_FIELD if confirmation.totp_code is not None else ASSERTION_FIELD
    raise {
        _Ended.WRONG: DomainError(ErrorCode.INVALID_SECOND_FACTOR, field=wrong_field),
        _Ended.FAILED: DomainError(ErrorCode.STEP_UP_FAILED, field=CHALLENGE_FIELD),
        _Ended.EXPIRED: DomainError(ErrorCode.STEP_UP_CHALLENGE_EXPIRED, field=CHALLENGE_FIELD),
        _Ended.NOT_HELD: DomainError(ErrorCode.TRANSFER_NOT_HELD, field=CHALLENGE_FIELD),
    }[ended]


async def begin_passkey_confirmation(
    uow: UnitOfWork, actor: Actor, challenge_id: UUID, rp: passkeys.RelyingParty
) -> str:
    """Request options (JSON) for the customer's passkeys to sign, to answer the challenge of a
    held transfer with; they replace options handed out before for it."""
    second_factors.require_own_factors(actor)

    async def offer() -> str | None:
        challenge = await uow.step_up.lock(challenge_id)
        _check_binding(actor, challenge)
        assert challenge is not None
        if datetime.now(UTC) >= challenge.expires_at:
            await _expire(uow, challenge)
            return None
        registered = await uow.second_factors.passkeys(actor.user_id)
        if not registered:
            raise DomainError(ErrorCode.SECOND_FACTOR_NOT_ENROLLED)
        ceremony = passkeys.assertion(rp, registered)
        await uow.step_up.set_assertion(challenge.id, ceremony.challenge)
        return ceremony.options_json

    options = await idempotency.retried(uow, offer)
    if options is None:
        raise DomainError(ErrorCode.STEP_UP_CHALLENGE_EXPIRED, field=CHALLENGE_FIELD)
    return options


def _check_binding(actor: Actor, challenge: Challenge | None) -> None:
    # Another customer's or another session's challenge looks like none at all.
    if (
        challenge is None
        or challenge.user_id != actor.user_id
        or challenge.session_id != actor.session_id
    ):
        raise DomainError(ErrorCode.STEP_UP_CHALLENGE_NOT_FOUND, field=CHALLENGE_FIELD)
    if challenge.status is not ChallengeStatus.OPEN:
        raise DomainError(ErrorCode.STEP_UP_CHALLENGE_USED, field=CHALLENGE_FIELD)


async def _answer(
    uow: UnitOfWork,
    actor: Actor,
    challenge: Challenge,
    confirmation: Confirmation,
    policy: ThrottlePolicy,
    max_failures: int,
    rp: passkeys.RelyingParty,
) -> tuple[_Ended, Transfer | None, Refusal | None]:
    now = datetime.now(UTC)
    if now >= challenge.expires_at:
        await _expire(uow, challenge)
        return _Ended.EXPIRED, None, None
    if confirmation.totp_code is not None:
        right = await second_factors.right_code(uow, actor.user_id, confirmation.totp_code, now)
    else:
        assert confirmation.passkey_assertion is not None
        right = await _right_assertion(uow, actor.user_id, challenge, confirmation, rp)
    if not right:
        if await uow.step_up.fail(challenge.id) < max_failures:
            return _Ended.WRONG, None, None
        await uow.step_up.close(challenge.id, ChallengeStatus.FAILED)
        await _void(uow, challenge)
        await uow.audit.record(_entry(actor, AuditOperation.STEP_UP_FAIL, challenge, confirmation))
        return _Ended.FAILED, None, None
    await second_factors.attempt_succeeded(uow, policy, actor.user_id)
    await uow.step_up.close(challenge.id, ChallengeStatus.CONFIRMED)
    result = await uow.ledger.resolve(
        challenge.transfer_id, TransferStatus.COMPLETED, _TRANSFER, due_only=False
    )
    if result.outcome is HoldOutcome.REFUSED:
        # An account was frozen meanwhile: the challenge is spent, the hold stays to expire.
        return _Ended.NOT_HELD, None, result.refusal
    if result.outcome is not HoldOutcome.RESOLVED:
        return _Ended.NOT_HELD, None, None
    await uow.audit.record(_entry(actor, AuditOperation.STEP_UP_CONFIRM, challenge, confirmation))
    return _Ended.POSTED, result.transfer, None


async def _right_assertion(
    uow: UnitOfWork,
    user_id: UUID,
    challenge: Challenge,
    confirmation: Confirmation,
    rp: passkeys.RelyingParty,
) -> bool:
    """Whether the assertion answers the WebAuthn challenge handed out for `challenge`, which
    it spends."""
    expected = challenge.assertion_challenge
    if expected is None:
        return False
    await uow.step_up.set_assertion(challenge.id, None)
    assert confirmation.passkey_assertion is not None
    return await second_factors.right_assertion(
        uow, user_id, expected, confirmation.passkey_assertion, rp
    )


async def _expire(uow: UnitOfWork, challenge: Challenge) -> None:
    await uow.step_up.close(challenge.id, ChallengeStatus.EXPIRED)
    await _void(uow, challenge)


async def _void(uow: UnitOfWork, challenge: Challenge) -> None:
    # Already voided by the expiry job, or resolved otherwise: nothing more to release.
    await uow.ledger.resolve(
        challenge.transfer_id, TransferStatus.CANCELLED, _TRANSFER, due_only=False
    )


def _entry(
    actor: Actor, operation: AuditOperation, challenge: Challenge, confirmation: Confirmation
) -> audit.AuditRecord:
    factor = "totp" if confirmation.totp_code is not None else "passkey"
    failed = operation is AuditOperation.STEP_UP_FAIL
    return audit.by(
        actor,
        operation,
        result=AuditResult.FAILURE if failed else AuditResult.SUCCESS,
        object_type="transfer",
        object_id=str(challenge.transfer_id),
        subject_id=actor.user_id,
        detail={"challenge_id": str(challenge.id), "factor": factor},
    )
