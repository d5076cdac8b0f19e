"""Trusted documents: the GraphQL documents each app build may send, registered from the build's
persisted-query manifest, and retired with the build.

Revision ID: 0060
Revises: 0130
Create Date: 2026-12-02
"""

from bff.db.migrations.script import run_script

revision = "0060"
down_revision = "0130"
branch_labels = None
depends_on = None

UPGRADE = """
-- One released build of an app; retiring it stops its documents (unless another build has them).
CREATE TABLE document_builds (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app             text NOT NULL CHECK (app ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    version         text NOT NULL CHECK (version ~ '^[0-9]{1,6}(\\.[0-9]{1,6}){0,3}$'),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz,
    CONSTRAINT document_builds_app_version_key UNIQUE (app, version)
);

-- A document is named by the sha256 of its text: the database refuses any other name, so a
-- manifest cannot smuggle one document in under another's hash.
CREATE TABLE trusted_documents (
    hash            text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    body            text NOT NULL,
    CONSTRAINT trusted_documents_hash_is_sha256
        CHECK (hash = encode(sha256(convert_to(body, 'UTF8')), 'hex'))
);

CREATE TABLE build_documents (
    build_id        bigint NOT NULL REFERENCES document_builds (id) ON DELETE CASCADE,
    hash            text NOT NULL REFERENCES trusted_documents (hash),
    operation_name  text,
    PRIMARY KEY (build_id, hash)
);
CREATE INDEX build_documents_hash ON build_documents (hash);
"""

DOWNGRADE = """
DROP TABLE build_documents, trusted_documents, document_builds;
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
