"""The media type of a GraphQL response, as the GraphQL-over-HTTP spec has the client choose it:
`application/graphql-response+json` when its Accept header asks for it at least as much as for
`application/json`, else `application/json` (also for `*/*` and for no Accept at all).

Both follow the GraphQL spec's rule that a request error (a document that does not parse or
validate, variables that do not coerce, a refused request: errors before execution, none with a
`path`) has no `data` entry. Under the new type such a response is a 4xx as well (400 unless the
refusal has its own status: 429, 503), while a response with `data`, even null through a field
error, stays 200; under `application/json` the status stays as the server set it."""

from __future__ import annotations

from typing import Any

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def negotiate(accept: str | None) -> str:
    """The media type to answer a request with this Accept header in."""
    if not accept or GRAPHQL_RESPONSE not in accept:
        return JSON
    wanted = dict(_preferences(accept))
    preferred = wanted.get(GRAPHQL_RESPONSE, 0.0)
    return GRAPHQL_RESPONSE if preferred > 0 and preferred >= wanted.get(JSON, 0.0) else JSON


def shaped(body: dict[str, Any], status: int, media_type: str) -> tuple[dict[str, Any], int]:
    """`body` and `status` as `media_type` has them for a request error; others unchanged."""
    if not is_request_error(body):
        return body, status
    body = {key: value for key, value in body.items() if key != "data"}
    if media_type == GRAPHQL_RESPONSE and status < 400:
        status = 400
    return body, status


def is_request_error(body: dict[str, Any]) -> bool:
    """Whether `body` answers a request that never executed: errors, no data, and no error
    raised by a field (field errors carry the field's `path`)."""
    errors = body.get("errors") or ()
    return (
        body.get("data") is None
        and bool(errors)
        and all(isinstance(error, dict) and "path" not in error for error in errors)
    )


def _preferences(accept: str) -> list[tuple[str, float]]:
    """Each media range of an Accept header with its quality (RFC 9110, 12.5.1)."""
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media_range.lower(), quality))
    return ranges
