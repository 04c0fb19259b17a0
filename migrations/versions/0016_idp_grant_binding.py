"""DPoP-bound refresh tokens and signed UserInfo responses.

* ``idp_grants.dpop_jkt``: the RFC 7638 thumbprint of the DPoP key a grant's tokens were bound
  to at the code exchange. A refresh token of such a grant is accepted only with a DPoP proof
  by that same key (RFC 9449 §5: "refresh tokens issued to public clients MUST be bound"; NatID
  binds them for every client that used DPoP). Existing grants stay unbound (NULL).
* ``idp_clients.userinfo_signed_response_alg``: ``ES256`` or ``PS256`` when the client wants
  UserInfo as a signed JWT (OIDC Core §5.3.2, OIDC Dynamic Client Registration §2); NULL for
  plain JSON. The allowed values are checked when a client is registered
  (idp/client_metadata.py); no CHECK constraint, because adding one to an existing table on
  SQLite means rebuilding a table that other tables reference.

Revision ID: 0016_idp_grant_binding
Revises: 0015_idp_passkeys
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_idp_grant_binding"
down_revision: str | None = "0015_idp_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("idp_grants", sa.Column("dpop_jkt", sa.String(length=64), nullable=True))
    op.add_column(
        "idp_clients",
        sa.Column("userinfo_signed_response_alg", sa.String(length=16), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("idp_clients") as batch:
        batch.drop_column("userinfo_signed_response_alg")
    with op.batch_alter_table("idp_grants") as batch:
        batch.drop_column("dpop_jkt")
