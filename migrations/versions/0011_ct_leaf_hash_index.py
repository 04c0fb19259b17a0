"""Index the transparency log's leaf hashes: the public inclusion-proof lookup by leaf hash.

``GET /pki/log/proof/inclusion?leaf_hash=...`` is unauthenticated; without this index each
request would scan every log entry.

Revision ID: 0011_ct_leaf_hash_index
Revises: 0010_idp_accounts
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011_ct_leaf_hash_index"
down_revision: str | None = "0010_idp_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_ct_log_entries_leaf_hash"), "ct_log_entries", ["leaf_hash"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ct_log_entries_leaf_hash"), table_name="ct_log_entries")
