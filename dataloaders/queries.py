"""The batched read statements behind the loaders (one statement serves a whole batch)."""

from __future__ import annotations

from sqlalchemy import text

from bff.db.rows import TRANSFER_WITH_OWNERS

USERS = text("SELECT * FROM users WHERE id = ANY(CAST(:ids AS uuid[]))")

ACCOUNTS = text("SELECT * FROM accounts WHERE id = ANY(CAST(:ids AS uuid[]))")

TRANSFERS = text(TRANSFER_WITH_OWNERS + " WHERE t.id = ANY(CAST(:ids AS uuid[]))")

ENTRIES = text("SELECT * FROM ledger_entries WHERE id = ANY(CAST(:ids AS uuid[]))")

# Every owner's whole list of account ids (oldest first), with the list's version for the cache.
ACCOUNT_LISTS = text("""
    SELECT u.id AS owner_id, u.accounts_version, a.id, a.created_at
      FROM users u LEFT JOIN accounts a ON a.owner_id = u.id
     WHERE u.id = ANY(CAST(:owners AS uuid[]))
     ORDER BY u.id, a.created_at, a.id
""")

# One page per account, newest first, before an optional sequence: keyset pagination.
TRANSACTION_PAGES = text("""
    SELECT k.ord, e.*
      FROM unnest(CAST(:accounts AS uuid[]), CAST(:befores AS bigint[]), CAST(:limits AS int[]))
           WITH ORDINALITY AS k(account_id, before, lim, ord)
     CROSS JOIN LATERAL (
            SELECT * FROM ledger_entries e
             WHERE e.account_id = k.account_id AND e.sequence < k.before
             ORDER BY e.sequence DESC
             LIMIT k.lim) e
     ORDER BY k.ord, e.sequence DESC
""")
