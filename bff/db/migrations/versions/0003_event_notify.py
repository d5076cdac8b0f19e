"""Wake the outbox relay as soon as account events commit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from bff.db.migrations.script import run_script

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
-- NOTIFY is delivered at commit, so the relay wakes exactly when new events become visible.
CREATE FUNCTION notify_account_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('account_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER account_events_notify AFTER INSERT ON account_events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_account_events();
"""

DOWNGRADE = """
DROP TRIGGER account_events_notify ON account_events;
DROP FUNCTION notify_account_events();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
