"""KYC for banks (kyc/models.py): onboarded relying parties and the access log.

``kyc_relying_parties``: one row per bank (register entity, IdP client - unique -, allowed
attributes and purposes, rate limit, contact, legal-basis flag for match checks, optional
public encryption JWK, active flag). ``kyc_access_log``: one row per release or match check
(relying party, person id, attribute names, purpose, basis, grant and consent time), indexed
by person and time for the citizen's export and by time for the operators' figures.

Revision ID: 0018_kyc
Revises: 0017_signing_workflows
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0018_kyc"
down_revision: str | None = "0017_signing_workflows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kyc_relying_parties",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("entity_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("attributes", sa.String(length=1000), nullable=False),
        sa.Column("purposes", sa.String(length=500), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("contact", sa.String(length=254), nullable=True),
        sa.Column("legal_basis_match", sa.Boolean(), nullable=False),
        sa.Column("encryption_jwk", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "rate_limit_per_minute > 0",
            name=op.f("ck_kyc_relying_parties_rate_limit_per_minute"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["idp_clients.client_id"],
            name=op.f("fk_kyc_relying_parties_client_id_idp_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["registry_legal_entities.id"],
            name=op.f("fk_kyc_relying_parties_entity_id_registry_legal_entities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_relying_parties")),
        sa.UniqueConstraint("client_id", name=op.f("uq_kyc_relying_parties_client_id")),
    )
    op.create_index(op.f("ix_kyc_relying_parties_entity_id"), "kyc_relying_parties", ["entity_id"])
    op.create_table(
        "kyc_access_log",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("at", core.db.UTCDateTime(), nullable=False),
        sa.Column("person_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("rp_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("attributes", sa.String(length=1000), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=True),
        sa.Column("consent_granted_at", core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "basis IN ('consent', 'legal_basis')", name=op.f("ck_kyc_access_log_basis")
        ),
        sa.CheckConstraint("kind IN ('release', 'match')", name=op.f("ck_kyc_access_log_kind")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_kyc_access_log_person_id_registry_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["rp_id"],
            ["kyc_relying_parties.id"],
            name=op.f("fk_kyc_access_log_rp_id_kyc_relying_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kyc_access_log")),
    )
    op.create_index(op.f("ix_kyc_access_log_at"), "kyc_access_log", ["at"])
    op.create_index(op.f("ix_kyc_access_log_rp_id"), "kyc_access_log", ["rp_id"])
    op.create_index("ix_kyc_access_log_person_id_at", "kyc_access_log", ["person_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_kyc_access_log_person_id_at", table_name="kyc_access_log")
    op.drop_index(op.f("ix_kyc_access_log_rp_id"), table_name="kyc_access_log")
    op.drop_index(op.f("ix_kyc_access_log_at"), table_name="kyc_access_log")
    op.drop_table("kyc_access_log")
    op.drop_index(op.f("ix_kyc_relying_parties_entity_id"), table_name="kyc_relying_parties")
    op.drop_table("kyc_relying_parties")
