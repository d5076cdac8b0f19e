"""The protocol endpoints: RFC 8414 metadata, pushed authorization requests (RFC 9126), token
(with DPoP, RFC 9449), revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidRequestError,
    OAuth2Error,
    UnsupportedResponseTypeError,
)
from starlette.requests import Request
from starlette.responses import JSONResponse

from bff.domain.delegation import REQUEST_LIFETIME, SCOPE_WORDS
from bff.oauth.dpop import ALGORITHMS, InvalidProof, NonceRequired
from bff.oauth.server import AUTH_METHODS, Answer, OAuthServer, run_sync
from bff.oauth.service import PATHS, OAuthService, oauth_request, read_form

# What a pushed request keeps: the browser later carries only its request_uri.
_KEPT = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)
_NO_STORE = {"cache-control": "no-store"}


def metadata(service: OAuthService) -> dict[str, Any]:
    """The authorization server's metadata (RFC 8414)."""
    return {
        "issuer": service.issuer,
        **{name: service.url(path) for name, path in PATHS.items()},
        "require_pushed_authorization_requests": True,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256"],
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "dpop_signing_alg_values_supported": ALGORITHMS,
        "scopes_supported": list(SCOPE_WORDS),
        "authorization_response_iss_parameter_supported": True,
    }


def error_response(error: OAuth2Error, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error as JSON, never as a redirect (these endpoints are called by the client)."""
    return JSONResponse(
        dict(error.get_body()),
        status_code=error.status_code,
        headers={**dict(error.get_headers()), **_NO_STORE, **(headers or {})},
    )


def _json(answer: Answer, extra: dict[str, str] | None = None) -> JSONResponse:
    headers = {name: value for name, value in answer.headers if name.lower() != "content-type"}
    return JSONResponse(
        answer.body, status_code=answer.status, headers={**headers, **_NO_STORE, **(extra or {})}
    )


class DPoPError(OAuth2Error):
    error = "invalid_dpop_proof"


class UseNonce(OAuth2Error):
    error = "use_dpop_nonce"


def _check_fapi(params: dict[str, str]) -> None:
    """What FAPI 2.0 and this server add to RFC 6749 for an authorization request."""
    if not params.get("state"):
        raise InvalidRequestError("'state' is required.")
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        raise InvalidRequestError("PKCE with code_challenge_method=S256 is required.")


async def pushed_authorization_request(service: OAuthService, request: Request) -> JSONResponse:
    url = service.url(PATHS["pushed_authorization_request_endpoint"])
    try:
        params = await read_form(request)
        if "request_uri" in params or "request" in params:
            raise InvalidRequestError("A pushed request carries its parameters themselves.")
        pushed_jkt = params.pop("dpop_jkt", None)
        if request.headers.get("dpop"):
            try:
                proof = await service.proofs.check(request.headers["dpop"], "POST", url)
            except InvalidProof as invalid:
                raise DPoPError(str(invalid)) from None
            if pushed_jkt not in (None, proof.jkt):
                raise DPoPError("dpop_jkt is not the key of the DPoP proof.")
            pushed_jkt = proof.jkt
    except OAuth2Error as error:
        return error_response(error)
    exchange = service.exchange(PATHS["pushed_authorization_request_endpoint"])

    def validate() -> dict[str, str]:
        server = OAuthServer(exchange)
        authenticated = oauth_request("POST", url, params, request)
        client = server.authenticate_client(authenticated, AUTH_METHODS, "par")
        if params.setdefault("client_id", client.get_client_id()) != client.get_client_id():
            raise InvalidClientError(description="client_id is not the authenticated client.")
        authorization = oauth_request("GET", url, params, request)
        grant = server.get_authorization_grant(authorization)
        grant.validate_no_multiple_request_parameter(authorization)
        grant.validate_authorization_request()
        _check_fapi(params)
        kept = {name: params[name] for name in _KEPT if name in params}
        return kept | ({"dpop_jkt": pushed_jkt} if pushed_jkt else {})

    try:
        kept = await run_sync(validate)
    except UnsupportedResponseTypeError:
        return error_response(UnsupportedResponseTypeError("Only response_type=code.", None))
    except OAuth2Error as error:
        return error_response(error)
    request_uri = await service.store.push_request(kept["client_id"], kept)
    expires_in = int(REQUEST_LIFETIME.total_seconds())
    return JSONResponse(
        {"request_uri": request_uri, "expires_in": expires_in}, status_code=201, headers=_NO_STORE
    )


async def token(service: OAuthService, request: Request) -> JSONResponse:
    path = PATHS["token_endpoint"]
    nonce = {"dpop-nonce": service.nonces.issue()}
    try:
        # The proof first: a client without a nonce learns it before anything is spent.
        try:
            proof = await service.proofs.check(
                request.headers.get("dpop"), "POST", service.url(path), nonce_required=True
            )
        except NonceRequired as missing:
            raise UseNonce(str(missing)) from None
        except InvalidProof as invalid:
            raise DPoPError(str(invalid)) from None
        params = await read_form(request)
    except OAuth2Error as error:
        return error_response(error, nonce)
    exchange = service.exchange(path, proof.jkt)
    oauth = oauth_request("POST", service.url(path), params, request)
    answer: Answer = await run_sync(lambda: OAuthServer(exchange).create_token_response(oauth))
    return _json(answer, nonce)


async def revocation(service: OAuthService, request: Request) -> JSONResponse:
    return await _endpoint(service, request, "revocation", PATHS["revocation_endpoint"])


async def introspection(service: OAuthService, request: Request) -> JSONResponse:
    return await _endpoint(service, request, "introspection", PATHS["introspection_endpoint"])


async def _endpoint(service: OAuthService, request: Request, name: str, path: str) -> JSONResponse:
    try:
        params = await read_form(request)
    except OAuth2Error as error:
        return error_response(error)
    exchange = service.exchange(path)
    oauth = oauth_request("POST", service.url(path), params, request)
    answer: Answer = await run_sync(
        lambda: OAuthServer(exchange).create_endpoint_response(name, oauth)
    )
    if answer.status == 200 and not answer.body:
        answer.body = {}
    return _json(answer)
