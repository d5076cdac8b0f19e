"""The ASGI application: edge middleware around the GraphQL view and the health endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from bff import logging as bff_logging
from bff.api.view import GraphQLView
from bff.config import Settings
from bff.db.engine import ReadinessProbe
from bff.edge.asgi import ASGIApp
from bff.edge.authentication import BearerAuthentication
from bff.edge.body_limit import BodySizeLimit
from bff.edge.last_resort import LastResort
from bff.edge.request_log import RequestLog
from bff.edge.security_headers import SecurityHeaders
from bff.gc import freeze_long_lived_objects, tune_garbage_collector
from bff.runtime import Runtime, build_runtime
from schema.root import build_schema

# /readyz answers within this long, whatever state PostgreSQL is in.
READY_TIMEOUT_S = 1.0


def app_from_environment() -> ASGIApp:
    """The app as configured by the environment: uvicorn's factory in each worker process."""
    settings = Settings()
    bff_logging.configure(json_lines=settings.json_logs)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL must be set for server workers")
    return create_app(build_runtime(settings, settings.database_url))


def create_app(runtime: Runtime) -> ASGIApp:
    """The whole service for one process; disposes the runtime's pools on shutdown."""
    view = GraphQLView(build_schema(runtime.settings), runtime)

    async def jwks(_: Request) -> JSONResponse:
        # Public keys only; caches may keep them briefly (a rotated-in key appears within 5 min).
        return JSONResponse(
            runtime.tokens.keys.jwks(), headers={"cache-control": "public, max-age=300"}
        )

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # A paused or partitioned server must not hold the probe: "not ready" is the answer.
    database_ready = ReadinessProbe(runtime.read_engine, READY_TIMEOUT_S)

    async def readyz(_: Request) -> JSONResponse:
        if not await database_ready():
            return JSONResponse(
                {"status": "unavailable", "database": "unreachable"}, status_code=503
            )
        body: dict[str, object] = {"status": "ok", "database": "ok"}
        if runtime.cache is not None:
            body["cache"] = vars(runtime.cache.stats)
        if runtime.responses is not None:
            body["responses"] = vars(runtime.responses.stats)
        return JSONResponse(body)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        tune_garbage_collector()
        freezer = asyncio.create_task(freeze_long_lived_objects(), name="gc-freeze")
        await runtime.start()
        yield
        freezer.cancel()
        await database_ready.close()
        await runtime.close()

    starlette = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/.well-known/jwks.json", jwks),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        # Inside Starlette too: its own outermost layer would answer a route's failure with a
        # plain-text 500 before the LastResort around the edge could.
        middleware=[Middleware(LastResort)],
        lifespan=lifespan,
    )
    app: ASGIApp = BearerAuthentication(starlette, runtime.tokens, runtime.actors.resolve)
    app = BodySizeLimit(app, runtime.settings.max_body_bytes)
    app = LastResort(app)
    app = SecurityHeaders(app, hsts=runtime.settings.is_production)
    return RequestLog(app)
