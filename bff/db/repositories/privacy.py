"""Privacy rights on PostgreSQL: a customer's data gathered and opened for export, and erasure by
crypto-shredding (their data key and blind indexes destroyed; the ledger and the audit log, which
hold no plaintext about them, untouched)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bff.db.repositories.audit import to_audit_entry
from bff.db.rows import KEY_COLUMNS
from bff.db.sealing import Sealing
from bff.domain.audit_models import AuditEntry
from bff.domain.models import Account, Entry, Session, User

_USER = text(f"""
    SELECT u.*, {KEY_COLUMNS} FROM users u LEFT JOIN data_keys k ON k.user_id = u.id
     WHERE u.id = :user_id FOR UPDATE OF u
""")  # noqa: S608 (constant SQL fragments)
_ACCOUNTS = text(f"""
    SELECT a.*, {KEY_COLUMNS} FROM accounts a LEFT JOIN data_keys k ON k.user_id = a.owner_id
     WHERE a.owner_id = :user_id ORDER BY a.created_at, a.id FOR UPDATE OF a
""")  # noqa: S608 (constant SQL fragments)
_ENTRIES = text("""
    SELECT e.*, t.memo FROM ledger_entries e JOIN transfers t ON t.id = e.transfer_id
     WHERE e.account_id = ANY(:accounts) ORDER BY e.account_id, e.sequence
""")
_SESSIONS = text(f"""
    SELECT s.*, {KEY_COLUMNS} FROM sessions s LEFT JOIN data_keys k ON k.user_id = s.user_id
     WHERE s.user_id = :user_id ORDER BY s.created_at
""")  # noqa: S608 (constant SQL fragments)
_APPS = text("""
    SELECT g.client_id, c.name, g.scopes, g.created_at, g.last_used_at, g.revoked_at
      FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id
     WHERE g.user_id = :user_id ORDER BY g.created_at
""")
_AUDIT = text("""
    SELECT *, detail::text AS detail_text FROM audit_log
     WHERE subject_id = :user_id OR actor_id = :user_id ORDER BY id
""")
# What erasure destroys: the data key (every sealed field of theirs stops opening), the blind
# indexes (nothing finds them by email or account number any more), the password, the sessions'
# device indexes, push tokens, passkeys and authenticator apps (their credentials identify the
# customer's devices), connected apps' grants and throttle counters keyed by their email.
_SHRED = text("""
    WITH key AS (
        DELETE FROM data_keys WHERE user_id = :user_id
    ), throttle AS (
        DELETE FROM login_throttles l USING users u
         WHERE u.id = :user_id AND l.scope = 'account' AND l.key = encode(u.email_index, 'hex')
    ), accounts_shredded AS (
        UPDATE accounts SET number_index = NULL WHERE owner_id = :user_id
    ), sessions_shredded AS (
        UPDATE sessions SET device_name_index = NULL,
               revoked_at = coalesce(revoked_at, now()),
               revoked_reason = coalesce(revoked_reason, 'revoked')
         WHERE user_id = :user_id
    ), devices AS (
        DELETE FROM push_devices WHERE user_id = :user_id
    ), factors AS (
        DELETE FROM second_factors WHERE user_id = :user_id
    ), apps AS (
        UPDATE oauth_grants SET revoked_at = now(), revoked_reason = 'customer'
         WHERE user_id = :user_id AND revoked_at IS NULL
    )
    UPDATE users SET email_index = NULL, password_hash = '!erased' WHERE id = :user_id
""")


def _json(value: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return document


class SqlPrivacy:
    def __init__(self, connection: AsyncConnection, sealing: Sealing) -> None:
        self._connection = connection
        self._sealing = sealing

    async def _rows(self, statement: Any, **params: Any) -> list[Any]:
        return list((await self._connection.execute(statement, params)).mappings())

    async def lock_user(self, user_id: UUID) -> tuple[User, list[Account]] | None:
        """The user and their accounts, locked (no money moves while they are erased)."""
        rows = await self._rows(_USER, user_id=user_id)
        if not rows:
            return None
        accounts = [
            self._sealing.account(row) for row in await self._rows(_ACCOUNTS, user_id=user_id)
        ]
        return self._sealing.user(rows[0]), accounts

    async def export(self, user_id: UUID) -> dict[str, Any] | None:
        """Everything kept about the user, opened: one JSON-ready document."""
        found = await self.lock_user(user_id)
        if found is None:
            return None
        user, accounts = found
        entries = await self._rows(_ENTRIES, accounts=[account.id for account in accounts])
        sessions = [
            self._sealing.session(row) for row in await self._rows(_SESSIONS, user_id=user_id)
        ]
        apps = await self._rows(_APPS, user_id=user_id)
        audit = [to_audit_entry(row) for row in await self._rows(_AUDIT, user_id=user_id)]
        return _json(
            {
                "profile": _profile(user),
                "accounts": [_account(account, entries) for account in accounts],
                "sessions": [_session(session) for session in sessions],
                "connected_apps": [dict(app) for app in apps],
                "audit_entries": [_audit(entry) for entry in audit],
            }
        )

    async def shred(self, user_id: UUID) -> None:
        await self._connection.execute(_SHRED, {"user_id": user_id})


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "roles": sorted(user.roles),
        "created_at": user.created_at,
    }


def _account(account: Account, entries: list[Any]) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "account_number": account.account_number,
        "currency": account.currency,
        "status": account.status.value,
        "balance": account.balance,
        "created_at": account.created_at,
        "transactions": [_entry(row) for row in entries if row["account_id"] == account.id],
    }


def _entry(row: Any) -> dict[str, Any]:
    entry = Entry(**{name: row[name] for name in Entry.__dataclass_fields__})
    return {
        "id": entry.id,
        "transfer_id": entry.transfer_id,
        "sequence": entry.sequence,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "currency": entry.currency,
        "description": entry.description,
        "memo": row["memo"],
        "created_at": entry.created_at,
    }


def _session(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "device_name": session.device_name,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at": session.expires_at,
    }


def _audit(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "occurred_at": entry.occurred_at,
        "operation": entry.operation,
        "result": entry.result,
        "actor_id": entry.actor_id,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "detail": entry.detail,
    }
