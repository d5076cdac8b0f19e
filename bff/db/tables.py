"""SQLAlchemy Core descriptions of the tables (the DDL itself lives in the Alembic migrations)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()
_NEW_UUID = text("gen_random_uuid()")

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=_NEW_UUID),
    Column("email", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=_NEW_UUID),
    Column("user_id", Uuid, nullable=False),
    Column("device_name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", Text),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True, server_default=_NEW_UUID),
    Column("owner_id", Uuid),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("available_balance", BigInteger, nullable=False),
    Column("overdraft_limit", BigInteger, nullable=False),
    Column("account_number", Text, nullable=False),
    Column("last_sequence", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("from_account_id", Uuid, nullable=False),
    Column("to_account_id", Uuid, nullable=False),
    Column("memo", Text),
    Column("initiated_by", Uuid, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("transfer_id", Uuid, nullable=False),
    Column("account_id", Uuid, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("actor_id", Uuid, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("result", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

account_events = Table(
    "account_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("account_id", Uuid, nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("entry_id", Uuid),
    Column("balance", BigInteger, nullable=False),
    Column("available_balance", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("session_id", Uuid, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True)),
)

login_throttles = Table(
    "login_throttles",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("failures", BigInteger, nullable=False),
    Column("last_attempt_at", DateTime(timezone=True)),
    Column("locked_until", DateTime(timezone=True)),
)

security_events = Table(
    "security_events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("user_id", Uuid),
    Column("actor_id", Uuid),
    Column("session_id", Uuid),
    Column("detail", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
