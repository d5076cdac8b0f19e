"""A version of each user's list of accounts, so cached lists can be fenced when it changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from bff.db.migrations.script import run_script

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(
        "ALTER TABLE users ADD COLUMN accounts_version bigint NOT NULL DEFAULT 0 "
        "CHECK (accounts_version >= 0);"
    )


def downgrade() -> None:
    run_script("ALTER TABLE users DROP COLUMN accounts_version;")
