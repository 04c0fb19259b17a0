"""Health credentials: revocations by DCC revocation hash alone, and foreign trust-list entries
kept with their own signature and timestamp (``vaccine_cert/models.py``).

Revision ID: 0012_health_revoked_hashes
Revises: 0011_ct_leaf_hash_index
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0012_health_revoked_hashes"
down_revision: str | None = "0011_ct_leaf_hash_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_revoked_hashes",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("hash_type", sa.String(length=16), nullable=False),
        sa.Column("hash", sa.String(length=32), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "hash_type IN ('UCI', 'COUNTRYCODEUCI', 'SIGNATURE')",
            name=op.f("ck_health_revoked_hashes_hash_type_known"),
        ),
        sa.PrimaryKeyConstraint("kid", "hash_type", "hash", name=op.f("pk_health_revoked_hashes")),
    )
    op.create_index(
        op.f("ix_health_revoked_hashes_expires_at"),
        "health_revoked_hashes",
        ["expires_at"],
        unique=False,
    )
    with op.batch_alter_table("health_foreign_signers") as batch:
        batch.add_column(sa.Column("entry_signature", sa.Text(), nullable=True))
        batch.add_column(sa.Column("entry_timestamp", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("health_foreign_signers") as batch:
        batch.drop_column("entry_timestamp")
        batch.drop_column("entry_signature")
    op.drop_index(op.f("ix_health_revoked_hashes_expires_at"), table_name="health_revoked_hashes")
    op.drop_table("health_revoked_hashes")
