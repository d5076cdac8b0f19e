"""Serves repeated queries from the response cache, and stores fresh responses in it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult, OperationDefinitionNode, OperationType
from starlette.requests import Request
from strawberry.extensions import SchemaExtension

from bff.api.operation_name import selected_operation
from bff.cache.codec import encode
from bff.cache.responses import response_key


class ResponseCaching(SchemaExtension):
    """Runs after the rate limits: a cached response still spends the caller's budget.

    `release` fingerprints the code that builds responses, so one release never serves
    another's."""

    def __init__(self, *, release: str) -> None:
        super().__init__()
        self.release = release

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        key = None
        if execution.result is None and _is_query(selected_operation(execution)):
            key = cache_key(
                execution.context,
                self.release,
                execution.query,
                execution.operation_name,
                execution.variables,
            )
        if key is None:
            yield
            return
        cached = await cached_data(execution.context, key)
        if cached is not None:
            execution.result = ExecutionResult(data=cached)
            yield
            return
        yield
        await store(execution.context, key, execution.result)


def cache_key(
    context: Any,
    release: str,
    query: str | None,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> str | None:
    """The response-cache key of a query for this caller; None when it is not cacheable (no
    cache, anonymous, not over HTTP, or no document text to key it by)."""
    runtime = getattr(context, "runtime", None)  # None when the schema runs outside HTTP
    user = getattr(context, "user", None)
    if (
        runtime is None
        or runtime.responses is None
        or user is None
        or not query  # the document's text is part of the key
        or not isinstance(context.request, Request)
    ):
        return None
    actor = context.actor
    identity = [
        release,
        actor.user_id,
        sorted(actor.roles),
        sorted(actor.scopes or ()),
        json.dumps(encode(user), sort_keys=True, default=sorted),  # `viewer` is read from it
    ]
    return response_key(identity, query, operation_name, variables)


async def cached_data(context: Any, key: str) -> Any:
    """The cached response data under `key`, or None."""
    cached = await context.runtime.responses.get(key)
    return None if cached is None else json.loads(cached)


async def store(context: Any, key: str, result: Any) -> None:
    """Keep a complete, error-free result under `key`."""
    if result is not None and not result.errors and result.data is not None:
        data = json.dumps(result.data).encode()
        await context.runtime.responses.put(key, context.loaders.reads, data)


def _is_query(operation: OperationDefinitionNode | None) -> bool:
    return operation is not None and operation.operation is OperationType.QUERY
