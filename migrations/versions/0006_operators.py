"""Operators and their API tokens (core/models.py; service in core/operators.py).

``operators.status`` is pinned by a CHECK constraint to the ``OperatorStatus`` values of this
revision, written out so this revision never changes when the code does. Roles are a
space-separated list of codes (read leniently: an unknown code grants nothing).
``operator_tokens`` holds each token's public id and the SHA-256 of the token, never the token.

Revision ID: 0006_operators
Revises: 0005_ca_core
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0006_operators"
down_revision: str | None = "0005_ca_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Uuid[str]:
    return sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("disabled_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_operators_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("name", name=op.f("uq_operators_name")),
    )
    op.create_table(
        "operator_tokens",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("operator_id", _id(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_tokens_operator_id_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_tokens")),
    )
    op.create_index(
        op.f("ix_operator_tokens_operator_id"), "operator_tokens", ["operator_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_operator_tokens_operator_id"), table_name="operator_tokens")
    op.drop_table("operator_tokens")
    op.drop_table("operators")
