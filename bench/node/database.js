// The PostgreSQL side of a Node peer: one pg pool, the statements of the home query (the same
// SQL as bench/baseline_app.py), and a count of the statements sent, which /healthz reports so
// that the harness can check that every side sends as many statements per request.
import pg from 'pg';

import { config } from './config.js';

// Timestamps stay PostgreSQL's text (microseconds, UTC): a JS Date would drop the microseconds
// the BFF prints. BIGINT (minor units, sequences) already stays a string.
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, (text) => text);

export const pool = new pg.Pool({
  connectionString: config.databaseUrl,
  max: config.poolMax,
  // Idle connections go after a second: under load the pool stays full, and between two sides
  // of a comparison this process gives its connections back to the server the next side uses.
  idleTimeoutMillis: 1000,
  options: '-c TimeZone=UTC',
  application_name: 'bench-node-peer',
});

let statements = 0;

export function statementCount() {
  return statements;
}

// A named statement is prepared once per connection, as asyncpg's statement cache does for the
// BFF and the baseline.
async function rows(name, text, values) {
  statements += 1;
  return (await pool.query({ name, text, values })).rows;
}

const SESSION_USER = `
    SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
`;
// The first page of each owner's accounts, oldest first, for any number of owners at once.
const ACCOUNT_PAGES = `
    SELECT k.ord, a.*
      FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS k(owner_id, lim, ord)
     CROSS JOIN LATERAL (
            SELECT * FROM accounts a
             WHERE a.owner_id = k.owner_id
             ORDER BY a.created_at, a.id
             LIMIT k.lim) a
     ORDER BY k.ord, a.created_at, a.id
`;
// The newest transactions of each account, newest first: one statement for all accounts.
const TRANSACTION_PAGES = `
    SELECT k.ord, e.*
      FROM unnest($1::uuid[], $2::int[]) WITH ORDINALITY AS k(account_id, lim, ord)
     CROSS JOIN LATERAL (
            SELECT * FROM ledger_entries e
             WHERE e.account_id = k.account_id
             ORDER BY e.sequence DESC
             LIMIT k.lim) e
     ORDER BY k.ord, e.sequence DESC
`;
const TRANSFERS = 'SELECT * FROM transfers WHERE id = ANY($1::uuid[])';

/** The user of a live session, or null. */
export async function sessionUser(sessionId, userId) {
  const found = await rows('session_user', SESSION_USER, [sessionId, userId]);
  return found[0] ?? null;
}

// Rows of a LATERAL page statement, grouped by the 1-based `ord` of their key.
function byOrdinal(found, count) {
  const pages = Array.from({ length: count }, () => []);
  for (const row of found) {
    pages[Number(row.ord) - 1].push(row);
  }
  return pages;
}

/** For each {ownerId, limit}, in order, up to `limit` accounts. */
export async function accountPages(keys) {
  const found = await rows('account_pages', ACCOUNT_PAGES, [
    keys.map((key) => key.ownerId),
    keys.map((key) => key.limit),
  ]);
  return byOrdinal(found, keys.length);
}

/** For each {accountId, limit}, in order, up to `limit` ledger entries. */
export async function transactionPages(keys) {
  const found = await rows('transaction_pages', TRANSACTION_PAGES, [
    keys.map((key) => key.accountId),
    keys.map((key) => key.limit),
  ]);
  return byOrdinal(found, keys.length);
}

/** The transfers with these ids, in any order. */
export async function transfers(ids) {
  return rows('transfers', TRANSFERS, [ids]);
}
