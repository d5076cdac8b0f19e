"""The compiled documents of one process: an LRU of plans keyed by the document's sha256, the
operation and the values of the variables its @include/@skip read. A document is parsed and
validated (with the schema's own rules and limits) by the gate both executors share; one that
fails validation, or uses what the compiler does not support, is remembered as such and runs on
graphql-core, counted. One refused by the gate's limits is not remembered here (varied abuse
must not evict the app's plans): the gate remembers it for the request, and `refusal` says it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import strawberry
from cachetools import LRUCache
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
)
from graphql.execution.values import VariableValues, get_variable_values

from bff.api.compiled.nodes import Plan
from bff.api.compiled.plan import Unsupported, compile_operation, condition_variables, operation_of
from bff.api.validation import DocumentGate
from bff.metrics.families import GRAPHQL_EXECUTIONS

_SIZE = 512


# What the metric counts, as the compiled path ran queries or left them to graphql-core.
_COMPILED = GRAPHQL_EXECUTIONS.labels("compiled")
_FALLBACK = GRAPHQL_EXECUTIONS.labels("fallback")


@dataclass(frozen=True)
class _Document:
    document: DocumentNode
    operation: OperationDefinitionNode
    conditions: tuple[str, ...]


class CompiledDocuments:
    def __init__(
        self,
        schema: strawberry.Schema,
        rules: Sequence[type[ASTValidationRule]],
        gate: DocumentGate,
        kind: OperationType = OperationType.QUERY,
    ) -> None:
        """`kind`: the operations compiled (the others run on graphql-core)."""
        self.schema = schema
        self.rules = tuple(rules)
        self.gate = gate
        self.kind = kind
        self._documents: LRUCache[tuple[str, str | None], _Document | None] = LRUCache(_SIZE)
        self._plans: LRUCache[tuple[str, str | None, tuple[object, ...]], Plan | None] = LRUCache(
            _SIZE
        )

    def plan(
        self,
        query: str,
        operation_name: str | None,
        raw_variables: dict[str, object] | None,
        state: object | None = None,
    ) -> tuple[Plan, VariableValues] | None:
        """The plan and coerced variables for this request, or None to run it on graphql-core
        (which then reports whatever is wrong with the document or the variables). `state`:
        the request's, where the gate leaves a refusal for graphql-core to report unparsed."""
        digest = hashlib.sha256(query.encode()).hexdigest()
        key = (digest, operation_name)
        if key in self._documents:
            found = self._documents[key]
        else:
            try:
                document = self.gate.parse(query, state)
            except GraphQLError:
                return None  # refused by a limit: `refusal` says why
            found = self._documents[key] = self._prepare(query, document, operation_name)
        if found is None:
            _FALLBACK.inc()
            return None
        variables = get_variable_values(
            self.schema._schema, found.operation.variable_definitions or (), raw_variables or {}
        )
        if isinstance(variables, list):
            return None  # graphql-core reports the coercion errors in its own words
        conditions = tuple(variables.coerced.get(name) for name in found.conditions)
        plan_key = (digest, operation_name, conditions)
        if plan_key in self._plans:
            plan = self._plans[plan_key]
        else:
            plan = self._plans[plan_key] = self._compile(found, variables)
        if plan is None:
            _FALLBACK.inc()
            return None
        _COMPILED.inc()
        return plan, variables

    def refusal(self, query: str, state: object | None = None) -> GraphQLError | None:
        """What the gate's limits refused `query` with, once `plan` found no plan for it (the
        gate remembers it on the request's `state`: nothing is read twice); None when it was
        not refused there (invalid, or valid but not compiled: graphql-core answers, after
        the checks of the operation it asks for that come before validation)."""
        try:
            self.gate.parse(query, state)
        except GraphQLError as refused:
            return refused  # the request's own (the gate shares accepted documents only)
        return None

    def _prepare(
        self, query: str, document: DocumentNode, operation_name: str | None
    ) -> _Document | None:
        if self.gate.errors(self.schema._schema, query, document, self.rules):
            return None
        operation = operation_of(document, operation_name)
        if operation is None:
            return None
        try:
            conditions = tuple(condition_variables(operation, document))
        except Unsupported:
            return None
        return _Document(document, operation, conditions)

    def _compile(self, found: _Document, variables: VariableValues) -> Plan | None:
        try:
            return compile_operation(
                self.schema, found.document, found.operation, variables, self.kind
            )
        except Unsupported:
            return None
