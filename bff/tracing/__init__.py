"""OpenTelemetry traces, off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`):
a span per request named by its operation (`edge`), a child span per SQL statement (`sql`), per
Redis command (the maintained Redis instrumentation) and per root field, the domain call
(`extension`). Log lines and masked errors carry the trace id (`current_trace_id`)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from bff.config import Settings

tracer = trace.get_tracer("bff")
_provider: TracerProvider | None = None


def configure(settings: Settings, exporter: SpanExporter | None = None) -> bool:
    """Trace from now on when the settings name an OTLP endpoint, or into `exporter` (each
    span handed over as it ends: the tests' in-memory exporter). Whether tracing is on."""
    global _provider
    if _provider is not None:
        return True
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    elif settings.otel_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
    else:
        return False
    # The provider exports what is still buffered at exit (atexit) on its own.
    _provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name}),
        # A caller's sampling decision (traceparent) is kept; new traces are sampled by ratio.
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
    )
    _provider.add_span_processor(processor)
    trace.set_tracer_provider(_provider)
    RedisInstrumentor().instrument(tracer_provider=_provider)
    return True


def enabled() -> bool:
    return _provider is not None


def current_trace_id() -> str | None:
    """The trace id of the current span as W3C Trace Context writes it, if one is recorded."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None
