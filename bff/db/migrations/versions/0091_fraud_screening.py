"""Fraud screening's storage: the analysts' role, rules as versioned data, each request's
screening, the indexes its features read, and `post_transfer()` storing the screening (and a
BLOCK as the key's refusal) in the same statement as the transfer.

Rules are one JSON document per version; the newest is in force. Keeping every version, with who
wrote it, when and why, is the audit of rule changes. A screening is kept per request (keyed by
the transfer id the request would have used, so a blocked request has one too), with its score,
model version, reasons and feature vector; analysts' decisions on held transfers are recorded
on it and become the labels of the next `bff fraud train`.

`fraud_signals()` gathers everything a screening reads in one statement.

Revision ID: 0091
Revises: 0090
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0091"
down_revision = "0090"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE users DROP CONSTRAINT users_roles_known;
ALTER TABLE users ADD CONSTRAINT users_roles_known CHECK (
    cardinality(roles) > 0
    AND roles <@ ARRAY['customer', 'support', 'operator', 'admin', 'auditor', 'fraud_analyst']);

CREATE TABLE fraud_rules (
    version    integer PRIMARY KEY CHECK (version > 0),
    rules      jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'object'),
    changed_by uuid NOT NULL REFERENCES users (id),
    note       text NOT NULL CHECK (length(note) BETWEEN 1 AND 500),
    changed_at timestamptz NOT NULL DEFAULT now()
);
-- The audit trail of rule changes is append-only.
CREATE TRIGGER fraud_rules_append_only BEFORE UPDATE OR DELETE ON fraud_rules
    FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();

CREATE TABLE transfer_screenings (
    transfer_id uuid PRIMARY KEY,
    actor_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- {"decision", "risk", "model_version", "rules_version", "reasons"}
    screening   jsonb NOT NULL CHECK (screening ->> 'decision' IN ('allow', 'step_up', 'review', 'block')),
    features    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- An analyst's resolution of a held transfer: the label of the next training.
    reviewed_by uuid REFERENCES users (id),
    reviewed_at timestamptz,
    review      text CHECK (review IN ('approved', 'rejected')),
    note        text CHECK (length(note) BETWEEN 1 AND 500),
    CONSTRAINT transfer_screenings_review_complete CHECK (
        (review IS NULL) = (reviewed_by IS NULL) AND (review IS NULL) = (reviewed_at IS NULL))
);
CREATE INDEX transfer_screenings_labelled ON transfer_screenings (reviewed_at) WHERE review IS NOT NULL;

-- What the features read: a source's recent transfers, a payee's recent senders.
CREATE INDEX transfers_source_recent ON transfers (from_account_id, created_at DESC);
CREATE INDEX transfers_payee_recent ON transfers (to_account_id, created_at DESC);
CREATE INDEX sessions_user_recent ON sessions (user_id, created_at);

ALTER TYPE posting_result ADD ATTRIBUTE screening jsonb;

-- Everything a screening reads, in one statement: the source's balance and latest transfers,
-- its pace, the payee (age, whether paid before, how many paid it today), the session (age,
-- device seen before), recent failed logins, password changes and sign-ins, the rules in force,
-- and whether the idempotency key already holds a result (then nothing is scored again).
CREATE FUNCTION fraud_signals(
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
        SELECT s.created_at, s.device_name FROM sessions s
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
                      AND o.device_name = s.device_name),
        coalesce((SELECT l.failures FROM login_throttles l, users u
                   WHERE u.id = p_actor_id AND l.scope = 'account'
                     AND l.key = encode(sha256(convert_to(u.email, 'UTF8')), 'hex')), 0),
        EXISTS (SELECT 1 FROM security_events e
                 WHERE e.user_id = p_actor_id AND e.kind = 'password_changed'
                   AND e.created_at > now() - interval '24 hours'),
        (SELECT count(*) FROM sessions o
          WHERE o.user_id = p_actor_id AND o.created_at > now() - interval '24 hours'),
        extract(hour FROM now() AT TIME ZONE 'UTC')::int,
        (SELECT r.rules FROM rule r),
        (SELECT r.version FROM rule r)
$$;

DROP FUNCTION post_transfer;
CREATE FUNCTION post_transfer(
    p_actor_id           uuid,
    p_key                text,
    p_fingerprint        text,
    p_ttl_s              double precision,
    p_transfer_id        uuid,
    p_kind               text,
    p_amount             bigint,
    p_currency           text,
    p_description        text,
    p_source_field       text,
    p_destination_field  text,
    p_amount_field       text,
    p_currency_field     text,
    p_source_id          uuid DEFAULT NULL,
    p_destination_id     uuid DEFAULT NULL,
    p_destination_number text DEFAULT NULL,
    p_memo               text DEFAULT NULL,
    p_hold_s             double precision DEFAULT NULL,
    p_screening          jsonb DEFAULT NULL,
    p_refusal            jsonb DEFAULT NULL
) RETURNS posting_result LANGUAGE plpgsql AS $$
DECLARE
    answer      posting_result;
    claimed     boolean;
    held        record;
    account     accounts;
    source      accounts;
    destination accounts;
    refusal     jsonb;
BEGIN
    -- 1. The key. Inserting it takes it; an expired record is taken over. A transaction holding
    -- the same key makes the insert wait until it ends; past lock_timeout the caller is told the
    -- first request is still in flight (a lock timeout anywhere else is retried as a conflict).
    BEGIN
        INSERT INTO idempotency_keys AS k (actor_id, key, fingerprint, expires_at)
        VALUES (p_actor_id, p_key, p_fingerprint, now() + make_interval(secs => p_ttl_s))
        ON CONFLICT (actor_id, key) DO UPDATE
           SET fingerprint = excluded.fingerprint, result = NULL, created_at = now(),
               expires_at = excluded.expires_at
         WHERE k.expires_at < now()
        RETURNING true INTO claimed;
    EXCEPTION WHEN lock_not_available THEN
        answer.outcome := 'in_progress';
        RETURN answer;
    END;
    IF claimed IS NULL THEN
        -- Held by an earlier request: a new statement, so a new snapshot, which sees the record
        -- the insert waited for.
        SELECT k.fingerprint, k.result INTO held
          FROM idempotency_keys k
         WHERE k.actor_id = p_actor_id AND k.key = p_key;
        IF held.fingerprint <> p_fingerprint THEN
            answer.outcome := 'key_reused';
        ELSIF held.result ? 'error' THEN
            answer.outcome := 'refused';
            answer.refusal := held.result -> 'error';
        ELSE
            SELECT 'replayed', NULL::jsonb, t.id, t.kind, t.status, t.amount, t.currency,
                   t.from_account_id, t.to_account_id, src.owner_id, dst.owner_id, t.memo,
                   t.initiated_by, t.created_at, NULL::bigint, NULL::bigint, t.version,
                   t.hold_expires_at, sc.screening
              INTO answer
              FROM transfers t
              LEFT JOIN transfer_screenings sc ON sc.transfer_id = t.id
              JOIN accounts src ON src.id = t.from_account_id
              JOIN accounts dst ON dst.id = t.to_account_id
             WHERE t.id = (held.result ->> 'transfer_id')::uuid;
        END IF;
        RETURN answer;
    END IF;

    -- 2. Both accounts, locked in id order, so that two postings over the same pair queue up
    -- instead of deadlocking.
    FOR account IN
        SELECT a.* FROM accounts a
         WHERE a.id IN (
                   coalesce(p_source_id,
                            (SELECT s.id FROM accounts s
                              WHERE s.kind = 'settlement' AND s.currency = p_currency)),
                   coalesce(p_destination_id,
                            (SELECT d.id FROM accounts d
                              WHERE d.account_number = p_destination_number
                                AND d.kind = 'customer')))
         ORDER BY a.id
           FOR UPDATE
    LOOP
        -- As the look-ups above named them (one account may be both sides).
        IF account.id = p_source_id
           OR (p_source_id IS NULL AND account.kind = 'settlement'
               AND account.currency = p_currency) THEN
            source := account;
        END IF;
        IF account.id = p_destination_id
           OR (p_destination_id IS NULL AND account.kind = 'customer'
               AND account.account_number = p_destination_number) THEN
            destination := account;
        END IF;
    END LOOP;

    -- 3. The posting rules, in the domain's order: the first one broken is the answer.
    refusal := CASE
        WHEN source.id IS NULL AND p_kind = 'deposit' THEN
            jsonb_build_object('code', 'UNSUPPORTED_CURRENCY', 'field', p_currency_field)
        WHEN source.id IS NULL OR (p_kind = 'transfer' AND source.owner_id IS DISTINCT FROM p_actor_id) THEN
            jsonb_build_object('code', 'ACCOUNT_NOT_FOUND', 'field', p_source_field)
        WHEN destination.id IS NULL OR destination.kind <> 'customer' THEN
            jsonb_build_object('code', 'ACCOUNT_NOT_FOUND', 'field', p_destination_field)
        WHEN source.id = destination.id THEN
            jsonb_build_object('code', 'SAME_ACCOUNT', 'field', p_destination_field)
        WHEN source.status <> 'active' THEN
            jsonb_build_object('code', 'ACCOUNT_FROZEN', 'field', p_source_field,
                               'status', source.status)
        WHEN destination.status <> 'active' THEN
            jsonb_build_object('code', 'ACCOUNT_FROZEN', 'field', p_destination_field,
                               'status', destination.status)
        WHEN source.currency <> p_currency OR destination.currency <> p_currency THEN
            jsonb_build_object('code', 'CURRENCY_MISMATCH', 'field', p_currency_field)
        WHEN source.kind = 'customer'
             AND source.available_balance - p_amount < -source.overdraft_limit THEN
            jsonb_build_object('code', 'INSUFFICIENT_FUNDS', 'field', p_amount_field)
        -- Refused by screening (BLOCK): only once the rules found nothing, so that a refusal
        -- never tells about an account the actor may not see.
        ELSE p_refusal
    END;
    -- Every screened request keeps its screening, blocked or not.
    IF p_screening IS NOT NULL THEN
        INSERT INTO transfer_screenings (transfer_id, actor_id, screening, features, created_at)
        VALUES (p_transfer_id, p_actor_id, p_screening - 'features', p_screening -> 'features',
                now());
    END IF;
    IF refusal IS NOT NULL THEN
        -- A refusal is the key's result too: a retry gets it even once the cause is gone.
        UPDATE idempotency_keys SET result = jsonb_build_object('error', refusal)
         WHERE actor_id = p_actor_id AND key = p_key;
        answer.outcome := 'refused';
        answer.refusal := refusal;
        answer.screening := p_screening - 'features';
        RETURN answer;
    END IF;

    -- 4a. Posted at once: the transfer, both legs, both balances and sequences, both outbox
    -- events and the key's result, in one statement.
    IF p_hold_s IS NULL THEN
    WITH new_transfer AS (
        INSERT INTO transfers (id, kind, status, amount, currency, from_account_id,
                               to_account_id, memo, initiated_by, created_at)
        VALUES (p_transfer_id, p_kind, 'completed', p_amount, p_currency, source.id,
                destination.id, p_memo, p_actor_id, now())
    ), legs AS (
        SELECT gen_random_uuid() AS entry_id, leg.*
          FROM (VALUES (source.id, source.last_sequence + 1, -p_amount,
                        source.balance - p_amount, source.available_balance - p_amount,
                        source.status),
                       (destination.id, destination.last_sequence + 1, p_amount,
                        destination.balance + p_amount, destination.available_balance + p_amount,
                        destination.status))
               AS leg (account_id, sequence, amount, balance, available, status)
    ), new_entries AS (
        INSERT INTO ledger_entries (id, transfer_id, account_id, sequence, amount, balance_after,
                                    currency, description, created_at)
        SELECT entry_id, p_transfer_id, account_id, sequence, amount, balance, p_currency,
               p_description, now()
          FROM legs
    ), moved AS (
        UPDATE accounts a
           SET balance = legs.balance, available_balance = legs.available,
               last_sequence = legs.sequence
          FROM legs
         WHERE a.id = legs.account_id
    ), answered AS (
        UPDATE idempotency_keys SET result = jsonb_build_object('transfer_id', p_transfer_id)
         WHERE actor_id = p_actor_id AND key = p_key
    )
    INSERT INTO account_events (account_id, sequence, kind, entry_id, transfer_id, balance,
                                available_balance, status, created_at)
    SELECT account_id, sequence, 'transaction_posted', entry_id, p_transfer_id, balance, available,
           status, now()
      FROM legs;

    answer := ROW('posted', NULL::jsonb, p_transfer_id, p_kind, 'completed', p_amount, p_currency,
                  source.id, destination.id, source.owner_id, destination.owner_id, p_memo,
                  p_actor_id, now(), source.last_sequence + 1, destination.last_sequence + 1,
                  0, NULL::timestamptz, p_screening - 'features');
    RETURN answer;
    END IF;

    -- 4b. Held: the transfer, pending until it is settled or voided, reserves the amount on the
    -- source (available balance down, balance unchanged) and posts no entries; the source gets
    -- its next sequence and an outbox event, the destination nothing yet.
    WITH new_transfer AS (
        INSERT INTO transfers (id, kind, status, amount, currency, from_account_id,
                               to_account_id, memo, initiated_by, created_at, hold_expires_at)
        VALUES (p_transfer_id, p_kind, 'pending', p_amount, p_currency, source.id,
                destination.id, p_memo, p_actor_id, now(),
                now() + make_interval(secs => p_hold_s))
    ), reserved AS (
        UPDATE accounts SET available_balance = source.available_balance - p_amount,
                            last_sequence = source.last_sequence + 1
         WHERE id = source.id
    ), answered AS (
        UPDATE idempotency_keys SET result = jsonb_build_object('transfer_id', p_transfer_id)
         WHERE actor_id = p_actor_id AND key = p_key
    )
    INSERT INTO account_events (account_id, sequence, kind, transfer_id, balance,
                                available_balance, status, created_at)
    VALUES (source.id, source.last_sequence + 1, 'transfer_held', p_transfer_id, source.balance,
            source.available_balance - p_amount, source.status, now());

    answer := ROW('posted', NULL::jsonb, p_transfer_id, p_kind, 'pending', p_amount, p_currency,
                  source.id, destination.id, source.owner_id, destination.owner_id, p_memo,
                  p_actor_id, now(), source.last_sequence + 1, NULL::bigint, 0,
                  now() + make_interval(secs => p_hold_s), p_screening - 'features');
    RETURN answer;
END $$;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("0091 is not reversible: screenings and rules have no earlier form")
