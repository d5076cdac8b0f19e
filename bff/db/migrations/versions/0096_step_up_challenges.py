"""Step-up challenges: a transfer screening held for the customer's second factor is bound to
one challenge, of that customer's session that asked for it. A challenge is answered once:
open until confirmed, failed (too many wrong codes) or expired, and then never changes again.
It expires with its transfer's hold (the hold-expiry job voids the transfer).

Revision ID: 0096
Revises: 0095
Create Date: 2026-12-03
"""

from bff.db.migrations.script import run_script

revision = "0096"
down_revision = "0095"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE step_up_challenges (
    id          uuid PRIMARY KEY,
    transfer_id uuid NOT NULL UNIQUE REFERENCES transfers (id),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'open' CONSTRAINT step_up_challenges_status_known
                    CHECK (status IN ('open', 'confirmed', 'failed', 'expired')),
    failures    integer NOT NULL DEFAULT 0 CONSTRAINT step_up_challenges_failures_count
                    CHECK (failures >= 0),
    expires_at  timestamptz NOT NULL,
    -- The WebAuthn assertion challenge handed out for it, if one was.
    assertion_challenge bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    CONSTRAINT step_up_challenges_resolved_when CHECK ((status = 'open') = (resolved_at IS NULL))
);
CREATE INDEX step_up_challenges_of_user ON step_up_challenges (user_id);

-- Single use, held by the database too: an answered challenge never changes again.
CREATE FUNCTION check_step_up_answered_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'open' THEN
        RAISE EXCEPTION 'step-up challenge % is %: it is answered once', OLD.id, OLD.status
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER step_up_challenges_answered_once BEFORE UPDATE ON step_up_challenges
    FOR EACH ROW EXECUTE FUNCTION check_step_up_answered_once();
"""

DOWNGRADE = """
DROP TABLE step_up_challenges;
DROP FUNCTION check_step_up_answered_once();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
