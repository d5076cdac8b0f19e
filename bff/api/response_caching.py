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
        context: Any = execution.context
        runtime = getattr(context, "runtime", None)  # None when the schema runs outside HTTP
        cache = runtime.responses if runtime is not None else None
        user = getattr(context, "user", None)
        if (
            cache is None
            or user is None
            or not execution.query  # the document's text is part of the key
            or execution.result is not None  # refused before it ran
            or not isinstance(context.request, Request)
            or not _is_query(selected_operation(execution))
        ):
            yield
            return
        actor = context.actor
        identity = [
            self.release,
            actor.user_id,
            sorted(actor.roles),
            sorted(actor.scopes or ()),
            json.dumps(encode(user), sort_keys=True, default=sorted),  # `viewer` is read from it
        ]
        key = response_key(identity, execution.query, execution.operation_name, execution.variables)
        cached = await cache.get(key)
        if cached is not None:
            execution.result = ExecutionResult(data=json.loads(cached))
            yield
            return
        yield
        result = execution.result
        if result is not None and not result.errors and result.data is not None:
            await cache.put(key, context.loaders.reads, json.dumps(result.data).encode())


def _is_query(operation: OperationDefinitionNode | None) -> bool:
    return operation is not None and operation.operation is OperationType.QUERY
