"""OAuth clients, pushed requests, grants, codes, refresh tokens and seen JWT IDs on PostgreSQL.

Ending a grant is noted in `changes` like ending a session: after the commit, cached actors
are forgotten and live streams of the customer re-check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.changes import Changes
from bff.domain.delegation import Client, ClientKind, Grant, GrantRevocation
from bff.domain.money import Money
from bff.domain.ports import CodeUse, PushedRequest, RefreshUse

_ADD_CLIENT = text("""
    INSERT INTO oauth_clients (id, name, kind, redirect_uris, scopes, jwks, created_by, created_at)
    VALUES (:id, :name, :kind, :redirect_uris, :scopes, CAST(:jwks AS jsonb), :created_by,
            :created_at)
""")
_CLIENT = text("SELECT * FROM oauth_clients WHERE id = :id")
_ADD_REQUEST = text("""
    INSERT INTO oauth_requests (id, client_id, params, expires_at)
    VALUES (:id, :client_id, CAST(:params AS jsonb), :expires_at)
""")
_REQUEST = text("SELECT * FROM oauth_requests WHERE id = :id")
_USE_REQUEST = text("""
    UPDATE oauth_requests SET used_at = now()
     WHERE id = :id AND used_at IS NULL AND expires_at > now()
    RETURNING id
""")
_GRANT_SELECT = """
    SELECT g.*, c.name AS client_name FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id
"""
_REPLACE_GRANTS = text("""
    UPDATE oauth_grants SET revoked_at = now(), revoked_reason = 'replaced'
     WHERE user_id = :user_id AND client_id = :client_id AND revoked_at IS NULL
""")
_ADD_GRANT = text("""
    WITH g AS (
        INSERT INTO oauth_grants (user_id, client_id, scopes, account_ids, daily_limit)
        VALUES (:user_id, :client_id, :scopes, CAST(:account_ids AS uuid[]), :daily_limit)
        RETURNING *
    )
    SELECT g.*, c.name AS client_name FROM g JOIN oauth_clients c ON c.id = g.client_id
""")
_GRANT = text(_GRANT_SELECT + " WHERE g.id = :id")
_LOCK_GRANT = text(_GRANT_SELECT + " WHERE g.id = :id AND g.revoked_at IS NULL FOR UPDATE OF g")
_GRANTS_OF = text(
    _GRANT_SELECT + " WHERE g.user_id = :user_id AND g.revoked_at IS NULL"
    " ORDER BY g.created_at DESC, g.id"
)
_REVOKE_GRANT = text("""
    UPDATE oauth_grants SET revoked_at = now(), revoked_reason = :reason
     WHERE id = :id AND revoked_at IS NULL
    RETURNING user_id
""")
_TOUCH_GRANT = text("UPDATE oauth_grants SET last_used_at = now() WHERE id = :id")
_ADD_CODE = text("""
    INSERT INTO oauth_codes
           (code_hash, grant_id, redirect_uri, code_challenge, dpop_jkt, expires_at)
    VALUES (:code_hash, :grant_id, :redirect_uri, :code_challenge, :dpop_jkt, :expires_at)
""")
_LOCK_CODE = text("""
    SELECT k.*, k.used_at IS NOT NULL AS replayed, k.expires_at <= now() AS expired
      FROM oauth_codes k WHERE k.code_hash = :code_hash FOR UPDATE
""")
_USE_CODE = text("UPDATE oauth_codes SET used_at = now() WHERE code_hash = :code_hash")
_ADD_REFRESH = text("""
    INSERT INTO oauth_refresh_tokens (token_hash, grant_id, jkt)
    VALUES (:token_hash, :grant_id, :jkt)
""")
_LOCK_REFRESH = text("""
    SELECT t.grant_id, t.jkt, t.used_at IS NOT NULL AS used
      FROM oauth_refresh_tokens t WHERE t.token_hash = :token_hash FOR UPDATE
