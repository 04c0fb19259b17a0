"""The OpenID provider's protocol core: signing keys, clients, grants, refresh tokens.

Tables of ``idp/models.py`` (what each holds is described there). Status columns are pinned by
CHECK constraints to the values of this revision, written out so this revision never changes
when the code does. No secret is stored in clear: client secrets and refresh tokens only as
SHA-256, signing keys only as public JWKs (the private keys stay in the key backend).

Revision ID: 0009_idp_core
Revises: 0008_health
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0009_idp_core"
down_revision: str | None = "0008_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idp_signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("jwk", sa.Text(), nullable=False),
        sa.Column("published_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("activated_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("retired_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("removed_at", core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('next', 'active', 'retired', 'removed')",
            name=op.f("ck_idp_signing_keys_state"),
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_idp_signing_keys")),
        sa.UniqueConstraint("label", name=op.f("uq_idp_signing_keys_label")),
    )
    # At most one next and one active key, even when workers bootstrap concurrently.
    op.create_index(
        "ux_idp_signing_keys_live_state",
        "idp_signing_keys",
        ["state"],
        unique=True,
        sqlite_where=sa.text("state IN ('next', 'active')"),
        postgresql_where=sa.text("state IN ('next', 'active')"),
    )
    op.create_table(
        "idp_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=True),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.Text(), nullable=False),
        sa.Column("backchannel_logout_uri", sa.String(length=2000), nullable=True),
        sa.Column("fapi2", sa.Boolean(), nullable=False),
        sa.Column("sector", sa.String(length=253), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "auth_method IN ('private_key_jwt', 'client_secret_basic', 'client_secret_post')",
            name=op.f("ck_idp_clients_auth_method"),
        ),
        sa.CheckConstraint(
            "subject_type IN ('pairwise', 'public')", name=op.f("ck_idp_clients_subject_type")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_idp_clients")),
    )
    op.create_table(
        "idp_grants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("scopes", sa.String(length=1000), nullable=False),
        sa.Column("claims", sa.Text(), nullable=True),
        sa.Column("acr", sa.String(length=200), nullable=True),
        sa.Column("amr", sa.String(length=200), nullable=False),
        sa.Column("auth_time", core.db.UTCDateTime(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("revoke_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["idp_clients.client_id"],
            name=op.f("fk_idp_grants_client_id_idp_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idp_grants")),
    )
    op.create_index(op.f("ix_idp_grants_client_id"), "idp_grants", ["client_id"], unique=False)
    op.create_index(op.f("ix_idp_grants_sid"), "idp_grants", ["sid"], unique=False)
    op.create_index(op.f("ix_idp_grants_subject"), "idp_grants", ["subject"], unique=False)
    op.create_table(
        "idp_refresh_tokens",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["idp_grants.id"],
            name=op.f("fk_idp_refresh_tokens_grant_id_idp_grants"),
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_idp_refresh_tokens")),
    )
    op.create_index(
        op.f("ix_idp_refresh_tokens_grant_id"), "idp_refresh_tokens", ["grant_id"], unique=False
    )
    op.create_table(
        "idp_revoked_access_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_idp_revoked_access_tokens")),
    )
    op.create_index(
        op.f("ix_idp_revoked_access_tokens_expires_at"),
        "idp_revoked_access_tokens",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_idp_revoked_access_tokens_expires_at"), table_name="idp_revoked_access_tokens"
    )
    op.drop_table("idp_revoked_access_tokens")
    op.drop_index(op.f("ix_idp_refresh_tokens_grant_id"), table_name="idp_refresh_tokens")
    op.drop_table("idp_refresh_tokens")
    op.drop_index(op.f("ix_idp_grants_subject"), table_name="idp_grants")
    op.drop_index(op.f("ix_idp_grants_sid"), table_name="idp_grants")
    op.drop_index(op.f("ix_idp_grants_client_id"), table_name="idp_grants")
    op.drop_table("idp_grants")
    op.drop_table("idp_clients")
    op.drop_index("ux_idp_signing_keys_live_state", table_name="idp_signing_keys")
    op.drop_table("idp_signing_keys")
