"""CA core: the authorities of the hierarchy, every issued certificate, certified public keys.

Tables of ca/models.py. CHECK constraints pin ``profile``, ``status`` and
``revocation_reason`` to the values of this revision (``ProfileName``, ``CertificateStatus``,
RFC 5280 §5.3.1 CRLReason names), written out so this revision never changes when the code
does; ``revocation_consistent`` ties the revocation columns to the status. Serial numbers are
upper-case hex as ``openssl x509 -serial`` prints them, and the primary key.

Revision ID: 0005_ca_core
Revises: 0004_transparency_log
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.db

revision: str = "0005_ca_core"
down_revision: str | None = "0004_transparency_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PROFILES = (
    "'root-ca', 'issuing-ca', 'citizen-auth', 'citizen-sign', 'gov-auth', 'gov-sign', "
    "'eseal', 'health-dsc', 'tsa', 'ocsp-responder', 'tls-server'"
)
_REASONS = (
    "'unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', "
    "'cessationOfOperation', 'certificateHold', 'removeFromCRL', 'privilegeWithdrawn', "
    "'aACompromise'"
)
_REVOCATION_CONSISTENT = (
    "(status = 'good' AND revoked_at IS NULL AND revocation_reason IS NULL"
    " AND invalidity_date IS NULL)"
    " OR (status = 'revoked' AND revoked_at IS NOT NULL"
    " AND revocation_reason IS NOT NULL"
    " AND revocation_reason NOT IN ('certificateHold', 'removeFromCRL'))"
    " OR (status = 'on_hold' AND revoked_at IS NOT NULL"
    " AND revocation_reason = 'certificateHold')"
)


def upgrade() -> None:
    op.create_table(
        "ca_authorities",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("parent", sa.String(length=32), nullable=True),
        sa.Column("key_label", sa.String(length=128), nullable=False),
        sa.Column("serial_hex", sa.String(length=64), nullable=False),
        sa.Column("subject_dn", sa.Text(), nullable=False),
        sa.Column("not_before", core.db.UTCDateTime(), nullable=False),
        sa.Column("not_after", core.db.UTCDateTime(), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'retired')", name=op.f("ck_ca_authorities_status")
        ),
        sa.ForeignKeyConstraint(
            ["parent"],
            ["ca_authorities.name"],
            name=op.f("fk_ca_authorities_parent_ca_authorities"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ca_authorities")),
    )
    op.create_table(
        "ca_certificates",
        sa.Column("serial_hex", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=32), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column("subject_dn", sa.Text(), nullable=False),
        sa.Column("spki_sha256", sa.String(length=64), nullable=False),
        sa.Column("key_algorithm", sa.String(length=16), nullable=False),
        sa.Column("key_label", sa.String(length=128), nullable=True),
        sa.Column("not_before", core.db.UTCDateTime(), nullable=False),
        sa.Column("not_after", core.db.UTCDateTime(), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revoked_at", core.db.UTCDateTime(), nullable=True),
        sa.Column("revocation_reason", sa.String(length=32), nullable=True),
        sa.Column("invalidity_date", core.db.UTCDateTime(), nullable=True),
        sa.Column("renewed_from", sa.String(length=64), nullable=True),
        sa.Column("replaced_by", sa.String(length=64), nullable=True),
        sa.Column("issued_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            _REVOCATION_CONSISTENT, name=op.f("ck_ca_certificates_revocation_consistent")
        ),
        sa.CheckConstraint(f"profile IN ({_PROFILES})", name=op.f("ck_ca_certificates_profile")),
        sa.CheckConstraint(
            f"revocation_reason IN ({_REASONS})",
            name=op.f("ck_ca_certificates_revocation_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('good', 'revoked', 'on_hold')", name=op.f("ck_ca_certificates_status")
        ),
        sa.CheckConstraint(
            "not_after > not_before", name=op.f("ck_ca_certificates_validity_positive")
        ),
        sa.ForeignKeyConstraint(
            ["issuer"],
            ["ca_authorities.name"],
            name=op.f("fk_ca_certificates_issuer_ca_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["renewed_from"],
            ["ca_certificates.serial_hex"],
            name=op.f("fk_ca_certificates_renewed_from_ca_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["replaced_by"],
            ["ca_certificates.serial_hex"],
            name=op.f("fk_ca_certificates_replaced_by_ca_certificates"),
        ),
        sa.PrimaryKeyConstraint("serial_hex", name=op.f("pk_ca_certificates")),
    )
    op.create_index(
        "ix_ca_certificates_issuer_status", "ca_certificates", ["issuer", "status"], unique=False
    )
    op.create_index(
        op.f("ix_ca_certificates_spki_sha256"), "ca_certificates", ["spki_sha256"], unique=False
    )
    op.create_index(
        op.f("ix_ca_certificates_subject_id"), "ca_certificates", ["subject_id"], unique=False
    )
    op.create_table(
        "ca_key_bindings",
        sa.Column("spki_sha256", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=True),
        sa.Column("first_serial", sa.String(length=64), nullable=False),
        sa.Column("bound_at", core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_serial"],
            ["ca_certificates.serial_hex"],
            name=op.f("fk_ca_key_bindings_first_serial_ca_certificates"),
        ),
        sa.PrimaryKeyConstraint("spki_sha256", name=op.f("pk_ca_key_bindings")),
    )


def downgrade() -> None:
    op.drop_table("ca_key_bindings")
    op.drop_index(op.f("ix_ca_certificates_subject_id"), table_name="ca_certificates")
    op.drop_index(op.f("ix_ca_certificates_spki_sha256"), table_name="ca_certificates")
    op.drop_index("ix_ca_certificates_issuer_status", table_name="ca_certificates")
    op.drop_table("ca_certificates")
    op.drop_table("ca_authorities")
