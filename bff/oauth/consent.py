"""The authorization endpoint: the customer signs in, chooses accounts and a daily limit, and
approves or denies; the browser goes back to the client with a code (or an error), `state` and
`iss` (RFC 9207).

Only pushed requests are served (`client_id` and `request_uri`, RFC 9126). Sign-in opens a
short session through the app's own login (with its throttling); its access token is kept in
an HttpOnly, SameSite=Strict cookie scoped to /oauth and the session ends with the decision.
Forms carry a CSRF token that must equal a cookie of its own (double submit), and a request
whose Origin is not this server is refused.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import parse_qsl
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response

from bff.auth.tokens import InvalidToken
from bff.domain import sessions, users
from bff.domain.actor import Actor
from bff.domain.delegation import TRANSFERS_WRITE, Client, check_daily_limit
from bff.domain.errors import DomainError, ErrorCode, Throttled
from bff.domain.models import Account, AccountKind, AccountStatus
from bff.domain.ports import PushedRequest
from bff.oauth.pages import Hidden, consent_page, error_page, sign_in_page
from bff.oauth.server import Answer, FormRequest, OAuthServer, Subject, run_sync
from bff.oauth.service import PATHS, OAuthService
from bff.runtime import Runtime

SESSION_COOKIE = "bff_oauth_session"
# The customer signs in here only to decide one request, which expires in 90 s: a session left
# behind by someone who walked away ends on its own soon after, not when an app session would.
CONSENT_SESSION = sessions.SessionPolicy(
    idle_timeout=timedelta(minutes=10), max_lifetime=timedelta(minutes=10)
)
CSRF_COOKIE = "bff_oauth_csrf"
_COOKIE_PATH = "/oauth"
_NOT_PUSHED = "This server accepts only pushed authorization requests (PAR, RFC 9126)."
_EXPIRED = "This connection request has expired or was already used."
_MAX_FORM_BYTES = 16 * 1024


class Consent:
    def __init__(self, runtime: Runtime, service: OAuthService) -> None:
        self.runtime = runtime
        self.service = service
        self.secure = service.issuer.startswith("https://")

    async def get(self, request: Request) -> Response:
        """GET /oauth/authorize?client_id=…&request_uri=…: sign-in, or consent when signed in."""
        params = dict(request.query_params)
        if "request_uri" not in params:
            return error_page(_NOT_PUSHED)
        found = await self._pushed(params.get("client_id", ""), params["request_uri"])
        if found is None:
            return error_page(_EXPIRED)
        pushed, client = found
        hidden = Hidden(client.id, params["request_uri"], secrets.token_urlsafe(32))
        actor = await self._signed_in(request)
        page: Response = (
            await self._consent(actor, client, pushed, hidden)
            if actor is not None
            else sign_in_page(client.name, hidden)
        )
        self._set_cookie(page, CSRF_COOKIE, hidden.csrf)
        return page

    async def post(self, request: Request) -> Response:
        form = await self._form(request)
        if form is None or not self._same_origin(request):
            return error_page("The form could not be verified; reload the page.", 403)
        fields = {name: value for name, value in form}
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, fields.get("csrf", "")):
            return error_page("The form could not be verified; reload the page.", 403)
        found = await self._pushed(fields.get("client_id", ""), fields.get("request_uri", ""))
        if found is None:
            return error_page(_EXPIRED)
        pushed, client = found
        hidden = Hidden(client.id, fields["request_uri"], cookie)
        if fields.get("step") == "sign_in":
            return await self._sign_in(request, fields, client, pushed, hidden)
        actor = await self._signed_in(request)
        if actor is None:
            return sign_in_page(client.name, hidden, "Sign in first.", 401)
        chosen = [value for name, value in form if name == "account"]
        return await self._decide(actor, fields, chosen, client, pushed, hidden)

    async def _form(self, request: Request) -> list[tuple[str, str]] | None:
        body = await request.body()
        if len(body) > _MAX_FORM_BYTES:
            return None
        try:
            return parse_qsl(body.decode(), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return None

    def _same_origin(self, request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or origin == self.service.issuer

    async def _pushed(
        self, client_id: str, request_uri: str
    ) -> tuple[PushedRequest, Client] | None:
        pushed = await self.service.store.pushed(request_uri)
        if pushed is None or pushed.client_id != client_id:
            return None
        client = await self.service.store.client(client_id)
        return (pushed, client) if client is not None else None

    async def _signed_in(self, request: Request) -> Actor | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            resolved = await self.runtime.actors.resolve(self.runtime.tokens.verify(token))
        except InvalidToken:
            return None
        return resolved[0] if resolved else None

    async def _own_accounts(self, user_id: UUID) -> list[Account]:
        reads = self.runtime.database.reads
        listed = (await reads.account_lists([user_id])).get(user_id)
        ids = [account_id for _, account_id in listed[1]] if listed else []
        accounts = {account.id: account for account in await reads.accounts(ids)}
        return [
            accounts[account_id]
            for account_id in ids
            if account_id in accounts
            and accounts[account_id].kind is AccountKind.CUSTOMER
            and accounts[account_id].status is AccountStatus.ACTIVE
        ]

    async def _consent(
        self,
        actor: Actor,
        client: Client,
        pushed: PushedRequest,
        hidden: Hidden,
        problem: str | None = None,
        status: int = 200,
    ) -> Response:
        return consent_page(
            client.name,
            sorted(pushed.params["scope"].split()),
            await self._own_accounts(actor.user_id),
            hidden,
            pushed.params["redirect_uri"],
            problem,
            status,
        )

    async def _sign_in(
        self,
        request: Request,
        fields: dict[str, str],
        client: Client,
        pushed: PushedRequest,
        hidden: Hidden,
    ) -> Response:
        settings = self.runtime.settings
        address = request.client.host if request.client else "unknown"
        command = users.LogIn(
            fields.get("email", ""),
            fields.get("password", ""),
            f"Connecting {client.name}"[:80],
            address,
        )
        try:
            opened = await users.log_in(
                self.runtime.unit_of_work(), command, CONSENT_SESSION, settings.throttle_policy
            )
        except Throttled as throttled:
            refused = sign_in_page(client.name, hidden, throttled.message, 429)
            refused.headers["retry-after"] = str(throttled.retry_after_s)
            return refused
        except DomainError as error:
            return sign_in_page(client.name, hidden, error.message, 401)
        actor = Actor(opened.user.id, opened.user.roles, session_id=opened.session.id)
        page = await self._consent(actor, client, pushed, hidden)
        token = self.runtime.tokens.issue(opened.user.id, opened.session.id)
        self._set_cookie(page, SESSION_COOKIE, token)
        return page

    async def _decide(
        self,
        actor: Actor,
        fields: dict[str, str],
        chosen: list[str],
        client: Client,
        pushed: PushedRequest,
        hidden: Hidden,
    ) -> Response:
        approve = fields.get("decision") == "approve"
        subject = None
        if approve:
            accounts = await self._own_accounts(actor.user_id)
            own = {str(account.id): account.id for account in accounts}
            scopes = frozenset(pushed.params["scope"].split())
            try:
                limit = int(fields.get("daily_limit", "0") or "0")
                check_daily_limit(limit)
            except (ValueError, DomainError):
                return await self._consent(
                    actor, client, pushed, hidden, "The daily limit is a whole number.", 400
                )
            if not chosen or not set(chosen) <= own.keys():
                return await self._consent(
                    actor, client, pushed, hidden, "Choose at least one of your accounts.", 400
                )
            if TRANSFERS_WRITE not in scopes:
                limit = 0
            if not await self.service.store.use_request(hidden.request_uri):
                return error_page(_EXPIRED)
            shared = [own[value] for value in dict.fromkeys(chosen)]
            grant = await self.service.store.consent(
                actor.user_id, client.id, scopes, shared, limit
            )
            subject = Subject(grant)
        elif not await self.service.store.use_request(hidden.request_uri):
            return error_page(_EXPIRED)
        answer = await self._authorization_response(pushed, subject)
        await sessions.log_out(self.runtime.unit_of_work(), actor)
        response = Response(status_code=303, headers={"location": answer.location or ""})
        for name in (SESSION_COOKIE, CSRF_COOKIE):
            response.delete_cookie(name, path=_COOKIE_PATH)
        return response

    async def _authorization_response(
        self, pushed: PushedRequest, subject: Subject | None
    ) -> Answer:
        """authlib's code grant builds the redirect: a code (saved through the bridge) or
        access_denied, with state, and the issuer added by its RFC 9207 extension."""
        path = PATHS["authorization_endpoint"]
        exchange = self.service.exchange(path)
        exchange.pushed_jkt = pushed.params.get("dpop_jkt")
        params = {k: v for k, v in pushed.params.items() if k != "dpop_jkt"}

        def respond() -> Answer:
            server = OAuthServer(exchange)
            request = FormRequest("GET", self.service.url(path), params, {})
            grant = server.get_authorization_grant(request)
            answer: Answer = server.create_authorization_response(request, subject, grant)
            return answer

        answer = await run_sync(respond)
        if answer.status != 302 or not answer.location:
            raise DomainError(ErrorCode.INVALID_STATE, "The authorization response failed.")
        return answer

    def _set_cookie(self, response: Response, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            max_age=15 * 60,
            path=_COOKIE_PATH,
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
