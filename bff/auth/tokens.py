"""Short-lived access tokens: EdDSA-signed JWTs with a fixed algorithm list and required claims."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from bff.auth.keys import KeyStore

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (a JOSE media type, not a secret)
_ALGORITHMS = ["EdDSA"]
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"]
_LEEWAY_S = 5


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or not an access token for this service."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    keys: KeyStore
    issuer: str
    audience: str
    ttl: timedelta

    def issue(self, user_id: UUID, session_id: UUID) -> str:
        """A signed access token for `user_id` acting through `session_id`."""
        now = datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
        }
        signing = self.keys.signing_key
        headers = {"kid": signing.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(claims, signing.private_key, algorithm="EdDSA", headers=headers)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid access token, or InvalidToken."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != ACCESS_TOKEN_TYPE:
                raise InvalidToken("not an access token")
            kid = header.get("kid")
            key = self.keys.public_key(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidToken("unknown signing key")
            claims = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED_CLAIMS},
                leeway=_LEEWAY_S,
            )
            return self._claims(claims)
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError, OSError) as error:
            raise InvalidToken(str(error)) from error

    def _claims(self, claims: dict[str, object]) -> AccessClaims:
        subject, session, issued, expires = (claims[name] for name in ("sub", "sid", "iat", "exp"))
        if not (isinstance(subject, str) and isinstance(session, str)):
            raise InvalidToken("sub and sid must be strings")
        if not (isinstance(issued, int | float) and isinstance(expires, int | float)):
            raise InvalidToken("iat and exp must be numbers")
        # Even a correctly signed token may not outlive what this server would issue.
        if expires - issued > self.ttl.total_seconds() + _LEEWAY_S:
            raise InvalidToken("the token lives longer than access tokens may")
        return AccessClaims(UUID(subject), UUID(session), datetime.fromtimestamp(expires, UTC))
