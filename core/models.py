"""ORM tables of the shared kernel: the audit ledger and operator credentials.

The audit ledger (ARCHITECTURE.md, "Audit") has three tables, written only by
:class:`core.audit.AuditLedger`:

* ``audit_entries`` - one row per event, hash-chained to the row before it (``prev_hash``);
  ``seq`` counts from 1 without gaps. The hashes are lowercase hex SHA-256 digests and ``data``
  is the entry's canonical JSON text (the encoding is defined in :mod:`core.audit_format`).
* ``audit_checkpoints`` - signed statements "entry ``seq`` has hash ``entry_hash``", one per
  covered entry. ``public_key`` (SubjectPublicKeyInfo DER) is stored for information only: a
  verifier trusts the key it is given, never the one stored next to the signature.
* ``audit_head`` - exactly one row (``id = 1``) naming the newest entry and checkpoint. Every
  append locks it (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serialises writers with
  ``BEGIN IMMEDIATE``), so appends from any number of workers form one chain without forks.
  The migration ``0002_audit_ledger`` inserts the row at ``last_seq = 0`` with the genesis
  hash (64 ``0`` hex digits).

Operators (written only by :class:`core.operators.OperatorService`; migration
``0006_operators``):

* ``operators`` - one row per operator: a random UUID, a unique login-like name, the granted
  roles (space-separated :class:`core.operators.OperatorRole` values, sorted), ``active`` or
  ``disabled``. Rows are never deleted, so audit entries naming an operator id stay resolvable.
* ``operator_tokens`` - the operator's API tokens: the 16-hex-digit token id (the public
  lookup part of the token, in clear) and the SHA-256 of the whole token; never the token.

What the installation remembers about itself (written only by :mod:`core.installation`;
migration ``0023_installation_settings``):

* ``installation_settings`` - one row per setting that must stay the same for every process
  and host on this database, by name: today only ``public_base_url``, the URL the CA hierarchy
  was made with (its certificates, CRLs and the OpenID issuer name it).

The schema is owned by Alembic (``migrations/versions/``); keep the two in step
(``alembic check``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = [
    "AuditCheckpointRow",
    "AuditEntryRow",
    "AuditHeadRow",
    "InstallationSettingRow",
    "OperatorRow",
    "OperatorTokenRow",
]

#: A sequence number: 64-bit on PostgreSQL, and SQLite's INTEGER so the column is the rowid.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")

#: Length of a lowercase hex SHA-256 digest.
HASH_HEX_LENGTH = 64
#: Longest event name, actor, subject and key label.
NAME_LENGTH = 200


class AuditEntryRow(Base):
    """One ledger entry as stored; :class:`core.audit_format.AuditEntry` is its value form."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        # The account pages list a person's recent logins (idp/login_history.py).
        Index("ix_audit_entries_actor_seq", "actor", "seq"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(NAME_LENGTH))
    actor: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    subject: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    data: Mapped[str] = mapped_column(Text())
    prev_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    entry_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))


class AuditCheckpointRow(Base):
    """A signature over (seq, entry_hash, at, key_label, algorithm) by the ledger key."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (CheckConstraint("seq >= 1", name="seq_positive"),)

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=False)
    entry_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    key_label: Mapped[str] = mapped_column(String(NAME_LENGTH))
    algorithm: Mapped[str] = mapped_column(String(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary())
    public_key: Mapped[bytes] = mapped_column(LargeBinary())


class AuditHeadRow(Base):
    """The newest entry's seq and hash; the row every append locks."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(SEQ_TYPE)
    last_hash: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    #: The newest checkpoint's seq: an append signs one once ``interval`` entries follow it,
    #: so a checkpoint skipped while the key backend was down is made up at the next append.
    checkpoint_seq: Mapped[int] = mapped_column(SEQ_TYPE)


# --- operators -------------------------------------------------------------------------------

#: Longest operator name (a login-like name such as ``alice.ra``).
OPERATOR_NAME_LENGTH = 64
#: Length of a token id: 8 random bytes as lowercase hex.
TOKEN_ID_LENGTH = 16


class OperatorRow(Base):
    """An operator of the admin and RA APIs; :class:`core.operators.Operator` is its value."""

    __tablename__ = "operators"
    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status"),)

    id: Mapped[str] = mapped_column(Uuid(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(String(OPERATOR_NAME_LENGTH), unique=True)
    #: Space-separated role codes, sorted; unknown codes are ignored on read (fail closed).
    roles: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class OperatorTokenRow(Base):
    """One API token of an operator: its public id and the SHA-256 of the token, never it."""

    __tablename__ = "operator_tokens"

    id: Mapped[str] = mapped_column(String(TOKEN_ID_LENGTH), primary_key=True)
    operator_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("operators.id"), index=True
    )
    token_sha256: Mapped[str] = mapped_column(String(HASH_HEX_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


# --- the installation --------------------------------------------------------------------------

#: Longest setting name.
SETTING_NAME_LENGTH = 64


class InstallationSettingRow(Base):
    """One remembered setting of the installation (:mod:`core.installation`)."""

    __tablename__ = "installation_settings"

    name: Mapped[str] = mapped_column(String(SETTING_NAME_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(Text())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
