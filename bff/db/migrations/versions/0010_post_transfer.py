"""A whole money movement in one statement: `post_transfer()`, the ledger's posting function.

It claims the idempotency key (or replays what the key stored), locks both accounts in id order,
checks the posting rules in the domain's order (bff/domain/transfers.py `refusal`), writes the
transfer, both ledger entries, both balances and sequences and both outbox events, and stores
the result under the key. Called alone, it is a transaction of its own: one round trip. The
constraints, the deferred `transfers_balanced` trigger and the overdraft CHECK still hold it to
the ledger's invariants a second time.

Revision ID: 0010
Revises: 0004
Create Date: 2026-11-30
"""

from bff.db.migrations.script import run_script

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = r"""
-- What post_transfer() answers. `refusal` is the rule a request broke, as stored under its key
-- ({"code", "field", "status"}); the transfer's columns are those of the transfers table with
-- the owners of both sides; the sequences are each account's new one (its cache version).
CREATE TYPE posting_result AS (
    outcome         text,  -- posted | replayed | refused | key_reused | in_progress
    refusal         jsonb,
    id              uuid,
    kind            text,
    status          text,
    amount          bigint,
    currency        text,
    from_account_id uuid,
    to_account_id   uuid,
    from_owner_id   uuid,
    to_owner_id     uuid,
    memo            text,
    initiated_by    uuid,
    created_at      timestamptz,
    from_sequence   bigint,
    to_sequence     bigint
);

-- Named parameters: callers name each argument (p_name => value), so a parameter added later
-- with a DEFAULT leaves every existing call valid. The p_ prefix keeps them apart from columns.
-- A transfer names its source by p_source_id; a deposit leaves it NULL, meaning the settlement
-- account of p_currency. The destination is p_destination_id or the customer account numbered
-- p_destination_number; neither, and it is not found. The p_*_field are the input fields a
-- refusal names (the database never invents the API's vocabulary).
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
    p_memo               text DEFAULT NULL
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
                   t.initiated_by, t.created_at, NULL::bigint, NULL::bigint
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

    -- 4. The transfer, both legs, both balances and sequences, both outbox events and the key's
    -- result, in one statement.
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
    INSERT INTO account_events (account_id, sequence, kind, entry_id, balance, available_balance,
                                status, created_at)
    SELECT account_id, sequence, 'transaction_posted', entry_id, balance, available, status, now()
      FROM legs;

    answer := ROW('posted', NULL::jsonb, p_transfer_id, p_kind, 'completed', p_amount, p_currency,
                  source.id, destination.id, source.owner_id, destination.owner_id, p_memo,
                  p_actor_id, now(), source.last_sequence + 1, destination.last_sequence + 1);
    RETURN answer;
END $$;
"""

DOWNGRADE = """
DROP FUNCTION post_transfer;
DROP TYPE posting_result;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
