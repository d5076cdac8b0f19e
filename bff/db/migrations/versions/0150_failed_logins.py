"""Failed logins as security events, which screening counts: a `login_failed` event per wrong
password for a known account, and fraud_signals() reading how many of them the last 24 hours
hold.

fraud_signals() read the account's login-throttle counter, which a successful login resets:
whoever guessed the password after a few failures showed none. The events stay whatever comes
after, and index security_events_user (user_id, created_at) finds the day's in the same
statement as before.

Only that one expression of fraud_signals() changes (the rest is migration 0021's): it is
replaced in the stored definition, which fails loudly if the expression is not there.

Revision ID: 0150
Revises: 0160
Create Date: 2026-12-03
"""

from bff.db.migrations.script import run_script

revision = "0150"
down_revision = "0160"
branch_labels = None
depends_on = None

KINDS = "'refresh_token_reuse', 'role_assigned', 'role_revoked', 'password_changed'"

# Exactly as migration 0021 wrote it.
THROTTLE_COUNTER = """coalesce((SELECT l.failures FROM login_throttles l, users u
                   WHERE u.id = p_actor_id AND l.scope = 'account'
                     AND l.key = encode(u.email_index, 'hex')), 0)"""
RECENT_FAILURES = """(SELECT count(*)::integer FROM security_events e
          WHERE e.user_id = p_actor_id AND e.kind = 'login_failed'
            AND e.created_at > now() - interval '24 hours')"""


def _kinds(kinds: str) -> str:
    return f"""
ALTER TABLE security_events DROP CONSTRAINT security_events_kind_check,
    ADD CONSTRAINT security_events_kind_check CHECK (kind IN ({kinds}));
"""


def _replace_in_fraud_signals(old: str, new: str) -> str:
    return f"""
DO $do$
DECLARE
    definition text := pg_get_functiondef('fraud_signals'::regproc);
BEGIN
    IF position($old${old}$old$ IN definition) = 0 THEN
        RAISE EXCEPTION 'fraud_signals() does not read % as expected', $old${old}$old$;
    END IF;
    EXECUTE replace(definition, $old${old}$old$, $new${new}$new$);
END $do$;
"""


def upgrade() -> None:
    run_script(
        _kinds(KINDS + ", 'login_failed'")
        + _replace_in_fraud_signals(THROTTLE_COUNTER, RECENT_FAILURES)
    )


def downgrade() -> None:
    run_script(
        "DELETE FROM security_events WHERE kind = 'login_failed';"
        + _kinds(KINDS)
        + _replace_in_fraud_signals(RECENT_FAILURES, THROTTLE_COUNTER)
    )
