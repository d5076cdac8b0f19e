"""Where the metrics are read: a listener of their own (`BFF_METRICS_PORT`, started by
`bff serve` in the supervising process), and `/metrics` on the public listener only when
`BFF_METRICS_PUBLIC` asks for it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(directory: Path) -> None:
    """Make worker processes (started after this) write their samples to files in `directory`,
    emptied first: the files of a previous run's processes would add up with this run's."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_VARIABLE] = str(directory)


def registry() -> CollectorRegistry:
    """This process's metrics, or every worker's added up in multiprocess mode."""
    if not os.environ.get(MULTIPROC_VARIABLE):
        return REGISTRY
    collected = CollectorRegistry()
    MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
    return collected


def serve(host: str, port: int) -> None:
    """Serve the metrics on their own listener, in a thread of this process."""
    start_http_server(port, host, registry=registry())


def endpoint(sample: Callable[[], Awaitable[None]]) -> Callable[[Request], Awaitable[Response]]:
    """`/metrics` for the public listener: this process's samples brought up to date first."""

    async def metrics(_: Request) -> Response:
        await sample()
        return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)

    return metrics
