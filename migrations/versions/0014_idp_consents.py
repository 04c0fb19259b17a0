"""Consents citizens gave to relying parties (idp/consent_models.py).

One row per account and client: the allowed scopes and claim names (space-separated), when
they were granted and when they lapse. Withdrawal deletes the row (the audit ledger keeps the
history); deleting an account or a client deletes its consents.

Revision ID: 0014_idp_consents
Revises: 0013_ca_profile_index
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0014_idp_consents"
down_revision: str | None = "0013_ca_profile_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idp_consents",
        sa.Column("account_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("granted_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idp_accounts.id"],
            name=op.f("fk_idp_consents_account_id_idp_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["idp_clients.client_id"],
            name=op.f("fk_idp_consents_client_id_idp_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "client_id", name=op.f("pk_idp_consents")),
    )
    op.create_index(op.f("ix_idp_consents_client_id"), "idp_consents", ["client_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idp_consents_client_id"), table_name="idp_consents")
    op.drop_table("idp_consents")
