"""The batched read statements behind the loaders (one statement serves a whole batch)."""

from __future__ import annotations

from sqlalchemy import text

from bff.db.rows import TRANSFER_WITH_OWNERS

USERS = text("SELECT * FROM users WHERE id = ANY(CAST(:ids AS uuid[]))")

ACCOUNTS = text("SELECT * FROM accounts WHERE id = ANY(CAST(:ids AS uuid[]))")

TRANSFERS = text(TRANSFER_WITH_OWNERS + " WHERE t.id = ANY(CAST(:ids AS uuid[]))")

ENTRIES = text("SELECT * FROM ledger_entries WHERE id = ANY(CAST(:ids AS uuid[]))")

# One page per owner, ordered by (created_at, id), after an optional cursor: keyset pagination.
ACCOUNT_PAGES = text("""
    SELECT k.ord, a.*
      FROM unnest(CAST(:owners AS uuid[]), CAST(:after_times AS timestamptz[]),
                  CAST(:after_ids AS uuid[]), CAST(:limits AS int[]))
           WITH ORDINALITY AS k(owner_id, after_time, after_id, lim, ord)
     CROSS JOIN LATERAL (
            SELECT * FROM accounts a
             WHERE a.owner_id = k.owner_id
               AND (k.after_time IS NULL OR (a.created_at, a.id) > (k.after_time, k.after_id))
             ORDER BY a.created_at, a.id
             LIMIT k.lim) a
     ORDER BY k.ord, a.created_at, a.id
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
