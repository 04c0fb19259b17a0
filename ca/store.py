"""Storage of the CA: authorities, issued certificates and certified keys (ca/models.py).

The service (:class:`ca.service.CAService`) decides; this module reads and writes rows and
turns them into frozen values (:class:`IssuedCertificate`, :class:`Authority`). Choices:

* Serial numbers are stored and shown as ``openssl x509 -serial`` prints them: upper-case
  hex, two digits per octet (RFC 5280 §4.1.2.2 serials are positive INTEGERs; NatID's have
  the top bit clear, so the DER never needs a leading zero octet and the hex is the
  INTEGER's content). :func:`normalize_serial` accepts what operators paste - any case,
  ``serial=`` prefix, ``0x`` prefix, colons, missing or extra leading zeros - and gives that
  one form, so ``0a:1b``, ``A1B`` and ``serial=0A1B`` name the same certificate.
* Writes run in the caller's transaction (``session=``), so a certificate, its key binding,
  its transparency-log entry and its audit entry commit or roll back together. Bulk issuance
  writes a batch's rows with one multi-row insert per table (:meth:`CertificateStore.
  add_certificates`, :meth:`~CertificateStore.bind_new_keys`) after one look-up of the keys
  already bound (:meth:`~CertificateStore.bound_keys`); :func:`key_conflict` words a refusal
  the same way on both paths.
* Database errors become :class:`~ca.errors.CAStorageUnavailable` raised ``from None``:
  SQLAlchemy's messages quote statement parameters, and a subject DN holds a national ID
  number (``serialNumber=IDCKH-...``), so they must not ride along into logs.
* Reads on SQLite use a deferred transaction (``sqlite_deferred``, see ``core.db``) so they
  never wait for the write lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import (
    CAStorageUnavailable,
    CertificateNotFound,
    CertificateNotRenewable,
    InvalidSerialNumber,
    IssuerRetired,
    KeyAlreadyCertified,
)
from ca.models import (
    AuthorityStatus,
    CAAuthorityRow,
    CACertificateRow,
    CAKeyBindingRow,
    CertificateStatus,
)
from ca.profiles import ProfileName
from ca.revocation import RevocationReason
from core.db import Base, transaction
from core.errors import NatIDError

__all__ = [
    "MAX_LIST",
    "Authority",
    "AuthorityStatus",
    "CertificateStatus",
    "CertificateStore",
    "IssuedCertificate",
    "KeyBinding",
    "NewCertificate",
    "key_conflict",
    "normalize_serial",
    "serial_hex",
]

log = logging.getLogger(__name__)

#: Most rows one ``list`` returns.
MAX_LIST = 10_000
_MAX_SERIAL_DIGITS = 40  # 20 octets (RFC 5280 §4.1.2.2)
_HEX = re.compile(r"[0-9A-F]+")

# The issuance path runs prebuilt Core statements on the session's connection: building an
# ORM-routed statement per call cost more than the database work (bench/bench_issuance.py).
_CERTS = Base.metadata.tables[CACertificateRow.__tablename__]
_BINDINGS = Base.metadata.tables[CAKeyBindingRow.__tablename__]
_SELECT_RETIRED = select(CAAuthorityRow.name).where(
    CAAuthorityRow.name.in_(bindparam("r_names", expanding=True)),
    CAAuthorityRow.status != AuthorityStatus.ACTIVE.value,
)
_INSERT_CERT = insert(_CERTS)
_INSERT_BINDING = insert(_BINDINGS)
_SELECT_BINDING = select(_BINDINGS.c.subject_id, _BINDINGS.c.first_serial).where(
    _BINDINGS.c.spki_sha256 == bindparam("b_spki")
)
_SELECT_BINDINGS = select(
    _BINDINGS.c.spki_sha256, _BINDINGS.c.subject_id, _BINDINGS.c.first_serial
).where(_BINDINGS.c.spki_sha256.in_(bindparam("b_spkis", expanding=True)))
#: Keys looked up per query (well under every database's parameter limit).
_LOOKUP_CHUNK = 500
_MARK_REPLACED = (
    update(_CERTS)
    .where(_CERTS.c.serial_hex == bindparam("b_old"), _CERTS.c.replaced_by.is_(None))
    .values(replaced_by=bindparam("b_new"))
)


def serial_hex(serial: int) -> str:
    """``serial`` as ``openssl x509 -serial`` prints it: upper-case hex, even length."""
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


def normalize_serial(value: str | int) -> str:
    """The stored form of a serial number given as text (or int); raise
    :class:`~ca.errors.InvalidSerialNumber` if it is not a positive 1-20 octet number."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = value.strip().upper()
        text = text.removeprefix("SERIAL=").removeprefix("0X").replace(":", "")
        if not text or len(text) > 2 * _MAX_SERIAL_DIGITS or not _HEX.fullmatch(text):
            raise InvalidSerialNumber(
                f"serial number {value.strip()[:50]!r} is not hex as `openssl x509 -serial` "
                "prints it (for example 3A0F...)"
            )
        number = int(text, 16)
    else:
        raise InvalidSerialNumber(f"a serial number is hex text, got {type(value).__name__}")
    if number <= 0 or number.bit_length() > 8 * (_MAX_SERIAL_DIGITS // 2):
        raise InvalidSerialNumber("a serial number is a positive number of at most 20 octets")
    return serial_hex(number)


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate as the CA recorded it, with its status."""

    serial_hex: str
    #: The issuing CA's name (``citizen``, ``root``, ...).
    issuer: str
    profile: ProfileName
    #: The register's id of the subject; None for CA and service certificates.
    subject_id: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    status: CertificateStatus
    #: The key's label in the key backend when the CA generated the key.
    key_label: str | None
    key_algorithm: str
    spki_sha256: str
    issued_at: dt.datetime
    requested_by: str | None
    renewed_from: str | None
    replaced_by: str | None
    revoked_at: dt.datetime | None
    revocation_reason: RevocationReason | None
    invalidity_date: dt.datetime | None
    certificate: x509.Certificate = field(repr=False)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def is_valid_at(self, at: dt.datetime) -> bool:
        """Good and inside its validity period (RFC 5280 §4.1.2.5: both ends inclusive)."""
        return self.status is CertificateStatus.GOOD and self.not_before <= at <= self.not_after


@dataclass(frozen=True, slots=True)
class Authority:
    """One CA of the hierarchy."""

    name: str
    parent: str | None
    key_label: str
    status: AuthorityStatus
    created_at: dt.datetime
    certificate: x509.Certificate = field(repr=False)

    @property
    def serial_hex(self) -> str:
        return serial_hex(self.certificate.serial_number)


@dataclass(frozen=True, slots=True)
class NewCertificate:
    """A certificate to store, with what the CA knows about it (the row's columns)."""

    certificate: x509.Certificate = field(repr=False)
    issuer: str
    profile: ProfileName
    subject_id: str | None
    spki_sha256: str
    key_algorithm: str
    key_label: str | None
    issued_at: dt.datetime
    requested_by: str | None
    renewed_from: str | None = None

    @property
    def serial_hex(self) -> str:
        return serial_hex(self.certificate.serial_number)

    def row(self) -> dict[str, object]:
        """The ``ca_certificates`` row (status good)."""
        cert = self.certificate
        return {
            "serial_hex": self.serial_hex,
            "issuer": self.issuer,
            "profile": self.profile.value,
            "subject_id": self.subject_id,
            "subject_dn": cert.subject.rfc4514_string(),
            "spki_sha256": self.spki_sha256,
            "key_algorithm": self.key_algorithm,
            "key_label": self.key_label,
            "not_before": cert.not_valid_before_utc,
            "not_after": cert.not_valid_after_utc,
            "certificate": cert.public_bytes(serialization.Encoding.DER),
            "status": CertificateStatus.GOOD.value,
            "revoked_at": None,
            "revocation_reason": None,
            "invalidity_date": None,
            "renewed_from": self.renewed_from,
            "replaced_by": None,
            "issued_at": self.issued_at,
            "requested_by": self.requested_by,
        }


@dataclass(frozen=True, slots=True)
class KeyBinding:
    """A stored ``ca_key_bindings`` row: whom a key is certified for, since which certificate."""

    subject_id: str | None
    first_serial: str


def key_conflict(
    bound: KeyBinding, subject_id: str | None, *, reuse: bool = False
) -> KeyAlreadyCertified | None:
    """The refusal for certifying a key bound as ``bound`` to ``subject_id``, or ``None``
    where that is allowed (``reuse``: a renewal for the same subject)."""
    if bound.subject_id != subject_id:
        return KeyAlreadyCertified(
            "this public key is already certified for another subject; the same key "
            "is never certified for two subjects - make a new key pair"
        )
    if not reuse:
        return KeyAlreadyCertified(
            f"this public key is already certified for this subject (first in "
            f"certificate {bound.first_serial}); make a new key pair, or renew that "
            "certificate"
        )
    return None


def _certificate(row: CACertificateRow) -> IssuedCertificate:
    reason = row.revocation_reason
    return IssuedCertificate(
        serial_hex=row.serial_hex,
        issuer=row.issuer,
        profile=ProfileName(row.profile),
        subject_id=row.subject_id,
        not_before=row.not_before,
        not_after=row.not_after,
        status=CertificateStatus(row.status),
        key_label=row.key_label,
        key_algorithm=row.key_algorithm,
        spki_sha256=row.spki_sha256,
        issued_at=row.issued_at,
        requested_by=row.requested_by,
        renewed_from=row.renewed_from,
        replaced_by=row.replaced_by,
        revoked_at=row.revoked_at,
        revocation_reason=RevocationReason(reason) if reason is not None else None,
        invalidity_date=row.invalidity_date,
        certificate=x509.load_der_x509_certificate(bytes(row.certificate)),
    )


def _authority(row: CAAuthorityRow) -> Authority:
    return Authority(
        name=row.name,
        parent=row.parent,
        key_label=row.key_label,
        status=AuthorityStatus(row.status),
        created_at=row.created_at,
        certificate=x509.load_der_x509_certificate(bytes(row.certificate)),
    )


class CertificateStore:
    """Reads and writes the ``ca_*`` tables."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction; database errors become ``CAStorageUnavailable`` (no parameters)."""
        try:
            with transaction(self._sessions) as session:
                yield session
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with self._sessions() as session:
                session.connection(execution_options={"sqlite_deferred": True})
                yield session
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    # --- writing (in the caller's transaction) -----------------------------------------------

    def add_authority(
        self,
        session: Session,
        *,
        name: str,
        parent: str | None,
        key_label: str,
        certificate: x509.Certificate,
        at: dt.datetime,
    ) -> None:
        session.execute(
            insert(CAAuthorityRow).values(
                name=name,
                parent=parent,
                key_label=key_label,
                serial_hex=serial_hex(certificate.serial_number),
                subject_dn=certificate.subject.rfc4514_string(),
                not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc,
                certificate=certificate.public_bytes(serialization.Encoding.DER),
                status=AuthorityStatus.ACTIVE.value,
                created_at=at,
            )
        )

    def add_certificate(
        self,
        session: Session,
        certificate: x509.Certificate,
        *,
        issuer: str,
        profile: ProfileName,
        subject_id: str | None,
        spki_sha256: str,
        key_algorithm: str,
        key_label: str | None,
        issued_at: dt.datetime,
        requested_by: str | None,
        renewed_from: str | None = None,
    ) -> IssuedCertificate:
        """Insert ``certificate`` (status good) and return its value form."""
        new = NewCertificate(
            certificate,
            issuer,
            profile,
            subject_id,
            spki_sha256,
            key_algorithm,
            key_label,
            issued_at,
            requested_by,
            renewed_from,
        )
        session.connection().execute(_INSERT_CERT, new.row())
        return IssuedCertificate(
            serial_hex=new.serial_hex,
            issuer=issuer,
            profile=profile,
            subject_id=subject_id,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            status=CertificateStatus.GOOD,
            key_label=key_label,
            key_algorithm=key_algorithm,
            spki_sha256=spki_sha256,
            issued_at=issued_at,
            requested_by=requested_by,
            renewed_from=renewed_from,
            replaced_by=None,
            revoked_at=None,
            revocation_reason=None,
            invalidity_date=None,
            certificate=certificate,
        )

    def bind_key(
        self,
        session: Session,
        spki_sha256: str,
        *,
        subject_id: str | None,
        serial: str,
        at: dt.datetime,
        reuse: bool = False,
    ) -> None:
        """Record that the key ``spki_sha256`` is certified for ``subject_id``.

        Without ``reuse`` the key must never have been certified; with it (renewal), it must
        be bound to the same subject. Raises :class:`~ca.errors.KeyAlreadyCertified`.
        """
        conn = session.connection()
        bound = conn.execute(_SELECT_BINDING, {"b_spki": spki_sha256}).one_or_none()
        if bound is not None:
            refusal = key_conflict(KeyBinding(*bound), subject_id, reuse=reuse)
            if refusal is not None:
                raise refusal
            return
        if reuse:  # pragma: no cover - a certified key always has its binding
            log.warning("renewing a key without a binding", extra={"serial": serial})
        try:
            # The primary key is the last line of defence against a concurrent request
            # binding the same key (PostgreSQL READ COMMITTED; SQLite writers are serialised).
            # The transaction is rolled back by the caller once this raises.
            conn.execute(
                _INSERT_BINDING,
                {
                    "spki_sha256": spki_sha256,
                    "subject_id": subject_id,
                    "first_serial": serial,
                    "bound_at": at,
                },
            )
        except IntegrityError:
            raise KeyAlreadyCertified(
                "this public key was certified by a concurrent request; make a new key pair"
            ) from None

    def require_active(self, session: Session, issuers: Collection[str]) -> None:
        """Raise :class:`~ca.errors.IssuerRetired` if one of ``issuers`` is no longer active.

        Read inside the issuing transaction: a CA retired by another process (an issuing CA
        revoked with ``natid ca revoke``) stops issuing at once, whatever this process cached.
        """
        names = sorted(set(issuers))
        if not names:
            return
        retired = session.connection().execute(_SELECT_RETIRED, {"r_names": names}).scalars().all()
        if retired:
            raise IssuerRetired(f"CA {retired[0]} is retired and issues no more certificates")

    def add_certificates(self, session: Session, new: Sequence[NewCertificate]) -> None:
        """Insert several certificates (status good) with one multi-row statement."""
        if new:
            session.connection().execute(_INSERT_CERT, [n.row() for n in new])

    def bound_keys(self, session: Session, spkis: Collection[str]) -> dict[str, KeyBinding]:
        """The stored bindings of those of ``spkis`` that are certified already."""
        wanted = list(dict.fromkeys(spkis))
        conn = session.connection()
        found: dict[str, KeyBinding] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            for spki, subject_id, first_serial in conn.execute(
                _SELECT_BINDINGS, {"b_spkis": chunk}
            ):
                found[spki] = KeyBinding(subject_id, first_serial)
        return found

    def bind_new_keys(self, session: Session, new: Sequence[NewCertificate]) -> None:
        """Bind the keys of ``new`` (checked unbound with :meth:`bound_keys`) to their subjects.

        Raises :class:`~ca.errors.KeyAlreadyCertified` if a concurrent request bound one of
        them in between; the caller rolls back (to a SAVEPOINT) and finds out which.
        """
        if not new:
            return
        rows = [
            {
                "spki_sha256": n.spki_sha256,
                "subject_id": n.subject_id,
                "first_serial": n.serial_hex,
                "bound_at": n.issued_at,
            }
            for n in new
        ]
        try:
            session.connection().execute(_INSERT_BINDING, rows)
        except IntegrityError:
            raise KeyAlreadyCertified(
                "one of these public keys was certified by a concurrent request; make a new key "
                "pair"
            ) from None

    def mark_replaced(self, session: Session, old: str, new: str) -> None:
        """Link ``old`` to its successor ``new``, unless another renewal got there first."""
        done = session.connection().execute(_MARK_REPLACED, {"b_old": old, "b_new": new})
        if done.rowcount != 1:
            raise CertificateNotRenewable(
                f"certificate {old} was renewed or re-keyed by another request meanwhile"
            )

    # --- reading -----------------------------------------------------------------------------

    def get(self, serial: str) -> IssuedCertificate:
        with self.read() as session:
            row = session.get(CACertificateRow, serial)
            if row is None:
                raise CertificateNotFound(f"no certificate with serial number {serial}")
            return _certificate(row)

    def list(
        self,
        *,
        subject_id: str | None = None,
        profile: ProfileName | None = None,
        status: CertificateStatus | None = None,
        issuer: str | None = None,
        limit: int | None = 100,
    ) -> tuple[IssuedCertificate, ...]:
        """Certificates matching every given filter, newest first."""
        query = select(CACertificateRow).order_by(
            CACertificateRow.issued_at.desc(), CACertificateRow.serial_hex
        )
        if subject_id is not None:
            query = query.where(CACertificateRow.subject_id == subject_id)
        if profile is not None:
            query = query.where(CACertificateRow.profile == ProfileName(profile).value)
        if status is not None:
            query = query.where(CACertificateRow.status == CertificateStatus(status).value)
        if issuer is not None:
            query = query.where(CACertificateRow.issuer == issuer)
        with self.read() as session:
            return tuple(_certificate(row) for row in session.scalars(query.limit(limit)))

    def authorities(self) -> tuple[Authority, ...]:
        """Every CA, the root first, then by name."""
        with self.read() as session:
            rows = session.scalars(select(CAAuthorityRow).order_by(CAAuthorityRow.name))
            found = [_authority(row) for row in rows]
        return tuple(sorted(found, key=lambda a: (a.parent is not None, a.name)))

    def newest_service_certificates(self, profile: ProfileName) -> dict[str, IssuedCertificate]:
        """Per issuing CA, the newest good certificate of a hierarchy profile (OCSP, TSA)."""
        query = (
            select(CACertificateRow)
            .where(
                CACertificateRow.profile == profile.value,
                CACertificateRow.status == CertificateStatus.GOOD.value,
            )
            .order_by(CACertificateRow.issued_at, CACertificateRow.serial_hex)
        )
        with self.read() as session:
            return {row.issuer: _certificate(row) for row in session.scalars(query)}


def _unavailable(exc: SQLAlchemyError) -> NatIDError:
    driver_error = type(getattr(exc, "orig", None) or exc).__name__
    log.error("CA database error", extra={"error": driver_error})
    return CAStorageUnavailable(
        f"the CA's database failed ({driver_error}); nothing was stored. Is it migrated "
        "(natid db upgrade)?"
    )
