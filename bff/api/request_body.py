"""The request as the GraphQL-over-HTTP layer reads it: a JSON object of bounded nesting whose
every string is valid Unicode. Anything else is refused with a typed code before any GraphQL
work, so malformed input can never reach a resolver as a surprise (and a 500)."""

from __future__ import annotations

import json
import re
from typing import Any

from cross_web import HTTPException

BAD_REQUEST = "BAD_REQUEST"
OPERATION_NAME_REQUIRED = "OPERATION_NAME_REQUIRED"
OPERATION_NOT_SUPPORTED = "OPERATION_NOT_SUPPORTED"
# No input type of the schema nests this deep; far below the decoder's recursion limit.
MAX_JSON_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
_PARAMETERS = (
    ("query", str, "a string"),
    ("operationName", str, "a string"),
    ("variables", dict, "an object"),
    ("extensions", dict, "an object"),
    ("documentId", str, "a string"),
)


class RequestRefused(HTTPException):
    """A request the GraphQL layer will not run, with the stable code the client sees."""

    def __init__(self, status_code: int, reason: str, code: str = BAD_REQUEST) -> None:
        super().__init__(status_code, reason)
        self.code = code


def decode_body(data: str | bytes) -> Any:
    """The decoded JSON of a request body, or `RequestRefused` saying what is wrong with it."""
    try:
        value = json.loads(data)
    except UnicodeDecodeError:
        raise RequestRefused(400, "The request body is not valid UTF-8.") from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:
        raise RequestRefused(400, "The request body is not valid JSON.") from None
    check_value(value)
    return value


def check_value(value: Any, depth: int = 0) -> None:
    """Refuse JSON nested deeper than `MAX_JSON_DEPTH` or holding a lone surrogate (`\\ud800`
    decodes to a str that no encoder, database driver or log line can take)."""
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise RequestRefused(400, "The request holds a string that is not valid Unicode.")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_value(key, depth + 1)
            check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_value(item, depth + 1)


def require_object(value: Any) -> None:
    """A GraphQL-over-HTTP request is one JSON object (batching is off) whose parameters have
    the types the GraphQL-over-HTTP spec gives them."""
    if not isinstance(value, dict):
        raise RequestRefused(400, "The request body must be a JSON object.")
    for name, kind, described in _PARAMETERS:
        if value.get(name) is not None and not isinstance(value[name], kind):
            raise RequestRefused(400, f"The request's {name!r} must be {described}.")


def _too_deep() -> RequestRefused:
    return RequestRefused(400, f"The request nests JSON deeper than {MAX_JSON_DEPTH} levels.")
