"""Renewal of the time-stamping unit's certificate (RFC 3161, ETSI EN 319 421).

A time-stamp is worth what its certificate is worth: once the time-stamping unit's certificate
has expired, a time-stamp it signed proves nothing on its own, and a PDF whose last document
time-stamp it signed can no longer be validated (signing/validate.py, "Expired since"). An
archive survives only if it is time-stamped again, while that certificate is valid, by a
time-stamping unit whose certificate ends later (EN 319 102-1 §5.6.3, ``natid sign
renew-archive``). :class:`TsaRenewal` gives NatID that later certificate: a new key and a new
certificate of the ``tsa`` profile from the government CA (``natid ca tsa-renew [--within
DAYS]``). Decisions:

1. **Issued as every service certificate is** (:mod:`ca.service_renewal`): a new key
   (``tsa-<YYYYMMDD>-<8 hex>``), the previous certificate's subject, the profile's six years
   but never past the government CA's certificate, one audited transaction
   (``ca.tsa.renewed``), the old certificate and key kept: time-stamps it signed stay
   verifiable.
2. **Only when due**: a certificate is renewed when it expires within ``before`` (a year by
   default), so running the command again does nothing. A renewal that would end no later than
   the current certificate (the government CA ends first) is refused: it would not let any
   archive outlive the current certificate.
3. **Processes pick it up when they start**: the hierarchy names the newest certificate; a
   running ``natid serve`` keeps time-stamping with the previous one (still valid) until it is
   restarted (docs/signing.md, "Long-term archives").
4. **An operator's command, not a server's step** (unlike the OCSP responders, which
   ``natid serve`` renews when it starts and hourly): a time-stamping unit's key is made when
   the operators decide, as ETSI EN 319 421 expects of a time-stamping unit's key generation.
   ``natid ca expiry`` and ``natid serve``'s warnings say when it is due (ca/expiry.py).
"""

from __future__ import annotations

import datetime as dt
import secrets

from ca.errors import CertificateNotRenewable, InvalidPkiConfiguration
from ca.hierarchy import TSA_ISSUER
from ca.profiles import ProfileName, get_profile
from ca.service_renewal import RenewedService, ServiceRenewal
from ca.store import IssuedCertificate

__all__ = ["AUDIT_EVENT", "DEFAULT_BEFORE", "TsaRenewal", "tsa_key_label"]

AUDIT_EVENT = "ca.tsa.renewed"
#: Renew the TSA certificate when it has this long left or less (decision 2).
DEFAULT_BEFORE = dt.timedelta(days=365)


def tsa_key_label(*, at: dt.datetime) -> str:
    """A fresh key label for a renewed time-stamping unit (decision 1)."""
    return f"tsa-{at:%Y%m%d}-{secrets.token_hex(4)}"


class TsaRenewal(ServiceRenewal):
    """Issues a fresh certificate for the time-stamping unit before the current one expires."""

    profile = ProfileName.TSA
    audit_event = AUDIT_EVENT

    def current(self) -> IssuedCertificate:
        """The certificate the time-stamping unit signs with now (the newest)."""
        current = self.newest().get(TSA_ISSUER)
        if current is None:
            raise CertificateNotRenewable("the CA hierarchy has no time-stamping unit to renew")
        return current

    def due(self, *, before: dt.timedelta = DEFAULT_BEFORE) -> IssuedCertificate | None:
        """The current certificate if it expires within ``before``, else None."""
        before = _check_before(before)
        current = self.current()
        return current if current.not_after - self.clock.now() <= before else None

    def renew(
        self, *, before: dt.timedelta = DEFAULT_BEFORE, actor: str | None
    ) -> RenewedService | None:
        """Renew the certificate if it expires within ``before``; None when it does not (or a
        concurrent renewal won).

        :raises InvalidPkiConfiguration: ``before`` is negative or not shorter than the
            certificate's validity.
        :raises CertificateNotRenewable: there is no time-stamping unit, or the government CA's
            certificate ends no later than the current TSA certificate (decision 2).
        :raises InfrastructureError: the database or the key backend failed (nothing stored).
        """
        current = self.due(before=before)
        if current is None:
            return None
        authority = next((a for a in self.store.authorities() if a.name == TSA_ISSUER), None)
        if authority is None:
            raise CertificateNotRenewable(f"the CA hierarchy has no {TSA_ISSUER} CA")
        if authority.certificate.not_valid_after_utc <= current.not_after:
            raise CertificateNotRenewable(
                f"the {TSA_ISSUER} CA's certificate ends "
                f"{authority.certificate.not_valid_after_utc:%Y-%m-%d}, no later than the "
                f"time-stamping unit's ({current.not_after:%Y-%m-%d}): a renewed certificate "
                "would not outlive the current one; renew the CA first"
            )
        return self.issue_replacement(
            authority,
            current,
            label=tsa_key_label(at=self.clock.now()),
            subject=current.certificate.subject,
            actor=actor,
        )


def _check_before(before: dt.timedelta) -> dt.timedelta:
    validity = get_profile(ProfileName.TSA).validity
    if not isinstance(before, dt.timedelta) or not dt.timedelta(0) <= before < validity:
        raise InvalidPkiConfiguration(
            f"renew the time-stamping unit when it expires within 0 to {validity.days - 1} days "
            "(a window as long as its validity would renew it on every run)"
        )
    return before
