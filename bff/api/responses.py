"""A GraphQL response over HTTP, in the media type the request asked for (bff/edge/media_type.py),
whichever executor or refusal wrote it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from bff.edge.media_type import negotiate, shaped


def graphql_response(
    accept: str | None,
    body: dict[str, Any],
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`body` as JSON, with the status and shape its media type gives a request error."""
    media_type = negotiate(accept)
    body, status = shaped(body, status, media_type)
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type=media_type)
