"""The assembled schema: root types, abuse limits, caches and the error boundary."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from bff.api.errors import ErrorBoundary
from bff.api.operation_name import OperationName
from bff.api.parser_cache import DocumentParserCache
from bff.api.rate_limits import RateLimits
from bff.api.response_caching import ResponseCaching
from bff.config import Settings
from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.subscription import Subscription
from schema.account import Account
from schema.scalars import SCALARS
from schema.transaction import Transaction
from schema.transfer import Transfer
from schema.user import User

_NODE_TYPES = [User, Account, Transaction, Transfer]
# Apps send the same few documents over and over: parse and validate each one once.
_DOCUMENT_CACHE_SIZE = 512


class BankSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: ErrorBoundary logs unexpected errors with their stack, and client
        errors (bad documents, bad input) are the caller's, not the server's."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with the abuse limits and error handling `settings` ask for."""
    settings = settings or Settings()
    # Built once, so the rule classes are stable keys for the validation cache.
    limit_rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(DocumentParserCache, maxsize=_DOCUMENT_CACHE_SIZE),
        partial(AddValidationRules, limit_rules),
        partial(ValidationCache, maxsize=_DOCUMENT_CACHE_SIZE),
        ErrorBoundary,
        OperationName,
        RateLimits,
        ResponseCaching,
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    return BankSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=_NODE_TYPES,
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=settings.is_production, scalar_map=SCALARS
        ),
    )
