"""Customer events for asynchronous work (notifications, the activity feed): an outbox filled in
the transaction of the change, push devices, preferences, deliveries and the activity read model.

Revision ID: 0130
Revises: 0010
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0130"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
-- What a customer is told about, one row per customer and event. Rows are added by triggers in
-- the transaction of the change itself, so no write path can forget them and none commits
-- without them. `dispatched_at` is set once the event is handed over: confirmed by RabbitMQ, or,
-- without a broker, handled by a worker reading this table directly.
CREATE TABLE customer_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL DEFAULT gen_random_uuid() CONSTRAINT customer_events_event_key UNIQUE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN (
        'money_received', 'money_sent', 'new_sign_in', 'password_changed', 'role_changed')),
    payload         jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    dispatched_at   timestamptz,
    -- Used only when workers read this table (no broker): retries with growing delays, then dead.
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    dead_at         timestamptz,
    last_error      text
);
CREATE INDEX customer_events_pending ON customer_events (next_attempt_at, id)
    WHERE dispatched_at IS NULL AND dead_at IS NULL;

-- Money moved: deferred to the commit, when both legs of the transfer exist.
CREATE FUNCTION customer_events_of_entry() RETURNS trigger LANGUAGE plpgsql AS $$
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
            'counterparty_last_four', right(other.account_number, 4),
            'counterparty_is_bank', other.owner_id IS NULL),
        entry.created_at);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER account_events_tell_customers AFTER INSERT ON account_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION customer_events_of_entry();

CREATE FUNCTION customer_events_of_sign_in() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO customer_events (user_id, kind, payload, occurred_at)
    VALUES (NEW.user_id, 'new_sign_in', jsonb_build_object('session_id', NEW.id), NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_tell_customers AFTER INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION customer_events_of_sign_in();

CREATE FUNCTION customer_events_of_security_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS NULL OR NEW.kind NOT IN ('password_changed', 'role_assigned', 'role_revoked') THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_events (user_id, kind, payload, occurred_at) VALUES (
        NEW.user_id,
        CASE WHEN NEW.kind = 'password_changed' THEN 'password_changed' ELSE 'role_changed' END,
        jsonb_build_object('change', NEW.kind, 'role', NEW.detail -> 'role'),
        NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER security_events_tell_customers AFTER INSERT ON security_events
    FOR EACH ROW EXECUTE FUNCTION customer_events_of_security_event();

-- One push registration per session; it ends with the session.
CREATE TABLE push_devices (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid NOT NULL CONSTRAINT push_devices_one_per_session UNIQUE
               REFERENCES sessions (id) ON DELETE CASCADE,
    platform   text NOT NULL CHECK (platform IN ('expo', 'fcm')),
    token      text NOT NULL CHECK (length(token) BETWEEN 1 AND 4096),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_devices_user ON push_devices (user_id);

CREATE FUNCTION push_devices_of_ended_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM push_devices WHERE session_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_end_push_devices AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
    EXECUTE FUNCTION push_devices_of_ended_session();

-- What a customer chose to be told; security notifications are not optional, so not here.
CREATE TABLE notification_preferences (
    user_id          uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    money_received   boolean NOT NULL DEFAULT true,
    money_sent       boolean NOT NULL DEFAULT true,
    account_changes  boolean NOT NULL DEFAULT true,
    locale           text NOT NULL DEFAULT 'en_GB' CHECK (locale ~ '^[a-z]{2,3}(_[A-Z]{2})?$')
);

-- Each push of an event to a device, so that a redelivered event sends nothing twice.
CREATE TABLE push_deliveries (
    event_id   uuid NOT NULL,
    device_id  uuid NOT NULL,
    platform   text NOT NULL,
    token      text NOT NULL,
    status     text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    ticket_id  text,
    receipt    text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, device_id)
);
CREATE INDEX push_deliveries_unchecked ON push_deliveries (updated_at)
    WHERE status = 'sent' AND receipt IS NULL AND ticket_id IS NOT NULL;

-- The activity feed: a read model written by a consumer, one entry per customer event.
CREATE TABLE activity_entries (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id    uuid NOT NULL CONSTRAINT activity_entries_once UNIQUE,
    kind        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    data        jsonb NOT NULL
);
CREATE INDEX activity_entries_feed ON activity_entries (user_id, id DESC);
CREATE INDEX activity_entries_spending ON activity_entries (user_id, occurred_at)
    WHERE kind = 'money_sent';
"""

DOWNGRADE = """
DROP TABLE activity_entries, push_deliveries, notification_preferences, push_devices,
    customer_events;
DROP TRIGGER sessions_end_push_devices ON sessions;
DROP TRIGGER security_events_tell_customers ON security_events;
DROP TRIGGER sessions_tell_customers ON sessions;
DROP TRIGGER account_events_tell_customers ON account_events;
DROP FUNCTION push_devices_of_ended_session(), customer_events_of_security_event(),
    customer_events_of_sign_in(), customer_events_of_entry();
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
