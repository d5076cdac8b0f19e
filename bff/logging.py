"""Structured logging: JSON lines in production, readable lines in development.

Every line written while a request is served carries its request id, operation name, actor and
trace id (`RequestContext`), whichever logger wrote it, WebSocket operations included."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

# uvicorn adds a colourised copy of its messages; it is noise in structured logs.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}

# The state of the request being served (the ASGI scope's `state`, filled in as it goes), and
# the GraphQL operation being run (one connection runs several over a WebSocket, each in a task
# of its own with a copy of this context).
request_state: ContextVar[dict[str, Any] | None] = ContextVar("request_state", default=None)
operation_name: ContextVar[str | None] = ContextVar("operation_name", default=None)


def timestamp(record: logging.LogRecord) -> str:
    """ISO 8601 in UTC to the millisecond."""
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RequestContext(logging.Filter):
    """Adds what is known of the request being served to every record (not over what the
    record names itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.__dict__
        served = request_state.get()
        if served is not None:
            fields.setdefault("request_id", served.get("request_id"))
            actor = served.get("actor")
            fields.setdefault("actor_id", str(actor.user_id) if actor is not None else None)
            fields.setdefault("operation", operation_name.get() or served.get("operation_name"))
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            fields.setdefault("trace_id", trace.format_trace_id(span.trace_id))
            fields.setdefault("span_id", trace.format_span_id(span.span_id))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {key: value for key, value in record.__dict__.items() if key not in _STANDARD}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and value is not None
        )
        return f"{timestamp(record)} {super().format(record)} {extras}".rstrip()


def configure(json_lines: bool, level: int | str = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_lines else TextFormatter("%(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(RequestContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pgserver narrates every command it runs at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
