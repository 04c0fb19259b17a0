"""Approval workflows of documents (issue 5, "Approval workflows"): signing/workflow_models.py.

* ``signing_workflows``: the document routed for approval, its author, state, current step,
  options (final e-seal, certification, PAdES level) and ``version``, the optimistic-concurrency
  counter every signature is stored under.
* ``signing_workflow_approvers``: one row per approver per step (several rows in a step make a
  parallel group); indexed by person and state for the inbox.
* ``signing_workflow_versions``: each version of the document as the bytes it appends to the
  one before (incremental updates), with the SHA-256 of the whole file.
* ``signing_workflow_events``: history and comments.

Revision ID: 0017_signing_workflows
Revises: 0016_idp_grant_binding
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0017_signing_workflows"
down_revision: str | None = "0016_idp_grant_binding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "signing_workflows",
        sa.Column("id", _ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("author_person_id", _ID, nullable=False),
        sa.Column("author_servant_id", _ID, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("seal_entity_id", _ID, nullable=True),
        sa.Column("certify", sa.Boolean(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("original_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('in_progress', 'rejected', 'completed')",
            name=op.f("ck_signing_workflows_state"),
        ),
        sa.ForeignKeyConstraint(
            ["author_person_id"],
            ["registry_persons.id"],
            name=op.f("fk_signing_workflows_author_person_id_registry_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["author_servant_id"],
            ["registry_civil_servants.id"],
            name=op.f("fk_signing_workflows_author_servant_id_registry_civil_servants"),
        ),
        sa.ForeignKeyConstraint(
            ["seal_entity_id"],
            ["registry_legal_entities.id"],
            name=op.f("fk_signing_workflows_seal_entity_id_registry_legal_entities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_workflows")),
    )
    op.create_index(
        op.f("ix_signing_workflows_author_person_id"), "signing_workflows", ["author_person_id"]
    )
    op.create_table(
        "signing_workflow_approvers",
        sa.Column("workflow_id", _ID, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("member", sa.Integer(), nullable=False),
        sa.Column("servant_id", _ID, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("field_name", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("acted_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('waiting', 'approved', 'rejected')",
            name=op.f("ck_signing_workflow_approvers_state"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_signing_workflow_approvers_person_id_registry_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["servant_id"],
            ["registry_civil_servants.id"],
            name=op.f("fk_signing_workflow_approvers_servant_id_registry_civil_servants"),
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["signing_workflows.id"],
            name=op.f("fk_signing_workflow_approvers_workflow_id_signing_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workflow_id", "step", "member", name=op.f("pk_signing_workflow_approvers")
        ),
    )
    op.create_index(
        "ix_signing_workflow_approvers_person_state",
        "signing_workflow_approvers",
        ["person_id", "state"],
    )
    op.create_table(
        "signing_workflow_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("workflow_id", _ID, nullable=False),
        sa.Column("at", core.db.UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("person_id", _ID, nullable=True),
        sa.Column("servant_id", _ID, nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["signing_workflows.id"],
            name=op.f("fk_signing_workflow_events_workflow_id_signing_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_workflow_events")),
    )
    op.create_index(
        op.f("ix_signing_workflow_events_workflow_id"), "signing_workflow_events", ["workflow_id"]
    )
    op.create_table(
        "signing_workflow_versions",
        sa.Column("workflow_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("appended", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["signing_workflows.id"],
            name=op.f("fk_signing_workflow_versions_workflow_id_signing_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workflow_id", "version", name=op.f("pk_signing_workflow_versions")
        ),
    )


def downgrade() -> None:
    op.drop_table("signing_workflow_versions")
    op.drop_index(
        op.f("ix_signing_workflow_events_workflow_id"), table_name="signing_workflow_events"
    )
    op.drop_table("signing_workflow_events")
    op.drop_index(
        "ix_signing_workflow_approvers_person_state", table_name="signing_workflow_approvers"
    )
    op.drop_table("signing_workflow_approvers")
    op.drop_index(op.f("ix_signing_workflows_author_person_id"), table_name="signing_workflows")
    op.drop_table("signing_workflows")
