"""Decoupled KYC requests (kyc/request_models.py; OpenID CIBA style, issue 6).

``kyc_decoupled_requests``: one row per request a bank started with a citizen's ID card
number (the hash of the handle given to the bank, the bank, the person or NULL for an
unknown number, purpose, attribute names, binding message, status, expiry, last poll),
indexed by person and status for the citizen's page and by creation time for the figures.

Revision ID: 0022_kyc_requests
Revises: 0021_registry_events
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0022_kyc_requests"
down_revision: str | None = "0021_registry_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "kyc_decoupled_requests"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("handle_hash", sa.String(length=64), nullable=False),
        sa.Column("rp_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("person_id", sa.Uuid(as_uuid=False), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("attributes", sa.String(length=1000), nullable=False),
        sa.Column("optional_attributes", sa.String(length=1000), nullable=False),
        sa.Column("binding_message", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_attributes", sa.String(length=1000), nullable=True),
        sa.Column("poll_interval", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("decided_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("last_poll_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("txn", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'denied', 'released')",
            name=op.f("ck_kyc_decoupled_requests_status"),
        ),
        sa.CheckConstraint(
            "poll_interval > 0", name=op.f("ck_kyc_decoupled_requests_poll_interval")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_kyc_decoupled_requests_person_id_registry_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["rp_id"],
            ["kyc_relying_parties.id"],
            name=op.f("fk_kyc_decoupled_requests_rp_id_kyc_relying_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_decoupled_requests")),
        sa.UniqueConstraint("handle_hash", name=op.f("uq_kyc_decoupled_requests_handle_hash")),
    )
    op.create_index(op.f("ix_kyc_decoupled_requests_rp_id"), _TABLE, ["rp_id"])
    op.create_index(op.f("ix_kyc_decoupled_requests_created_at"), _TABLE, ["created_at"])
    op.create_index("ix_kyc_decoupled_requests_person_id_status", _TABLE, ["person_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_kyc_decoupled_requests_person_id_status", table_name=_TABLE)
    op.drop_index(op.f("ix_kyc_decoupled_requests_created_at"), table_name=_TABLE)
    op.drop_index(op.f("ix_kyc_decoupled_requests_rp_id"), table_name=_TABLE)
    op.drop_table(_TABLE)
