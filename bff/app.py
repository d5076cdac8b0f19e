"""The app factory, the one place that assembles the service: the schema from its types and
resolvers with the GraphQL machinery of `bff.api`, and the ASGI application from the edge
layers, the GraphQL view and the health endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    specified_rules,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

import bff
import dataloaders
import resolvers
import schema
from bff import logging as bff_logging
from bff import tracing
from bff.api.cost import cost_model
from bff.api.document_limits import DocumentLimits
from bff.api.errors import ErrorBoundary
from bff.api.graphiql import assets_route
from bff.api.operation_name import OperationName
from bff.api.rate_limits import RateLimits
from bff.api.response_caching import ResponseCaching
from bff.api.validation import DocumentGate, DocumentRefused, GatedDocument
from bff.api.view import GraphQLView
from bff.cache.responses import code_fingerprint
from bff.config import Settings
from bff.db.engine import ReadinessProbe
from bff.edge.asgi import ASGIApp
from bff.edge.authentication import BearerAuthentication
from bff.edge.body_limit import BodySizeLimit
from bff.edge.cors import Cors
from bff.edge.csrf import CsrfPrevention
from bff.edge.last_resort import LastResort
from bff.edge.load_shedding import LoadGauge, LoadShedding, Thresholds
from bff.edge.request_log import RequestLog
from bff.edge.security_headers import SecurityHeaders
from bff.edge.websocket_origin import WebSocketOrigin
from bff.gc import freeze_long_lived_objects, tune_garbage_collector
from bff.metrics import exposition
from bff.metrics.edge import RequestMetrics
from bff.oauth.routes import oauth
from bff.runtime import Runtime, build_runtime
from bff.tracing.edge import RequestTracing
from bff.tracing.extension import DomainCallSpans
from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.subscription import Subscription
from schema.account import Account
from schema.cost import describe_arguments
from schema.scalars import SCALARS
from schema.transaction import Transaction
from schema.transfer import Transfer
from schema.user import User

_NODE_TYPES = [User, Account, Transaction, Transfer]
# Apps send the same few documents over and over: parse and validate each one once.
_DOCUMENT_CACHE_SIZE = 512
# Everything that shapes or authorizes a response: cached responses are keyed by it.
_RELEASE = code_fingerprint(
    [Path(package.__path__[0]) for package in (bff, dataloaders, resolvers, schema)]
)


class BankSchema(strawberry.Schema):
    document_rules: tuple[type[ASTValidationRule], ...] = ()
    gate: DocumentGate

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: ErrorBoundary logs unexpected errors with their stack, and client
        errors (bad documents, bad input) are the caller's, not the server's."""

    async def _prepare_operation_async(
        self, context: ExecutionContext, extensions_runner: SchemaExtensionsRunner
    ) -> PreExecutionError | None:
        """Strawberry's parse and validate steps, with a document the gate refused answered as
        its own parse errors are (over HTTP and in streams alike): parsing is an extension's
        hook here, and Strawberry handles only the errors of its own parse. (A private method:
        the one place both `execute` and `subscribe` prepare an operation.)"""
        try:
            return await super()._prepare_operation_async(context, extensions_runner)
        except DocumentRefused as refused:
            context.pre_execution_errors = [refused.error]
            return PreExecutionError(data=None, errors=[refused.error])


def build_schema(settings: Settings | None = None) -> BankSchema:
    """The schema with the abuse limits and error handling `settings` ask for."""
    settings = settings or Settings()
    gate = DocumentGate(DocumentLimits.of(settings), _DOCUMENT_CACHE_SIZE)
    extensions: list[Callable[[], SchemaExtension]] = [
        ErrorBoundary,
        OperationName,
        partial(GatedDocument, gate),
        RateLimits,
        partial(ResponseCaching, release=_RELEASE),
    ]
    if not settings.introspection_enabled:
        extensions.append(DisableIntrospection)
    if tracing.enabled():
        extensions.append(DomainCallSpans)
    schema = BankSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=_NODE_TYPES,
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=settings.is_production, scalar_map=SCALARS
        ),
    )
    describe_arguments(schema._schema)
    # The cost directives are read now, once: a schema they cannot price fails to build.
    cost_model(schema._schema)
    schema.gate = gate
    # What every document is validated with: compiled documents are held to the same rules.
    schema.document_rules = (
        *specified_rules,
        *([] if settings.introspection_enabled else [NoSchemaIntrospectionCustomRule]),
    )
    return schema


# /readyz answers within this long, whatever state PostgreSQL is in.
READY_TIMEOUT_S = 1.0


def app_from_environment() -> ASGIApp:
    """The app as configured by the environment: uvicorn's factory in each worker process."""
    settings = Settings()
    bff_logging.configure(json_lines=settings.json_logs, level=settings.log_level)
    tracing.configure(settings)
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL must be set for server workers")
    return create_app(build_runtime(settings, settings.database_url))


def create_app(runtime: Runtime, compiled_execution: bool | None = None) -> ASGIApp:
    """The whole service for one process; disposes the runtime's pools on shutdown.
    `compiled_execution` overrides the setting (the tests run on both executors)."""
    schema = build_schema(runtime.settings)
    if compiled_execution is None:
        compiled_execution = runtime.settings.compiled_execution
    # Third-party access: the OAuth 2.0 authorization server and its consent page.
    oauth_routes, delegated = oauth(runtime)
    view = GraphQLView(
        schema,
        runtime,
        _RELEASE,
        schema.document_rules if compiled_execution else None,
        delegated,
        schema.gate,
    )

    async def jwks(_: Request) -> JSONResponse:
        # Public keys only; caches may keep them briefly (a rotated-in key appears within 5 min).
        return JSONResponse(
            runtime.tokens.keys.jwks(), headers={"cache-control": "public, max-age=300"}
        )

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    # A paused or partitioned server must not hold the probe: "not ready" is the answer.
    database_ready = ReadinessProbe(runtime.database.ping, READY_TIMEOUT_S)

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
            *(
                [Route("/metrics", exposition.endpoint(runtime.sampler.sample))]
                if runtime.settings.metrics_public
                else []
            ),
            *oauth_routes,
            # GraphiQL's scripts and styles, wherever the view serves GraphiQL (development).
            *([assets_route()] if view.graphql_ide else []),
        ],
        # Inside Starlette too: its own outermost layer would answer a route's failure with a
        # plain-text 500 before the LastResort around the edge could.
        middleware=[Middleware(LastResort)],
        lifespan=lifespan,
    )
    settings = runtime.settings
    app: ASGIApp = BearerAuthentication(
        starlette, runtime.tokens, runtime.actors.resolve, delegated.authenticate
    )
    # Saturated, the least important requests are refused before anyone authenticates them.
    thresholds = Thresholds(
        settings.shed_max_in_flight, settings.shed_max_loop_lag_ms / 1000, settings.shed_heavy_cost
    )
    app = LoadShedding(app, LoadGauge(thresholds))
    app = BodySizeLimit(app, settings.max_body_bytes)
    # Forged requests are refused on their headers, before anything reads a body or a token.
    app = CsrfPrevention(app)
    app = WebSocketOrigin(app, settings.browser_origins)
    app = LastResort(app)
    # Outside the last resort: every answer to a listed origin, failures too, is readable there.
    app = Cors(app, settings.browser_origins)
    app = SecurityHeaders(app, hsts=settings.hsts)
    return RequestTracing(RequestLog(RequestMetrics(app)))
