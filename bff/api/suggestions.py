"""Production hides what a document's errors would teach about the schema: graphql-core ends
messages about unknown fields, arguments, types, enum values and input fields with "Did you mean
...?" hints, which let a caller map the schema with introspection off. Apollo Server's
`hideSchemaDetailsFromClientErrors` removes the same sentences."""

from __future__ import annotations

import re

from graphql import GraphQLError

_HINT = re.compile(r"\s*Did you mean [^?]*\?")


def without_suggestions(error: GraphQLError) -> GraphQLError:
    """`error` with every "Did you mean ...?" removed from its message."""
    error.message = _HINT.sub("", error.message)
    return error
