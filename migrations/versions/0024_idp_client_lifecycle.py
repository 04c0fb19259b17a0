"""OpenID clients that can be changed, disabled and told apart by name.

* ``idp_clients.name_key``: SHA-256 (hex) of the client's name folded as a citizen reads it on
  the consent page (``idp.client_metadata.name_key``: NFKC, case folded, whitespace runs as one
  space, trimmed), under a unique index, so two clients can no longer show the same name. Rows
  already registered are given their key here, oldest first; a row whose name an older client
  already has keeps NULL (a unique index allows several) and is named in a warning: the name
  stays taken by the older client, and ``natid idp client update ID --name ...`` gives the
  younger one a distinct name (and its key).
* ``idp_clients.disabled_at`` / ``disabled_reason``: set while an operator has disabled the
  client (``natid idp client disable``); NULL for every existing client (all enabled).

Revision ID: 0024_idp_client_lifecycle
Revises: 0023_installation_settings
Create Date: 2026-11-24
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db
from idp.client_metadata import name_key

revision: str = "0024_idp_client_lifecycle"
down_revision: str | None = "0023_installation_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_clients = sa.table(
    "idp_clients",
    sa.column("client_id", sa.String),
    sa.column("name", sa.String),
    sa.column("created_at", core.db.UTCDateTime()),
    sa.column("name_key", sa.String),
)


def upgrade() -> None:
    op.add_column("idp_clients", sa.Column("name_key", sa.String(length=64), nullable=True))
    op.add_column("idp_clients", sa.Column("disabled_at", core.db.UTCDateTime(), nullable=True))
    op.add_column(
        "idp_clients", sa.Column("disabled_reason", sa.String(length=200), nullable=True)
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_clients.c.client_id, _clients.c.name).order_by(
            _clients.c.created_at, _clients.c.client_id
        )
    ).all()
    taken: dict[str, str] = {}
    for client_id, name in rows:
        key = name_key(name)
        if key in taken:
            log.warning(
                "client %s has the name of the older client %s; give it another name with "
                "`natid idp client update %s --name ...`",
                client_id, taken[key], client_id,
            )  # fmt: skip
            continue
        taken[key] = client_id
        bind.execute(
            sa.update(_clients).where(_clients.c.client_id == client_id).values(name_key=key)
        )
    op.create_index("ux_idp_clients_name_key", "idp_clients", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_idp_clients_name_key", table_name="idp_clients")
    with op.batch_alter_table("idp_clients") as batch:
        batch.drop_column("disabled_reason")
        batch.drop_column("disabled_at")
        batch.drop_column("name_key")
