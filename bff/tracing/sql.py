"""A child span per SQL statement, from SQLAlchemy's cursor events (they run in the greenlet
that SQLAlchemy's asyncio layer starts with the caller's context, so spans nest correctly)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, use_span
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bff import tracing

_SPAN = "_bff_span"
_MAX_STATEMENT = 2000


def instrument(engine: AsyncEngine) -> None:
    """Trace the engine's statements, when tracing is on."""
    if not tracing.enabled():
        return
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _started)
    event.listen(sync_engine, "after_cursor_execute", _ended)
    event.listen(sync_engine, "handle_error", _failed)


def start_span(statement: str) -> Span:
    """A span for one statement, named by its verb. Statements carry bind parameters, never
    values: the text is safe to record."""
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
    return tracing.tracer.start_span(
        verb,
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": "postgresql", "db.query.text": statement[:_MAX_STATEMENT]},
    )


@contextmanager
def statement_span(statement: str) -> Iterator[None]:
    """Around a statement sent on the driver connection directly (bff.db.driver), which
    SQLAlchemy's events do not see."""
    if not tracing.enabled():
        yield
        return
    span = start_span(statement)
    with use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True):
        yield


def _started(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    span = start_span(statement)
    if context is not None:
        setattr(context, _SPAN, span)


def _ended(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    span = getattr(context, _SPAN, None)
    if span is not None:
        span.end()


def _failed(exception_context: Any) -> None:
    span = getattr(exception_context.execution_context, _SPAN, None)
    if span is not None:
        span.record_exception(exception_context.original_exception)
        span.set_status(Status(StatusCode.ERROR))
        span.end()
