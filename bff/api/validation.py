"""Where every request's document is parsed and validated, once, in an order that stops early:
its length first, then a scan of its tokens that refuses what they alone show over a limit
(bff/api/document_scan.py, at C speed), then tokenised within the token limit while it is
parsed, held to the shape limits (one linear pass, bff/api/document_limits.py), and only then
given to graphql-core's validation rules (some quadratic). Both executors take their documents
here: the compiled one directly, Strawberry's through `GatedDocument`; whichever tries a request
second finds its document (or its refusal) already made, so no document is ever parsed twice in
a request."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from cachetools import LRUCache
from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse, validate
from strawberry.extensions import SchemaExtension

from bff.api.document_limits import DocumentLimits, check_length, check_limits
from bff.api.document_scan import scan
from bff.metrics.families import GRAPHQL_DOCUMENTS_PARSED

# On the request's state: (the text, its document or the error that refused it).
_PARSED = "parsed_document"
# On the request's state: what reading its document cost, when this process read it anew.
_READING = "document_reading_cost"
# Reading a document the process has not seen (tokenising, the limits, validation and planning)
# is most of what a new document costs: `make bench` measured the home query at 8 ms of CPU
# read anew and 1 ms as the app sends it. One point per character prices a new 8 KiB document
# at 8,192 points, about five home queries (1,682 points each). The app sends the same few
# documents, each read once per process; an abuser varying them pays for every one.
READING_COST_PER_CHARACTER = 1


def reading_cost(state: object | None) -> int:
    """What reading the request's document cost its principal: 0 unless it was read anew."""
    return int(getattr(state, _READING, 0))


class DocumentGate:
    """The documents of one process: parsed and validated documents remembered by their text
    (apps send the same few over and over), the last `maxsize` of each."""

    def __init__(self, limits: DocumentLimits, maxsize: int) -> None:
        self.limits = limits
        self._documents: LRUCache[str, DocumentNode] = LRUCache(maxsize)
        self._errors: LRUCache[tuple[str, tuple[type[ASTValidationRule], ...]], list[GraphQLError]]
        self._errors = LRUCache(maxsize)

    def parse(self, query: str, state: object | None = None) -> DocumentNode:
        """`query` parsed within the length, token and shape limits, or the `GraphQLError`
        (with its code) that refuses it. A refusal is remembered only on the request's `state`
        (varied abuse must not evict the app's documents), for the request's other executor."""
        found = self._documents.get(query)
        if found is not None:
            return found
        memo = getattr(state, _PARSED, None)
        if memo is not None and memo[0] == query:
            if isinstance(memo[1], GraphQLError):
                raise memo[1]
            return memo[1]  # type: ignore[no-any-return]
        if state is not None:
            setattr(state, _READING, len(query) * READING_COST_PER_CHARACTER)
        refused = check_length(query, self.limits) or scan(query, self.limits)
        if refused is None:
            try:
                document = parse(query, max_tokens=self.limits.max_tokens)
                refused = check_limits(document, self.limits)
            except GraphQLError as error:
                refused = error
        GRAPHQL_DOCUMENTS_PARSED.labels("refused" if refused is not None else "accepted").inc()
        if refused is not None:
            if state is not None:
                setattr(state, _PARSED, (query, refused))
            raise refused
        self._documents[query] = document
        return document

    def errors(
        self,
        schema: GraphQLSchema,
        query: str | None,
        document: DocumentNode,
        rules: Sequence[type[ASTValidationRule]],
    ) -> list[GraphQLError]:
        """What `rules` find wrong with `document` (parsed here from `query`; None: a document
        given parsed, as a persisted one is, which is not remembered)."""
        key = (query, tuple(rules)) if query is not None else None
        errors = self._errors.get(key) if key is not None else None
        if errors is None:
            errors = validate(schema, document, rules)
            if key is not None:
                self._errors[key] = errors
        return errors


class DocumentRefused(Exception):
    """Raised from Strawberry's parsing step for a document the gate refused: the schema
    answers it as Strawberry answers a syntax error, without parsing it itself."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


class GatedDocument(SchemaExtension):
    """Strawberry's parsing and validation steps, done by the gate."""

    def __init__(self, gate: DocumentGate) -> None:
        super().__init__()
        self.gate = gate

    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.graphql_document is None and execution.query:
            request: Any = getattr(execution.context, "request", None)
            try:
                execution.graphql_document = self.gate.parse(
                    execution.query, getattr(request, "state", None)
                )
            except GraphQLError as error:
                raise DocumentRefused(error) from None
        yield

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if execution.pre_execution_errors is None and document is not None:
            rules = tuple(execution.validation_rules)
            schema = execution.schema._schema
            execution.pre_execution_errors = self.gate.errors(
                schema, execution.query, document, rules
            )
        yield