""")
_USE_REFRESH = text(
    "UPDATE oauth_refresh_tokens SET used_at = now() WHERE token_hash = :token_hash"
)
# Expired IDs are dropped as new ones arrive, so the table stays as small as the proofs alive.
_SEEN_JTI = text("""
    WITH expired AS (
        DELETE FROM oauth_seen_jti WHERE jti IN (
            SELECT jti FROM oauth_seen_jti WHERE expires_at < now() LIMIT 20
            FOR UPDATE SKIP LOCKED)
    )
    INSERT INTO oauth_seen_jti (jti, expires_at) VALUES (:jti, :expires_at)
    ON CONFLICT (jti) DO NOTHING
    RETURNING jti
""")
# A held transfer that was voided (rejected, failed its step-up, expired) gives its room back.
_SPENT_TODAY = text("""
    SELECT coalesce(sum(o.amount), 0) AS spent FROM oauth_transfers o
     WHERE o.grant_id = :grant_id AND o.currency = :currency
       AND o.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
       AND NOT EXISTS (SELECT 1 FROM transfers t
                        WHERE t.id = o.transfer_id AND t.status = 'cancelled')
""")
_RECORD_TRANSFER = text("""
    INSERT INTO oauth_transfers (transfer_id, grant_id, client_id, amount, currency)
    VALUES (:transfer_id, :grant_id, :client_id, :amount, :currency)
    ON CONFLICT (transfer_id) DO NOTHING
