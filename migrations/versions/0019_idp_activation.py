"""Activation codes of citizen enrolment (issue 8): idp/activation_models.py.

* ``idp_activation_codes``: one row per code issued at an enrolment or an in-person reset;
  only an HMAC of the code is stored, never the code or an ID card number.

Revision ID: 0019_idp_activation
Revises: 0018_kyc
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0019_idp_activation"
down_revision: str | None = "0018_kyc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "idp_activation_codes",
        sa.Column("id", _ID, nullable=False),
        sa.Column("person_id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("code_hmac", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("office", sa.String(length=200), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_idp_activation_codes_person_id_registry_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idp_accounts.id"],
            name=op.f("fk_idp_activation_codes_account_id_idp_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_activation_codes")),
        sa.UniqueConstraint("code_hmac", name=op.f("uq_idp_activation_codes_code_hmac")),
    )
    op.create_index(
        op.f("ix_idp_activation_codes_person_id"), "idp_activation_codes", ["person_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idp_activation_codes_person_id"), table_name="idp_activation_codes")
    op.drop_table("idp_activation_codes")
