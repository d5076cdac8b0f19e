"""A compiled query over HTTP POST without Strawberry's per-request pipeline: the body decoded
once, the document resolved, the plan run (or the refusal of a document over a limit
written: refusing must cost less than answering), the result written as JSON. Anything
else (GET, a mutation, a valid document that does not compile, a streaming Accept) is left to
Strawberry, which reads the same already-received body and answers as before."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bff.api.compiled.documents import CompiledDocuments
from bff.api.compiled.pipeline import refused_result, run_compiled
from bff.api.documents.resolution import DocumentResolver
from bff.api.request_body import decode_body, require_object
from bff.api.responses import graphql_response

_STREAMING = ("multipart/mixed", "text/event-stream")


async def compiled_response(
    request: Request,
    compiled: CompiledDocuments,
    documents: DocumentResolver,
    context_of: Callable[[Request, Response], Awaitable[Any]],
    release: str,
) -> Response | None:
    """The response to a POST of a compiled query, or None to let Strawberry answer."""
    accept = request.headers.get("accept", "")
    if (
        request.method != "POST"
        or "application/json" not in request.headers.get("content-type", "")
        or any(kind in accept for kind in _STREAMING)
    ):
        return None
    data = decode_body(await request.body())
    require_object(data)
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    sub_response = Response()
    context = await context_of(request, sub_response)
    actor = context.actor
    query = await documents.document(
        query,
        extensions,
        data.get("documentId"),
        request.headers,
        actor.roles if actor is not None else frozenset(),
    )
    found = compiled.plan(query, operation_name, variables, request.state) if query else None
    if found is not None:
        assert query is not None
        plan, coerced = found
        result = await run_compiled(
            plan, coerced, context, query, operation_name, variables, release
        )
    elif query and (refused := compiled.refusal(query, request.state)) is not None:
        result = await refused_result(refused, context, compiled.schema._schema)
    else:
        request.state.compile_tried = True  # Strawberry's turn: not planned (or counted) again
        return None
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    # With what the operation set on the context's response (a 429 and its Retry-After, cookies).
    response = graphql_response(accept, body, sub_response.status_code)
    response.headers.raw.extend(
        (name, value) for name, value in sub_response.headers.raw if name != b"content-length"
    )
    return response
