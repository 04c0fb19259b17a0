"""Transparency log: entries, complete-subtree hashes, the one-row head, signed tree heads.

Tables of ca/models.py. The head row is inserted here at ``tree_size = 0`` with an empty
frontier (the empty tree), so the first append finds the row it locks.

Revision ID: 0004_transparency_log
Revises: 0003_registry
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0004_transparency_log"
down_revision: str | None = "0003_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _index() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ct_log_entries",
        sa.Column("leaf_index", _index(), autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("cert_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("serial_hex", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column("logged_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "leaf_index >= 0", name=op.f("ck_ct_log_entries_leaf_index_not_negative")
        ),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_ct_log_entries")),
        sa.UniqueConstraint("cert_sha256", name=op.f("uq_ct_log_entries_cert_sha256")),
    )
    op.create_index(
        op.f("ix_ct_log_entries_serial_hex"), "ct_log_entries", ["serial_hex"], unique=False
    )
    op.create_index(
        op.f("ix_ct_log_entries_subject_id"), "ct_log_entries", ["subject_id"], unique=False
    )
    op.create_table(
        "ct_log_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("node_index", _index(), autoincrement=False, nullable=False),
        sa.Column("subtree_hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("level >= 1", name=op.f("ck_ct_log_nodes_level_positive")),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_ct_log_nodes")),
    )
    head = op.create_table(
        "ct_log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tree_size", _index(), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_ct_log_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ct_log_head")),
    )
    op.create_table(
        "ct_tree_heads",
        sa.Column("tree_size", _index(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp", core.db.UTCDateTime(), nullable=False),
        sa.Column("key_label", sa.String(length=200), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("tree_size >= 0", name=op.f("ck_ct_tree_heads_tree_size_not_negative")),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_ct_tree_heads")),
    )
    op.bulk_insert(head, [{"id": 1, "tree_size": 0, "frontier": b""}])


def downgrade() -> None:
    op.drop_table("ct_tree_heads")
    op.drop_table("ct_log_head")
    op.drop_table("ct_log_nodes")
    op.drop_index(op.f("ix_ct_log_entries_subject_id"), table_name="ct_log_entries")
    op.drop_index(op.f("ix_ct_log_entries_serial_hex"), table_name="ct_log_entries")
    op.drop_table("ct_log_entries")
