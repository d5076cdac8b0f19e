"""The compiled documents of one process: an LRU of plans keyed by the document's sha256, the
operation and the values of the variables its @include/@skip read. A document is parsed and
validated (with the schema's own rules and limits) once; one that fails either, or uses what
the compiler does not support, is remembered as such and runs on graphql-core, counted."""

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
    parse,
)
from graphql.execution.values import VariableValues, get_variable_values

from bff.api.compiled.nodes import Plan
from bff.api.compiled.plan import Unsupported, compile_operation, condition_variables, operation_of
from bff.api.document_limits import DocumentLimits
from bff.api.validation import bounded_validate

_SIZE = 512


@dataclass
class Counts:
    """How many requests ran compiled, and how many fell back (a document not compiled)."""

    compiled: int = 0
    fallbacks: int = 0


# Process-wide, like a metric: what the tests read (and a metrics endpoint will export).
COUNTS = Counts()


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
        max_tokens: int,
        limits: DocumentLimits,
        kind: OperationType = OperationType.QUERY,
    ) -> None:
        """`kind`: the operations compiled (the others run on graphql-core)."""
        self.schema = schema
        self.rules = tuple(rules)
        self.max_tokens = max_tokens
        self.limits = limits
        self.kind = kind
        self._documents: LRUCache[tuple[str, str | None], _Document | None] = LRUCache(_SIZE)
        self._plans: LRUCache[tuple[str, str | None, tuple[object, ...]], Plan | None] = LRUCache(
            _SIZE
        )

    def plan(
        self, query: str, operation_name: str | None, raw_variables: dict[str, object] | None
    ) -> tuple[Plan, VariableValues] | None:
        """The plan and coerced variables for this request, or None to run it on graphql-core
        (which then reports whatever is wrong with the document or the variables)."""
        digest = hashlib.sha256(query.encode()).hexdigest()
        key = (digest, operation_name)
        if key in self._documents:
            found = self._documents[key]
        else:
            found = self._documents[key] = self._prepare(query, operation_name)
        if found is None:
            COUNTS.fallbacks += 1
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
            COUNTS.fallbacks += 1
            return None
        COUNTS.compiled += 1
        return plan, variables

    def _prepare(self, query: str, operation_name: str | None) -> _Document | None:
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return None
        if bounded_validate(self.schema._schema, document, self.rules, self.limits):
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
