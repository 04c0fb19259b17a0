"""ORM tables of the certificate authority.

CA core (migration ``0005_ca_core``), written only through :mod:`ca.store` by
:class:`ca.service.CAService`:

* ``ca_authorities`` - one row per CA of the hierarchy (``root``, ``citizen``, ``entity``,
  ``government``, ``health``): its key label in the key backend, its certificate, its parent.
* ``ca_certificates`` - every certificate the CA made, CA and service certificates (issuing
  CAs, OCSP responders, the TSA; ``subject_id`` NULL) included. The primary key is the serial
  number in the form ``openssl x509 -serial`` prints it (upper-case hex, two digits per octet;
  :func:`ca.store.normalize_serial`), unique across all issuers: that is stricter than RFC 5280
  §4.1.2.2's "unique per issuer" and lets operators name a certificate by its serial alone.
  ``spki_sha256`` (lowercase hex SHA-256 of the SubjectPublicKeyInfo DER) is indexed. Status
  columns are ready for revocation: ``status`` good / revoked / on_hold, ``revoked_at``,
  ``revocation_reason`` (RFC 5280 §5.3.1 CRLReason names), ``invalidity_date`` (§5.3.2); a CHECK
  keeps them consistent. ``renewed_from`` / ``replaced_by`` link renewals and re-keys.
* ``ca_key_bindings`` - one row per public key ever certified, naming the one subject it is
  bound to. Its primary key makes "the same public key is never certified for two subjects"
  hold even for two concurrent requests on PostgreSQL (the service checks first, for a clear
  message; the key is the last line of defence).

Transparency log (RFC 9162-style Merkle log), written only by
:class:`ca.transparency.TransparencyLog`:

* ``ct_log_entries`` - one row per logged certificate, ``leaf_index`` counting from 0 without
  gaps. The Merkle leaf is the certificate's DER (``leaf_hash = SHA-256(0x00 || der)``,
  RFC 9162 §2.1.1); the DER is kept so the log can be re-verified, and served, on its own.
* ``ct_log_nodes`` - the hash of every complete subtree of height >= 1 (``level``,
  ``node_index``: leaves ``[node_index * 2**level, (node_index + 1) * 2**level)``), written
  when the subtree fills up. Any root or proof then needs O(log n) rows (:mod:`ca.merkle`).
* ``ct_log_head`` - exactly one row (``id = 1``): the tree size and the hashes of the complete
  subtrees along the right edge (the "frontier", largest first, 32 bytes each), so an append
  reads nothing but this row. Every append locks it (``SELECT ... FOR UPDATE`` on PostgreSQL;
  SQLite serialises writers with ``BEGIN IMMEDIATE``). The migration inserts it at size 0.
* ``ct_tree_heads`` - signed tree heads, at most one per tree size.

Hashes are raw 32-byte SHA-256 digests. The schema is owned by Alembic
(``migrations/versions/0004_transparency_log.py``); keep the two in step (``alembic check``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ca.profiles import ProfileName
from ca.revocation import RevocationReason
from core.db import Base, UTCDateTime

__all__ = [
    "AuthorityStatus",
    "CAAuthorityRow",
    "CACertificateRow",
    "CACrlRow",
    "CACrlStateRow",
    "CAKeyBindingRow",
    "CTLogEntryRow",
    "CTLogHeadRow",
    "CTLogNodeRow",
    "CTTreeHeadRow",
    "CertificateStatus",
    "CrlKind",
]

#: An index or size: 64-bit on PostgreSQL, SQLite's INTEGER (the rowid where it is the key).
INDEX_TYPE = BigInteger().with_variant(Integer(), "sqlite")
#: Longest subject id and key label (ids, not names).
ID_LENGTH = 200
#: Longest serial number in hex: RFC 5280 §4.1.2.2 allows 20 octets; leave room for odd CAs.
SERIAL_HEX_LENGTH = 64


class CTLogEntryRow(Base):
    """One logged certificate."""

    __tablename__ = "ct_log_entries"
    __table_args__ = (CheckConstraint("leaf_index >= 0", name="leaf_index_not_negative"),)

    leaf_index: Mapped[int] = mapped_column(INDEX_TYPE, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(), index=True)
    cert_sha256: Mapped[bytes] = mapped_column(LargeBinary(), unique=True)
    serial_hex: Mapped[str] = mapped_column(String(SERIAL_HEX_LENGTH), index=True)
    #: The issuer's distinguished name, RFC 4514 string form.
    issuer: Mapped[str] = mapped_column(Text())
    #: The register's internal id of the subject (never a national ID number); None for
    #: certificates without a registered subject (CA, OCSP and TSA certificates).
    subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    logged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    certificate: Mapped[bytes] = mapped_column(LargeBinary())


class CTLogNodeRow(Base):
    """The hash of one complete subtree of height ``level`` >= 1."""

    __tablename__ = "ct_log_nodes"
    __table_args__ = (CheckConstraint("level >= 1", name="level_positive"),)

    level: Mapped[int] = mapped_column(SmallInteger(), primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(INDEX_TYPE, primary_key=True, autoincrement=False)
    subtree_hash: Mapped[bytes] = mapped_column(LargeBinary())


class CTLogHeadRow(Base):
    """The tree size and right-edge subtree hashes; the row every append locks."""

    __tablename__ = "ct_log_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(INDEX_TYPE)
    frontier: Mapped[bytes] = mapped_column(LargeBinary())


class CTTreeHeadRow(Base):
    """A signed tree head (:class:`ca.merkle.SignedTreeHead`)."""

    __tablename__ = "ct_tree_heads"
    __table_args__ = (CheckConstraint("tree_size >= 0", name="tree_size_not_negative"),)

    tree_size: Mapped[int] = mapped_column(INDEX_TYPE, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary())
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    key_label: Mapped[str] = mapped_column(String(ID_LENGTH))
    algorithm: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary())


# --- CA core: authorities, issued certificates, key bindings (migration 0005_ca_core) ----------

#: Longest CA name (``ca.urls.CA_NAME_PATTERN``) and profile name.
CA_NAME_LENGTH = 32
#: Longest key label (``hsm_adapters.base.LABEL_PATTERN``).
KEY_LABEL_LENGTH = 128
#: Lowercase hex SHA-256.
SHA256_HEX_LENGTH = 64


class CertificateStatus(StrEnum):
    """What the CA's records say of a certificate (the OCSP slice maps it to RFC 6960 status).

    ``on_hold`` is a suspension: revoked with reason ``certificateHold`` (RFC 5280 §5.3.1),
    which can be released back to ``good``.
    """

    GOOD = "good"
    REVOKED = "revoked"
    ON_HOLD = "on_hold"


class AuthorityStatus(StrEnum):
    """Whether a CA still issues: ``retired`` CAs keep signing CRLs and OCSP, nothing else."""

    ACTIVE = "active"
    RETIRED = "retired"


def _one_of(column: str, codes: Iterable[str]) -> CheckConstraint:
    values = ", ".join(f"'{code}'" for code in codes)
    return CheckConstraint(f"{column} IN ({values})", name=column)


class CAAuthorityRow(Base):
    """One certification authority of the hierarchy and where its key lives."""

    __tablename__ = "ca_authorities"
    __table_args__ = (_one_of("status", AuthorityStatus),)

    name: Mapped[str] = mapped_column(String(CA_NAME_LENGTH), primary_key=True)
    #: The CA that certified this one; NULL for the (self-signed) root.
    parent: Mapped[str | None] = mapped_column(
        String(CA_NAME_LENGTH), ForeignKey("ca_authorities.name")
    )
    key_label: Mapped[str] = mapped_column(String(KEY_LABEL_LENGTH))
    serial_hex: Mapped[str] = mapped_column(String(SERIAL_HEX_LENGTH))
    subject_dn: Mapped[str] = mapped_column(Text())
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    certificate: Mapped[bytes] = mapped_column(LargeBinary())
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CACertificateRow(Base):
    """One certificate this CA signed (end-entity, service or CA certificate)."""

    __tablename__ = "ca_certificates"
    __table_args__ = (
        _one_of("profile", ProfileName),
        _one_of("status", CertificateStatus),
        _one_of("revocation_reason", RevocationReason),
        # The revocation columns say the same as the status: nothing when good; a time and a
        # reason when revoked (never certificateHold / removeFromCRL); certificateHold on hold.
        CheckConstraint(
            "(status = 'good' AND revoked_at IS NULL AND revocation_reason IS NULL"
            " AND invalidity_date IS NULL)"
            " OR (status = 'revoked' AND revoked_at IS NOT NULL"
            " AND revocation_reason IS NOT NULL"
            " AND revocation_reason NOT IN ('certificateHold', 'removeFromCRL'))"
            " OR (status = 'on_hold' AND revoked_at IS NOT NULL"
            " AND revocation_reason = 'certificateHold')",
            name="revocation_consistent",
        ),
        CheckConstraint("not_after > not_before", name="validity_positive"),
        # CRL generation reads "everything of this issuer that is not good".
        Index("ix_ca_certificates_issuer_status", "issuer", "status"),
        # Every OCSP worker looks up the newest responder certificates once a minute.
        Index("ix_ca_certificates_profile_status", "profile", "status"),
    )

    serial_hex: Mapped[str] = mapped_column(String(SERIAL_HEX_LENGTH), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(CA_NAME_LENGTH), ForeignKey("ca_authorities.name"))
    profile: Mapped[str] = mapped_column(String(CA_NAME_LENGTH))
    #: The register's internal id (person, civil servant or legal entity); NULL for CA and
    #: service certificates of the hierarchy. Never a national ID number.
    subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    #: RFC 4514 string of the subject DN (it holds the semantics identifier; never log it).
    subject_dn: Mapped[str] = mapped_column(Text())
    spki_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), index=True)
    key_algorithm: Mapped[str] = mapped_column(String(16))
    #: The key's label in the key backend when the CA generated it (server-side keys).
    key_label: Mapped[str | None] = mapped_column(String(KEY_LABEL_LENGTH))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    certificate: Mapped[bytes] = mapped_column(LargeBinary())
    status: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    invalidity_date: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    renewed_from: Mapped[str | None] = mapped_column(
        String(SERIAL_HEX_LENGTH), ForeignKey("ca_certificates.serial_hex")
    )
    replaced_by: Mapped[str | None] = mapped_column(
        String(SERIAL_HEX_LENGTH), ForeignKey("ca_certificates.serial_hex")
    )
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))

    def __repr__(self) -> str:
        # Never the subject DN: it carries the national ID number (IDCKH-...).
        return f"CACertificateRow(serial_hex={self.serial_hex!r}, profile={self.profile!r})"


class CAKeyBindingRow(Base):
    """A certified public key and the one subject it belongs to."""

    __tablename__ = "ca_key_bindings"

    spki_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), primary_key=True)
    #: NULL for keys of the hierarchy (CAs, OCSP responders, the TSA).
    subject_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    first_serial: Mapped[str] = mapped_column(
        String(SERIAL_HEX_LENGTH), ForeignKey("ca_certificates.serial_hex")
    )
    bound_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# --- CRL publication (migration 0007_crl_publication; written by ca/crlstore.py) ---------------


class CrlKind(StrEnum):
    """A full CRL (RFC 5280 §5.1) or a delta CRL (§5.2.4)."""

    FULL = "full"
    DELTA = "delta"


class CACrlStateRow(Base):
    """Per issuer: the CRL-number sequence and the count of status changes.

    The row every CRL publication locks (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
    serialises writers with ``BEGIN IMMEDIATE``), so two processes never hand out the same CRL
    number; every revocation, hold and release bumps ``change_seq`` in its own transaction.
    Rows are made on first use.
    """

    __tablename__ = "ca_crl_state"
    __table_args__ = (
        CheckConstraint("last_crl_number >= 0", name="crl_number_not_negative"),
        CheckConstraint("change_seq >= 0", name="change_seq_not_negative"),
    )

    issuer: Mapped[str] = mapped_column(
        String(CA_NAME_LENGTH), ForeignKey("ca_authorities.name"), primary_key=True
    )
    #: The highest cRLNumber used, full or delta (RFC 5280 §5.2.3: one sequence); 0 before any.
    last_crl_number: Mapped[int] = mapped_column(BigInteger())
    #: How many status changes (revoke, hold, release) the issuer's certificates went through.
    change_seq: Mapped[int] = mapped_column(BigInteger())
    #: When the latest of them happened.
    last_change: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class CACrlRow(Base):
    """One published CRL, full or delta, as served at the distribution point."""

    __tablename__ = "ca_crls"
    __table_args__ = (
        _one_of("kind", CrlKind),
        CheckConstraint(
            "(kind = 'full' AND delta_base IS NULL)"
            " OR (kind = 'delta' AND delta_base IS NOT NULL AND delta_base < crl_number)",
            name="delta_base_consistent",
        ),
        CheckConstraint("next_update > this_update", name="next_update_after_this_update"),
        # "The newest full (or delta) CRL of this issuer" is one index probe.
        Index("ix_ca_crls_issuer_kind_number", "issuer", "kind", "crl_number"),
    )

    issuer: Mapped[str] = mapped_column(
        String(CA_NAME_LENGTH), ForeignKey("ca_authorities.name"), primary_key=True
    )
    crl_number: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8))
    #: The cRLNumber of the full CRL a delta updates (its deltaCRLIndicator); NULL for full.
    delta_base: Mapped[int | None] = mapped_column(BigInteger())
    this_update: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: ``ca_crl_state.change_seq`` when it was made: the status changes it reflects.
    covered_changes: Mapped[int] = mapped_column(BigInteger())
    der: Mapped[bytes] = mapped_column(LargeBinary())
