"""Firebase Cloud Messaging, HTTP v1 API
(https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send): one message per
request, authorised by an OAuth 2.0 access token that a service account obtains with a signed
JWT (RFC 7523, Google's service-account flow); `UNREGISTERED` means the token is dead."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt

from bff.notify.push import Outcome, PushMessage, PushResult

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Requests in flight at once: v1 has no batch endpoint, so a batch is sent concurrently.
CONCURRENCY = 16
_RETRY_STATUSES = {429, 500, 502, 503, 504}


class FcmPush:
    def __init__(self, credentials_file: Path, base_url: str, timeout_s: float) -> None:
        credentials = json.loads(credentials_file.read_text())
        self._email = credentials["client_email"]
        self._private_key = credentials["private_key"]
        self._token_uri = credentials["token_uri"]
        self._url = f"{base_url.rstrip('/')}/v1/projects/{credentials['project_id']}/messages:send"
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._token[1] > time.time() + 60:
                return self._token[0]
            now = int(time.time())
            assertion = jwt.encode(
                {
                    "iss": self._email,
                    "scope": SCOPE,
                    "aud": self._token_uri,
                    "iat": now,
                    "exp": now + 3600,
                },
                self._private_key,
                algorithm="RS256",
            )
            response = await self._client.post(
                self._token_uri, data={"grant_type": JWT_BEARER, "assertion": assertion}
            )
            response.raise_for_status()
            grant = response.json()
            self._token = (grant["access_token"], time.time() + int(grant.get("expires_in", 3600)))
            return self._token[0]

    async def send(self, messages: list[PushMessage]) -> list[PushResult]:
        try:
            token = await self._access_token()
        except (httpx.HTTPError, KeyError, ValueError) as error:
            return [PushResult(Outcome.RETRY, detail=f"token: {error!r}")] * len(messages)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(message: PushMessage) -> PushResult:
            async with gate:
                return await self._send_one(token, message)

        return list(await asyncio.gather(*(one(message) for message in messages)))

    async def _send_one(self, token: str, message: PushMessage) -> PushResult:
        body = {
            "message": {
                "token": message.token,
                "notification": {"title": message.text.title, "body": message.text.body},
                "data": message.text.data,
            }
        }
        try:
            response = await self._client.post(
                self._url, json=body, headers={"authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as error:
            return PushResult(Outcome.RETRY, detail=type(error).__name__)
        if response.status_code == 200:
            return PushResult(Outcome.SENT, ticket_id=response.json().get("name"))
        if response.status_code == 401:
            self._token = None  # expired or revoked early: the next batch asks for a new one
            return PushResult(Outcome.RETRY, detail="HTTP 401")
        if response.status_code in _RETRY_STATUSES:
            return PushResult(Outcome.RETRY, detail=f"HTTP {response.status_code}")
        if _error_code(response) == "UNREGISTERED" or response.status_code == 404:
            return PushResult(Outcome.UNREGISTERED, detail="UNREGISTERED")
        return PushResult(Outcome.REJECTED, detail=f"HTTP {response.status_code}")

    async def receipts(self, ticket_ids: list[str]) -> dict[str, Outcome]:
        return {}  # FCM answers at send time; there is nothing to ask later

    async def close(self) -> None:
        await self._client.aclose()


def _error_code(response: httpx.Response) -> str | None:
    try:
        error: dict[str, Any] = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    for detail in error.get("details", []):
        if isinstance(detail, dict) and "errorCode" in detail:
            return str(detail["errorCode"])
    return None
