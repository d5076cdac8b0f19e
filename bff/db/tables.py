"""SQLAlchemy Core descriptions of the tables queried with Core expressions.

The DDL of every table lives in the Alembic migrations, as SQL; repositories that need CTEs or
locking clauses write SQL text directly.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

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
