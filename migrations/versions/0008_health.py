"""Health credentials: issued credentials and imported foreign document signers.

Tables of vaccine_cert/models.py (what is kept and why is explained there). ``kind`` is pinned
by a CHECK constraint to the values of this revision (``CredentialKind``), written out so this
revision never changes when the code does. Both hashes of a credential are unique: a UVCI or a
payload issued twice would be a bug to stop, not a row to store.

Revision ID: 0008_health
Revises: 0007_crl_publication
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0008_health"
down_revision: str | None = "0007_crl_publication"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "health_certificates",
        sa.Column("uvci", sa.String(length=80), nullable=False),
        sa.Column("uvci_sha256", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("signer_serial", sa.String(length=64), nullable=False),
        sa.Column("issued_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature_hash", sa.String(length=32), nullable=False),
        sa.Column("issued_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "kind IN ('vaccination', 'test', 'recovery')",
            name=op.f("ck_health_certificates_kind_known"),
        ),
        sa.PrimaryKeyConstraint("uvci", name=op.f("pk_health_certificates")),
        sa.UniqueConstraint("payload_sha256", name=op.f("uq_health_certificates_payload_sha256")),
        sa.UniqueConstraint("uvci_sha256", name=op.f("uq_health_certificates_uvci_sha256")),
    )
    op.create_index(
        op.f("ix_health_certificates_subject_id"),
        "health_certificates",
        ["subject_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_health_certificates_revoked_at"),
        "health_certificates",
        ["revoked_at"],
        unique=False,
    )
    op.create_table(
        "health_foreign_signers",
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("not_before", core.db.UTCDateTime(), nullable=False),
        sa.Column("not_after", core.db.UTCDateTime(), nullable=False),
        sa.Column("imported_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("anchor_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("thumbprint", name=op.f("pk_health_foreign_signers")),
    )
    op.create_index(
        op.f("ix_health_foreign_signers_kid"), "health_foreign_signers", ["kid"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_health_foreign_signers_kid"), table_name="health_foreign_signers")
    op.drop_table("health_foreign_signers")
    op.drop_index(op.f("ix_health_certificates_revoked_at"), table_name="health_certificates")
    op.drop_index(op.f("ix_health_certificates_subject_id"), table_name="health_certificates")
    op.drop_table("health_certificates")
