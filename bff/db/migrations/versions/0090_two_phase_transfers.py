"""Two-phase transfers: a transfer may be held (PENDING), reserving its amount, and later post
(COMPLETED) or be voided (CANCELLED), by a decision or by expiry.

The database holds it to the rules: a transfer starts pending or completed and leaves pending
once (a reservation is consumed or released exactly once); a completed transfer has its two
balanced legs and any other none; every account's available balance is its balance less the
amounts its pending transfers reserve (checked at commit). `post_transfer()` gains `p_hold_s`
(hold instead of posting, for that many seconds); `resolve_transfer()` settles or voids a held
transfer in one statement. Each change gives the account its next sequence and an outbox event
that names the transfer, so live streams show the hold and its outcome. A transfer's `version`
counts its status changes: the cache versions transfers by it.

Revision ID: 0090
Revises: 0020
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0090"
down_revision = "0020"
branch_labels = None
depends_on = None

UPGRADE = r"""
ALTER TABLE transfers DROP CONSTRAINT transfers_status_check;
ALTER TABLE transfers
    ADD CONSTRAINT transfers_status_known CHECK (status IN ('pending', 'completed', 'cancelled')),
    ADD COLUMN version integer NOT NULL DEFAULT 0 CONSTRAINT transfers_version_counts CHECK (version >= 0),
    ADD COLUMN hold_expires_at timestamptz,
    ADD COLUMN resolved_at timestamptz,
    ADD CONSTRAINT transfers_pending_expires CHECK (status <> 'pending' OR hold_expires_at IS NOT NULL);
-- What each account has reserved, and what the expiry job looks for.
CREATE INDEX transfers_pending_by_source ON transfers (from_account_id) WHERE status = 'pending';
CREATE INDEX transfers_pending_expiry ON transfers (hold_expires_at) WHERE status = 'pending';

-- A transfer is born pending or completed; only a pending one changes, once, to completed or
-- cancelled. Each change counts in `version`.
CREATE FUNCTION check_transfer_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('pending', 'completed') OR NEW.version <> 0 THEN
            RAISE EXCEPTION 'transfer % cannot start %', NEW.id, NEW.status
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status OR NEW.version IS DISTINCT FROM OLD.version THEN
        IF OLD.status <> 'pending' OR NEW.status = 'pending' THEN
            RAISE EXCEPTION 'transfer % is %: a hold is settled or released once', OLD.id, OLD.status
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER transfers_status_transition BEFORE INSERT OR UPDATE ON transfers
    FOR EACH ROW EXECUTE FUNCTION check_transfer_transition();

-- Double entry, now with holds: at commit a completed transfer has exactly its two matching
-- legs, a pending or cancelled one none at all.
CREATE OR REPLACE FUNCTION check_transfer_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target uuid;
    state text;
    legs bigint;
    matching bigint;
BEGIN
    IF TG_TABLE_NAME = 'transfers' THEN
        target := NEW.id;
    ELSE
        target := NEW.transfer_id;
    END IF;
    SELECT t.status,
           count(e.id),
           count(e.id) FILTER (
               WHERE e.currency = t.currency AND a.currency = t.currency
                 AND ((e.account_id = t.from_account_id AND e.amount = -t.amount)
                   OR (e.account_id = t.to_account_id AND e.amount = t.amount)))
      INTO state, legs, matching
      FROM transfers t
      LEFT JOIN ledger_entries e ON e.transfer_id = t.id
      LEFT JOIN accounts a ON a.id = e.account_id
     WHERE t.id = target
     GROUP BY t.status;
    IF state = 'completed' AND (legs <> 2 OR matching <> 2) THEN
        RAISE EXCEPTION 'transfer % is unbalanced: % legs, % matching its amount, accounts and currency',
            target, legs, matching
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF state <> 'completed' AND legs <> 0 THEN
        RAISE EXCEPTION 'transfer % is %: it has no entries', target, state
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER transfers_balanced_when_settled AFTER UPDATE OF status ON transfers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_transfer_balanced();

-- Reservations: at commit, an account's available balance is its balance less what its
-- pending transfers reserve.
CREATE FUNCTION check_reservations() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target uuid;
    held bigint;
    account accounts;
BEGIN
    IF TG_TABLE_NAME = 'accounts' THEN
        target := NEW.id;
    ELSE
        target := NEW.from_account_id;
    END IF;
    SELECT * INTO account FROM accounts WHERE id = target;
    SELECT coalesce(sum(amount), 0) INTO held
      FROM transfers WHERE from_account_id = target AND status = 'pending';
    IF account.available_balance <> account.balance - held THEN
        RAISE EXCEPTION 'account %: available balance % is not its balance % less % reserved',
            target, account.available_balance, account.balance, held
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER accounts_reservations_held AFTER UPDATE OF balance, available_balance
    ON accounts DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_reservations();
CREATE CONSTRAINT TRIGGER transfers_reservations_held AFTER INSERT OR UPDATE OF status
    ON transfers DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_reservations();

-- Outbox events name their transfer; a hold and its release are events of their own.
ALTER TABLE account_events DROP CONSTRAINT account_events_kind_check;
ALTER TABLE account_events
    ADD CONSTRAINT account_events_kind_known CHECK (
        kind IN ('transaction_posted', 'status_changed', 'transfer_held', 'hold_released')),
    ADD COLUMN transfer_id uuid REFERENCES transfers (id);

