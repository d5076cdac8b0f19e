"""Records the GraphQL operation name for the request's log line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.extensions import SchemaExtension


class OperationName(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context: Any = self.execution_context.context
        name = self.execution_context.operation_name
        if name and context is not None:
            context.request.state.operation_name = name
        yield
