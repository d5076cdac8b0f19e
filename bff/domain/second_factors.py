"""Enrolling second factors for step-up confirmation: an authenticator app's TOTP secret, and
passkeys (WebAuthn credentials, any number of them).

Only the signed-in customer manages their own factors, never a connected app: a factor is what
proves it is the customer, so whoever holds a delegated token must not be able to add one.
Every code checked counts against the user's second-factor throttle first, like a login.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from uuid import UUID

from bff.domain import audit, delegation, passkeys, totp
from bff.domain.actor import Actor
from bff.domain.audit_models import AuditOperation
from bff.domain.errors import DomainError, ErrorCode, Throttled
from bff.domain.models import User
from bff.domain.ports import UnitOfWork
from bff.domain.rbac import Permission
from bff.domain.throttle import ThrottlePolicy, ThrottleScope

CODE_FIELD = "code"
CREDENTIAL_FIELD = "credential"
PASSKEY_FIELD = "passkeyId"
PROOF_CODE_FIELD = "totpCode"
PROOF_ASSERTION_FIELD = "passkeyAssertion"


@dataclass(frozen=True, slots=True)
class Proof:
    """Proof by a second factor the customer already has: a current code of their authenticator
    app, or an assertion (JSON) of one of their passkeys over the ceremony's challenge."""

    totp_code: str | None = None
    passkey_assertion: str | None = None

    @property
    def given(self) -> bool:
        return self.totp_code is not None or self.passkey_assertion is not None


@dataclass(frozen=True, slots=True)
class PasskeyRegistration:
    """A begun passkey registration: creation options for the new device, and, when the
    customer already has passkeys, request options one of them may sign as the proof."""

    options_json: str
    proof_options_json: str | None


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    """A pending enrollment: the secret to type in, or the URI to scan as a QR code; when the
    customer has passkeys, request options one of them signs as proof."""

    secret: str
    uri: str
    proof_options_json: str | None = None


def require_own_factors(actor: Actor) -> None:
    """Second factors are the customer's own business, through their own session."""
    actor.require(Permission.TRANSFER_CREATE_OWN)
    delegation.require_own_access(actor)
    if actor.session_id is None:
        raise DomainError(ErrorCode.PERMISSION_DENIED)


async def admit_attempt(uow: UnitOfWork, policy: ThrottlePolicy, user_id: UUID) -> None:
    """Count a second-factor attempt up front (parallel guesses all count), in a transaction
    of its own; Throttled while the user must wait."""
    key = (ThrottleScope.SECOND_FACTOR, str(user_id))
    now = datetime.now(UTC)
    async with uow:
        state = policy.current((await uow.throttles.lock([key]))[key], now)
        wait = policy.wait_s(key[0], state, now)
        if wait:
            raise Throttled(wait)
        await uow.throttles.save(key, policy.attempted(key[0], state, now))
        await uow.commit()


async def attempt_succeeded(uow: UnitOfWork, policy: ThrottlePolicy, user_id: UUID) -> None:
    """Forget the user's failures (in the caller's transaction): the right code was given."""
    key = (ThrottleScope.SECOND_FACTOR, str(user_id))
    state = (await uow.throttles.lock([key]))[key]
    await uow.throttles.save(key, policy.succeeded(key[0], state))


async def right_code(uow: UnitOfWork, user_id: UUID, code: str, now: datetime) -> bool:
    """Whether `code` is a current code of the user's authenticator app, not used before (it is
    used now)."""
    factor = await uow.second_factors.totp(user_id)
    if factor is None or not factor.active:
        return False
    step = totp.accepted_step(factor.secret, code, now, factor.last_step)
    return step is not None and await uow.second_factors.use_totp(factor.id, step)


