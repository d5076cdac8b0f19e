"""Passkeys (WebAuthn credentials) as a second factor: the registration ceremony that binds a
device's key pair to the customer, and the assertion ceremony that proves, per step-up, that the
device still holds it. py_webauthn builds the options and verifies the responses; the bank keeps
each ceremony's challenge server-side and uses it once.

User verification (the device's PIN or biometric) is required in both ceremonies: a step-up is
meant to prove the customer, not only the possession of an unlocked phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import webauthn
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

# What a malformed response raises inside py_webauthn (bad JSON, base64url or CBOR included).
_MALFORMED = (WebAuthnException, ValueError)


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """The bank as WebAuthn sees it: the domain its passkeys are scoped to, the name devices show,
    and the origins (web and app) the ceremonies may run on."""

    id: str
    name: str
    origins: tuple[str, ...]
    timeout_s: int


@dataclass(frozen=True, slots=True)
class Passkey:
    """An active passkey: its credential, COSE public key and last signature counter; while
    its removal is asked, the challenge the proof for it signs."""

    id: UUID
    user_id: UUID
    credential_id: bytes
    public_key: bytes
    sign_count: int
    created_at: datetime
    removal_challenge: bytes | None = None


@dataclass(frozen=True, slots=True)
class PendingPasskey:
    """A registration begun and not yet finished: the challenge its response must sign."""

    id: UUID
    challenge: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Registered:
    """What a verified registration binds to the customer."""

    credential_id: bytes
    public_key: bytes
    sign_count: int


@dataclass(frozen=True, slots=True)
class Ceremony:
    """Options for the device (PublicKeyCredential*Options as JSON) and their challenge."""

    challenge: bytes
    options_json: str


def registration(
    rp: RelyingParty, user_id: UUID, user_name: str, registered: list[Passkey]
) -> Ceremony:
    """Creation options for a new passkey of the user; the device refuses to make a second
    credential where one of `registered` already lives."""
    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_id.bytes,
        user_name=user_name,
        timeout=rp.timeout_s * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(registered),
    )
    return Ceremony(options.challenge, webauthn.options_to_json(options))


def verified_registration(rp: RelyingParty, challenge: bytes, response: str) -> Registered | None:
    """The credential of a registration response, if it answers `challenge` on one of the
    relying party's origins with a verified user; None otherwise."""
    try:
        verified = webauthn.verify_registration_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            require_user_verification=True,
        )
    except _MALFORMED:
        return None
    return Registered(verified.credential_id, verified.credential_public_key, verified.sign_count)


def assertion(
    rp: RelyingParty, passkeys: list[Passkey], challenge: bytes | None = None
) -> Ceremony:
    """Request options asking one of the user's passkeys to sign `challenge`, by default a
    fresh one."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=rp.timeout_s * 1000,
        allow_credentials=_descriptors(passkeys),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return Ceremony(options.challenge, webauthn.options_to_json(options))


def parsed_assertion(response: str) -> AuthenticationCredential | None:
    """The assertion response's parts (which credential signed it), or None if malformed."""
    try:
        return parse_authentication_credential_json(response)
    except _MALFORMED:
        return None


def verified_sign_count(
    rp: RelyingParty, challenge: bytes, response: AuthenticationCredential, passkey: Passkey
) -> int | None:
    """The signature counter of an assertion `passkey` made over `challenge` on one of the
    relying party's origins with a verified user, or None. A counter that did not move past the
    stored one is refused (a replayed assertion or a cloned authenticator), unless both are zero:
    WebAuthn lets authenticators that keep no counter (synced passkeys) always report zero."""
    try:
        verified = webauthn.verify_authentication_response(
            credential=response,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except _MALFORMED:
        return None
    return verified.new_sign_count


def _descriptors(passkeys: list[Passkey]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=passkey.credential_id) for passkey in passkeys]
