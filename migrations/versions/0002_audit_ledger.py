"""Audit ledger: entries, signed checkpoints and the one-row head (core/models.py).

The head row is inserted here at ``last_seq = 0`` with the genesis hash, 64 ``0`` hex digits
(32 zero bytes; ``core.audit_format.GENESIS_HASH``): the ``prev_hash`` of entry 1. The value
is written out rather than imported so this revision never changes when the code does.

Revision ID: 0002_audit_ledger
Revises: 0001_initial
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0002_audit_ledger"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def _seq() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", _seq(), autoincrement=False, nullable=False),
        sa.Column("at", core.db.UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(length=200), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_entries_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", _seq(), autoincrement=False, nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("at", core.db.UTCDateTime(), nullable=False),
        sa.Column("key_label", sa.String(length=200), nullable=False),
        sa.Column("algorithm", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_checkpoints_seq_positive")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", _seq(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_seq", _seq(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(
        head, [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH, "checkpoint_seq": 0}]
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_entries")
