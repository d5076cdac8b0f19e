"""Personal fields sealed at rest: customers' data keys (wrapped), sealed emails, display names,
device names and account numbers, and blind indexes for the lookups that need equality.

The plaintext columns stay for rows written before this revision (and the bank's own settlement
accounts, whose numbers are nobody's personal data); new rows leave them NULL, which CHECK
constraints hold new and changed rows to (NOT VALID: rows from before are not checked).

fraud_signals() (migration 0091) compared device names and found failed logins by a digest of
the email; it now compares the device names' blind indexes and finds the throttle row by the
email's blind index, which is how the throttle table keys accounts now.

Revision ID: 0021
Revises: 0070
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0021"
down_revision = "0070"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- One data key per customer, wrapped by KEK `kek_version` of the data key ring. Deleting the row
-- is erasure: whatever was sealed with the key no longer opens.
CREATE TABLE data_keys (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version      smallint NOT NULL DEFAULT 1 CHECK (version > 0),
    kek_version  integer NOT NULL CHECK (kek_version > 0),
    wrapped      bytea NOT NULL CHECK (length(wrapped) = 60),
    created_at   timestamptz NOT NULL DEFAULT now(),
    rewrapped_at timestamptz
);
-- Serves `bff keys rewrap` (keys still under an older KEK) and retiring a version.
CREATE INDEX data_keys_kek_version ON data_keys (kek_version, user_id);

ALTER TABLE users
    DROP CONSTRAINT users_email_normalised,
    ALTER COLUMN email DROP NOT NULL,
    ALTER COLUMN display_name DROP NOT NULL,
    ADD COLUMN email_index bytea CONSTRAINT users_email_index_key UNIQUE
        CHECK (length(email_index) = 32),
    ADD COLUMN email_sealed bytea,
    ADD COLUMN display_name_sealed bytea,
    ADD CONSTRAINT users_no_plaintext CHECK (email IS NULL AND display_name IS NULL) NOT VALID;

ALTER TABLE sessions
    ALTER COLUMN device_name DROP NOT NULL,
    ADD COLUMN device_name_sealed bytea,
    -- Whether a device was seen before (fraud screening), without its name.
    ADD COLUMN device_name_index bytea CHECK (length(device_name_index) = 32),
    ADD CONSTRAINT sessions_no_plaintext CHECK (device_name IS NULL) NOT VALID;

ALTER TABLE accounts
    ALTER COLUMN account_number DROP NOT NULL,
    ADD COLUMN number_index bytea CONSTRAINT accounts_number_index_key UNIQUE
        CHECK (length(number_index) = 32),
    ADD COLUMN number_sealed bytea,
    ADD COLUMN number_last_four text CHECK (number_last_four ~ '^[0-9]{4}$'),
    ADD CONSTRAINT accounts_customer_number_sealed
        CHECK (kind = 'settlement' OR account_number IS NULL) NOT VALID;

-- As in migration 0130, but the counterparty's last four digits come from the column that keeps
-- them in the clear (customer account numbers are sealed).
CREATE OR REPLACE FUNCTION customer_events_of_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry  ledger_entries;
    mine   accounts;
    other  accounts;
BEGIN
    IF NEW.kind <> 'transaction_posted' OR NEW.entry_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO entry FROM ledger_entries WHERE id = NEW.entry_id;
    SELECT * INTO mine FROM accounts WHERE id = entry.account_id;
    IF mine.owner_id IS NULL THEN
        RETURN NULL;  -- the bank's settlement accounts have nobody to tell
    END IF;
    SELECT a.* INTO other FROM ledger_entries l JOIN accounts a ON a.id = l.account_id
     WHERE l.transfer_id = entry.transfer_id AND l.account_id <> entry.account_id;
    INSERT INTO customer_events (user_id, kind, payload, occurred_at) VALUES (
        mine.owner_id,
        CASE WHEN entry.amount > 0 THEN 'money_received' ELSE 'money_sent' END,
        jsonb_build_object(
            'account_id', mine.id,
            'account_name', mine.name,
            'transfer_id', entry.transfer_id,
            'amount', abs(entry.amount),
            'currency', entry.currency,
            'balance_after', entry.balance_after,
            'counterparty_account_id', other.id,
            'counterparty_last_four',
                coalesce(other.number_last_four, right(other.account_number, 4)),
            'counterparty_is_bank', other.owner_id IS NULL),
        entry.created_at);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION fraud_signals(
    p_actor_id           uuid,
    p_session_id         uuid,
    p_key                text,
    p_source_id          uuid,
    p_destination_id     uuid DEFAULT NULL,
    p_destination_number text DEFAULT NULL
) RETURNS TABLE (
    answered boolean, available_balance bigint, history_amounts bigint[], history_hours int[],
    sent_1h bigint, sent_24h bigint, destination_id uuid, paid_payee_before boolean,
    payee_age_days double precision, payee_senders_24h bigint, session_age_hours double precision,
    device_seen_before boolean, failed_logins integer, password_changed_24h boolean,
    new_sessions_24h bigint, hour int, rules jsonb, rules_version integer
) LANGUAGE sql STABLE AS $$
    WITH payee AS (
        SELECT a.id, a.created_at FROM accounts a
         WHERE a.id = coalesce(p_destination_id,
                               (SELECT d.id FROM accounts d
                                 WHERE d.account_number = p_destination_number
                                   AND d.kind = 'customer'))
    ), recent AS (
        SELECT t.amount, t.created_at FROM transfers t
         WHERE t.from_account_id = p_source_id AND t.status <> 'cancelled'
         ORDER BY t.created_at DESC LIMIT 50
    ), session AS (
        SELECT s.created_at, s.device_name_index FROM sessions s
         WHERE s.id = p_session_id AND s.user_id = p_actor_id
    ), rule AS (
        SELECT r.rules, r.version FROM fraud_rules r ORDER BY r.version DESC LIMIT 1
    )
    SELECT
        EXISTS (SELECT 1 FROM idempotency_keys k
                 WHERE k.actor_id = p_actor_id AND k.key = p_key AND k.expires_at >= now()),
        (SELECT a.available_balance FROM accounts a WHERE a.id = p_source_id),
        (SELECT coalesce(array_agg(r.amount ORDER BY r.created_at DESC), '{}') FROM recent r),
        (SELECT coalesce(array_agg(extract(hour FROM r.created_at AT TIME ZONE 'UTC')::int
                                   ORDER BY r.created_at DESC), '{}') FROM recent r),
        (SELECT count(*) FROM transfers t
          WHERE t.from_account_id = p_source_id AND t.created_at > now() - interval '1 hour'),
        (SELECT count(*) FROM transfers t
          WHERE t.from_account_id = p_source_id AND t.created_at > now() - interval '24 hours'),
        (SELECT p.id FROM payee p),
        EXISTS (SELECT 1 FROM transfers t, payee p
                 WHERE t.from_account_id = p_source_id AND t.to_account_id = p.id
                   AND t.status = 'completed'),
        coalesce((SELECT extract(epoch FROM now() - p.created_at) / 86400 FROM payee p), 0),
        (SELECT count(DISTINCT t.from_account_id) FROM transfers t, payee p
          WHERE t.to_account_id = p.id AND t.created_at > now() - interval '24 hours'
            AND t.from_account_id <> p_source_id),
        coalesce((SELECT extract(epoch FROM now() - s.created_at) / 3600 FROM session s), 0),
        -- A customer's first device is not a new one; a later one is, unless seen before.
        NOT EXISTS (SELECT 1 FROM sessions o, session s
                     WHERE o.user_id = p_actor_id AND o.created_at < s.created_at)
        OR EXISTS (SELECT 1 FROM sessions o, session s
                    WHERE o.user_id = p_actor_id AND o.created_at < s.created_at
                      AND o.device_name_index = s.device_name_index),
        coalesce((SELECT l.failures FROM login_throttles l, users u
                   WHERE u.id = p_actor_id AND l.scope = 'account'
                     AND l.key = encode(u.email_index, 'hex')), 0),
        EXISTS (SELECT 1 FROM security_events e
                 WHERE e.user_id = p_actor_id AND e.kind = 'password_changed'
                   AND e.created_at > now() - interval '24 hours'),
        (SELECT count(*) FROM sessions o
          WHERE o.user_id = p_actor_id AND o.created_at > now() - interval '24 hours'),
        extract(hour FROM now() AT TIME ZONE 'UTC')::int,
        (SELECT r.rules FROM rule r),
        (SELECT r.version FROM rule r)
$$;
"""

DOWNGRADE = """
ALTER TABLE accounts DROP CONSTRAINT accounts_customer_number_sealed,
    DROP COLUMN number_last_four, DROP COLUMN number_sealed, DROP COLUMN number_index;
ALTER TABLE sessions DROP CONSTRAINT sessions_no_plaintext, DROP COLUMN device_name_sealed,
    DROP COLUMN device_name_index;
ALTER TABLE users DROP CONSTRAINT users_no_plaintext, DROP COLUMN display_name_sealed,
    DROP COLUMN email_sealed, DROP COLUMN email_index;
DROP TABLE data_keys;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    # Sealed rows have no plaintext to go back to: a downgrade needs an empty database.
    run_script(DOWNGRADE)
