"""The operation a request runs, and its name on the request's log line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import OperationDefinitionNode
from graphql import OperationType as ASTOperationType
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from bff import logging as bff_logging


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
    def on_validate(self) -> Iterator[None]:
        """Before any validation work: the request names one operation that HTTP can run.
        (Strawberry would run the first of several unnamed operations, and a subscription sent
        in a POST.)"""
        execution = self.execution_context
        context: Any = execution.context
        if execution.graphql_document is not None:
            operation = selected_operation(execution)
            # `operation_name` falls back to the first operation's name; what the request
            # asked for is kept apart (no public accessor in this Strawberry version).
            provided = getattr(execution, "_provided_operation_name", None)
            several = sum(
                isinstance(d, OperationDefinitionNode)
                for d in execution.graphql_document.definitions
            )
            if operation is None or (several > 1 and provided is None):
                raise CannotGetOperationTypeError(execution.operation_name)
            over_http = getattr(context, "response", None) is not None
            if over_http and operation.operation is ASTOperationType.SUBSCRIPTION:
                raise InvalidOperationTypeError(OperationType.SUBSCRIPTION)
        yield

    def on_execute(self) -> Iterator[None]:
        context: Any = self.execution_context.context
        name = self.execution_context.operation_name
        if name and context is not None:
            context.request.state.operation_name = name
            bff_logging.operation_name.set(name)
        yield
