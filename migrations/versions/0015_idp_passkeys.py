"""Passkeys (WebAuthn) beside the shared authenticator rows, and an index for the account
page's login history.

* ``idp_passkeys``: per passkey authenticator, the WebAuthn user handle, the authenticator's
  AAGUID, its backup flags (BE/BS, WebAuthn Level 3 §6.1) and transports. The credential id,
  COSE public key and signature counter are columns of ``idp_authenticators`` since 0010.
* ``ix_audit_entries_actor_seq`` on ``audit_entries (actor, seq)``: the account page lists an
  account's newest ``idp.login.*`` entries (idp/login_history.py); without the index that
  read scans the ledger backwards from its head.

Revision ID: 0015_idp_passkeys
Revises: 0014_idp_consents
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_idp_passkeys"
down_revision: str | None = "0014_idp_consents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idp_passkeys",
        sa.Column("authenticator_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("user_handle", sa.LargeBinary(), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("transports", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["authenticator_id"],
            ["idp_authenticators.id"],
            name=op.f("fk_idp_passkeys_authenticator_id_idp_authenticators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("authenticator_id", name=op.f("pk_idp_passkeys")),
    )
    op.create_index("ix_audit_entries_actor_seq", "audit_entries", ["actor", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_actor_seq", table_name="audit_entries")
    op.drop_table("idp_passkeys")
