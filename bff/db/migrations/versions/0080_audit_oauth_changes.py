"""Client and grant changes in the audit log: a client registered, changed or removed; a
customer's consent given (a grant) or ended, whoever ended it and why. Written by triggers, like
money movements, so no path that changes these tables can leave them out.

Revision ID: 0080
Revises: 0071
Create Date: 2026-12-03
"""

from bff.db.migrations.script import run_script

revision = "0080"
down_revision = "0071"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE FUNCTION audit_oauth_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    client oauth_clients := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM audit_append(
        p_operation => 'oauth_client.' || CASE TG_OP WHEN 'INSERT' THEN 'create'
                                                     WHEN 'UPDATE' THEN 'change'
                                                     ELSE 'remove' END,
        p_result => 'success',
        p_actor_id => CASE WHEN TG_OP = 'INSERT' THEN client.created_by END,
        p_object_type => 'oauth_client',
        p_object_id => client.id,
        p_detail => jsonb_build_object(
            'name', client.name, 'kind', client.kind, 'scopes', to_jsonb(client.scopes),
            'redirect_uris', to_jsonb(client.redirect_uris)));
    RETURN NULL;
END $$;
CREATE TRIGGER oauth_clients_audited AFTER INSERT OR UPDATE OR DELETE ON oauth_clients
    FOR EACH ROW EXECUTE FUNCTION audit_oauth_client_changed();

-- The customer gives consent and may end it; a replayed code or refresh token or a revoked
-- token ends it without anyone's say (no actor; the reason is in the detail).
CREATE FUNCTION audit_oauth_grant_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_append(
        p_operation => CASE WHEN TG_OP = 'INSERT' THEN 'oauth_grant.create'
                            ELSE 'oauth_grant.revoke' END,
        p_result => 'success',
        p_actor_id => CASE WHEN TG_OP = 'INSERT' OR NEW.revoked_reason IN ('customer', 'replaced')
                           THEN NEW.user_id END,
        p_client_id => NEW.client_id,
        p_object_type => 'oauth_grant',
        p_object_id => NEW.id::text,
        p_subject_id => NEW.user_id,
        p_detail => jsonb_build_object(
            'scopes', to_jsonb(NEW.scopes), 'account_ids', to_jsonb(NEW.account_ids),
            'daily_limit', NEW.daily_limit, 'reason', NEW.revoked_reason));
    RETURN NULL;
END $$;
CREATE TRIGGER oauth_grants_audited AFTER INSERT ON oauth_grants
    FOR EACH ROW EXECUTE FUNCTION audit_oauth_grant_changed();
CREATE TRIGGER oauth_grants_revocation_audited AFTER UPDATE OF revoked_at ON oauth_grants
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
    EXECUTE FUNCTION audit_oauth_grant_changed();
"""

DOWNGRADE = """
DROP TRIGGER oauth_grants_revocation_audited ON oauth_grants;
DROP TRIGGER oauth_grants_audited ON oauth_grants;
DROP FUNCTION audit_oauth_grant_changed();
DROP TRIGGER oauth_clients_audited ON oauth_clients;
DROP FUNCTION audit_oauth_client_changed();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