ALTER TYPE posting_result ADD ATTRIBUTE version integer, ADD ATTRIBUTE hold_expires_at timestamptz;

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
    p_hold_s             double precision DEFAULT NULL
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
                   t.hold_expires_at
              INTO answer
              FROM transfers t
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
    END;
    IF refusal IS NOT NULL THEN
        -- A refusal is the key's result too: a retry gets it even once the cause is gone.
        UPDATE idempotency_keys SET result = jsonb_build_object('error', refusal)
         WHERE actor_id = p_actor_id AND key = p_key;
        answer.outcome := 'refused';
        answer.refusal := refusal;
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
                  0, NULL::timestamptz);
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
                  now() + make_interval(secs => p_hold_s));
    RETURN answer;
END $$;

-- Settle (p_outcome 'completed') or void ('cancelled') a held transfer, in one statement. Locks
-- both accounts in id order, as postings do, then the transfer; only a pending one changes (with
-- p_due_only, only one whose hold has expired), so of two concurrent resolutions exactly one
-- wins: the other is answered 'not_pending' with the transfer as the winner left it. Settling
-- posts both legs for exactly the reserved amount; a settlement refused because an account is
-- no longer active is answered 'refused' and changes nothing (the caller may void it).
CREATE FUNCTION resolve_transfer(
    p_transfer_id  uuid,
    p_outcome      text,
    p_description  text,  -- what both entries say when the transfer has no memo
    p_due_only     boolean DEFAULT false
) RETURNS posting_result LANGUAGE plpgsql AS $$
DECLARE
    answer      posting_result;
    held        transfers;
    account     accounts;
    source      accounts;
    destination accounts;
BEGIN
    IF p_outcome NOT IN ('completed', 'cancelled') THEN
        RAISE EXCEPTION 'a hold resolves to completed or cancelled, not %', p_outcome
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO held FROM transfers WHERE id = p_transfer_id;
    IF NOT FOUND THEN
        answer.outcome := 'not_found';
        RETURN answer;
    END IF;
    FOR account IN
        SELECT a.* FROM accounts a WHERE a.id IN (held.from_account_id, held.to_account_id)
         ORDER BY a.id FOR UPDATE
    LOOP
        IF account.id = held.from_account_id THEN
            source := account;
        ELSE
            destination := account;
        END IF;
    END LOOP;
    -- Locked after its accounts: a concurrent resolution has finished by now.
    SELECT * INTO held FROM transfers WHERE id = p_transfer_id FOR UPDATE;
    answer := ROW(NULL, NULL::jsonb, held.id, held.kind, held.status, held.amount, held.currency,
                  held.from_account_id, held.to_account_id, source.owner_id,
                  destination.owner_id, held.memo, held.initiated_by, held.created_at,
                  NULL::bigint, NULL::bigint, held.version, held.hold_expires_at);
    IF held.status <> 'pending' OR (p_due_only AND held.hold_expires_at > now()) THEN
        answer.outcome := 'not_pending';
        RETURN answer;
    END IF;
    IF p_outcome = 'completed' AND (source.status <> 'active' OR destination.status <> 'active') THEN
        answer.outcome := 'refused';
        answer.refusal := jsonb_build_object(
            'code', 'ACCOUNT_FROZEN',
            'status', CASE WHEN source.status <> 'active' THEN source.status ELSE destination.status END);
        RETURN answer;
    END IF;

    IF p_outcome = 'completed' THEN
        -- The reserved amount leaves the balance (the available balance already went down).
        WITH settled AS (
            UPDATE transfers SET status = 'completed', resolved_at = now() WHERE id = held.id
        ), legs AS (
            SELECT gen_random_uuid() AS entry_id, leg.*
              FROM (VALUES (source.id, source.last_sequence + 1, -held.amount,
                            source.balance - held.amount, source.available_balance,
                            source.status),
                           (destination.id, destination.last_sequence + 1, held.amount,
                            destination.balance + held.amount,
                            destination.available_balance + held.amount, destination.status))
                   AS leg (account_id, sequence, amount, balance, available, status)
        ), new_entries AS (
            INSERT INTO ledger_entries (id, transfer_id, account_id, sequence, amount,
                                        balance_after, currency, description, created_at)
            SELECT entry_id, held.id, account_id, sequence, amount, balance, held.currency,
                   coalesce(held.memo, p_description), now()
              FROM legs
        ), moved AS (
            UPDATE accounts a
               SET balance = legs.balance, available_balance = legs.available,
                   last_sequence = legs.sequence
              FROM legs
             WHERE a.id = legs.account_id
        )
        INSERT INTO account_events (account_id, sequence, kind, entry_id, transfer_id, balance,
                                    available_balance, status, created_at)
        SELECT account_id, sequence, 'transaction_posted', entry_id, held.id, balance, available,
               status, now()
          FROM legs;
        answer.to_sequence := destination.last_sequence + 1;
    ELSE
        WITH voided AS (
            UPDATE transfers SET status = 'cancelled', resolved_at = now() WHERE id = held.id
        ), released AS (
            UPDATE accounts SET available_balance = source.available_balance + held.amount,
                                last_sequence = source.last_sequence + 1
             WHERE id = source.id
        )
        INSERT INTO account_events (account_id, sequence, kind, transfer_id, balance,
                                    available_balance, status, created_at)
        VALUES (source.id, source.last_sequence + 1, 'hold_released', held.id, source.balance,
                source.available_balance + held.amount, source.status, now());
    END IF;
    answer.outcome := 'resolved';
    answer.status := p_outcome;
    answer.version := held.version + 1;
    answer.from_sequence := source.last_sequence + 1;
    RETURN answer;
END $$;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    raise NotImplementedError("0090 is not reversible: held transfers have no earlier form")
