"""The published SDL: what `bff export-schema` prints and `schema.graphql` holds."""

from __future__ import annotations

import strawberry
from graphql import is_specified_directive, print_directive


def schema_sdl(schema: strawberry.Schema) -> str:
    """The schema as SDL, opening with GraphQL's built-in directives as this server defines them.

    Strawberry's printer (like graphql-core's and graphql-js's) leaves the built-in directives
    out, and a tool that builds a schema from SDL then adds its own library's versions, which
    differ between versions of GraphQL: graphql-js 16 declares `@deprecated(reason: String)`,
    graphql-core 3.3 (what this server runs and introspection reports) `reason: String!`.
    Written out, the file and introspection describe the same schema to every tool.
    """
    built_ins = [
        print_directive(directive)
        for directive in schema._schema.directives
        if is_specified_directive(directive)
    ]
    return "\n\n".join([*built_ins, schema.as_str()])