async def right_assertion(
    uow: UnitOfWork, user_id: UUID, expected: bytes, assertion: str, rp: passkeys.RelyingParty
) -> bool:
    """Whether `assertion` is one of the user's passkeys signing `expected`, its counter past
    the one last seen (which it becomes)."""
    response = passkeys.parsed_assertion(assertion)
    if response is None:
        return False
    passkey = await uow.second_factors.passkey(response.raw_id)
    if passkey is None or passkey.user_id != user_id:
        return False
    sign_count = passkeys.verified_sign_count(rp, expected, response, passkey)
    return sign_count is not None and await uow.second_factors.use_passkey(passkey.id, sign_count)


async def _locked_user(uow: UnitOfWork, actor: Actor) -> User:
    # One enrollment of a user at a time.
    user = await uow.users.lock(actor.user_id)
    if user is None:
        raise DomainError(ErrorCode.USER_NOT_FOUND)
    return user


async def enroll_totp(
    uow: UnitOfWork, actor: Actor, issuer: str, rp: passkeys.RelyingParty
) -> TotpEnrollment:
    """Start enrolling an authenticator app: a new secret, pending until a code confirms it
    (a pending one is replaced; an active one must be removed first). A customer with passkeys
    gets options for one of them to sign as proof, which `confirm_totp` asks for."""
    require_own_factors(actor)
    async with uow:
        user = await _locked_user(uow, actor)
        existing = await uow.second_factors.totp(actor.user_id)
        if existing is not None and existing.active:
            raise DomainError(ErrorCode.SECOND_FACTOR_ENROLLED)
        secret = totp.new_secret()
        registered = await uow.second_factors.passkeys(actor.user_id)
        proof = passkeys.assertion(rp, registered) if registered else None
        challenge = proof.challenge if proof is not None else None
        await uow.second_factors.replace_pending_totp(actor.user_id, secret, challenge)
        await uow.commit()
    uri = totp.provisioning_uri(secret, user.email, issuer)
    return TotpEnrollment(secret, uri, proof.options_json if proof is not None else None)


async def confirm_totp(
    uow: UnitOfWork,
    actor: Actor,
    code: str,
    policy: ThrottlePolicy,
    rp: passkeys.RelyingParty,
    passkey_assertion: str | None = None,
) -> None:
    """Activate the pending authenticator app with a code it shows. A customer who has passkeys
    proves one too (an assertion over the enrollment's options; a wrong one spends the
    enrollment): a stolen session alone must not add a factor that answers step-ups."""
    require_own_factors(actor)
    await admit_attempt(uow, policy, actor.user_id)
    async with uow:
        await uow.users.lock(actor.user_id)
        factor = await uow.second_factors.totp(actor.user_id)
        if factor is None or factor.active:
            raise DomainError(ErrorCode.NO_PENDING_ENROLLMENT)
        step = totp.accepted_step(factor.secret, code, datetime.now(UTC), factor.last_step)
        if step is None:
            raise DomainError(ErrorCode.INVALID_SECOND_FACTOR, field=CODE_FIELD)
        if await uow.second_factors.has_active(actor.user_id):
            # Passkeys registered after the enrollment began: begin it again for options.
            if factor.challenge is None or passkey_assertion is None:
                raise DomainError(
                    ErrorCode.SECOND_FACTOR_PROOF_REQUIRED, field=PROOF_ASSERTION_FIELD
                )
            if not await right_assertion(
                uow, actor.user_id, factor.challenge, passkey_assertion, rp
            ):
                await uow.second_factors.remove(factor.id)
                await uow.commit()
                raise DomainError(ErrorCode.INVALID_SECOND_FACTOR, field=PROOF_ASSERTION_FIELD)
        await uow.second_factors.activate_totp(factor.id, step)
        await attempt_succeeded(uow, policy, actor.user_id)
        await uow.audit.record(
            _entry(actor, AuditOperation.SECOND_FACTOR_ENROLL, factor.id, "totp")
        )
        await uow.commit()


