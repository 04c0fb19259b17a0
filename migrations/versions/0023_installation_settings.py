"""What the installation remembers about itself (core/models.py, core/installation.py).

``installation_settings``: one row per remembered setting, by name. The first is
``public_base_url``, the URL the CA hierarchy was made with: written when the hierarchy is
created (or, for a hierarchy made before this revision, taken from its CA certificates the
first time a command runs), changed only by ``natid ca set-public-url``. No row is seeded here:
a migration cannot know the URL.

Revision ID: 0023_installation_settings
Revises: 0022_kyc_requests
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0023_installation_settings"
down_revision: str | None = "0022_kyc_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "installation_settings",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_installation_settings")),
    )


def downgrade() -> None:
    op.drop_table("installation_settings")
