"""History partitioned by month: `ledger_entries` and `account_events` become range-partitioned
on `created_at` (one partition per UTC month, a default partition for anything outside them).

PostgreSQL has no global indexes: a unique key of a partitioned table must contain the partition
key. The ledger's unique keys do not, and must stay global (a sequence number used in March may
not come back in April), so each table gets a narrow key table, not partitioned, that holds
them: `ledger_entry_keys` (entry id; account and sequence; transfer and account) and
`account_event_keys` (event id; account and sequence). A trigger writes a row's keys in the
statement that inserts it, and the key constraints keep the names they had on the tables, so a
violation reads as before. A foreign key from each key row to its row (id and month) means
neither exists without the other: ledger entries are append-only, an event's place in its
account's stream (id, account, sequence) is fixed, and a purged event takes its keys with it.
Outbox events reference the entry key, which stands for the entry.

`ensure_month_partitions()` creates the partitions of a range of months (`bff partitions
ensure`); it leaves a month whose rows already sit in the default partition to the default.
The data is copied within the migration's transaction: no row is lost, and none is written
meanwhile.

Revision ID: 0110
Revises: 0100
Create Date: 2026-12-03
"""

from bff.db.migrations.script import run_script

revision = "0110"
down_revision = "0100"
branch_labels = None
depends_on = None

# Partitions the migration creates past the current month; `bff partitions ensure` keeps
# BFF_PARTITION_MONTHS_AHEAD of them from then on.
MONTHS_AHEAD = 3

