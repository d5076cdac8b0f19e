"""Validation in an order that stops early: the document's shape limits first (one linear pass,
bff/api/document_limits.py), graphql-core's rules (some quadratic) only on a document within
them. Both executors validate this way: Strawberry's through `BoundedValidation`, the compiled
one through `bounded_validate`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cachetools import LRUCache
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.extensions import SchemaExtension

from bff.api.document_limits import DocumentLimits, check_limits


def bounded_validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Sequence[type[ASTValidationRule]],
    limits: DocumentLimits,
) -> list[GraphQLError]:
    """The document's errors: the first limit it exceeds alone, else what `rules` find."""
    refused = check_limits(document, limits)
    if refused is not None:
        return [refused]
    return validate(schema, document, rules)


class BoundedValidation(SchemaExtension):
    """Strawberry's validation step, bounded as above, with the errors of the last `maxsize`
    documents remembered (apps send the same few documents over and over)."""

    def __init__(self, limits: DocumentLimits, cache: LRUCache[object, list[GraphQLError]]) -> None:
        super().__init__()
        self.limits = limits
        self.cache = cache

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if execution.pre_execution_errors is None and document is not None:
            rules = tuple(execution.validation_rules)
            # Keyed by the text (a document given parsed, as a persisted one, is not cached).
            key = (execution.query, rules) if execution.query is not None else None
            errors = self.cache.get(key) if key is not None else None
            if errors is None:
                errors = bounded_validate(execution.schema._schema, document, rules, self.limits)
                if key is not None:
                    self.cache[key] = errors
            execution.pre_execution_errors = errors
        yield
