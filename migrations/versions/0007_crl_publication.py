"""CRL publication: the per-issuer CRL-number sequence and the published CRLs (ca/crlstore.py).

``ca_crl_state`` holds, per issuer, the last cRLNumber used (one sequence for full and delta
CRLs, RFC 5280 §5.2.3) and a count of status changes; publication locks that row, so CRL
numbers are strictly increasing and never reused, even with several processes.
``ca_crls`` keeps every published CRL (DER) with its number, kind, delta base and times;
(issuer, crl_number) is the primary key. ``kind`` is pinned to the values of this revision.

Revision ID: 0007_crl_publication
Revises: 0006_operators
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0007_crl_publication"
down_revision: str | None = "0006_operators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ca_crl_state",
        sa.Column("issuer", sa.String(length=32), nullable=False),
        sa.Column("last_crl_number", sa.BigInteger(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_change", core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "last_crl_number >= 0", name=op.f("ck_ca_crl_state_crl_number_not_negative")
        ),
        sa.CheckConstraint("change_seq >= 0", name=op.f("ck_ca_crl_state_change_seq_not_negative")),
        sa.ForeignKeyConstraint(
            ["issuer"], ["ca_authorities.name"], name=op.f("fk_ca_crl_state_issuer_ca_authorities")
        ),
        sa.PrimaryKeyConstraint("issuer", name=op.f("pk_ca_crl_state")),
    )
    op.create_table(
        "ca_crls",
        sa.Column("issuer", sa.String(length=32), nullable=False),
        sa.Column("crl_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("delta_base", sa.BigInteger(), nullable=True),
        sa.Column("this_update", core.db.UTCDateTime(), nullable=False),
        sa.Column("next_update", core.db.UTCDateTime(), nullable=False),
        sa.Column("covered_changes", sa.BigInteger(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'full' AND delta_base IS NULL)"
            " OR (kind = 'delta' AND delta_base IS NOT NULL AND delta_base < crl_number)",
            name=op.f("ck_ca_crls_delta_base_consistent"),
        ),
        sa.CheckConstraint("kind IN ('full', 'delta')", name=op.f("ck_ca_crls_kind")),
        sa.CheckConstraint(
            "next_update > this_update", name=op.f("ck_ca_crls_next_update_after_this_update")
        ),
        sa.ForeignKeyConstraint(
            ["issuer"], ["ca_authorities.name"], name=op.f("fk_ca_crls_issuer_ca_authorities")
        ),
        sa.PrimaryKeyConstraint("issuer", "crl_number", name=op.f("pk_ca_crls")),
    )
    op.create_index(
        "ix_ca_crls_issuer_kind_number", "ca_crls", ["issuer", "kind", "crl_number"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ca_crls_issuer_kind_number", table_name="ca_crls")
    op.drop_table("ca_crls")
    op.drop_table("ca_crl_state")
