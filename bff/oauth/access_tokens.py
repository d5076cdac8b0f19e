"""Third-party access tokens: JWTs per RFC 9068, DPoP-bound, signed by the service's key ring.

`typ` is `at+jwt` like the app's own tokens, but the audience differs (the resource URL, not
the app's audience) and the claims do (`client_id`, `scope`, `cnf.jkt` and the grant `gid`
instead of a session), so neither kind verifies as the other.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt

from bff.auth.keys import KeyStore
from bff.auth.tokens import ACCESS_TOKEN_TYPE, InvalidToken

_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti", "client_id", "scope", "cnf", "gid"]
_LEEWAY_S = 5


@dataclass(frozen=True, slots=True)
class DelegatedClaims:
    user_id: UUID
    grant_id: UUID
    client_id: str
    scopes: frozenset[str]
    jkt: str
    issued_at: int
    expires_at: int
    jti: str


@dataclass(frozen=True, slots=True)
class DelegatedTokens:
    keys: KeyStore
    issuer: str
    audience: str  # the protected resource: {issuer}/graphql
    ttl_s: int

    def issue(self, user_id: UUID, grant_id: UUID, client_id: str, scope: str, jkt: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "client_id": client_id,
            "scope": scope,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "cnf": {"jkt": jkt},
            "gid": str(grant_id),
        }
        signing = self.keys.signing_key
        headers = {"kid": signing.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(claims, signing.private_key, algorithm="EdDSA", headers=headers)

    def verify(self, token: str, *, allow_expired: bool = False) -> DelegatedClaims:
        """The claims of a token this server issued to a client (InvalidToken otherwise);
        `allow_expired` for revocation and introspection, which answer for expired ones too."""
        try:
            header = jwt.get_unverified_header(token)
            kid = header.get("kid")
            key = self.keys.public_key(kid) if isinstance(kid, str) else None
            if header.get("typ") != ACCESS_TOKEN_TYPE or key is None:
                raise InvalidToken("not one of this server's access tokens")
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED, "verify_exp": not allow_expired},
                leeway=_LEEWAY_S,
            )
            jkt = claims["cnf"]["jkt"]
            issued, expires = int(claims["iat"]), int(claims["exp"])
            if not isinstance(jkt, str) or expires - issued > self.ttl_s + _LEEWAY_S:
                raise InvalidToken("unbound, or living longer than access tokens may")
            return DelegatedClaims(
                user_id=UUID(claims["sub"]),
                grant_id=UUID(claims["gid"]),
                client_id=str(claims["client_id"]),
                scopes=frozenset(str(claims["scope"]).split()),
                jkt=jkt,
                issued_at=issued,
                expires_at=expires,
                jti=str(claims["jti"]),
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, OverflowError) as error:
            raise InvalidToken(str(error)) from error
