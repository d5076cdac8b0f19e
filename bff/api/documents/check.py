"""A document checked against the schema as a request's would be: parsed within the token limit
and validated with every rule and limit, for registration and for the manifest test."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import ASTValidationRule, GraphQLError, parse
from strawberry.schema.schema import validate_document

from bff.domain.documents import DocumentCheck


def document_check(
    schema: strawberry.Schema, rules: Sequence[type[ASTValidationRule]], max_tokens: int
) -> DocumentCheck:
    """What is wrong with a document's text against `schema` (None: nothing)."""

    def check(body: str) -> str | None:
        try:
            document = parse(body, max_tokens=max_tokens)
        except GraphQLError as error:
            return error.message
        errors = validate_document(schema._schema, document, tuple(rules))
        return errors[0].message if errors else None

    return check
