"""Personal fields sealed at rest: customers' data keys (wrapped), sealed emails, display names,
device names and account numbers, and blind indexes for the lookups that need equality.

The plaintext columns stay for rows written before this revision (and the bank's own settlement
accounts, whose numbers are nobody's personal data); new rows leave them NULL, which CHECK
constraints hold new and changed rows to. `bff keys seal-plaintext` seals older rows.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0021"
down_revision = "0020"
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
"""

DOWNGRADE = """
ALTER TABLE accounts DROP CONSTRAINT accounts_customer_number_sealed,
    DROP COLUMN number_last_four, DROP COLUMN number_sealed, DROP COLUMN number_index;
ALTER TABLE sessions DROP CONSTRAINT sessions_no_plaintext, DROP COLUMN device_name_sealed;
ALTER TABLE users DROP CONSTRAINT users_no_plaintext, DROP COLUMN display_name_sealed,
    DROP COLUMN email_sealed, DROP COLUMN email_index;
DROP TABLE data_keys;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    # Sealed rows have no plaintext to go back to: a downgrade needs an empty database.
    run_script(DOWNGRADE)
