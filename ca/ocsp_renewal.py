"""Renewal of the delegated OCSP responder certificates (RFC 6960 §4.2.2.2, §4.2.2.2.1).

Responder certificates are short-lived (90 days, profile ``ocsp-responder``) because they
carry ``id-pkix-ocsp-nocheck``: clients never check their status, so the only defence
against a compromised responder key is that its certificate soon expires (RFC 6960
§4.2.2.2.1: "CAs ... should use a short lifetime"). :class:`ResponderRenewal` issues a fresh
one for every issuing CA whose current responder certificate expires within ``before``
(``natid ca ocsp-renew [--within DAYS]``; ``natid serve`` runs it at start-up and hourly).
Decisions:

1. **A new key every time** (:mod:`ca.service_renewal`, which does the issuing, recording
   and auditing for every service certificate). Re-certifying the same key would extend the
   life of a key that may have leaked, which is exactly what the short lifetime is for; RFC
   6960 §4.2.2.2.1 leaves it to the CA, and the CA/Browser Forum Baseline Requirements
   (§4.9.10) and EJBCA's default ("rekey on renewal") rotate it. The key's label is
   ``ocsp-<ca>-<YYYYMMDD>-<8 hex>``; the certificate row names it, so ``OCSPResponders``
   (ca/ocsp_service.py) loads the right key. The NatID rule "the same key is never certified
   twice for different subjects" then holds trivially.
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
import secrets

from cryptography import x509

from ca.errors import InvalidOCSPConfiguration
from ca.hierarchy import ROOT_CA
from ca.names import service_name
from ca.profiles import ProfileName, get_profile
from ca.service_renewal import RenewedService, ServiceRenewal
from ca.store import Authority, IssuedCertificate

__all__ = ["RenewedResponder", "ResponderRenewal", "responder_key_label"]

AUDIT_EVENT = "ca.ocsp_responder.renewed"
#: One responder certificate issued by a renewal.
RenewedResponder = RenewedService


def responder_key_label(ca_name: str, *, at: dt.datetime) -> str:
    """A fresh key label for a renewed responder of ``ca_name`` (decision 1)."""
    return f"ocsp-{ca_name}-{at:%Y%m%d}-{secrets.token_hex(4)}"


class ResponderRenewal(ServiceRenewal):
    """Issues fresh OCSP responder certificates before the current ones expire."""

    profile = ProfileName.OCSP_RESPONDER
    audit_event = AUDIT_EVENT

    def due(self, *, before: dt.timedelta) -> dict[str, IssuedCertificate | None]:
        """Issuing CA -> its current responder certificate, for those expiring within
        ``before`` (None: the CA has no responder certificate at all)."""
        before = _check_before(before)
        now = self.clock.now()
        newest = self.newest()
        found: dict[str, IssuedCertificate | None] = {}
        for authority in self.store.authorities():
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
        authorities = {a.name: a for a in self.store.authorities()}
        renewed = []
        for name, current in sorted(due.items()):
            authority = authorities[name]
            result = self.issue_replacement(
                authority,
                current,
                label=responder_key_label(name, at=self.clock.now()),
                subject=_subject(authority, current),
                actor=actor,
            )
            if result is not None:
                renewed.append(result)
        return renewed


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
