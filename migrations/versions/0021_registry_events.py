"""Register life events: the event feed and the certificates flagged for re-issue.

Tables of registry/event_models.py (issue 8, "Life events"). CHECK constraints pin the event
type, source and outcome codes as of this revision.

Revision ID: 0021_registry_events
Revises: 0020_idp_recovery
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0021_registry_events"
down_revision: str | None = "0020_idp_recovery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("received_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("processed_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("outcome_detail", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "type IN ('death', 'name_change', 'id_card_renewal', 'servant_joined',"
            " 'servant_moved', 'servant_left')",
            name=op.f("ck_registry_events_type"),
        ),
        sa.CheckConstraint(
            "source IN ('embedded', 'push', 'cli')", name=op.f("ck_registry_events_source")
        ),
        sa.CheckConstraint(
            "outcome IN ('done', 'failed')", name=op.f("ck_registry_events_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["registry_persons.id"],
            name=op.f("fk_registry_events_subject_id_registry_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_events")),
    )
    op.create_index(op.f("ix_registry_events_subject_id"), "registry_events", ["subject_id"])
    op.create_index(
        "ix_registry_events_processed_at_received_at",
        "registry_events",
        ["processed_at", "received_at"],
    )
    op.create_table(
        "registry_reissue_flags",
        sa.Column("serial_hex", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("flagged_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("superseded_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["registry_events.id"],
            name=op.f("fk_registry_reissue_flags_event_id_registry_events"),
        ),
        sa.PrimaryKeyConstraint("serial_hex", name=op.f("pk_registry_reissue_flags")),
    )
    op.create_index(
        op.f("ix_registry_reissue_flags_subject_id"), "registry_reissue_flags", ["subject_id"]
    )
    op.create_index(
        op.f("ix_registry_reissue_flags_event_id"), "registry_reissue_flags", ["event_id"]
    )


def downgrade() -> None:
    op.drop_table("registry_reissue_flags")
    op.drop_table("registry_events")
