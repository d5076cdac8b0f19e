"""The assembled schema: root types, limits and the error boundary."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig

from bff.api.errors import ErrorBoundary
from bff.config import Settings
from resolvers.mutation import Mutation
from resolvers.query import Query
from schema.account import Account
from schema.scalars import SCALARS
from schema.transaction import Transaction
from schema.transfer import Transfer
from schema.user import User

_NODE_TYPES = [User, Account, Transaction, Transfer]


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the abuse limits and error handling `settings` ask for."""
    settings = settings or Settings()
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxAliasesLimiter, max_alias_count=settings.graphql_max_aliases),
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        ErrorBoundary,
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=_NODE_TYPES,
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=settings.is_production, scalar_map=SCALARS
        ),
    )
