"""Account recovery (issue 8): idp/recovery_models.py.

* ``idp_password_resets``: SMS password-reset codes, stored as an HMAC only; single use,
  short-lived, a few wrong guesses at most.
* ``idp_known_devices``: digests of the devices each account logged in from (new-device notices).

Revision ID: 0020_idp_recovery
Revises: 0019_idp_activation
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0020_idp_recovery"
down_revision: str | None = "0019_idp_activation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "idp_password_resets",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("code_hmac", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idp_accounts.id"],
            name=op.f("fk_idp_password_resets_account_id_idp_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_password_resets")),
    )
    op.create_index(
        op.f("ix_idp_password_resets_account_id"), "idp_password_resets", ["account_id"]
    )
    op.create_table(
        "idp_known_devices",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("device_sha256", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idp_accounts.id"],
            name=op.f("fk_idp_known_devices_account_id_idp_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_known_devices")),
        sa.UniqueConstraint(
            "account_id",
            "device_sha256",
            name=op.f("uq_idp_known_devices_account_id"),
        ),
    )
    op.create_index(op.f("ix_idp_known_devices_account_id"), "idp_known_devices", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idp_known_devices_account_id"), table_name="idp_known_devices")
    op.drop_table("idp_known_devices")
    op.drop_index(op.f("ix_idp_password_resets_account_id"), table_name="idp_password_resets")
    op.drop_table("idp_password_resets")
