"""Population register: persons, legal entities, civil servants, identity proofing records.

Tables of registry/models.py. Ids are random UUIDs (native ``uuid`` on PostgreSQL); the
national ID number is a unique attribute, never a key. CHECK constraints pin each wire-code
column to its ``StrEnum`` values as of this revision (written out, so this revision never
changes when the code does); adding a code needs a new revision that replaces the constraint.

Revision ID: 0003_registry
Revises: 0002_audit_ledger
Create Date: 2026-11-22
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0003_registry"
down_revision: str | None = "0002_audit_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Uuid[str]:
    return sa.Uuid(as_uuid=False)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "registry_legal_entities",
        sa.Column("id", _id(), nullable=False),
        sa.Column("register_no", sa.String(length=20), nullable=False),
        sa.Column("name_km", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(
            "kind IN ('company', 'bank', 'ministry', 'public_institution', 'ngo', 'association')",
            name=op.f("ck_registry_legal_entities_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'dissolved')", name=op.f("ck_registry_legal_entities_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_legal_entities")),
        sa.UniqueConstraint("register_no", name=op.f("uq_registry_legal_entities_register_no")),
    )
    op.create_index(
        op.f("ix_registry_legal_entities_kind"), "registry_legal_entities", ["kind"]
    )

    op.create_table(
        "registry_persons",
        sa.Column("id", _id(), nullable=False),
        sa.Column("national_id", sa.String(length=9), nullable=False),
        sa.Column("family_name_km", sa.String(length=100), nullable=False),
        sa.Column("given_name_km", sa.String(length=100), nullable=False),
        sa.Column("family_name_latin", sa.String(length=100), nullable=False),
        sa.Column("given_name_latin", sa.String(length=100), nullable=False),
        sa.Column("birthdate", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("nationality", sa.String(length=3), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        *_timestamps(),
        sa.CheckConstraint("sex IN ('M', 'F', 'X')", name=op.f("ck_registry_persons_sex")),
        sa.CheckConstraint(
            "status IN ('active', 'deceased')", name=op.f("ck_registry_persons_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_persons")),
        sa.UniqueConstraint("national_id", name=op.f("uq_registry_persons_national_id")),
    )
    op.create_index(
        "ix_registry_persons_name_latin",
        "registry_persons",
        ["family_name_latin", "given_name_latin"],
    )

    op.create_table(
        "registry_civil_servants",
        sa.Column("id", _id(), nullable=False),
        sa.Column("person_id", _id(), nullable=False),
        sa.Column("ministry_id", _id(), nullable=False),
        sa.Column("unit", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("unit_km", sa.String(length=200), nullable=True),
        sa.Column("title_km", sa.String(length=200), nullable=True),
        sa.Column("employee_number", sa.String(length=32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["ministry_id"],
            ["registry_legal_entities.id"],
            name=op.f("fk_registry_civil_servants_ministry_id_registry_legal_entities"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_registry_civil_servants_person_id_registry_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_civil_servants")),
        sa.UniqueConstraint(
            "ministry_id",
            "employee_number",
            name="uq_registry_civil_servants_ministry_id_employee_number",
        ),
    )
    op.create_index(
        op.f("ix_registry_civil_servants_ministry_id"), "registry_civil_servants", ["ministry_id"]
    )
    op.create_index(
        op.f("ix_registry_civil_servants_person_id"), "registry_civil_servants", ["person_id"]
    )

    op.create_table(
        "registry_proofing_records",
        sa.Column("id", _id(), nullable=False),
        sa.Column("person_id", _id(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.String(length=32), nullable=False),
        sa.Column("office", sa.String(length=200), nullable=False),
        sa.Column("officer_id", _id(), nullable=True),
        sa.Column("at", core.db.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "evidence IN ('national_id_card', 'passport', 'birth_certificate', 'family_book', "
            "'qualified_certificate', 'none')",
            name=op.f("ck_registry_proofing_records_evidence"),
        ),
        sa.CheckConstraint(
            "level IN ('low', 'substantial', 'high')",
            name=op.f("ck_registry_proofing_records_level"),
        ),
        sa.CheckConstraint(
            "method IN ('in_person', 'existing_certificate', 'remote_video', 'self_declared')",
            name=op.f("ck_registry_proofing_records_method"),
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["registry_civil_servants.id"],
            name=op.f("fk_registry_proofing_records_officer_id_registry_civil_servants"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_registry_proofing_records_person_id_registry_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_proofing_records")),
    )
    op.create_index(
        op.f("ix_registry_proofing_records_officer_id"), "registry_proofing_records", ["officer_id"]
    )
    op.create_index(
        op.f("ix_registry_proofing_records_person_id"), "registry_proofing_records", ["person_id"]
    )


def downgrade() -> None:
    # Dependents first; dropping a table drops its indexes with it.
    op.drop_table("registry_proofing_records")
    op.drop_table("registry_civil_servants")
    op.drop_table("registry_persons")
    op.drop_table("registry_legal_entities")
