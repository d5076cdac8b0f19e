"""A document checked against the schema as a request's would be: by the request's gate (its
length, token and shape limits, then every validation rule), for registration and for the
manifest test."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import ASTValidationRule, GraphQLError

from bff.api.validation import DocumentGate
from bff.domain.documents import DocumentCheck


def document_check(
    schema: strawberry.Schema, rules: Sequence[type[ASTValidationRule]], gate: DocumentGate
) -> DocumentCheck:
    """What is wrong with a document's text against `schema` (None: nothing)."""

    def check(body: str) -> str | None:
        try:
            document = gate.parse(body)
        except GraphQLError as error:
            return error.message
        errors = gate.errors(schema._schema, body, document, tuple(rules))
        return errors[0].message if errors else None

    return check
