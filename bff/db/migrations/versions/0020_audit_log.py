"""The tamper-evident audit log: append-only entries in hash chains, written in the transaction of
the change each records.

Every entry carries the SHA-256 of the previous entry of its chain over a canonical encoding
(bff/audit/chain.py computes the same encoding to verify it). There are AUDIT_CHAINS chains, not
one: appending takes the head row of a chain, and that row lock is held until the transaction
commits; with one chain every audited transaction would commit single file, behind the WAL flush
of the one before it. A backend always appends to the chain its process id picks, so the
transactions of different pool connections almost never wait for each other. `bff audit anchor`
signs the heads of all chains together.

Money movements are recorded by triggers on `transfers` (posted) and `idempotency_keys` (refused),
so no posting path can forget them; who asked (session, client, address, idempotency key) comes
from the `bff.audit_context` setting that the posting statement sets for its own transaction.

Revision ID: 0020
Revises: 0130
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0020"
down_revision = "0060"
branch_labels = None
depends_on = None

AUDIT_CHAINS = 16

UPGRADE = r"""
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain           smallint NOT NULL,
    position        bigint NOT NULL CHECK (position > 0),
    occurred_at     timestamptz NOT NULL,
    actor_id        uuid,
    session_id      uuid,
    client_id       text,
    address         text,
    operation       text NOT NULL CHECK (operation ~ '^[a-z_]+\.[a-z_]+$'),
    object_type     text,
    object_id       text,
    idempotency_key text,
    result          text NOT NULL,
    subject_id      uuid,
    detail          jsonb NOT NULL DEFAULT '{}',
    prev_hash       text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash            text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT audit_log_chain_position_key UNIQUE (chain, position)
);
CREATE INDEX audit_log_subject ON audit_log (subject_id, id) WHERE subject_id IS NOT NULL;
CREATE INDEX audit_log_actor ON audit_log (actor_id, id) WHERE actor_id IS NOT NULL;

-- The newest entry of each chain; position 0 and the all-zero hash before the first.
CREATE TABLE audit_heads (
    chain    smallint PRIMARY KEY,
    position bigint NOT NULL,
    hash     text NOT NULL
);
INSERT INTO audit_heads (chain, position, hash)
     SELECT c, 0, repeat('0', 64) FROM generate_series(0, %(chains)s - 1) AS c;

-- Nobody rewrites history: not the application, not a maintenance script.
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (%% refused on %%)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_heads_kept BEFORE DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_heads_no_truncate BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- One field of the canonical encoding: its length in characters, a colon, the text; '-' for NULL.
CREATE FUNCTION audit_field(value text) RETURNS text IMMUTABLE LANGUAGE sql AS $$
    SELECT coalesce(length(value)::text || ':' || value, '-')
$$;

