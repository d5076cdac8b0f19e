"""The error boundary for everything that is not a `userError`: every error a client receives
carries a typed `code` and the `requestId`; a dependency outage is `SERVICE_UNAVAILABLE` (HTTP 503
with `Retry-After`); unexpected failures are masked to a generic message with the request id, and
logged with their stack.

It runs on Strawberry's public extension hooks only: `on_operation` (after the operation, for
queries and mutations, and around every other extension's hooks) and `on_stream_result` (each
result of a subscription, or of an operation sent over a WebSocket).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import StreamExecutionResult

from bff.api.suggestions import without_suggestions
from bff.db.failures import as_unavailable
from bff.domain.errors import DomainError, ErrorCode, ServiceUnavailable
from bff.metrics.outcomes import note_error
from bff.tracing import current_trace_id

log = logging.getLogger("bff.errors")

INTERNAL = "INTERNAL"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
# Strawberry answers these itself, before any result exists (HTTP 400).
_REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)
# graphql-core's coercion messages quote the value: "Variable '$input' got invalid value {...};"
_INVALID_VALUE = re.compile(r" got invalid value ")


def masked_message(request_id: str | None) -> str:
    """What the client is told about a failure it cannot act on."""
    return f"Unexpected error. Quote request id {request_id} to support."


class ErrorBoundary(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except _REQUEST_ERRORS:
            raise
        except Exception as error:
            # Another extension's hook failed. Strawberry would answer with the exception's own
            # text; what it answers with instead is the error raised here, classified.
            raise self._classify(GraphQLError(str(error), original_error=error)) from error
        self._process(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._process(result)
        yield

    def _process(self, result: object) -> None:
        # Idempotent: a result seen by both hooks (the last one of a stream) comes out the same.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [self._classify(error) for error in errors]  # type: ignore[attr-defined]

    def _classify(self, error: GraphQLError) -> GraphQLError:
        return classify(error, self.execution_context.context)


def classify(error: GraphQLError, context: Any) -> GraphQLError:
    """The error as the client sees it: a typed code and the request id, or masked."""
    classified = _classified(error, context)
    note_error(context, (classified.extensions or {}).get("code"))
    return classified


def _classified(error: GraphQLError, context: Any) -> GraphQLError:
    request_id = getattr(context, "request_id", None)
    runtime = getattr(context, "runtime", None)
    if runtime is not None and runtime.settings.is_production:
        without_suggestions(error)
    original = error.original_error
    if original is None:
        # Parse and validation errors describe the document, not the server; errors other
        # extensions made (RATE_LIMITED) and ones classified before keep their code.
        error.extensions = {"code": VALIDATION_FAILED, **(error.extensions or {})}
        _log_refusal(error, error.message)
    elif isinstance(original, GraphQLError):
        # Variables that fail coercion, such as a JSON number for a Decimal.
        error.extensions = {"code": ErrorCode.INVALID_INPUT.value}
        # graphql-core quotes the value after the place ("... at .password: <why and value>").
        _log_refusal(error, _INVALID_VALUE.split(error.message)[0].split(": ", 1)[0])
    elif isinstance(original, DomainError):
        error.extensions = {"code": original.code.value, "field": original.field}
    elif (outage := as_unavailable(original)) is not None:
        return _unavailable(error, outage, context, request_id)
    else:
        return _masked(error, request_id)
    error.extensions["requestId"] = request_id
    return error


def _log_refusal(error: GraphQLError, what: str) -> None:
    """What was wrong with a refused document or its variables, for whoever debugs the app
    (`what`: never the values a client sent, a password say)."""
    log.info(
        "request refused: %s",
        what,
        extra={"code": (error.extensions or {}).get("code"), "path": error.path},
    )


def _unavailable(
    error: GraphQLError, outage: ServiceUnavailable, context: Any, request_id: Any
) -> GraphQLError:
    log.warning(
        "dependency unavailable: %s",
        error.original_error,
        extra={"request_id": request_id, "dependency": outage.dependency},
    )
    response = getattr(context, "response", None)  # None over WebSocket
    if response is not None:
        response.status_code = 503
        response.headers["retry-after"] = str(outage.retry_after_s)
    return _replaced(
        error,
        outage.client_message,
        {"code": outage.code, "retryAfter": outage.retry_after_s, "requestId": request_id},
    )


def _masked(error: GraphQLError, request_id: Any) -> GraphQLError:
    log.error(
        "unexpected error",
        exc_info=error.original_error,
        extra={"request_id": request_id, "path": error.path},
    )
    extensions = {"code": INTERNAL, "requestId": request_id}
    trace_id = current_trace_id()
    if trace_id is not None:  # what support looks the failure up by in the traces
        extensions["traceId"] = trace_id
    return _replaced(error, masked_message(request_id), extensions)


def _replaced(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    """The error at the same place in the document, with nothing of the original but where."""
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
