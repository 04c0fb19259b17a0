"""The health authority's use cases: document signers, issuance (one or a batch), revocation,
the published trust list and revocation list, imports of foreign trust lists, verification.

:class:`HealthService` composes the pure modules (:mod:`~vaccine_cert.issue`,
:mod:`~vaccine_cert.trustlist`, :mod:`~vaccine_cert.revocation`, :mod:`~vaccine_cert.verify`)
with the CA, the register, the key backend, the database and the audit ledger.

Document signers (HCERT spec, "Key Management"). NatID's signers are the CA's ``health-dsc``
certificates for the health authority's legal entity (the demo's Ministry of Health, or the
configured entity id), with keys in the key backend (``CAService.issue_with_server_key``) and
the three DCC purpose OIDs. :meth:`HealthService.ensure_signer` returns the newest good signer
of the wanted algorithm that still has at least ``rotate_before`` of validity ahead, and
otherwise has the CA issue a new one: with the defaults (365 days of credential validity,
rotation 365 days before a 2-year DSC ends) every credential gets its full validity and a DSC
signs for its first year only, as the EU's DSCs do. Two workers rotating at the same moment
both issue a DSC; both are valid and published, so nothing breaks. Signers are never stored
twice: the CA's table is the record, and a DSC the CA revokes (or suspends) stops being used,
published and trusted; the verifier still knows it (:meth:`HealthService.revoked_signers`), to
say that a credential it signed fails because its signer was revoked, and when and why.

Issuance (:meth:`HealthService.issue`): the holder from the register, the DCC built and
checked (schema and value sets) BEFORE anything is signed, a signer, ``exp`` = ``iat`` +
validity but never after the signer's notAfter, the signature outside any transaction, then ONE
transaction for the row (:mod:`vaccine_cert.models`: what is kept and why) and the audit entry
``health.certificate.issued`` (actor, subject id; data: kind, kid, the UVCI's SHA-256 - never
the UVCI or the record). A failure stores nothing.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ca.profiles import ProfileName
from ca.service import CAService
from core.audit import AuditLedger
from core.clock import Clock, require_aware
from core.db import transaction
from core.errors import InfrastructureError, InvalidInput, NatIDError
from hsm_adapters.base import KeyAlgorithm, KeyBackend
from hsm_adapters.errors import KeyExists, KeyNotFound
from registry.ports import PopulationRegister
from registry.records import PersonStatus
from vaccine_cert.batch import BatchOutcome, BatchReport, BatchRow
from vaccine_cert.errors import (
    AlreadyRevoked,
    InvalidRevocationHash,
    NoHealthSigner,
    UnknownHealthCertificate,
)
from vaccine_cert.issue import CredentialKind, HolderData, build_dcc, sign_hc1
from vaccine_cert.models import HealthCertificateRow, HealthForeignSignerRow, HealthRevokedHashRow
from vaccine_cert.report import VerificationReport
from vaccine_cert.revocation import (
    HashType,
    RevocationList,
    RevokedCredential,
    RevokedHash,
    build_revocation_list,
    parse_revocation_hash,
)
from vaccine_cert.revocation import signature_hash as revocation_signature_hash
from vaccine_cert.trust import RevokedSigner, TrustedSigner, TrustedSigners, kid_b64, kid_of
from vaccine_cert.trustlist import (
    anchor_fingerprint,
    export_trustlist,
    listed_entry,
    parse_trustlist,
)
from vaccine_cert.uvci import new_uvci
from vaccine_cert.verify import verify

__all__ = [
    "DEMO_HEALTH_ENTITY",
    "TRUSTLIST_KEY_LABEL",
    "HealthService",
    "HealthSigner",
    "IssuedHealthCredential",
]

log = logging.getLogger(__name__)

#: The key-backend label of the trust-list and revocation-list signing key (the anchor).
TRUSTLIST_KEY_LABEL = "natid-health-trustlist"
#: The demo register's Ministry of Health (registry/demo.py), used when no entity is configured.
DEMO_HEALTH_ENTITY = "DEMO-MIN-MOH"
_SIGNER_ALGORITHMS = frozenset({KeyAlgorithm.EC_P256, KeyAlgorithm.RSA_3072})


@dataclass(frozen=True, slots=True)
class HealthSigner:
    """One of NatID's document signers: a good ``health-dsc`` certificate and its key label."""

    certificate: x509.Certificate
    kid: bytes
    serial: str
    key_label: str | None
    algorithm: str
    not_before: dt.datetime
    not_after: dt.datetime

    @property
    def kid_b64(self) -> str:
        return kid_b64(self.kid)


