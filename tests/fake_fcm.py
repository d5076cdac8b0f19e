"""A local stand-in for FCM's HTTP v1 API and Google's OAuth token endpoint: it checks the
service account's signed JWT, issues an access token, and accepts messages carrying it."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.local_http import serving_app
from tests.servers import HOST, free_port

PROJECT = "bff-test"


@dataclass
class FakeFcm:
    port: int = field(default_factory=free_port)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    accepted: list[dict[str, Any]] = field(default_factory=list)
    dead_tokens: set[str] = field(default_factory=set)
    access_tokens: set[str] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def credentials(self, directory: Path) -> Path:
        """A service-account key file pointing at this stand-in."""
        path = directory / "fcm-service-account.json"
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "client_email": "bff@bff-test.iam.gserviceaccount.com",
                    "private_key": pem,
                    "token_uri": f"{self.base_url}/token",
                }
            )
        )
        return path

    async def _token(self, request: Request) -> JSONResponse:
        form = {key: values[0] for key, values in parse_qs((await request.body()).decode()).items()}
        try:
            claims = jwt.decode(
                form["assertion"],
                self.key.public_key(),
                algorithms=["RS256"],
                audience=f"{self.base_url}/token",
            )
        except (KeyError, jwt.InvalidTokenError):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or (
            "firebase.messaging" not in claims.get("scope", "")
        ):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        token = secrets.token_urlsafe(24)
        self.access_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    async def _send(self, request: Request) -> JSONResponse:
        if (
            request.headers.get("authorization", "").removeprefix("Bearer ")
            not in self.access_tokens
        ):
            return JSONResponse({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, 401)
        message = (await request.json())["message"]
        if message["token"] in self.dead_tokens:
            return JSONResponse(
                {
                    "error": {
                        "code": 404,
                        "status": "NOT_FOUND",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                "errorCode": "UNREGISTERED",
                            }
                        ],
                    }
                },
                status_code=404,
            )
        self.accepted.append(message)
        return JSONResponse({"name": f"projects/{PROJECT}/messages/{secrets.token_hex(8)}"})

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[FakeFcm]:
        app = Starlette(
            routes=[
                Route("/token", self._token, methods=["POST"]),
                Route(f"/v1/projects/{PROJECT}/messages:send", self._send, methods=["POST"]),
            ]
        )
        async with serving_app(app, self.port):
            yield self