""")

_RELEASE_TRANSFER = text("DELETE FROM oauth_transfers WHERE transfer_id = :transfer_id")


def _client(row: RowMapping) -> Client:
    return Client(
        id=row["id"],
        name=row["name"],
        kind=ClientKind(row["kind"]),
        redirect_uris=tuple(row["redirect_uris"]),
        scopes=frozenset(row["scopes"]),
        jwks=row["jwks"],
        created_at=row["created_at"],
    )


def _grant(row: RowMapping) -> Grant:
    return Grant(
        id=row["id"],
        user_id=row["user_id"],
        client_id=row["client_id"],
        client_name=row["client_name"],
        scopes=frozenset(row["scopes"]),
        account_ids=tuple(row["account_ids"]),
        daily_limit=row["daily_limit"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


class SqlOAuth:
    def __init__(self, connection: AsyncConnection, changes: Changes) -> None:
        self._connection = connection
        self._changes = changes

    async def _one(self, statement: Any, params: dict[str, Any]) -> RowMapping | None:
        return (await self._connection.execute(statement, params)).mappings().one_or_none()

    async def add_client(self, client: Client, created_by: UUID | None) -> None:
        await self._connection.execute(
            _ADD_CLIENT,
            {
                "id": client.id,
                "name": client.name,
                "kind": client.kind.value,
                "redirect_uris": list(client.redirect_uris),
                "scopes": sorted(client.scopes),
                "jwks": json.dumps(client.jwks) if client.jwks is not None else None,
                "created_by": created_by,
                "created_at": client.created_at,
            },
        )

    async def client(self, client_id: str) -> Client | None:
        row = await self._one(_CLIENT, {"id": client_id})
        return _client(row) if row else None

    async def add_request(
        self, request_id: str, client_id: str, params: dict[str, str], expires_at: datetime
    ) -> None:
        await self._connection.execute(
            _ADD_REQUEST,
            {
                "id": request_id,
                "client_id": client_id,
                "params": json.dumps(params),
                "expires_at": expires_at,
            },
        )

    async def request(self, request_id: str) -> PushedRequest | None:
        row = await self._one(_REQUEST, {"id": request_id})
        if row is None:
            return None
        return PushedRequest(
            row["client_id"], row["params"], row["expires_at"], row["used_at"] is not None
        )

    async def use_request(self, request_id: str) -> bool:
        return await self._one(_USE_REQUEST, {"id": request_id}) is not None

    async def add_grant(
        self,
        user_id: UUID,
        client_id: str,
        scopes: frozenset[str],
        account_ids: Sequence[UUID],
        daily_limit: int,
    ) -> Grant:
        params = {"user_id": user_id, "client_id": client_id}
        if (await self._connection.execute(_REPLACE_GRANTS, params)).rowcount:
            self._changes.users.add(user_id)
        row = await self._one(
            _ADD_GRANT,
            {
                **params,
                "scopes": sorted(scopes),
                "account_ids": list(account_ids),
                "daily_limit": daily_limit,
            },
        )
        assert row is not None
        return _grant(row)

    async def grant(self, grant_id: UUID) -> Grant | None:
        row = await self._one(_GRANT, {"id": grant_id})
        return _grant(row) if row else None

    async def lock_grant(self, grant_id: UUID) -> Grant | None:
        row = await self._one(_LOCK_GRANT, {"id": grant_id})
        return _grant(row) if row else None

    async def grants_of(self, user_id: UUID) -> list[Grant]:
        rows = (await self._connection.execute(_GRANTS_OF, {"user_id": user_id})).mappings()
        return [_grant(row) for row in rows]

    async def revoke_grant(self, grant_id: UUID, reason: GrantRevocation) -> bool:
        user_id = (
            await self._connection.execute(_REVOKE_GRANT, {"id": grant_id, "reason": reason.value})
        ).scalar_one_or_none()
        if user_id is None:
            return False
        self._changes.users.add(user_id)
        return True

    async def touch_grant(self, grant_id: UUID) -> None:
        await self._connection.execute(_TOUCH_GRANT, {"id": grant_id})

    async def add_code(
        self,
        code_hash: bytes,
        grant_id: UUID,
        redirect_uri: str,
        code_challenge: str,
        dpop_jkt: str | None,
        expires_at: datetime,
    ) -> None:
        await self._connection.execute(
            _ADD_CODE,
            {
                "code_hash": code_hash,
                "grant_id": grant_id,
                "redirect_uri": redirect_uri,
                "code_challenge": code_challenge,
                "dpop_jkt": dpop_jkt,
                "expires_at": expires_at,
            },
        )

    async def use_code(self, code_hash: bytes) -> CodeUse | None:
        row = await self._one(_LOCK_CODE, {"code_hash": code_hash})
        if row is None:
            return None
        grant = await self.grant(row["grant_id"])
        assert grant is not None  # the foreign key
        if not row["replayed"]:
            await self._connection.execute(_USE_CODE, {"code_hash": code_hash})
        return CodeUse(
            grant=grant,
            redirect_uri=row["redirect_uri"],
            code_challenge=row["code_challenge"],
            dpop_jkt=row["dpop_jkt"],
            expired=row["expired"],
            replayed=row["replayed"],
        )

    async def add_refresh_token(self, token_hash: bytes, grant_id: UUID, jkt: str) -> None:
        params = {"token_hash": token_hash, "grant_id": grant_id, "jkt": jkt}
        await self._connection.execute(_ADD_REFRESH, params)

    async def lock_refresh_token(self, token_hash: bytes) -> RefreshUse | None:
        row = await self._one(_LOCK_REFRESH, {"token_hash": token_hash})
        if row is None:
            return None
        grant = await self.grant(row["grant_id"])
        assert grant is not None
        return RefreshUse(grant, row["jkt"], row["used"])

    async def use_refresh_token(self, token_hash: bytes) -> None:
        await self._connection.execute(_USE_REFRESH, {"token_hash": token_hash})

    async def first_use_of_jti(self, jti: str, expires_at: datetime) -> bool:
        return await self._one(_SEEN_JTI, {"jti": jti, "expires_at": expires_at}) is not None

    async def spent_today(self, grant_id: UUID, currency: str) -> int:
        row = await self._one(_SPENT_TODAY, {"grant_id": grant_id, "currency": currency})
        return int(row["spent"]) if row else 0

    async def record_transfer(
        self, transfer_id: UUID, grant_id: UUID, client_id: str, money: Money
    ) -> None:
        await self._connection.execute(
            _RECORD_TRANSFER,
            {
                "transfer_id": transfer_id,
                "grant_id": grant_id,
                "client_id": client_id,
                "amount": money.minor,
                "currency": money.currency,
            },
        )

    async def release_transfer(self, transfer_id: UUID) -> None:
        await self._connection.execute(_RELEASE_TRANSFER, {"transfer_id": transfer_id})