async def remove_totp(uow: UnitOfWork, actor: Actor, code: str, policy: ThrottlePolicy) -> None:
    """Remove the enrolled authenticator app; it takes one of its current codes, so a stolen
    session alone cannot strip the customer's second factor."""
    require_own_factors(actor)
    await admit_attempt(uow, policy, actor.user_id)
    async with uow:
        await uow.users.lock(actor.user_id)
        factor = await uow.second_factors.totp(actor.user_id)
        if factor is None or not factor.active:
            raise DomainError(ErrorCode.SECOND_FACTOR_NOT_ENROLLED)
        step = totp.accepted_step(factor.secret, code, datetime.now(UTC), factor.last_step)
        if step is None:
            raise DomainError(ErrorCode.INVALID_SECOND_FACTOR, field=CODE_FIELD)
        await uow.second_factors.remove(factor.id)
        await attempt_succeeded(uow, policy, actor.user_id)
        await uow.audit.record(
            _entry(actor, AuditOperation.SECOND_FACTOR_REMOVE, factor.id, "totp")
        )
        await uow.commit()


async def begin_passkey_registration(
    uow: UnitOfWork, actor: Actor, rp: passkeys.RelyingParty
) -> PasskeyRegistration:
    """Start registering a passkey: the creation options (JSON) for the device; their challenge
    is kept server-side, for `rp.timeout_s`, and replaces a registration begun before. The
    customer's passkeys may sign the same challenge as the proof `finish_passkey_registration`
    asks of a customer who has a second factor already."""
    require_own_factors(actor)
    async with uow:
        user = await _locked_user(uow, actor)
        registered = await uow.second_factors.passkeys(actor.user_id)
        ceremony = passkeys.registration(rp, actor.user_id, user.email, registered)
        await uow.second_factors.replace_pending_passkey(actor.user_id, ceremony.challenge)
        await uow.commit()
    proof = passkeys.assertion(rp, registered, ceremony.challenge) if registered else None
    return PasskeyRegistration(ceremony.options_json, proof.options_json if proof else None)


async def finish_passkey_registration(
    uow: UnitOfWork,
    actor: Actor,
    rp: passkeys.RelyingParty,
    response: str,
    proof: Proof,
    policy: ThrottlePolicy,
) -> passkeys.Passkey:
    """Bind the passkey of the device's registration response (navigator.credentials.create()'s
    credential, as JSON) to the customer. The registration's challenge is spent by any answer,
    so a response is good once. A customer who has a second factor already proves it (`proof`,
    throttled like codes): a stolen session alone must not add a factor that answers step-ups."""
    require_own_factors(actor)
    await _admit_proof(uow, policy, actor.user_id, proof)
    async with uow:
        await uow.users.lock(actor.user_id)
        pending = await uow.second_factors.pending_passkey(actor.user_id)
        if pending is None or datetime.now(UTC) >= pending.created_at + timedelta(
            seconds=rp.timeout_s
        ):
            raise DomainError(ErrorCode.NO_PENDING_ENROLLMENT)
        if await uow.second_factors.has_active(actor.user_id):
            spend = partial(uow.second_factors.remove, pending.id)
            await _require_proof(uow, actor.user_id, proof, pending.challenge, rp, policy, spend)
        registered = passkeys.verified_registration(rp, pending.challenge, response)
        passkey = (
            await uow.second_factors.activate_passkey(pending.id, registered)
            if registered is not None
            else None
        )
        if passkey is None:
            await uow.second_factors.remove(pending.id)
            await uow.commit()
            raise DomainError(ErrorCode.INVALID_SECOND_FACTOR, field=CREDENTIAL_FIELD)
        await uow.audit.record(
            _entry(actor, AuditOperation.SECOND_FACTOR_ENROLL, passkey.id, "passkey")
        )
        await uow.commit()
    return passkey


async def begin_passkey_removal(
    uow: UnitOfWork, actor: Actor, passkey_id: UUID, rp: passkeys.RelyingParty
) -> str:
    """Request options (JSON) for the customer's passkeys, the one to remove among them, to
    sign as the proof `remove_passkey` takes; their challenge is kept on that passkey until a
    proof answers it or its removal is begun again."""
    require_own_factors(actor)
    async with uow:
        await _locked_user(uow, actor)
        ceremony = passkeys.assertion(rp, await uow.second_factors.passkeys(actor.user_id))
        if not await uow.second_factors.ask_removal(actor.user_id, passkey_id, ceremony.challenge):
            raise DomainError(ErrorCode.PASSKEY_NOT_FOUND, field=PASSKEY_FIELD)
        await uow.commit()
    return ceremony.options_json


