"""Sessions that hold against attacks: rotating refresh tokens, login throttles, security events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from bff.db.migrations.script import run_script

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UPGRADE = """
-- Every refresh token a session was ever given: the live one has no used_at. Presenting a used
-- one again is reuse, and ends the session.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
INSERT INTO refresh_tokens (token_hash, session_id, created_at)
     SELECT refresh_token_hash, id, created_at FROM sessions;

ALTER TABLE sessions
    DROP COLUMN refresh_token_hash,
    ADD COLUMN revoked_reason text CHECK (revoked_reason IN (
        'logout', 'logout_everywhere', 'revoked', 'password_changed', 'refresh_token_reuse')),
    ADD CONSTRAINT sessions_revocation_explained CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL));

-- Failed-login counters per account (keyed by a hash of the email) and per client address.
CREATE TABLE login_throttles (
    scope           text NOT NULL CHECK (scope IN ('account', 'address')),
    key             text NOT NULL,
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_attempt_at timestamptz,
    locked_until    timestamptz,
    PRIMARY KEY (scope, key)
);

CREATE TABLE security_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN (
        'refresh_token_reuse', 'role_assigned', 'role_revoked', 'password_changed')),
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    actor_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    session_id uuid,
    detail     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_user ON security_events (user_id, created_at);
"""

DOWNGRADE = """
DROP TABLE security_events, login_throttles;
ALTER TABLE sessions DROP CONSTRAINT sessions_revocation_explained, DROP COLUMN revoked_reason,
    ADD COLUMN refresh_token_hash bytea UNIQUE;
UPDATE sessions s SET refresh_token_hash = (
    SELECT token_hash FROM refresh_tokens r WHERE r.session_id = s.id AND r.used_at IS NULL LIMIT 1);
DELETE FROM sessions WHERE refresh_token_hash IS NULL;
ALTER TABLE sessions ALTER COLUMN refresh_token_hash SET NOT NULL;
DROP TABLE refresh_tokens;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
