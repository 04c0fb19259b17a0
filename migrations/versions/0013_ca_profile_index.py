"""Index issued certificates by profile and status (the OCSP responders' periodic look-up of
the newest responder certificates scanned the whole table).

Revision ID: 0013_ca_profile_index
Revises: 0012_health_revoked_hashes
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013_ca_profile_index"
down_revision: str | None = "0012_health_revoked_hashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_ca_certificates_profile_status",
        "ca_certificates",
        ["profile", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_ca_certificates_profile_status", table_name="ca_certificates")
