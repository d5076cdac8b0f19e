"""The baseline for the home query: a hand-written Starlette + asyncpg endpoint.

It does what the BFF does for the home screen, written by hand with no GraphQL, ORM or dataloader
layer: verify the same EdDSA access token, look up the live session and its user, read the first
page of the user's accounts, the 20 newest transactions of each account in one LATERAL statement
and their transfers by id, and answer with the same JSON document the GraphQL query returns (the
harness checks that both answers are equal before it measures).

Served by uvicorn exactly like the BFF: `uvicorn --factory bench.baseline_app:create_app`.
Configured from the same environment variables: DATABASE_URL, BFF_DATA_DIR (the JWT key
ring), BFF_DB_POOL_SIZE and BFF_DB_MAX_OVERFLOW (the pool holds at most their sum, like the BFF's
SQLAlchemy pool).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PAGE = 20
_EXPONENTS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid"]

SESSION_USER = """
    SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
"""
ACCOUNTS = """
    SELECT * FROM accounts WHERE owner_id = $1 ORDER BY created_at, id LIMIT $2
"""
TRANSACTIONS = """
    SELECT k.ord, e.*
      FROM unnest($1::uuid[]) WITH ORDINALITY AS k(account_id, ord)
     CROSS JOIN LATERAL (
            SELECT * FROM ledger_entries e
             WHERE e.account_id = k.account_id
             ORDER BY e.sequence DESC
             LIMIT $2) e
     ORDER BY k.ord, e.sequence DESC
"""
TRANSFERS = "SELECT * FROM transfers WHERE id = ANY($1::uuid[])"


def _public_keys(data_dir: Path) -> dict[str, Ed25519PublicKey]:
    ring = json.loads((data_dir / "dev-jwt-keys.json").read_text())
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in ring["keys"]:
        private_key = load_pem_private_key(entry["private_key_pem"].encode(), password=None)
        assert isinstance(private_key, Ed25519PrivateKey)
        keys[entry["kid"]] = private_key.public_key()
    return keys


def _global_id(type_name: str, raw_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def _amount(minor: int, currency: str) -> str:
    exponent = _EXPONENTS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}" if exponent else f"{sign}{whole}"


class Baseline:
    def __init__(self) -> None:
        self.database_url = os.environ["DATABASE_URL"]
        self.keys = _public_keys(Path(os.environ.get("BFF_DATA_DIR", ".data")))
        self.issuer = os.environ.get("BFF_JWT_ISSUER", "fintech-bff")
        self.audience = os.environ.get("BFF_JWT_AUDIENCE", "fintech-app")
        self.pool_min = int(os.environ.get("BFF_DB_POOL_SIZE", "10"))
        self.pool_max = self.pool_min + int(os.environ.get("BFF_DB_MAX_OVERFLOW", "10"))
        self.pool: asyncpg.Pool | None = None

    def claims(self, request: Request) -> tuple[UUID, UUID] | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            header = jwt.get_unverified_header(token)
            key = self.keys.get(header.get("kid", ""))
            if header.get("typ") != "at+jwt" or key is None:
                return None
            claims = jwt.decode(
                token,
                key,
                algorithms=["EdDSA"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": _REQUIRED_CLAIMS},
                leeway=5,
            )
            return UUID(claims["sub"]), UUID(claims["sid"])
        except (jwt.PyJWTError, ValueError, TypeError):
            return None

    async def home(self, request: Request) -> JSONResponse:
        await request.body()  # the GraphQL document; this endpoint always answers the home query
        claims = self.claims(request)
        if claims is None:
            return JSONResponse({"errors": [{"message": "unauthenticated"}]}, status_code=401)
        user_id, session_id = claims
        assert self.pool is not None
        async with self.pool.acquire() as connection:
            user = await connection.fetchrow(SESSION_USER, session_id, user_id)
            if user is None:
                return JSONResponse({"errors": [{"message": "unauthenticated"}]}, status_code=401)
            accounts = (await connection.fetch(ACCOUNTS, user["id"], PAGE + 1))[:PAGE]
            rows = await connection.fetch(TRANSACTIONS, [a["id"] for a in accounts], PAGE + 1)
            entries: dict[int, list[Any]] = {}
            for row in rows:
                entries.setdefault(row["ord"], []).append(row)
            pages = [entries.get(index, [])[:PAGE] for index in range(1, len(accounts) + 1)]
            transfer_ids = list({entry["transfer_id"] for page in pages for entry in page})
            transfers = {row["id"]: row for row in await connection.fetch(TRANSFERS, transfer_ids)}
        edges = []
        for account, page in zip(accounts, pages, strict=True):
            currency = account["currency"]
            transactions = []
            for entry in page:
                transfer = transfers[entry["transfer_id"]]
                node = {
                    "id": _global_id("Transaction", entry["id"]),
                    "amount": {"amount": _amount(entry["amount"], currency)},
                    "direction": "CREDIT" if entry["amount"] > 0 else "DEBIT",
                    "balanceAfter": {"amount": _amount(entry["balance_after"], currency)},
                    "description": entry["description"],
                    "createdAt": entry["created_at"].isoformat(),
                    "transfer": {
                        "id": _global_id("Transfer", transfer["id"]),
                        "memo": transfer["memo"],
                    },
                }
                transactions.append({"node": node})
            node = {
                "id": _global_id("Account", account["id"]),
                "name": account["name"],
                "balance": {"amount": _amount(account["balance"], currency), "currency": currency},
                "availableBalance": {"amount": _amount(account["available_balance"], currency)},
                "transactions": {"edges": transactions},
            }
            edges.append({"node": node})
        return JSONResponse({"data": {"viewer": {"accounts": {"edges": edges}}}})

    @asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        self.pool = await asyncpg.create_pool(
            self.database_url, min_size=self.pool_min, max_size=self.pool_max
        )
        try:
            yield
        finally:
            await self.pool.close()


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def create_app() -> Starlette:
    baseline = Baseline()
    return Starlette(
        routes=[
            Route("/home", baseline.home, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=baseline.lifespan,
    )
