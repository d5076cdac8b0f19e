"""Second factors for step-up: a TOTP secret (sealed with its owner's data key) and passkeys
(WebAuthn credentials). A factor is pending until its owner proves it works, then active. A
TOTP factor remembers the last time step it accepted, so a code is good once. Failed second-
factor attempts are throttled per user in `login_throttles` (scope `second_factor`).

Revision ID: 0095
Revises: 0110
Create Date: 2026-12-03
"""

from bff.db.migrations.script import run_script

revision = "0095"
down_revision = "0110"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE second_factors (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL CONSTRAINT second_factors_kind_known
                      CHECK (kind IN ('totp', 'passkey')),
    status        text NOT NULL CONSTRAINT second_factors_status_known
                      CHECK (status IN ('pending', 'active')),
    -- TOTP: the shared secret, sealed; the last time step a code was accepted for.
    secret_sealed bytea,
    last_step     bigint,
    -- Passkey: the credential, its COSE public key and signature counter; while pending, the
    -- registration ceremony's challenge.
    credential_id bytea UNIQUE,
    public_key    bytea,
    sign_count    bigint CONSTRAINT second_factors_sign_count_counts CHECK (sign_count >= 0),
    challenge     bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz,
    CONSTRAINT second_factors_active_since CHECK ((status = 'active') = (activated_at IS NOT NULL)),
    CONSTRAINT second_factors_totp_sealed CHECK (kind <> 'totp' OR secret_sealed IS NOT NULL),
    CONSTRAINT second_factors_passkey_keyed CHECK (
        kind <> 'passkey' OR status <> 'active'
        OR (credential_id IS NOT NULL AND public_key IS NOT NULL AND sign_count IS NOT NULL))
);
-- One TOTP factor per user (pending or active); any number of passkeys.
CREATE UNIQUE INDEX second_factors_one_totp ON second_factors (user_id) WHERE kind = 'totp';
CREATE INDEX second_factors_of_user ON second_factors (user_id);

ALTER TABLE login_throttles DROP CONSTRAINT login_throttles_scope_check,
    ADD CONSTRAINT login_throttles_scope_check
        CHECK (scope IN ('account', 'address', 'second_factor'));
"""

DOWNGRADE = """
DELETE FROM login_throttles WHERE scope = 'second_factor';
ALTER TABLE login_throttles DROP CONSTRAINT login_throttles_scope_check,
    ADD CONSTRAINT login_throttles_scope_check CHECK (scope IN ('account', 'address'));
DROP TABLE second_factors;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