-- Append one entry to this backend's chain and return its id.
CREATE FUNCTION audit_append(
    p_operation       text,
    p_result          text,
    p_actor_id        uuid DEFAULT NULL,
    p_session_id      uuid DEFAULT NULL,
    p_client_id       text DEFAULT NULL,
    p_address         text DEFAULT NULL,
    p_object_type     text DEFAULT NULL,
    p_object_id       text DEFAULT NULL,
    p_idempotency_key text DEFAULT NULL,
    p_subject_id      uuid DEFAULT NULL,
    p_detail          jsonb DEFAULT '{}'
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    head      audit_heads;
    at        timestamptz := clock_timestamp();
    new_hash  text;
    new_id    bigint;
BEGIN
    SELECT * INTO head FROM audit_heads
     WHERE chain = pg_backend_pid() %% %(chains)s FOR UPDATE;
    new_hash := encode(sha256(convert_to(
        audit_field(head.hash)
        || audit_field((extract(epoch FROM at) * 1000000)::bigint::text)
        || audit_field(p_actor_id::text)
        || audit_field(p_session_id::text)
        || audit_field(p_client_id)
        || audit_field(p_address)
        || audit_field(p_operation)
        || audit_field(p_object_type)
        || audit_field(p_object_id)
        || audit_field(p_idempotency_key)
        || audit_field(p_result)
        || audit_field(p_subject_id::text)
        || audit_field(coalesce(p_detail, '{}')::text),
        'UTF8')), 'hex');
    INSERT INTO audit_log (chain, position, occurred_at, actor_id, session_id, client_id, address,
                           operation, object_type, object_id, idempotency_key, result,
                           subject_id, detail, prev_hash, hash)
    VALUES (head.chain, head.position + 1, at, p_actor_id, p_session_id, p_client_id, p_address,
            p_operation, p_object_type, p_object_id, p_idempotency_key, p_result, p_subject_id,
            coalesce(p_detail, '{}'), head.hash, new_hash)
    RETURNING id INTO new_id;
    UPDATE audit_heads SET position = head.position + 1, hash = new_hash
     WHERE chain = head.chain;
    RETURN new_id;
END $$;

-- Who asked for the statement now running, as its caller set it (JSON, or unset).
CREATE FUNCTION audit_context() RETURNS jsonb STABLE LANGUAGE sql AS $$
    SELECT coalesce(nullif(current_setting('bff.audit_context', true), ''), '{}')::jsonb
$$;

CREATE FUNCTION audit_money_posted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    context jsonb := audit_context();
    subject uuid;
BEGIN
    SELECT owner_id INTO subject FROM accounts
     WHERE id = CASE WHEN NEW.kind = 'deposit' THEN NEW.to_account_id ELSE NEW.from_account_id END;
    PERFORM audit_append(
        p_operation => NEW.kind || '.create',
        p_result => 'success',
        p_actor_id => NEW.initiated_by,
        p_session_id => (context ->> 'session_id')::uuid,
        p_client_id => context ->> 'client_id',
        p_address => context ->> 'address',
        p_object_type => 'transfer',
        p_object_id => NEW.id::text,
        p_idempotency_key => context ->> 'idempotency_key',
        p_subject_id => subject,
        p_detail => jsonb_build_object(
            'status', NEW.status, 'amount', NEW.amount, 'currency', NEW.currency,
            'from_account_id', NEW.from_account_id, 'to_account_id', NEW.to_account_id));
    RETURN NULL;
END $$;
CREATE TRIGGER transfers_audited AFTER INSERT ON transfers
    FOR EACH ROW EXECUTE FUNCTION audit_money_posted();

CREATE FUNCTION audit_money_refused() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    context jsonb := audit_context();
BEGIN
    PERFORM audit_append(
        p_operation => coalesce(context ->> 'operation', 'money.move'),
        p_result => 'refused',
        p_actor_id => NEW.actor_id,
        p_session_id => (context ->> 'session_id')::uuid,
        p_client_id => context ->> 'client_id',
        p_address => context ->> 'address',
        p_idempotency_key => NEW.key,
        p_subject_id => NEW.actor_id,
        p_detail => jsonb_build_object('code', NEW.result #>> '{error,code}'));
    RETURN NULL;
END $$;
CREATE TRIGGER idempotency_keys_refusal_audited AFTER UPDATE OF result ON idempotency_keys
    FOR EACH ROW WHEN (NEW.result ? 'error') EXECUTE FUNCTION audit_money_refused();
"""

DOWNGRADE = """
DROP TRIGGER idempotency_keys_refusal_audited ON idempotency_keys;
DROP TRIGGER transfers_audited ON transfers;
DROP FUNCTION audit_money_refused(), audit_money_posted(), audit_context();
DROP TABLE audit_log, audit_heads;
DROP FUNCTION audit_append, audit_field(text), audit_refuse_change();
"""


def upgrade() -> None:
    # The chain count is this module's constant, not input: formatting it into SQL is safe.
    run_script(UPGRADE % {"chains": AUDIT_CHAINS})


def downgrade() -> None:
    run_script(DOWNGRADE)
