"""Customer events of held transfers: the sender is told when a transfer is held for review
(`transfer_held`), approved (`transfer_approved`), rejected (`transfer_rejected`), or voided
because nobody decided or the customer did not confirm it (`transfer_expired`, also when a
step-up failed), each written by a trigger in the transaction of the change.

An approved transfer posts like any other: the receiver's leg is their one `money_received`
(the hold posted nothing for them), and the sender's leg is told as `transfer_approved` instead
of `money_sent`, so that the sender hears of it once, not as a payment and its approval that
read twice. Spending summaries count both kinds as money sent.

Revision ID: 0160
Revises: 0096
Create Date: 2026-12-03
"""

from bff.db.migrations.script import run_script

revision = "0160"
down_revision = "0096"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE customer_events DROP CONSTRAINT customer_events_kind_check,
    ADD CONSTRAINT customer_events_kind_check CHECK (kind IN (
        'money_received', 'money_sent', 'new_sign_in', 'password_changed', 'role_changed',
        'app_connected', 'app_disconnected', 'step_up_requested', 'transfer_held',
        'transfer_approved', 'transfer_rejected', 'transfer_expired'));

-- What the sender is told about a held transfer: the amount, their account, and the payee by
-- the last four digits of its number only (customer account numbers are sealed).
CREATE FUNCTION held_transfer_payload(p_transfer transfers) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'account_id', src.id,
               'account_name', src.name,
               'transfer_id', p_transfer.id,
               'amount', p_transfer.amount,
               'currency', p_transfer.currency,
               'counterparty_account_id', dst.id,
               'counterparty_last_four',
                   coalesce(dst.number_last_four, right(dst.account_number, 4)),
               'counterparty_is_bank', dst.owner_id IS NULL)
      FROM accounts src, accounts dst
     WHERE src.id = p_transfer.from_account_id AND dst.id = p_transfer.to_account_id
$$;

-- Held: for an analyst, or with no screening at all. A hold for the customer's own second
-- factor is told by its challenge (`step_up_requested`), which asks them to act.
CREATE FUNCTION customer_events_of_hold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sender   uuid;
    decision text;
BEGIN
    SELECT owner_id INTO sender FROM accounts WHERE id = NEW.from_account_id;
    SELECT screening ->> 'decision' INTO decision
      FROM transfer_screenings WHERE transfer_id = NEW.id;
    IF sender IS NULL OR decision IS NOT DISTINCT FROM 'step_up' THEN
        RETURN NULL;
    END IF;
    INSERT INTO customer_events (user_id, kind, payload, occurred_at) VALUES (
        sender, 'transfer_held',
        held_transfer_payload(NEW) || jsonb_build_object('hold_expires_at', NEW.hold_expires_at),
        NEW.created_at);
    RETURN NULL;
END $$;
CREATE TRIGGER transfers_held_tell_customers AFTER INSERT ON transfers
    FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION customer_events_of_hold();

-- Voided: deferred to the commit, because an analyst's rejection is recorded on the screening
-- after the ledger voids the transfer, in the same transaction. Without a rejection the hold
-- ran out (the expiry job, or a late answer to its challenge) or its step-up failed.
CREATE FUNCTION customer_events_of_void() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sender    uuid;
    screened  transfer_screenings;
    challenge text;
BEGIN
    SELECT owner_id INTO sender FROM accounts WHERE id = NEW.from_account_id;
    IF sender IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO screened FROM transfer_screenings WHERE transfer_id = NEW.id;
    IF screened.review = 'rejected' THEN
        INSERT INTO customer_events (user_id, kind, payload, occurred_at)
        VALUES (sender, 'transfer_rejected', held_transfer_payload(NEW), NEW.resolved_at);
        RETURN NULL;
    END IF;
    SELECT status INTO challenge FROM step_up_challenges WHERE transfer_id = NEW.id;
    INSERT INTO customer_events (user_id, kind, payload, occurred_at) VALUES (
        sender, 'transfer_expired',
        held_transfer_payload(NEW) || jsonb_build_object('reason', CASE
            WHEN challenge = 'failed' THEN 'step_up_failed'
            WHEN screened.screening ->> 'decision' = 'step_up' THEN 'not_confirmed'
            ELSE 'not_reviewed' END),
        NEW.resolved_at);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER transfers_voided_tell_customers AFTER UPDATE OF status ON transfers
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status = 'cancelled' AND OLD.status = 'pending')
    EXECUTE FUNCTION customer_events_of_void();

-- The sender's leg of a transfer an analyst approved is told as its approval: the money_sent
-- event customer_events_of_entry() writes for that leg at commit (the review is recorded by
-- then) is renamed as it goes in, and that function stays the one place that tells of postings.
CREATE FUNCTION customer_events_approved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM transfer_screenings
                WHERE transfer_id = (NEW.payload ->> 'transfer_id')::uuid
                  AND review = 'approved') THEN
        NEW.kind := 'transfer_approved';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER customer_events_sent_after_review BEFORE INSERT ON customer_events
    FOR EACH ROW WHEN (NEW.kind = 'money_sent') EXECUTE FUNCTION customer_events_approved();

-- Spending: money sent is either kind of the sender's leg.
DROP INDEX activity_entries_spending;
CREATE INDEX activity_entries_spending ON activity_entries (user_id, occurred_at)
    WHERE kind IN ('money_sent', 'transfer_approved');
"""

DOWNGRADE = """
DROP INDEX activity_entries_spending;
CREATE INDEX activity_entries_spending ON activity_entries (user_id, occurred_at)
    WHERE kind = 'money_sent';
UPDATE customer_events SET kind = 'money_sent' WHERE kind = 'transfer_approved';
UPDATE activity_entries SET kind = 'money_sent' WHERE kind = 'transfer_approved';
DROP TRIGGER customer_events_sent_after_review ON customer_events;
DROP TRIGGER transfers_voided_tell_customers ON transfers;
DROP TRIGGER transfers_held_tell_customers ON transfers;
DROP FUNCTION customer_events_approved(), customer_events_of_void(), customer_events_of_hold();
DROP FUNCTION held_transfer_payload(transfers);
DELETE FROM customer_events
 WHERE kind IN ('transfer_held', 'transfer_rejected', 'transfer_expired');
ALTER TABLE customer_events DROP CONSTRAINT customer_events_kind_check,
    ADD CONSTRAINT customer_events_kind_check CHECK (kind IN (
        'money_received', 'money_sent', 'new_sign_in', 'password_changed', 'role_changed',
        'app_connected', 'app_disconnected', 'step_up_requested'));
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
