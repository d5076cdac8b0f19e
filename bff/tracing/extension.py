"""A span around each root field's resolver: the one domain call a resolver makes."""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any

from graphql import GraphQLResolveInfo, OperationType
from strawberry.extensions import SchemaExtension

from bff import tracing


class DomainCallSpans(SchemaExtension):
    async def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # Nested fields only shape what the domain call returned; a subscription's resolver
        # returns its stream, which lives on past this call.
        if info.path.prev is not None or info.operation.operation is OperationType.SUBSCRIPTION:
            result = _next(root, info, *args, **kwargs)
            return await result if isawaitable(result) else result
        name = f"{info.operation.operation.value} {info.field_name}"
        with tracing.tracer.start_as_current_span(
            name, attributes={"graphql.field": info.field_name}
        ):
            result = _next(root, info, *args, **kwargs)
            return await result if isawaitable(result) else result
