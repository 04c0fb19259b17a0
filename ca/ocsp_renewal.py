"""Renewal of the delegated OCSP responder certificates (RFC 6960 §4.2.2.2, §4.2.2.2.1).

Responder certificates are short-lived (90 days, profile ``ocsp-responder``) because they
carry ``id-pkix-ocsp-nocheck``: clients never check their status, so the only defence
against a compromised responder key is that its certificate soon expires (RFC 6960
§4.2.2.2.1: "CAs ... should use a short lifetime"). :class:`ResponderRenewal` issues a fresh
one for every issuing CA whose current responder certificate expires within ``before``
(``natid ca ocsp-renew [--within DAYS]``; ``natid serve`` runs it at start-up). Decisions:

1. **A new key every time.** Re-certifying the same key would extend the life of a key that
   may have leaked, which is exactly what the short lifetime is for; RFC 6960 §4.2.2.2.1
   leaves it to the CA, and the CA/Browser Forum Baseline Requirements (§4.9.10) and EJBCA's
   default ("rekey on renewal") rotate it. The key is generated in the key backend with the
   algorithm of the previous one under a new label, ``ocsp-<ca>-<YYYYMMDD>-<8 hex>``; the
   certificate row names it, so ``OCSPResponders`` (ca/ocsp_service.py) loads the right key.
   The NatID rule "the same key is never certified twice for different subjects" then holds
   trivially.
2. **The old certificate stays valid** until it expires: workers that have not re-read the
   responders yet (at most ``recheck_every``, 60 s) keep signing with it, and responses it
   signed stay verifiable. Its key is kept for the same reason; an operator may destroy it
   after the old certificate expired (``natid keys list`` shows it).
3. **One transaction per CA**: the certificate, its key binding, the link ``renewed_from``
   -> ``replaced_by`` (which also makes two concurrent renewals of the same certificate end
   with one winner: the loser's key is destroyed and it reports nothing), the transparency
   log entry and the audit entry ``ca.ocsp_responder.renewed``. A failure stores nothing of
   that CA and destroys the new key; CAs renewed before it stay renewed.
4. The subject name is the previous certificate's; its validity is the profile's 90 days from
   now, never past the issuing CA's certificate (ca/x509build.py checks that).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from ca.authorities import record_certificate
from ca.errors import CertificateNotRenewable, InvalidOCSPConfiguration
from ca.hierarchy import ROOT_CA
from ca.names import service_name
from ca.profiles import DEFAULT_POLICY_ARC, ProfileName, get_profile
from ca.store import Authority, CertificateStore, IssuedCertificate
from ca.transparency import TransparencyLog
from ca.urls import PkiUrls
from ca.x509build import build_certificate, new_serial
from core.audit import AuditLedger
from core.clock import Clock
from hsm_adapters.base import KeyAlgorithm, KeyBackend

__all__ = ["RenewedResponder", "ResponderRenewal", "responder_key_label"]

log = logging.getLogger(__name__)

AUDIT_EVENT = "ca.ocsp_responder.renewed"


def responder_key_label(ca_name: str, *, at: dt.datetime) -> str:
    """A fresh key label for a renewed responder of ``ca_name`` (decision 1)."""
    return f"ocsp-{ca_name}-{at:%Y%m%d}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class RenewedResponder:
    """One responder certificate issued by a renewal."""

    issuer: str
    serial_hex: str
    #: The serial of the certificate it replaces (None if the CA had no responder).
    renewed_from: str | None
    key_label: str
    not_after: dt.datetime


class ResponderRenewal:
    """Issues fresh OCSP responder certificates before the current ones expire."""

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
        self._store = CertificateStore(sessions)
        self._keys = keys
        self._ledger = ledger
        self._log = log
        self._clock = clock
        self._urls = urls
        self._policy_arc = policy_arc

    def due(self, *, before: dt.timedelta) -> dict[str, IssuedCertificate | None]:
        """Issuing CA -> its current responder certificate, for those expiring within
        ``before`` (None: the CA has no responder certificate at all)."""
        before = _check_before(before)
        now = self._clock.now()
        newest = self._store.newest_service_certificates(ProfileName.OCSP_RESPONDER)
        found: dict[str, IssuedCertificate | None] = {}
        for authority in self._store.authorities():
            if authority.name == ROOT_CA:
                continue  # ca/ocsp_service.py decision 2: the root has no responder
            current = newest.get(authority.name)
            if current is None or current.not_after - now <= before:
                found[authority.name] = current
        return found

    def renew_ocsp_responders(
        self, *, before: dt.timedelta, actor: str | None
    ) -> list[RenewedResponder]:
        """Renew every responder certificate that expires within ``before`` (module docstring).

        :raises InvalidOCSPConfiguration: ``before`` is negative or not shorter than the
            responder certificates' validity (every run would renew again).
        :raises InfrastructureError: the database or the key backend failed (renewals of
            CAs handled before stay done).
        """
        due = self.due(before=before)
        if not due:
            return []
        authorities = {a.name: a for a in self._store.authorities()}
        renewed = []
        for name, current in sorted(due.items()):
            result = self._renew(authorities[name], current, actor=actor)
            if result is not None:
                renewed.append(result)
        return renewed

    def _renew(
        self, authority: Authority, current: IssuedCertificate | None, *, actor: str | None
    ) -> RenewedResponder | None:
        profile = get_profile(ProfileName.OCSP_RESPONDER)
        now = self._clock.now()
        algorithm = KeyAlgorithm.EC_P256
        if current is not None and KeyAlgorithm(current.key_algorithm) in profile.key_algorithms:
            algorithm = KeyAlgorithm(current.key_algorithm)
        label = responder_key_label(authority.name, at=now)
        ca_key = self._keys.load(authority.key_label)
        key = self._keys.generate(label, algorithm)
        try:
            not_before, not_after = profile.validity_window(at=now)
            cert = build_certificate(
                profile,
                subject=_subject(authority, current),
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
                authority.name,
                cert,
                label=label,
                algorithm=algorithm,
                current=current,
                actor=actor,
            )
        except CertificateNotRenewable:
            # Another process renewed the same certificate meanwhile: it won, we did nothing.
            self._destroy(label)
            log.info("OCSP responder renewed concurrently", extra={"issuer": authority.name})
            return None
        except BaseException:
            self._destroy(label)
            raise
        log.info(
            "OCSP responder certificate renewed",
            extra={"issuer": authority.name, "serial": issued.serial_hex},
        )
        return RenewedResponder(
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
        now = self._clock.now()
        renewed_from = current.serial_hex if current is not None else None
        with self._store.write() as session:
            issued = record_certificate(
                self._store,
                self._log,
                session,
                cert,
                issuer=issuer,
                profile=ProfileName.OCSP_RESPONDER,
                subject_id=None,
                key_label=label,
                actor=actor,
                at=now,
                renewed_from=renewed_from,
                algorithm=algorithm,
            )
            if self._ledger is not None:
                self._ledger.append(
                    AUDIT_EVENT,
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
            log.warning("could not destroy the key %s of a failed responder renewal", label)


def _subject(authority: Authority, current: IssuedCertificate | None) -> x509.Name:
    if current is not None:
        return current.certificate.subject
    # No responder yet: name it after its CA, as ca/hierarchy.py does.
    ca_subject = authority.certificate.subject

    def first(oid: x509.ObjectIdentifier, default: str) -> str:
        found = ca_subject.get_attributes_for_oid(oid)
        return str(found[0].value) if found else default

    common_name = first(x509.NameOID.COMMON_NAME, authority.name)
    return service_name(
        f"{common_name} OCSP Responder"[:64],
        organisation=first(x509.NameOID.ORGANIZATION_NAME, "NatID"),
        country=first(x509.NameOID.COUNTRY_NAME, "KH"),
    )


def _check_before(before: dt.timedelta) -> dt.timedelta:
    validity = get_profile(ProfileName.OCSP_RESPONDER).validity
    if not isinstance(before, dt.timedelta) or not dt.timedelta(0) <= before < validity:
        raise InvalidOCSPConfiguration(
            f"renew responders expiring within 0 to {validity.days - 1} days "
            "(a window as long as their validity would renew them on every run)"
        )
    return before
