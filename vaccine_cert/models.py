"""ORM tables of health credentials (migration ``0008_health``; written by
:class:`vaccine_cert.service.HealthService` only).

* ``health_certificates`` - one row per credential NatID issued: what the issuer needs to
  answer "did we issue this?", to revoke it and to publish the revocation list, and no more.
  It keeps the UVCI (to revoke by it; a random, opaque identifier), the register id of the
  holder (to find a person's credentials), the kind, the signer's ``kid`` and CA serial,
  ``iat``/``exp``, the SHA-256 of the whole ``HC1:`` payload (to recognise a presented copy
  without keeping it) and the DCC revocation ``SIGNATURE`` hash (which cannot be recomputed
  once the payload is gone). It does NOT keep the payload or the record: vaccine, test
  result, dates and names stay with the holder and, for the record itself, in the health
  system that entered it. Rows are never deleted; revocation fills ``revoked_at``.
* ``health_foreign_signers`` - document signer certificates imported from another country's
  trust list (:mod:`vaccine_cert.trustlist`), keyed by the SHA-256 of their DER encoding, with
  the fingerprint of the anchor that vouched for them. NatID's own signers are not copied here:
  they are the CA's ``health-dsc`` certificates (``ca_certificates``), read from the CA.
  ``entry_signature`` and ``entry_timestamp`` keep the entry's own signature and timestamp as
  the foreign list published them, so NatID can republish the entry unchanged
  (``GET /health/trustlist?scope=all``) and a verifier holding that country's anchor can still
  check it (migration ``0012_health_revoked_hashes``; NULL for rows imported before).
* ``health_revoked_hashes`` - revocations by a DCC revocation hash alone (hash type ``UCI``,
  ``COUNTRYCODEUCI`` or ``SIGNATURE``, the 16 bytes as hex, and the signer ``kid`` the batch
  belongs to), for credentials whose UVCI is unknown or not unique. Published in the
  revocation list beside the hashes of revoked ``health_certificates`` rows until
  ``expires_at`` (the credential's expiry if NatID knows it, else its signer's notAfter, which
  no credential outlives).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = ["HealthCertificateRow", "HealthForeignSignerRow", "HealthRevokedHashRow"]

#: Lowercase hex SHA-256.
HASH_HEX = 64
#: Lowercase hex of an 8-byte HCERT kid.
KID_HEX = 16
#: Longest UVCI the DCC schema allows (``ci`` maxLength 80).
UVCI_LENGTH = 80
NAME_LENGTH = 200


class HealthCertificateRow(Base):
    __tablename__ = "health_certificates"
    __table_args__ = (
        CheckConstraint("kind IN ('vaccination', 'test', 'recovery')", name="kind_known"),
    )

    uvci: Mapped[str] = mapped_column(String(UVCI_LENGTH), primary_key=True)
    uvci_sha256: Mapped[str] = mapped_column(String(HASH_HEX), unique=True)
    subject_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    kid: Mapped[str] = mapped_column(String(KID_HEX))
    signer_serial: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    payload_sha256: Mapped[str] = mapped_column(String(HASH_HEX), unique=True)
    #: DCC revocation hash type SIGNATURE: the first 16 bytes, hex (vaccine_cert/revocation.py).
    signature_hash: Mapped[str] = mapped_column(String(32))
    issued_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoked_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))


class HealthForeignSignerRow(Base):
    __tablename__ = "health_foreign_signers"

    thumbprint: Mapped[str] = mapped_column(String(HASH_HEX), primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    kid: Mapped[str] = mapped_column(String(KID_HEX), index=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary())
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    anchor_sha256: Mapped[str] = mapped_column(String(HASH_HEX))
    entry_signature: Mapped[str | None] = mapped_column(Text())
    entry_timestamp: Mapped[str | None] = mapped_column(String(40))


class HealthRevokedHashRow(Base):
    __tablename__ = "health_revoked_hashes"
    __table_args__ = (
        CheckConstraint(
            "hash_type IN ('UCI', 'COUNTRYCODEUCI', 'SIGNATURE')", name="hash_type_known"
        ),
    )

    kid: Mapped[str] = mapped_column(String(KID_HEX), primary_key=True)
    hash_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: The first 16 bytes of the SHA-256, lowercase hex.
    hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
