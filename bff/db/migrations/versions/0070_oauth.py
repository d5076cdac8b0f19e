"""Third-party access with OAuth 2.0: registered clients, pushed authorization requests,
customers' grants (consent), single-use codes, rotating refresh tokens, the replay store of
client assertions and DPoP proofs, and which client moved money.

Revision ID: 0070
Revises: 0130
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0070"
down_revision = "0091"
branch_labels = None
depends_on = None

UPGRADE = """
-- Registered by admins. Confidential clients authenticate with private_key_jwt against their
-- JWKS; public clients (a partner's mobile app) have no keys and rely on PKCE and DPoP.
CREATE TABLE oauth_clients (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    kind          text NOT NULL CHECK (kind IN ('confidential', 'public')),
    redirect_uris text[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10),
    scopes        text[] NOT NULL CHECK (
        cardinality(scopes) >= 1
        AND scopes <@ ARRAY['accounts:read', 'transactions:read', 'transfers:write']),
    jwks          jsonb,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_clients_keys CHECK ((kind = 'confidential') = (jwks IS NOT NULL))
);

-- RFC 9126: what a client pushed; the browser only carries its request_uri.
CREATE TABLE oauth_requests (
    id         text PRIMARY KEY,
    client_id  text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    params     jsonb NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- A customer's consent: the client, the scopes, the shared accounts and the daily limit of
-- money the client may move (whole currency units per day, in the source account's currency).
CREATE TABLE oauth_grants (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id      text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes         text[] NOT NULL CHECK (cardinality(scopes) >= 1),
    account_ids    uuid[] NOT NULL,
    daily_limit    bigint NOT NULL DEFAULT 0 CHECK (daily_limit >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN (
        'customer', 'code_replay', 'refresh_token_reuse', 'token_revoked', 'replaced')),
    CONSTRAINT oauth_grants_revocation_explained CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id) WHERE revoked_at IS NULL;

-- Authorization codes, stored hashed, bound to the grant (so the client), the redirect URI,
-- the PKCE challenge (S256) and the DPoP key of the pushed request, if it named one.
CREATE TABLE oauth_codes (
    code_hash      bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    grant_id       uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    code_challenge text NOT NULL,
    dpop_jkt       text,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);

-- Every refresh token a grant was given, bound to the client's DPoP key; the live one has no
-- used_at. Presenting a used one again is reuse, and revokes the grant.
CREATE TABLE oauth_refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id   uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    jkt        text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX oauth_refresh_tokens_grant ON oauth_refresh_tokens (grant_id);

-- JWT IDs seen (client assertions, DPoP proofs) until they could no longer be accepted anyway.
CREATE TABLE oauth_seen_jti (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- Money moved through a grant: counts against its daily limit and names the client. A row is
-- written (reserved) before its transfer is posted, so it has no foreign key to transfers.
CREATE TABLE oauth_transfers (
    transfer_id uuid PRIMARY KEY,
    grant_id    uuid NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    client_id   text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    amount      bigint NOT NULL CHECK (amount > 0),
    currency    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_transfers_grant_day ON oauth_transfers (grant_id, created_at);
"""

DOWNGRADE = """
DROP TABLE oauth_transfers, oauth_seen_jti, oauth_refresh_tokens, oauth_codes, oauth_grants,
    oauth_requests, oauth_clients;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
