"""The authorization server's routes, and the resolver of connected apps' tokens for the edge."""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bff.oauth import endpoints
from bff.oauth.consent import Consent
from bff.oauth.pages import STYLESHEET_PATH, stylesheet
from bff.oauth.resource import DelegatedActors
from bff.oauth.service import PATHS, OAuthService
from bff.runtime import Runtime

METADATA_PATH = "/.well-known/oauth-authorization-server"


def oauth(runtime: Runtime) -> tuple[list[Route], DelegatedActors]:
    """The routes of the authorization server and the resource side's token resolver."""
    service = OAuthService.of(runtime)
    consent = Consent(runtime, service)

    async def metadata(_: Request) -> JSONResponse:
        return JSONResponse(
            endpoints.metadata(service), headers={"cache-control": "public, max-age=300"}
        )

    async def css(_: Request) -> Response:
        return stylesheet()

    routes = [
        Route(METADATA_PATH, metadata),
        Route(PATHS["authorization_endpoint"], consent.get, methods=["GET"]),
        Route(PATHS["authorization_endpoint"], consent.post, methods=["POST"]),
        Route(
            PATHS["pushed_authorization_request_endpoint"],
            partial(endpoints.pushed_authorization_request, service),
            methods=["POST"],
        ),
        Route(PATHS["token_endpoint"], partial(endpoints.token, service), methods=["POST"]),
        Route(
            PATHS["revocation_endpoint"], partial(endpoints.revocation, service), methods=["POST"]
        ),
        Route(
            PATHS["introspection_endpoint"],
            partial(endpoints.introspection, service),
            methods=["POST"],
        ),
        Route(STYLESHEET_PATH, css),
    ]
    return routes, DelegatedActors(service, runtime.database.reads)