@dataclass(frozen=True, slots=True)
class IssuedHealthCredential:
    uvci: str
    payload: str
    kind: CredentialKind
    kid: str
    issued_at: dt.datetime
    expires_at: dt.datetime


class HealthService:
    """Issues, revokes, publishes and verifies health credentials (module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ca: CAService,
        register: PopulationRegister,
        keys: KeyBackend,
        ledger: AuditLedger | None,
        clock: Clock,
        entity_id: str | None = None,
        issuer_name: str = "Ministry of Health, Cambodia",
        country: str = "KH",
        validity: dt.timedelta = dt.timedelta(days=365),
        rotate_before: dt.timedelta = dt.timedelta(days=365),
    ) -> None:
        if validity <= dt.timedelta(0) or rotate_before < dt.timedelta(0):
            raise InvalidInput("credential validity must be positive, rotation not negative")
        self._sessions = sessions
        self._ca = ca
        self._register = register
        self._keys = keys
        self._ledger = ledger
        self._clock = clock
        self._entity_id = entity_id
        self.issuer_name = issuer_name
        self.country = country
        self._validity = validity
        self._rotate_before = rotate_before
        #: Whether this service has seen the trust-list anchor's key (ensure_signer's check).
        self._anchor_seen = False

    # --- signers -----------------------------------------------------------------------------

    def signers(self) -> tuple[HealthSigner, ...]:
        """NatID's good document signers, newest first."""
        found = self._ca.list(profile=ProfileName.HEALTH_DSC, status="good", limit=None)
        return tuple(
            HealthSigner(
                certificate=cert.certificate,
                kid=kid_of(cert.certificate),
                serial=cert.serial_hex,
                key_label=cert.key_label,
                algorithm=cert.key_algorithm,
                not_before=cert.not_before,
                not_after=cert.not_after,
            )
            for cert in found
        )

    def revoked_signers(self) -> tuple[RevokedSigner, ...]:
        """NatID's document signers the CA revoked or holds, with the date and the reason."""
        found = [
            cert
            for status in ("revoked", "on_hold")
            for cert in self._ca.list(profile=ProfileName.HEALTH_DSC, status=status, limit=None)
        ]
        return tuple(
            RevokedSigner.from_certificate(
                cert.certificate,
                revoked_at=cert.revoked_at,
                reason=str(cert.revocation_reason or "unspecified"),
            )
            for cert in found
            if cert.revoked_at is not None
        )

    def ensure_signer(
        self,
        *,
        algorithm: KeyAlgorithm | str = KeyAlgorithm.EC_P256,
        actor: str | None = None,
        at: dt.datetime | None = None,
    ) -> HealthSigner:
        """A signer for ``algorithm`` (ec-p256: ES256, rsa-3072: PS256), issuing one if none
        has ``rotate_before`` of validity left (module docstring)."""
        try:
            wanted = KeyAlgorithm(algorithm)
        except ValueError:
            wanted = None
        if wanted not in _SIGNER_ALGORITHMS:
            raise InvalidInput(
                "a health signer key is ec-p256 (ES256) or rsa-3072 (PS256), "
                f"got {str(algorithm)[:20]!r}"
            )
        now = require_aware(at) if at is not None else self._clock.now()
        if not self._anchor_seen:
            self.ensure_anchor(actor=actor)
        usable = [
            s
            for s in self.signers()
            if s.key_label is not None
            and s.algorithm == wanted.value
            and s.not_before <= now
            and s.not_after - now >= self._rotate_before
        ]
        if usable:
            return max(usable, key=lambda s: s.not_before)
        issued = self._ca.issue_with_server_key(
            ProfileName.HEALTH_DSC, self._health_entity(), actor=actor, algorithm=wanted
        )
        log.info("health document signer issued", extra={"serial": issued.serial_hex})
        return HealthSigner(
            issued.certificate,
            kid_of(issued.certificate),
            issued.serial_hex,
            issued.key_label,
            issued.key_algorithm,
            issued.not_before,
            issued.not_after,
        )

    def health_entity_id(self) -> str:
        """The register id of the health authority whose signers this service uses."""
        return self._health_entity()

    def _health_entity(self) -> str:
        if self._entity_id is not None:
            return self._entity_id
        list_entities = getattr(self._register, "list_entities", None)
        if list_entities is not None:
            for entity in list_entities(kind="ministry", limit=None):
                if entity.register_no == DEMO_HEALTH_ENTITY:
                    self._entity_id = entity.id
                    return str(entity.id)
        raise NoHealthSigner(
            "no health authority is configured: set the health entity id (the register id of "
            "the Ministry of Health) or load the demo register"
        )

    # --- issuance ----------------------------------------------------------------------------

    def issue(
        self,
        subject_id: str,
        kind: CredentialKind | str,
        record: Mapping[str, Any],
        *,
        actor: str | None,
        at: dt.datetime | None = None,
        algorithm: KeyAlgorithm | str = KeyAlgorithm.EC_P256,
    ) -> IssuedHealthCredential:
        """Issue one credential (module docstring); raise a NatID error, storing nothing."""
        now = require_aware(at) if at is not None else self._clock.now()
        now = now.replace(microsecond=0)
        try:
            what = CredentialKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in CredentialKind)
            raise InvalidInput(f"kind must be one of {known}, got {str(kind)[:20]!r}") from None
        person = self._register.get_person(subject_id)
        if person.status is not PersonStatus.ACTIVE:
            raise InvalidInput("the register does not list this person as active")
        holder = HolderData(person.family_name_latin, person.given_name_latin, person.birthdate)
        uvci = new_uvci(self.country)
        dcc = build_dcc(
            what, record, holder=holder, country=self.country, issuer=self.issuer_name,
            uvci=uvci, at=now,
        )  # fmt: skip
        signer = self.ensure_signer(algorithm=algorithm, actor=actor, at=now)
        expires = min(now + self._validity, signer.not_after)
        if expires <= now or signer.key_label is None:
            raise NoHealthSigner("no document signer is valid now")
        key = self._keys.load(signer.key_label)
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise NoHealthSigner("the document signer's key is not an ECDSA or RSA key")
        signed = sign_hc1(
            dcc, key=key, kid=signer.kid, issuer_country=self.country, issued_at=now,
            expires_at=expires,
        )  # fmt: skip
        uvci_sha256 = hashlib.sha256(uvci.encode("ascii")).hexdigest()
        row = HealthCertificateRow(
            uvci=uvci,
            uvci_sha256=uvci_sha256,
            subject_id=person.id,
            kind=what.value,
            kid=signer.kid.hex(),
            signer_serial=signer.serial,
            issued_at=_utc(signed.issued_at),
            expires_at=_utc(signed.expires_at),
            payload_sha256=hashlib.sha256(signed.payload.encode("ascii")).hexdigest(),
            signature_hash=revocation_signature_hash(signed.signature).hex(),
            issued_by=actor,
        )
        with self._writing() as session:
            session.add(row)
            session.flush()
            if self._ledger is not None:
                self._ledger.append(
                    "health.certificate.issued",
                    actor=actor,
                    subject=person.id,
                    data={"kind": what.value, "kid": signer.kid_b64, "uvci_sha256": uvci_sha256},
                    session=session,
                )
        return IssuedHealthCredential(
            uvci, signed.payload, what, signer.kid_b64, row.issued_at, row.expires_at
        )

    def issue_batch(self, rows: Iterable[BatchRow], *, actor: str | None) -> BatchReport:
        """Issue one credential per row; a failed row is reported and the others go on."""
        outcomes = []
        for row in rows:
            try:
                issued = self.issue(row.subject, row.kind, row.record, actor=actor)
            except NatIDError as exc:
                outcomes.append(
                    BatchOutcome(row.line, row.subject, error_code=exc.code, error=exc.message)
                )
            else:
                outcomes.append(BatchOutcome(row.line, row.subject, issued.uvci, issued.payload))
        return BatchReport(tuple(outcomes))

    # --- revocation --------------------------------------------------------------------------

    def revoke(self, uvci: str, *, actor: str | None) -> dt.datetime:
        """Revoke the credential with this UVCI; it joins the revocation list at once."""
        if not isinstance(uvci, str) or not 0 < len(uvci) <= 80:
            raise InvalidInput("a UVCI is 1-80 characters")
        now = self._clock.now()
        with self._writing() as session:
            row = session.get(HealthCertificateRow, uvci, with_for_update=True)
            if row is None:
                raise UnknownHealthCertificate("NatID issued no health credential with this UVCI")
            if row.revoked_at is not None:
                raise AlreadyRevoked(f"the credential was revoked at {row.revoked_at.isoformat()}")
            row.revoked_at, row.revoked_by = now, actor
            if self._ledger is not None:
                self._ledger.append(
                    "health.certificate.revoked",
                    actor=actor,
                    subject=row.subject_id,
                    data={"kind": row.kind, "uvci_sha256": row.uvci_sha256},
                    session=session,
                )
        return now

    def _revoked(self) -> list[RevokedCredential]:
        query = select(HealthCertificateRow).where(HealthCertificateRow.revoked_at.is_not(None))
        with self._reading() as session:
            return [
                RevokedCredential(
                    bytes.fromhex(r.kid),
                    self.country,
                    r.uvci,
                    bytes.fromhex(r.signature_hash),
                    r.expires_at,
                )
                for r in session.scalars(query)
            ]

    def revoke_hash(
        self, hash_type: HashType | str, value: str, *, kid: str | None, actor: str | None
    ) -> RevokedHash:
        """Revoke by one DCC revocation hash (hex or base64 of its 16 bytes), for a credential
        whose UVCI is unknown or not unique. ``kid`` (base64 or hex) names the signer batch; it
        may be left out when NatID issued the credential (found by its UCI or SIGNATURE
        hash). Published at once, until the credential's expiry or else its signer's end."""
        try:
            kind = HashType(hash_type)
        except ValueError:
            raise InvalidRevocationHash(f"hash type must be one of {', '.join(HashType)}") from None
        digest = parse_revocation_hash(value)
        now = self._clock.now()
        with self._writing() as session:
            row = self._issued_by_hash(session, kind, digest)
            signer_kid = _parse_kid(kid) if kid is not None else None
            if signer_kid is None and row is None:
                raise InvalidRevocationHash(
                    "NatID did not issue a credential with this hash: give the signer's kid"
                )
            signer_kid = signer_kid if signer_kid is not None else bytes.fromhex(row.kid)  # type: ignore[union-attr]
            if row is not None and row.kid != signer_kid.hex():
                row = None  # the same hash under another signer: not this credential
            expires = row.expires_at if row is not None else self._signer_end(signer_kid)
            key = (signer_kid.hex(), kind.value, digest.hex())
            if session.get(HealthRevokedHashRow, key) is not None:
                raise AlreadyRevoked("this hash is on the revocation list already")
            session.add(
                HealthRevokedHashRow(
                    kid=key[0], hash_type=key[1], hash=key[2], expires_at=expires,
                    revoked_at=now, revoked_by=actor,
                )
            )  # fmt: skip
            session.flush()
            if self._ledger is not None:
                self._ledger.append(
                    "health.hash.revoked",
                    actor=actor,
                    data={"kid": kid_b64(signer_kid), "hash_type": kind.value},
                    session=session,
                )
        return RevokedHash(signer_kid, kind, digest, expires)

    @staticmethod
    def _issued_by_hash(
        session: Session, kind: HashType, digest: bytes
    ) -> HealthCertificateRow | None:
        if kind is HashType.SIGNATURE:
            where = HealthCertificateRow.signature_hash == digest.hex()
        elif kind is HashType.UCI:
            # The row keeps the UVCI's full SHA-256; the revocation hash is its first half.
            where = HealthCertificateRow.uvci_sha256.startswith(digest.hex(), autoescape=True)
        else:
            return None  # NatID's country is fixed: look the UVCI hash up instead
        rows = session.scalars(select(HealthCertificateRow).where(where).limit(2)).all()
        return rows[0] if len(rows) == 1 else None

    def _signer_end(self, kid: bytes) -> dt.datetime:
        ends = [s.not_after for s in self.trusted_signers().with_kid(kid)]
        if not ends:
            raise InvalidRevocationHash(f"no trusted signer has the kid {kid_b64(kid)}")
        return max(ends)

    def _revoked_hashes(self) -> list[RevokedHash]:
        with self._reading() as session:
            return [
                RevokedHash(
                    bytes.fromhex(r.kid), HashType(r.hash_type), bytes.fromhex(r.hash), r.expires_at
                )
                for r in session.scalars(select(HealthRevokedHashRow))
            ]

    def revocation_list(self, *, at: dt.datetime | None = None) -> dict[str, Any]:
        """The signed revocation list to publish (:mod:`vaccine_cert.revocation`)."""
        now = require_aware(at) if at is not None else self._clock.now()
        return build_revocation_list(
            self._revoked(),
            country=self.country,
            at=now,
            key=self._anchor_key(),
            hashes=self._revoked_hashes(),
        )

    def revocation_check(self) -> RevocationList:
        """NatID's own revocations as the verifier's offline hook."""
        return RevocationList.from_revoked(self._revoked(), self._revoked_hashes())

    # --- trust lists -------------------------------------------------------------------------

    def _anchor_key(self) -> ec.EllipticCurvePrivateKey:
        """The anchor's key. Only :meth:`ensure_anchor` makes it: a list or a request for the
        anchor never creates a key in the backend (an HSM's, possibly) on an anonymous GET."""
        try:
            key = self._keys.load(TRUSTLIST_KEY_LABEL)
        except KeyNotFound:
            raise NoHealthSigner(
                "NatID has no trust-list anchor yet: `natid health signer ensure` creates it "
                "(issuing the first health credential does too)"
            ) from None
        return self._checked_anchor(key)

    @staticmethod
    def _checked_anchor(key: object) -> ec.EllipticCurvePrivateKey:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise NoHealthSigner(f"the key {TRUSTLIST_KEY_LABEL} must be an ECDSA P-256 key")
        return key

    def ensure_anchor(self, *, actor: str | None) -> ec.EllipticCurvePublicKey:
        """The trust-list anchor, made (ECDSA P-256 in the key backend, audited as
        ``health.trustlist_anchor.created`` with its fingerprint) when there is none yet."""
        try:
            public = self._checked_anchor(self._keys.load(TRUSTLIST_KEY_LABEL)).public_key()
        except KeyNotFound:
            pass
        else:
            self._anchor_seen = True
            return public
        try:
            key = self._keys.generate(TRUSTLIST_KEY_LABEL, KeyAlgorithm.EC_P256)
        except KeyExists:  # another process made it first
            return self._checked_anchor(self._keys.load(TRUSTLIST_KEY_LABEL)).public_key()
        public = self._checked_anchor(key).public_key()
        self._anchor_seen = True
        log.info("health trust-list anchor created")
        if self._ledger is not None:
            self._ledger.append(
                "health.trustlist_anchor.created",
                actor=actor,
                data={"key_label": TRUSTLIST_KEY_LABEL, "fingerprint": anchor_fingerprint(public)},
            )
        return public

    def trustlist_anchor(self) -> ec.EllipticCurvePublicKey:
        """The public key that signs NatID's trust list and revocation list."""
        return self._anchor_key().public_key()

    def trustlist(
        self, *, at: dt.datetime | None = None, include_foreign: bool = False
    ) -> list[dict[str, str]]:
        """NatID's signers as a signed trust list in the DCC gateway's shape; with
        ``include_foreign``, followed by the imported foreign signers still valid, each entry
        as its own country published it (:func:`~vaccine_cert.trustlist.listed_entry`)."""
        now = require_aware(at) if at is not None else self._clock.now()
        certificates = [s.certificate for s in self.signers() if s.not_after >= now]
        entries = export_trustlist(certificates, country=self.country, key=self._anchor_key())
        if include_foreign:
            query = select(HealthForeignSignerRow).where(HealthForeignSignerRow.not_after >= now)
            with self._reading() as session:
                rows = session.scalars(query.order_by(HealthForeignSignerRow.thumbprint)).all()
            entries += [
                listed_entry(
                    x509.load_der_x509_certificate(r.certificate_der),
                    country=r.country,
                    timestamp=r.entry_timestamp or _stamp(r.not_before),
                    signature=r.entry_signature or "",
                )
                for r in rows
            ]
        return entries

    def import_trustlist(
        self, document: bytes | str, *, anchor: ec.EllipticCurvePublicKey, actor: str | None
    ) -> tuple[int, int]:
        """Check a foreign trust list against ``anchor`` (all or nothing) and store its
        signers; returns (entries in the list, newly added)."""
        listed = parse_trustlist(document, anchor=anchor)
        fingerprint = anchor_fingerprint(anchor)
        now = self._clock.now()
        added = 0
        with self._writing() as session:
            for item in listed:
                if session.get(HealthForeignSignerRow, item.thumbprint) is not None:
                    continue
                cert = item.signer.certificate
                session.add(
                    HealthForeignSignerRow(
                        thumbprint=item.thumbprint,
                        country=item.country,
                        kid=item.signer.kid.hex(),
                        certificate_der=cert.public_bytes(serialization.Encoding.DER),
                        not_before=item.signer.not_before,
                        not_after=item.signer.not_after,
                        imported_at=now,
                        anchor_sha256=fingerprint,
                        entry_signature=item.signature,
                        entry_timestamp=item.timestamp,
                    )
                )
                added += 1
            session.flush()
            if self._ledger is not None:
                self._ledger.append(
                    "health.trustlist.imported",
                    actor=actor,
                    data={"entries": len(listed), "added": added, "anchor_sha256": fingerprint},
                    session=session,
                )
        return len(listed), added

    def trusted_signers(self) -> TrustedSigners:
        """Every signer the verifier trusts: NatID's own and the imported foreign ones; and
        NatID's revoked ones, which it does not trust but can name (:meth:`revoked_signers`)."""
        own = [TrustedSigner.from_certificate(s.certificate) for s in self.signers()]
        with self._reading() as session:
            rows = session.scalars(select(HealthForeignSignerRow)).all()
        foreign = [
            TrustedSigner.from_certificate(x509.load_der_x509_certificate(r.certificate_der))
            for r in rows
        ]
        return TrustedSigners([*own, *foreign], self.revoked_signers())

    def verify(self, payload: str, *, at: dt.datetime | None = None) -> VerificationReport:
        """Verify with every trusted signer and NatID's revocation list."""
        now = require_aware(at) if at is not None else self._clock.now()
        return verify(
            payload, trusted=self.trusted_signers(), at=now, revocation=self.revocation_check()
        )

    # --- storage -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Session]:
        """One transaction; a database failure becomes an InfrastructureError (nothing kept)."""
        try:
            with transaction(self._sessions) as session:
                yield session
        except SQLAlchemyError as exc:
            raise InfrastructureError("the health credential store is unavailable") from exc

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Session]:
        try:
            with self._sessions() as session:
                yield session
        except SQLAlchemyError as exc:
            raise InfrastructureError("the health credential store is unavailable") from exc


def _parse_kid(text: str) -> bytes:
    """A signer kid as an operator types it: base64 (as trust lists print it) or 16 hex."""
    with contextlib.suppress(ValueError):
        if len(text) == 16:
            return bytes.fromhex(text)
    with contextlib.suppress(ValueError):
        raw = base64.b64decode(text, validate=True)
        if len(raw) == 8:
            return raw
    raise InvalidRevocationHash("a kid is 8 bytes, as base64 or 16 hex digits")


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)
