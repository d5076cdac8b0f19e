"""A software authenticator for the tests: the customer's device in the WebAuthn ceremonies,
written from the specification (WebAuthn Level 2, §6 and §7) rather than from py_webauthn, so
that the bank's verification meets an independent implementation.

It holds one real P-256 key pair (ES256), answers creation options with a 'none' attestation
and request options with an assertion: authenticatorData (the relying party ID's hash, flags,
the signature counter, and on creation the attested credential with its COSE key), the client's
clientDataJSON (type, challenge, origin), and an ECDSA signature over authenticatorData and the
hash of clientDataJSON. Its knobs make the attacks the tests need: another origin, another key,
a counter that does not move (a clone).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Authenticator data flags (WebAuthn §6.1): user present, user verified, attested data included.
UP, UV, AT = 0x01, 0x04, 0x40
ES256 = -7  # COSE algorithm: ECDSA with SHA-256 on P-256
AAGUID = bytes(16)  # a 'none' attestation carries no authenticator model


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def cbor(value: Any) -> bytes:
    """Minimal deterministic CBOR (RFC 8949) for the values a credential needs: integers, byte
    and text strings, lists and maps."""
    if isinstance(value, bool) or value is None:
        raise TypeError("not needed by WebAuthn here")
    if isinstance(value, int):
        return _head(0, value) if value >= 0 else _head(1, -1 - value)
    if isinstance(value, bytes):
        return _head(2, len(value)) + value
    if isinstance(value, str):
        encoded = value.encode()
        return _head(3, len(encoded)) + encoded
    if isinstance(value, list):
        return _head(4, len(value)) + b"".join(cbor(item) for item in value)
    if isinstance(value, dict):
        items = b"".join(cbor(key) + cbor(item) for key, item in value.items())
        return _head(5, len(value)) + items
    raise TypeError(type(value))


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([major << 5 | argument])
    for extra, size in ((24, "B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if argument < 256 ** struct.calcsize(size):
            return bytes([major << 5 | extra]) + struct.pack(size, argument)
    raise ValueError(argument)


@dataclass
class Authenticator:
    """A platform authenticator with one discoverable credential once registered."""

    origin: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    sign_count: int = 0
    user_handle: bytes | None = None

    def create(self, options_json: str, *, origin: str | None = None) -> str:
        """navigator.credentials.create() with these creation options: the new credential as
        RegistrationResponseJSON."""
        options = json.loads(options_json)
        self.user_handle = unb64url(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        x, y = _coordinates(self.key.public_key())
        cose_key = {1: 2, 3: ES256, -1: 1, -2: x, -3: y}  # kty EC2, alg, crv P-256, x, y
        attested = AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id
        auth_data = self._auth_data(options["rp"]["id"], UP | UV | AT) + attested + cbor(cose_key)
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return self._credential(
            {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            }
        )

    def get(
        self,
        options_json: str,
        *,
        origin: str | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        counter_moves: bool = True,
    ) -> str:
        """navigator.credentials.get() with these request options: an assertion as
        AuthenticationResponseJSON. `origin` is where the page runs, `key` signs instead of the
        credential's own, and a counter that does not move is what a cloned key pair sends."""
        options = json.loads(options_json)
        allowed = [unb64url(credential["id"]) for credential in options["allowCredentials"]]
        assert not allowed or self.credential_id in allowed, "the device has no such credential"
        if counter_moves:
            self.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(options["rpId"], UP | UV)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = (key or self.key).sign(signed, ec.ECDSA(hashes.SHA256()))
        assert self.user_handle is not None
        return self._credential(
            {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle),
            }
        )

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _auth_data(self, rp_id: str, flags: int) -> bytes:
        rp_id_hash = hashlib.sha256(rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", self.sign_count)

    def _credential(self, response: dict[str, Any]) -> str:
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "response": response,
                "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
            }
        )


def _coordinates(public_key: ec.EllipticCurvePublicKey) -> tuple[bytes, bytes]:
    numbers = public_key.public_numbers()
    return numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")


def other_key() -> ec.EllipticCurvePrivateKey:
    """A key pair that is not the credential's."""
    return ec.generate_private_key(ec.SECP256R1())
