"""The outcome of a GraphQL request, one of a few fixed label values: from its HTTP status and
the worst error code the error boundary gave its errors."""

from __future__ import annotations

from typing import Any

OK = "ok"
REJECTED = "rejected"  # the caller's mistake: a bad document or input, not authenticated
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "unavailable"  # a dependency outage, answered 503 with Retry-After
ERROR = "error"  # a masked failure of the server's own

_WORST_FIRST = (ERROR, UNAVAILABLE, RATE_LIMITED, REJECTED, OK)
_BY_CODE = {"INTERNAL": ERROR, "SERVICE_UNAVAILABLE": UNAVAILABLE, "RATE_LIMITED": RATE_LIMITED}
_STATE_KEY = "graphql_outcome"


def note_error(context: Any, code: object) -> None:
    """Remember an error of the request that `context` serves, for its metrics."""
    request = getattr(context, "request", None)
    if request is None:
        return
    noted = getattr(request.state, _STATE_KEY, OK)
    found = _BY_CODE.get(str(code), REJECTED)
    if _WORST_FIRST.index(found) < _WORST_FIRST.index(noted):
        setattr(request.state, _STATE_KEY, found)


def outcome(status: int, request_state: dict[str, Any]) -> str:
    """The outcome of a request answered with `status`."""
    noted: str = request_state.get(_STATE_KEY, OK)
    by_status = (
        RATE_LIMITED
        if status == 429
        else UNAVAILABLE
        if status == 503
        else ERROR
        if status >= 500 or status == 0  # 0: failed before answering
        else REJECTED
        if status >= 400
        else OK
    )
    return min(noted, by_status, key=_WORST_FIRST.index)
