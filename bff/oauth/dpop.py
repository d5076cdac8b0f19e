"""DPoP (RFC 9449): proof-of-possession JWTs that bind tokens to the client's key.

A proof is a JWT the client signs, per request, with the private key whose public half is in
the proof's header: it names the method and URL (`htm`, `htu`), is fresh (`iat`), unique
(`jti`, refused when seen again), carries the access token's hash (`ath`) when it goes with one,
and a nonce from this server where one is asked for. Signatures and JWKs go through joserfc
(authlib's JOSE); nonces are short JWTs signed with the server's key ring (pyjwt).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
from joserfc import jwk, jws
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError

from bff.auth.keys import KeyStore

ALGORITHMS = ["ES256", "PS256"]
PROOF_TYPE = "dpop+jwt"
# A proof is accepted this long around its `iat`; its `jti` is remembered as long.
PROOF_WINDOW_S = 60
NONCE_LIFETIME_S = 300
_NONCE_TYPE = "dpop-nonce+jwt"
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


class InvalidProof(Exception):
    """The DPoP proof is missing, malformed, forged, stale, replayed or for another request."""


class NonceRequired(InvalidProof):
    """The proof lacks a current server nonce: retry with the one in the DPoP-Nonce header."""


@dataclass(frozen=True, slots=True)
class Proof:
    jkt: str  # RFC 7638 thumbprint of the proof's key: what tokens are bound to
    jti: str


def token_hash(access_token: str) -> str:
    """`ath`: base64url of the SHA-256 of the access token."""
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def request_url(issuer: str, path: str) -> str:
    """The `htu` a proof must name: the public URL of the endpoint, no query or fragment."""
    return f"{issuer}{path}"


@dataclass(frozen=True, slots=True)
class Nonces:
    """Server nonces: signed, short-lived, valid in every server process sharing the key ring."""

    keys: KeyStore

    def issue(self) -> str:
        signing = self.keys.signing_key
        now = int(time.time())
        return pyjwt.encode(
            {"iat": now, "exp": now + NONCE_LIFETIME_S},
            signing.private_key,
            algorithm="EdDSA",
            headers={"kid": signing.kid, "typ": _NONCE_TYPE},
        )

    def valid(self, nonce: str) -> bool:
        try:
            header = pyjwt.get_unverified_header(nonce)
            key = self.keys.public_key(header.get("kid", ""))
            if key is None or header.get("typ") != _NONCE_TYPE:
                return False
            pyjwt.decode(nonce, key, algorithms=["EdDSA"], options={"require": ["exp", "iat"]})
        except (pyjwt.PyJWTError, ValueError, TypeError):
            return False
        return True


SeenBefore = Callable[[str, datetime], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class ProofChecker:
    nonces: Nonces
    # Records a proof's jti; answers False when it was recorded before (a replay).
    first_use: SeenBefore

    async def check(
        self,
        proof: str | None,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce_required: bool = False,
    ) -> Proof:
        """The proof's key thumbprint, once everything about the proof holds."""
        if not proof:
            raise InvalidProof("a DPoP proof is required")
        try:
            header = jws.extract_compact(proof.encode()).protected
            public = header.get("jwk")
            if header.get("typ") != PROOF_TYPE or header.get("alg") not in ALGORITHMS:
                raise InvalidProof("not a DPoP proof")
            if not isinstance(public, dict) or _PRIVATE_MEMBERS & public.keys():
                raise InvalidProof("the proof must carry a public key")
            key = jwk.import_key(public)
            claims = jose_jwt.decode(proof, key, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise InvalidProof(f"malformed DPoP proof: {error}") from None
        jti, issued = claims.get("jti"), claims.get("iat")
        if not isinstance(jti, str) or not 8 <= len(jti) <= 128:
            raise InvalidProof("the proof needs a jti")
        if not isinstance(issued, int | float) or abs(time.time() - issued) > PROOF_WINDOW_S:
            raise InvalidProof("the proof is not fresh")
        if claims.get("htm") != method or claims.get("htu") != url:
            raise InvalidProof("the proof is for another request")
        if access_token is not None and claims.get("ath") != token_hash(access_token):
            raise InvalidProof("the proof is for another access token")
        nonce = claims.get("nonce")
        if nonce is not None and not (isinstance(nonce, str) and self.nonces.valid(nonce)):
            raise NonceRequired("the nonce is not current")
        if nonce is None and nonce_required:
            raise NonceRequired("a server nonce is required")
        jkt = key.thumbprint()
        remember_until = datetime.fromtimestamp(issued, UTC) + timedelta(seconds=PROOF_WINDOW_S)
        if not await self.first_use(f"dpop:{jkt}:{jti}", remember_until):
            raise InvalidProof("the proof was used before")
        return Proof(jkt, jti)
