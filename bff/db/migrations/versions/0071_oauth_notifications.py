"""Customer events for connected apps: one when an app is given access, one when its access
ends (by the customer, a replayed code or refresh token, or a revoked token; not when a new
consent replaces the old one).

Revision ID: 0071
Revises: 0022
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0071"
down_revision = "0022"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE customer_events DROP CONSTRAINT customer_events_kind_check,
    ADD CONSTRAINT customer_events_kind_check CHECK (kind IN (
        'money_received', 'money_sent', 'new_sign_in', 'password_changed', 'role_changed',
        'app_connected', 'app_disconnected'));

CREATE FUNCTION customer_events_of_grant() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    client_name text;
BEGIN
    SELECT name INTO client_name FROM oauth_clients WHERE id = NEW.client_id;
    INSERT INTO customer_events (user_id, kind, payload, occurred_at) VALUES (
        NEW.user_id,
        CASE WHEN TG_OP = 'INSERT' THEN 'app_connected' ELSE 'app_disconnected' END,
        jsonb_build_object(
            'grant_id', NEW.id, 'client_id', NEW.client_id, 'client_name', client_name,
            'scopes', to_jsonb(NEW.scopes), 'reason', NEW.revoked_reason),
        coalesce(NEW.revoked_at, NEW.created_at));
    RETURN NULL;
END $$;
CREATE TRIGGER oauth_grants_tell_customers AFTER INSERT ON oauth_grants
    FOR EACH ROW EXECUTE FUNCTION customer_events_of_grant();
CREATE TRIGGER oauth_grants_ended_tell_customers AFTER UPDATE OF revoked_at ON oauth_grants
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
                       AND NEW.revoked_reason <> 'replaced')
    EXECUTE FUNCTION customer_events_of_grant();
"""

DOWNGRADE = """
DROP TRIGGER oauth_grants_ended_tell_customers ON oauth_grants;
DROP TRIGGER oauth_grants_tell_customers ON oauth_grants;
DROP FUNCTION customer_events_of_grant();
DELETE FROM customer_events WHERE kind IN ('app_connected', 'app_disconnected');
ALTER TABLE customer_events DROP CONSTRAINT customer_events_kind_check,
    ADD CONSTRAINT customer_events_kind_check CHECK (kind IN (
        'money_received', 'money_sent', 'new_sign_in', 'password_changed', 'role_changed'));
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
