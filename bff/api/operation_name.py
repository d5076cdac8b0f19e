"""The operation a request runs, and its name on the request's log line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import OperationDefinitionNode
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext


def selected_operation(execution: ExecutionContext) -> OperationDefinitionNode | None:
    """The operation of the document that the request asked to run, if there is exactly one."""
    document = execution.graphql_document
    if document is None:
        return None
    name = execution.operation_name
    operations = [
        definition
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        and (name is None or (definition.name is not None and definition.name.value == name))
    ]
    return operations[0] if len(operations) == 1 else None


class OperationName(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context: Any = self.execution_context.context
        name = self.execution_context.operation_name
        if name and context is not None:
            context.request.state.operation_name = name
        yield
