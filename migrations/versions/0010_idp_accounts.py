"""IdP accounts, authenticators, recovery codes and login sessions (idp/account_models.py).

``idp_accounts.status`` and ``idp_authenticators.kind`` are pinned by CHECK constraints to the
values of this revision, written out so this revision never changes when the code does.
Passwords are Argon2id PHC strings, TOTP secrets are sealed with AES-GCM, recovery codes and
session tokens are SHA-256 digests: nothing here is a usable secret in clear.

Revision ID: 0010_idp_accounts
Revises: 0009_idp_core
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0010_idp_accounts"
down_revision: str | None = "0009_idp_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Uuid[str]:
    return sa.Uuid(as_uuid=False)


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, core.db.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "idp_accounts",
        sa.Column("id", _id(), nullable=False),
        sa.Column("person_id", _id(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operator_id", _id(), nullable=True),
        _time("email_verified_at", nullable=True),
        _time("phone_verified_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        _time("last_login_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'locked', 'disabled')",
            name=op.f("ck_idp_accounts_status"),
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operators.id"], name=op.f("fk_idp_accounts_operator_id_operators")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name=op.f("fk_idp_accounts_person_id_registry_persons"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_accounts")),
        sa.UniqueConstraint("person_id", name=op.f("uq_idp_accounts_person_id")),
    )
    op.create_table(
        "idp_authenticators",
        sa.Column("id", _id(), nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        _time("created_at"),
        _time("confirmed_at", nullable=True),
        _time("last_used_at", nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("totp_secret_sealed", sa.Text(), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("webauthn_credential_id", sa.LargeBinary(), nullable=True),
        sa.Column("webauthn_public_key", sa.LargeBinary(), nullable=True),
        sa.Column("webauthn_sign_count", sa.BigInteger(), nullable=True),
        sa.Column("bound_in_person", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('password', 'totp', 'passkey')", name=op.f("ck_idp_authenticators_kind")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idp_accounts.id"],
            name=op.f("fk_idp_authenticators_account_id_idp_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_authenticators")),
        sa.UniqueConstraint(
            "webauthn_credential_id", name=op.f("uq_idp_authenticators_webauthn_credential_id")
        ),
    )
    op.create_index(op.f("ix_idp_authenticators_account_id"), "idp_authenticators", ["account_id"])
    op.create_table(
        "idp_recovery_codes",
        sa.Column("id", _id(), nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        _time("created_at"),
        _time("used_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idp_accounts.id"],
            name=op.f("fk_idp_recovery_codes_account_id_idp_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_recovery_codes")),
        sa.UniqueConstraint("code_sha256", name=op.f("uq_idp_recovery_codes_code_sha256")),
    )
    op.create_index(op.f("ix_idp_recovery_codes_account_id"), "idp_recovery_codes", ["account_id"])
    op.create_table(
        "idp_sessions",
        sa.Column("id", _id(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("acr", sa.String(length=16), nullable=False),
        sa.Column("amr", sa.String(length=100), nullable=False),
        _time("auth_time"),
        _time("created_at"),
        _time("last_seen_at"),
        _time("expires_at"),
        _time("ended_at", nullable=True),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["idp_accounts.id"],
            name=op.f("fk_idp_sessions_account_id_idp_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_idp_sessions_token_sha256")),
    )
    op.create_index(op.f("ix_idp_sessions_account_id"), "idp_sessions", ["account_id"])
    op.create_table(
        "idp_session_clients",
        sa.Column("session_id", _id(), nullable=False),
        sa.Column("client_id", sa.String(length=200), nullable=False),
        _time("first_at"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["idp_sessions.id"],
            name=op.f("fk_idp_session_clients_session_id_idp_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "client_id", name=op.f("pk_idp_session_clients")),
    )


def downgrade() -> None:
    op.drop_table("idp_session_clients")
    op.drop_index(op.f("ix_idp_sessions_account_id"), table_name="idp_sessions")
    op.drop_table("idp_sessions")
    op.drop_index(op.f("ix_idp_recovery_codes_account_id"), table_name="idp_recovery_codes")
    op.drop_table("idp_recovery_codes")
    op.drop_index(op.f("ix_idp_authenticators_account_id"), table_name="idp_authenticators")
    op.drop_table("idp_authenticators")
    op.drop_table("idp_accounts")