UPGRADE = rf"""
-- The partitions of the months from p_from to p_to (UTC, inclusive) that are missing, named
-- <table>_YYYY_MM. Answers each month's partition and what was done: 'created', 'exists', or
-- 'in_default' when rows of that month are already in the default partition (it keeps them:
-- creating the partition would have to move them, under a lock on the whole table).
CREATE FUNCTION ensure_month_partitions(p_table text, p_from date, p_to date)
RETURNS TABLE (partition text, outcome text) LANGUAGE plpgsql AS $$
DECLARE
    month date := date_trunc('month', p_from)::date;
    lower_bound timestamptz;
    upper_bound timestamptz;
    occupied boolean;
BEGIN
    IF p_table NOT IN ('ledger_entries', 'account_events') THEN
        RAISE EXCEPTION '% is not partitioned by month', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- Two processes ensuring at once: the second waits, then finds the partitions there.
    PERFORM pg_advisory_xact_lock(hashtext('ensure_month_partitions'), hashtext(p_table));
    WHILE month <= p_to LOOP
        partition := format('%s_%s', p_table, to_char(month, 'YYYY_MM'));
        lower_bound := month::timestamp AT TIME ZONE 'UTC';
        upper_bound := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
        IF to_regclass(partition) IS NOT NULL THEN
            outcome := 'exists';
        ELSE
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE created_at >= $1 AND created_at < $2)',
                           p_table || '_default')
               INTO occupied USING lower_bound, upper_bound;
            IF occupied THEN
                outcome := 'in_default';
            ELSE
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               partition, p_table, lower_bound, upper_bound);
                outcome := 'created';
            END IF;
        END IF;
        RETURN NEXT;
        month := (month + interval '1 month')::date;
    END LOOP;
END $$;

-- 1. The tables as they were, set aside under other names, their unique keys dropped (their
-- names pass to the new tables) and the triggers that act on new rows with them.
DROP TRIGGER account_events_tell_customers ON account_events;
ALTER TABLE account_events DROP CONSTRAINT account_events_entry_id_fkey;
ALTER TABLE ledger_entries RENAME TO ledger_entries_unpartitioned;
ALTER TABLE ledger_entries_unpartitioned
    DROP CONSTRAINT ledger_entries_pkey,
    DROP CONSTRAINT ledger_entries_account_sequence_key,
    DROP CONSTRAINT ledger_entries_one_leg_per_account;
ALTER TABLE account_events RENAME TO account_events_unpartitioned;
ALTER TABLE account_events_unpartitioned
    DROP CONSTRAINT account_events_pkey,
    DROP CONSTRAINT account_events_account_sequence_key,
    ALTER COLUMN id DROP IDENTITY;
DROP INDEX account_events_unpublished;

-- 2. The partitioned tables, column for column as before.
CREATE TABLE ledger_entries (
    id            uuid NOT NULL,
    transfer_id   uuid NOT NULL CONSTRAINT ledger_entries_transfer_id_fkey REFERENCES transfers (id),
    account_id    uuid NOT NULL CONSTRAINT ledger_entries_account_id_fkey REFERENCES accounts (id),
    sequence      bigint NOT NULL CONSTRAINT ledger_entries_sequence_check CHECK (sequence > 0),
    amount        bigint NOT NULL CONSTRAINT ledger_entries_amount_nonzero CHECK (amount <> 0),
    balance_after bigint NOT NULL,
    currency      text NOT NULL,
    description   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entries_pkey PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE ledger_entries_default PARTITION OF ledger_entries DEFAULT;
-- Account.transactions keyset pagination, newest first (each month's index, merged).
CREATE INDEX ledger_entries_account_sequence ON ledger_entries (account_id, sequence);
-- A transfer's legs (the balance check at commit, customer events).
CREATE INDEX ledger_entries_transfer ON ledger_entries (transfer_id);

CREATE TABLE account_events (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    account_id        uuid NOT NULL CONSTRAINT account_events_account_id_fkey REFERENCES accounts (id),
    sequence          bigint NOT NULL,
    kind              text NOT NULL CONSTRAINT account_events_kind_known CHECK (
                          kind IN ('transaction_posted', 'status_changed', 'transfer_held',
                                   'hold_released')),
    entry_id          uuid,
    balance           bigint NOT NULL,
    available_balance bigint NOT NULL,
    status            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    published_at      timestamptz,
    transfer_id       uuid CONSTRAINT account_events_transfer_id_fkey REFERENCES transfers (id),
    CONSTRAINT account_events_pkey PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE account_events_default PARTITION OF account_events DEFAULT;
-- Resuming streams read an account's events by sequence.
CREATE INDEX account_events_account_sequence ON account_events (account_id, sequence);
CREATE INDEX account_events_unpublished ON account_events (id) WHERE published_at IS NULL;

SELECT ensure_month_partitions(
           'ledger_entries',
           (coalesce((SELECT min(created_at) FROM ledger_entries_unpartitioned), now())
               AT TIME ZONE 'UTC')::date,
           ((now() + interval '{MONTHS_AHEAD} months') AT TIME ZONE 'UTC')::date);
SELECT ensure_month_partitions(
           'account_events',
           (coalesce((SELECT min(created_at) FROM account_events_unpartitioned), now())
               AT TIME ZONE 'UTC')::date,
           ((now() + interval '{MONTHS_AHEAD} months') AT TIME ZONE 'UTC')::date);

-- 3. The global keys.
CREATE TABLE ledger_entry_keys (
    id          uuid CONSTRAINT ledger_entry_keys_pkey PRIMARY KEY,
    created_at  timestamptz NOT NULL,
    transfer_id uuid NOT NULL,
    account_id  uuid NOT NULL,
    sequence    bigint NOT NULL,
    CONSTRAINT ledger_entries_account_sequence_key UNIQUE (account_id, sequence),
    CONSTRAINT ledger_entries_one_leg_per_account UNIQUE (transfer_id, account_id),
    -- Checked at commit: the keys are written just before their row (below).
    CONSTRAINT ledger_entry_keys_entry_fkey FOREIGN KEY (id, created_at)
        REFERENCES ledger_entries (id, created_at) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE account_event_keys (
    id         bigint CONSTRAINT account_event_keys_pkey PRIMARY KEY,
    created_at timestamptz NOT NULL,
    account_id uuid NOT NULL,
    sequence   bigint NOT NULL,
    CONSTRAINT account_events_account_sequence_key UNIQUE (account_id, sequence),
    -- A purged event takes its keys with it; an event moved to another month (its created_at
    -- changed) keeps them.
    CONSTRAINT account_event_keys_event_fkey FOREIGN KEY (id, created_at)
        REFERENCES account_events (id, created_at) ON DELETE CASCADE ON UPDATE CASCADE
        DEFERRABLE INITIALLY DEFERRED
);

-- 4. The rows, with their keys (the keys' constraints check the copy).
INSERT INTO ledger_entries
SELECT id, transfer_id, account_id, sequence, amount, balance_after, currency, description,
       created_at
  FROM ledger_entries_unpartitioned;
INSERT INTO ledger_entry_keys (id, created_at, transfer_id, account_id, sequence)
SELECT id, created_at, transfer_id, account_id, sequence FROM ledger_entries;
INSERT INTO account_events OVERRIDING SYSTEM VALUE
SELECT id, account_id, sequence, kind, entry_id, balance, available_balance, status, created_at,
       published_at, transfer_id
  FROM account_events_unpartitioned;
INSERT INTO account_event_keys (id, created_at, account_id, sequence)
SELECT id, created_at, account_id, sequence FROM account_events;
SELECT setval(pg_get_serial_sequence('account_events', 'id'), coalesce(max(id), 0) + 1, false)
  FROM account_events;
ALTER TABLE account_events ADD CONSTRAINT account_events_entry_id_fkey
    FOREIGN KEY (entry_id) REFERENCES ledger_entry_keys (id);
DROP TABLE account_events_unpartitioned, ledger_entries_unpartitioned;

-- 5. The triggers: the tables' own, as before, and the ones that write the keys.
CREATE FUNCTION record_ledger_entry_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_entry_keys (id, created_at, transfer_id, account_id, sequence)
    VALUES (NEW.id, NEW.created_at, NEW.transfer_id, NEW.account_id, NEW.sequence);
    RETURN NEW;
END $$;
-- An UPDATE of an event's created_at into another month moves it to that month's partition,
-- which PostgreSQL does as a delete and an insert: the insert finds the event's keys already
-- there (they follow by ON UPDATE CASCADE), and no other event with its id.
CREATE FUNCTION record_account_event_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_event_keys (id, created_at, account_id, sequence)
    VALUES (NEW.id, NEW.created_at, NEW.account_id, NEW.sequence)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND AND EXISTS (SELECT 1 FROM account_events WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "account_event_keys_pkey"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'account_event_keys_pkey';
    END IF;
    RETURN NEW;
END $$;

-- Before the row, so that an outbox event inserted by the same statement finds its entry's key
-- (the order in which a statement's after-row checks run follows its rows, not its clauses).
CREATE TRIGGER ledger_entries_keyed BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION record_ledger_entry_keys();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER ledger_entry_keys_append_only BEFORE UPDATE OR DELETE ON ledger_entry_keys
    FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_transfer_balanced();

CREATE TRIGGER account_events_keyed BEFORE INSERT ON account_events
    FOR EACH ROW EXECUTE FUNCTION record_account_event_keys();
-- The keys follow an event's created_at (ON UPDATE CASCADE); its place may not change.
CREATE TRIGGER account_events_place_fixed BEFORE UPDATE OF id, account_id, sequence
    ON account_events FOR EACH ROW
    WHEN (OLD.id <> NEW.id OR OLD.account_id <> NEW.account_id OR OLD.sequence <> NEW.sequence)
    EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER account_event_keys_fixed BEFORE UPDATE OF id, account_id, sequence
    ON account_event_keys FOR EACH ROW
    WHEN (OLD.id <> NEW.id OR OLD.account_id <> NEW.account_id OR OLD.sequence <> NEW.sequence)
    EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER account_events_notify AFTER INSERT ON account_events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_account_events();
CREATE CONSTRAINT TRIGGER account_events_tell_customers AFTER INSERT ON account_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION customer_events_of_entry();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("0110 is not reversible: 0090, before it, is not either")
