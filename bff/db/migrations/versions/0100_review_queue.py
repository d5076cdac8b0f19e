"""The review queue: held transfers waiting for an analyst, found by a partial index, and the
database's guard on decisions (only a transfer held for review is decided, and only once).

Revision ID: 0100
Revises: 0080
Create Date: 2026-12-03
"""

from bff.db.migrations.script import run_script

revision = "0100"
down_revision = "0080"
branch_labels = None
depends_on = None

UPGRADE = """
-- reviewQueue pages through this, oldest first.
CREATE INDEX transfer_screenings_review_queue ON transfer_screenings (created_at, transfer_id)
    WHERE review IS NULL AND screening ->> 'decision' = 'review';

ALTER TABLE transfer_screenings ADD CONSTRAINT transfer_screenings_review_of_held
    CHECK (review IS NULL OR screening ->> 'decision' = 'review');

-- A decision is final: its label, analyst and note never change once written.
CREATE TRIGGER transfer_screenings_decided_once BEFORE UPDATE ON transfer_screenings
    FOR EACH ROW WHEN (OLD.review IS NOT NULL) EXECUTE FUNCTION refuse_ledger_change();
"""

DOWNGRADE = """
DROP TRIGGER transfer_screenings_decided_once ON transfer_screenings;
ALTER TABLE transfer_screenings DROP CONSTRAINT transfer_screenings_review_of_held;
DROP INDEX transfer_screenings_review_queue;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
