"""ORM tables of the certificate authority.

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

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = ["CTLogEntryRow", "CTLogHeadRow", "CTLogNodeRow", "CTTreeHeadRow"]

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
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary())
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
