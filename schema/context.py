"""What the types' field resolvers use from a request's context.

The application's context (`bff.api.context.Context`) provides it. Declaring it here keeps
`schema` free of the application: no runtime, database or cache behind these names.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeAlias, TypeVar
from uuid import UUID

import strawberry

from bff.domain import models
from bff.domain.actor import Actor
from bff.domain.pages import AccountPageKey, Page, TransactionPageKey
from bff.domain.ports import UnitOfWork
from bff.domain.sessions import SessionPolicy

K = TypeVar("K", contravariant=True)
V = TypeVar("V", covariant=True)


class Loader(Protocol[K, V]):
    def load(self, key: K) -> Awaitable[V]: ...


class Loaders(Protocol):
    """Batched reads that apply the actor's read policies: what may not be seen is None."""

    @property
    def users(self) -> Loader[UUID, models.User | None]: ...
    @property
    def accounts(self) -> Loader[UUID, models.Account | None]: ...
    @property
    def transfers(self) -> Loader[UUID, models.Transfer | None]: ...
    @property
    def account_pages(self) -> Loader[AccountPageKey, Page[models.Account]]: ...
    @property
    def transaction_pages(self) -> Loader[TransactionPageKey, Page[models.Entry]]: ...


class SchemaContext(Protocol):
    @property
    def actor(self) -> Actor | None: ...
    @property
    def loaders(self) -> Loaders: ...
    @property
    def session_policy(self) -> SessionPolicy: ...
    def unit_of_work(self) -> UnitOfWork: ...


Info: TypeAlias = strawberry.Info[SchemaContext, None]
