"""Strawberry's ParserCache, minus its one flaw: a document that fails to parse raises outside
Strawberry's error handling. Here such a document is left unparsed, so Strawberry parses it
again and reports the syntax error (the token limit included) like any other GraphQL error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class DocumentParserCache(ParserCache):
    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield
