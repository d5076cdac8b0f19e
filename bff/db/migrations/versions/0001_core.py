"""Core ledger: users, sessions, accounts, transfers, entries, idempotency keys, account events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from bff.db.migrations.script import run_script

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SUPPORTED_CURRENCIES = ("USD", "EUR", "GBP", "CHF", "CAD", "AUD", "SEK", "JPY", "KRW", "BHD", "KWD")

UPGRADE = r"""
CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email         text NOT NULL CONSTRAINT users_email_key UNIQUE
                  CONSTRAINT users_email_normalised CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
    roles         text[] NOT NULL CONSTRAINT users_roles_known
                  CHECK (cardinality(roles) > 0 AND roles <@ ARRAY['customer','support','operator','admin','auditor']),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name        text NOT NULL,
    refresh_token_hash bytea NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    last_used_at       timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    revoked_at         timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE accounts (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id          uuid REFERENCES users (id),
    kind              text NOT NULL CHECK (kind IN ('customer', 'settlement')),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'frozen', 'closed')),
    balance           bigint NOT NULL DEFAULT 0,
    available_balance bigint NOT NULL DEFAULT 0,
    overdraft_limit   bigint NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
    account_number    text NOT NULL CONSTRAINT accounts_number_key UNIQUE CHECK (account_number ~ '^[0-9]{12}$'),
    last_sequence     bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_settlement_has_no_owner CHECK ((kind = 'settlement') = (owner_id IS NULL)),
    -- The bank's settlement accounts are the source of deposits and run negative by design.
    CONSTRAINT accounts_no_overdraft CHECK (
        kind = 'settlement' OR (balance >= -overdraft_limit AND available_balance >= -overdraft_limit)
    )
);
-- Serves User.accounts keyset pagination.
CREATE INDEX accounts_owner_page ON accounts (owner_id, created_at, id);
CREATE UNIQUE INDEX accounts_one_settlement_per_currency ON accounts (currency) WHERE kind = 'settlement';

CREATE TABLE transfers (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('transfer', 'deposit')),
    status          text NOT NULL CHECK (status IN ('completed')),
    amount          bigint NOT NULL CONSTRAINT transfers_amount_positive CHECK (amount > 0),
    currency        text NOT NULL,
    from_account_id uuid NOT NULL REFERENCES accounts (id),
    to_account_id   uuid NOT NULL REFERENCES accounts (id),
    memo            text CHECK (length(memo) <= 140),
    initiated_by    uuid NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transfers_distinct_accounts CHECK (from_account_id <> to_account_id)
);

CREATE TABLE ledger_entries (
    id            uuid PRIMARY KEY,
    transfer_id   uuid NOT NULL REFERENCES transfers (id),
    account_id    uuid NOT NULL REFERENCES accounts (id),
    sequence      bigint NOT NULL CHECK (sequence > 0),
    amount        bigint NOT NULL CONSTRAINT ledger_entries_amount_nonzero CHECK (amount <> 0),
    balance_after bigint NOT NULL,
    currency      text NOT NULL,
    description   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Serves Account.transactions keyset pagination, newest first.
    CONSTRAINT ledger_entries_account_sequence_key UNIQUE (account_id, sequence),
    CONSTRAINT ledger_entries_one_leg_per_account UNIQUE (transfer_id, account_id)
);

-- Double entry: at commit, every transfer touched in the transaction has exactly two legs, the
-- debit of its amount on its source account and the credit on its destination, each in the
-- transfer's currency and its account's.
CREATE FUNCTION check_transfer_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target uuid;
    legs bigint;
    matching bigint;
BEGIN
    IF TG_TABLE_NAME = 'transfers' THEN
        target := NEW.id;
    ELSE
        target := NEW.transfer_id;
    END IF;
    SELECT count(e.id),
           count(e.id) FILTER (
               WHERE e.currency = t.currency AND a.currency = t.currency
                 AND ((e.account_id = t.from_account_id AND e.amount = -t.amount)
                   OR (e.account_id = t.to_account_id AND e.amount = t.amount)))
      INTO legs, matching
      FROM transfers t
      LEFT JOIN ledger_entries e ON e.transfer_id = t.id
      LEFT JOIN accounts a ON a.id = e.account_id
     WHERE t.id = target;
    -- Two matching legs on distinct accounts (one leg per account is a unique key) balance.
    IF legs <> 2 OR matching <> 2 THEN
        RAISE EXCEPTION 'transfer % is unbalanced: % legs, % matching its amount, accounts and currency',
            target, legs, matching
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER transfers_balanced AFTER INSERT ON transfers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_transfer_balanced();
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_transfer_balanced();

-- Posted money is immutable: corrections are new transfers.
CREATE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
-- Only a transfer's status may change (held transfers will be released or rejected).
CREATE TRIGGER transfers_append_only
    BEFORE UPDATE OF id, kind, amount, currency, from_account_id, to_account_id, memo,
                     initiated_by, created_at
    OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();

CREATE TABLE idempotency_keys (
    actor_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint text NOT NULL,
    result      jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL CONSTRAINT idempotency_keys_kept_a_day CHECK (expires_at >= created_at + interval '24 hours'),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (actor_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Outbox: one row per account change, written in the transaction that made it.
CREATE TABLE account_events (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        uuid NOT NULL REFERENCES accounts (id),
    sequence          bigint NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('transaction_posted', 'status_changed')),
    entry_id          uuid REFERENCES ledger_entries (id),
    balance           bigint NOT NULL,
    available_balance bigint NOT NULL,
    status            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    published_at      timestamptz,
    CONSTRAINT account_events_account_sequence_key UNIQUE (account_id, sequence)
);
CREATE INDEX account_events_unpublished ON account_events (id) WHERE published_at IS NULL;
"""

DOWNGRADE = """
DROP TABLE account_events, idempotency_keys, ledger_entries, transfers, accounts, sessions, users;
DROP FUNCTION check_transfer_balanced(), refuse_ledger_change();
"""


def upgrade() -> None:
    # Settlement account numbers start with 0 so they never collide with customer numbers.
    # The values are this module's constants, not input: formatting them into SQL is safe.
    settlements = ",".join(
        f"('settlement', '{currency} settlement', '{currency}', '{index:012d}')"
        for index, currency in enumerate(SUPPORTED_CURRENCIES)
    )
    run_script(
        UPGRADE
        + f"INSERT INTO accounts (kind, name, currency, account_number) VALUES {settlements};"
    )


def downgrade() -> None:
    run_script(DOWNGRADE)