async def remove_passkey(
    uow: UnitOfWork,
    actor: Actor,
    passkey_id: UUID,
    proof: Proof,
    policy: ThrottlePolicy,
    rp: passkeys.RelyingParty,
) -> None:
    """Remove one of the customer's passkeys (a lost device's, say). It takes proof by a factor
    of theirs, like adding one (`proof`: a current code, or an assertion of any of their
    passkeys over `begin_passkey_removal`'s options; a wrong one spends those options), so a
    stolen session alone cannot strip the customer's second factors."""
    require_own_factors(actor)
    await _admit_proof(uow, policy, actor.user_id, proof)
    async with uow:
        await uow.users.lock(actor.user_id)
        registered = await uow.second_factors.passkeys(actor.user_id)
        passkey = next((each for each in registered if each.id == passkey_id), None)
        if passkey is None:
            raise DomainError(ErrorCode.PASSKEY_NOT_FOUND, field=PASSKEY_FIELD)
        spend = partial(uow.second_factors.ask_removal, actor.user_id, passkey_id, None)
        await _require_proof(
            uow, actor.user_id, proof, passkey.removal_challenge, rp, policy, spend
        )
        await uow.second_factors.remove_passkey(actor.user_id, passkey_id)
        await uow.audit.record(
            _entry(actor, AuditOperation.SECOND_FACTOR_REMOVE, passkey_id, "passkey")
        )
        await uow.commit()


async def _admit_proof(
    uow: UnitOfWork, policy: ThrottlePolicy, user_id: UUID, proof: Proof
) -> None:
    # Both proofs at once is a malformed request, not an attempt; a given one counts up front.
    if proof.totp_code is not None and proof.passkey_assertion is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Give at most one of totpCode and passkeyAssertion.",
            PROOF_CODE_FIELD,
        )
    if proof.given:
        await admit_attempt(uow, policy, user_id)


async def _require_proof(
    uow: UnitOfWork,
    user_id: UUID,
    proof: Proof,
    challenge: bytes | None,
    rp: passkeys.RelyingParty,
    policy: ThrottlePolicy,
    spend: Callable[[], Awaitable[object]],
) -> None:
    # A wrong proof spends the ceremony it answered (`spend`, committed), so it is good once.
    if not proof.given:
        raise DomainError(ErrorCode.SECOND_FACTOR_PROOF_REQUIRED, field=PROOF_CODE_FIELD)
    if not await _proven(uow, user_id, proof, challenge, rp):
        await spend()
        await uow.commit()
        field = PROOF_CODE_FIELD if proof.totp_code is not None else PROOF_ASSERTION_FIELD
        raise DomainError(ErrorCode.INVALID_SECOND_FACTOR, field=field)
    await attempt_succeeded(uow, policy, user_id)


async def _proven(
    uow: UnitOfWork,
    user_id: UUID,
    proof: Proof,
    challenge: bytes | None,
    rp: passkeys.RelyingParty,
) -> bool:
    if proof.totp_code is not None:
        return await right_code(uow, user_id, proof.totp_code, datetime.now(UTC))
    # An assertion answers options handed out before; without them there is nothing it signed.
    if proof.passkey_assertion is None or challenge is None:
        return False
    return await right_assertion(uow, user_id, challenge, proof.passkey_assertion, rp)


def _entry(
    actor: Actor, operation: AuditOperation, factor_id: UUID, kind: str
) -> audit.AuditRecord:
    return audit.by(
        actor,
        operation,
        object_type="second_factor",
        object_id=str(factor_id),
        subject_id=actor.user_id,
        detail={"kind": kind},
    )
