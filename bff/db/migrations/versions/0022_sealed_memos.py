"""Transfer memos and deposit references sealed at rest, with the data key of whoever wrote them,
as `sealed:` and base64; the ledger entries' descriptions repeat them, under the same binding.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# NOT VALID: rows from before are not checked; every new one must be sealed (the domain limits
# memos to 140 characters before they are sealed).
UPGRADE = r"""
ALTER TABLE transfers
    DROP CONSTRAINT transfers_memo_check,
    ADD CONSTRAINT transfers_memo_sealed
        CHECK (memo LIKE 'sealed:%' AND length(memo) <= 1000) NOT VALID;
"""

DOWNGRADE = """
ALTER TABLE transfers DROP CONSTRAINT transfers_memo_sealed,
    ADD CONSTRAINT transfers_memo_check CHECK (length(memo) <= 140) NOT VALID;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
