"""The error boundary for everything that is not a `userError`: clients see a typed code; unexpected
failures are masked to a generic message with the request id, and logged with their stack."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from bff.domain.errors import DomainError, ErrorCode

log = logging.getLogger("bff.errors")


class ErrorBoundary(MaskErrors):
    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context: Any = self.execution_context.context
        request_id = getattr(context, "request_id", None)
        log.error(
            "unexpected error",
            exc_info=error.original_error,
            extra={"request_id": request_id, "path": error.path},
        )
        return GraphQLError(
            message=f"Unexpected error. Quote request id {request_id} to support.",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id},
        )

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._classify(error) for error in errors]

    def _classify(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None:
            # Parse and validation errors describe the document, not the server.
            error.extensions = {"code": "GRAPHQL_VALIDATION_FAILED", **(error.extensions or {})}
            return error
        if isinstance(original, GraphQLError):
            # Variables that fail coercion, such as a JSON number for a Decimal.
            error.extensions = {"code": ErrorCode.INVALID_INPUT.value}
            return error
        if isinstance(original, DomainError):
            error.extensions = {"code": original.code.value, "field": original.field}
            return error
        return self.anonymise_error(error)
