"""The per-request GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from bff.auth.tokens import AccessClaims
from bff.db.uow import SqlUnitOfWork
from bff.domain.actor import Actor
from bff.domain.audit_models import AuditContext
from bff.domain.models import User
from bff.domain.sessions import SessionPolicy
from bff.oauth.resource import GrantClaims
from bff.runtime import Runtime
from dataloaders import Loaders


def client_address(request: Request | WebSocket) -> str:
    """The address a request came from (a trusted proxy's X-Forwarded-For already applied)."""
    client = request.client
    return client.host if client else "unknown"


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | None
    runtime: Runtime
    actor: Actor | None
    request_id: str
    # The actor's user record, as authentication read it (HTTP requests only).
    user: User | None = None
    # Set on WebSocket connections once `connection_init` carried a valid access token.
    claims: AccessClaims | GrantClaims | None = None
    connection_params: Any = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.authenticate(self.actor)

    def authenticate(self, actor: Actor | None) -> None:
        """Act as `actor` from now on, with loaders that apply its read policies."""
        self.actor = actor
        # A WebSocket connection lives for hours: its loaders batch but never cache.
        self.loaders = Loaders(
            self.runtime.database.reads,
            actor,
            self.runtime.cache,
            per_request_cache=not isinstance(self.request, WebSocket),
        )

    @property
    def client(self) -> str:
        """The client's address (from a trusted proxy's X-Forwarded-For when configured)."""
        return client_address(self.request)

    @property
    def session_policy(self) -> SessionPolicy:
        return self.runtime.settings.session_policy

    def unit_of_work(self) -> SqlUnitOfWork:
        """A unit of work for a domain call (what it reads is not versioned by the cache)."""
        self.loaders.reads.uncached()  # whatever it reads, no cached response may depend on it
        actor = self.actor
        audit = AuditContext(actor.session_id if actor else None, None, self.client)
        return self.runtime.unit_of_work(audit)


Info: TypeAlias = strawberry.Info[Context, None]
