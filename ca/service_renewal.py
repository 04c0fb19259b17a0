"""A fresh certificate, with a new key, for one service of the hierarchy (OCSP responder, TSA).

What every renewal of a hierarchy service's certificate does, whatever the service
(:mod:`ca.ocsp_renewal` for the OCSP responders, :mod:`ca.tsa_renewal` for the time-stamping
unit). Decisions:

1. **A new key every time**, generated in the key backend with the algorithm of the previous
   one (when the profile still allows it) under a label the caller chooses; re-certifying the
   same key would extend the life of a key that may have leaked. The certificate row names the
   key, so whatever loads the service's newest certificate loads the right key.
2. **The old certificate stays valid** until it expires, and its key is kept: responses and
   time-stamps it signed stay verifiable, and processes that have not re-read the service yet
   keep working. An operator may destroy the old key after the old certificate expired
   (``natid keys list`` shows it).
3. **One transaction**: the certificate, its key binding, the link ``renewed_from`` ->
   ``replaced_by`` (which also makes two concurrent renewals of the same certificate end with
   one winner: the loser's key is destroyed and it reports nothing), the transparency log entry
   and the audit entry. A failure stores nothing and destroys the new key.
4. The subject name is the previous certificate's; the validity is the profile's from now, never
   past the issuing CA's certificate (ca/x509build.py checks that).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import ClassVar

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from ca.authorities import record_certificate
from ca.errors import CertificateNotRenewable
from ca.profiles import DEFAULT_POLICY_ARC, ProfileName, get_profile
from ca.store import Authority, CertificateStore, IssuedCertificate
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from core.audit import AuditLedger
from core.clock import Clock
from hsm_adapters.base import KeyAlgorithm, KeyBackend

__all__ = ["RenewedService", "ServiceRenewal"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RenewedService:
    """One service certificate issued by a renewal."""

    issuer: str
    serial_hex: str
    #: The serial of the certificate it replaces (None if there was none).
    renewed_from: str | None
    key_label: str
    not_after: dt.datetime


class ServiceRenewal:
    """Issues fresh certificates of one hierarchy profile (module docstring); a subclass names
    the profile and the audit event."""

    #: The hierarchy profile this renewal issues.
    profile: ClassVar[ProfileName]
    #: The audit event of each renewal.
    audit_event: ClassVar[str]

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        keys: KeyBackend,
        ledger: AuditLedger | None,
        log: TransparencyLog | None,
        clock: Clock,
        urls: PkiUrls,
        policy_arc: str = DEFAULT_POLICY_ARC,
    ) -> None:
        self.store = CertificateStore(sessions)
        self.clock = clock
        self._keys = keys
        self._ledger = ledger
        self._log = log
        self._urls = urls
        self._policy_arc = policy_arc

    def newest(self) -> dict[str, IssuedCertificate]:
        """Per issuing CA, the newest good certificate of the profile."""
        return self.store.newest_service_certificates(self.profile)

    def issue_replacement(
        self,
        authority: Authority,
        current: IssuedCertificate | None,
        *,
        label: str,
        subject: x509.Name,
        actor: str | None,
    ) -> RenewedService | None:
        """A new key ``label`` and a certificate for it from ``authority``, replacing
        ``current``; None when a concurrent renewal of ``current`` won (decision 3)."""
        profile = get_profile(self.profile)
        now = self.clock.now()
        algorithm = KeyAlgorithm.EC_P256
        if current is not None and KeyAlgorithm(current.key_algorithm) in profile.key_algorithms:
            algorithm = KeyAlgorithm(current.key_algorithm)
        ca_key = self._keys.load(authority.key_label)
        key = self._keys.generate(label, algorithm)
        try:
            not_before, not_after = profile.validity_window(at=now)
            cert = build_certificate(
                profile,
                subject=subject,
                public_key=key.public_key(),
                issuer_cert=authority.certificate,
                issuer_key=ca_key,
                serial=new_serial(),
                not_before=not_before,
                not_after=min(not_after, authority.certificate.not_valid_after_utc),
                urls=self._urls,
                ca_name=authority.name,
                policy_arc=self._policy_arc,
            )
            issued = self._record(
                authority.name, cert, label=label, algorithm=algorithm, current=current, actor=actor
            )
        except CertificateNotRenewable:
            # Another process renewed the same certificate meanwhile: it won, we did nothing.
            self._destroy(label)
            log.info(
                "service certificate renewed concurrently",
                extra={"issuer": authority.name, "profile": self.profile.value},
            )
            return None
        except BaseException:
            self._destroy(label)
            raise
        log.info(
            "service certificate renewed",
            extra={
                "issuer": authority.name,
                "profile": self.profile.value,
                "serial": issued.serial_hex,
            },
        )
        return RenewedService(
            issuer=authority.name,
            serial_hex=issued.serial_hex,
            renewed_from=current.serial_hex if current is not None else None,
            key_label=label,
            not_after=issued.not_after,
        )

    def _record(
        self,
        issuer: str,
        cert: x509.Certificate,
        *,
        label: str,
        algorithm: KeyAlgorithm,
        current: IssuedCertificate | None,
        actor: str | None,
    ) -> IssuedCertificate:
        now = self.clock.now()
        renewed_from = current.serial_hex if current is not None else None
        with self.store.write() as session:
            issued = record_certificate(
                self.store,
                self._log,
                session,
                cert,
                issuer=issuer,
                profile=self.profile,
                subject_id=None,
                key_label=label,
                actor=actor,
                at=now,
                renewed_from=renewed_from,
                algorithm=algorithm,
            )
            if self._ledger is not None:
                self._ledger.append(
                    self.audit_event,
                    actor=actor,
                    data={
                        "issuer": issuer,
                        "serial": issued.serial_hex,
                        "renewed_from": renewed_from,
                        "key_label": label,
                        "key_algorithm": algorithm.value,
                        "not_after": issued.not_after.isoformat(),
                    },
                    session=session,
                )
        return issued

    def _destroy(self, label: str) -> None:
        try:
            self._keys.destroy(label)
        except Exception:  # noqa: BLE001 - best effort; the original error matters
            log.warning("could not destroy the key %s of a failed renewal", label)
