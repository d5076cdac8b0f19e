"""The per-request GraphQL context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from bff.db.uow import SqlUnitOfWork
from bff.domain.actor import Actor
from bff.runtime import Runtime
from dataloaders import Loaders


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | None
    runtime: Runtime
    actor: Actor | None
    request_id: str
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.runtime.read_engine, self.actor)

    @property
    def client(self) -> str:
        """The client's address (from a trusted proxy's X-Forwarded-For when configured)."""
        client = self.request.client
        return client.host if client else "unknown"

    def unit_of_work(self) -> SqlUnitOfWork:
        return self.runtime.unit_of_work()


Info: TypeAlias = strawberry.Info[Context, None]
