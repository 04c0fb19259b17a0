"""When the hierarchy's own certificates and CRLs end, and which of them need an operator.

A national CA fails loudly on the day one of its own certificates or CRLs ends: an expired OCSP
responder certificate makes every status answer unverifiable, a CRL past its nextUpdate fails
every relying party that checks CRLs, an expired time-stamping certificate stops new
time-stamps and archive renewals, and an issuing CA near its end cuts short every certificate
it issues (ca/x509build.py: never past the issuer). :func:`watched` lists what the hierarchy
itself runs on, with its end; ``natid ca expiry``, the metrics and ``natid serve``'s warnings
(api/upkeep.py) read it. Decisions:

1. **What is watched**: every CA of the hierarchy (its own certificate), per issuing CA the
   newest good certificate of each service profile it runs on (the OCSP responders, the
   time-stamping unit), and per CA its newest full CRL. End-entity certificates are their
   holders' business (the register's life-cycle events renew them); the health authority's
   document signers are rotated by issuance itself (vaccine_cert/service.py,
   ``ensure_signer``).
2. **Attention windows, by who renews**: an OCSP responder certificate (90 days) is renewed by
   ``natid serve`` when 30 days are left (at start-up and every upkeep interval after), so one
   with 15 days or fewer left means that renewal is failing. A full CRL is published before its
   nextUpdate by the CRL schedule's margin (3 days for the issuing CAs, 10 for the root) when it
   is fetched or at the upkeep; a day past that margin means publishing is failing (the CA's
   key cannot sign: for the root, kept offline, a ceremony is due). The time-stamping unit is
   renewed by an operator (``natid ca tsa-renew``) within a year of its end, its renewal's own
   window. A CA's rollover is a key ceremony planned long ahead, and from the moment a CA has
   less left than the certificates it issues live, they end early with it: two years.
3. **Read-only and cheap**: four indexed queries, nothing renewed or published here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from ca.crl import CrlSchedule
from ca.crlstore import ROOT_CRL_SCHEDULE, newest_full_crls
from ca.hierarchy import ROOT_CA
from ca.profiles import ProfileName
from ca.store import CertificateStore

__all__ = ["ATTENTION", "Role", "Watched", "watched"]

_DAY = dt.timedelta(days=1)


class Role(StrEnum):
    """What a watched certificate or CRL is for."""

    ROOT_CA = "root-ca"
    ISSUING_CA = "issuing-ca"
    OCSP_RESPONDER = "ocsp-responder"
    TSA = "tsa"
    CRL = "crl"


#: Attention when a certificate of the role has this long left or less (decision 2); a CRL's
#: window comes from its CA's CRL schedule.
ATTENTION: dict[Role, dt.timedelta] = {
    Role.ROOT_CA: 730 * _DAY,
    Role.ISSUING_CA: 730 * _DAY,
    Role.OCSP_RESPONDER: 15 * _DAY,
    Role.TSA: 365 * _DAY,
}

_SERVICES = {ProfileName.OCSP_RESPONDER: Role.OCSP_RESPONDER, ProfileName.TSA: Role.TSA}


@dataclass(frozen=True, slots=True)
class Watched:
    """One certificate or CRL the hierarchy runs on."""

    role: Role
    #: The CA it belongs to: the CA itself, or the CA that issued or signed it.
    ca: str
    #: A certificate's serial number (upper-case hex), or ``CRL <number>``.
    ident: str
    #: A certificate's notAfter, or a CRL's nextUpdate.
    not_after: dt.datetime
    #: It needs attention from when it has this long left (decision 2).
    window: dt.timedelta

    def left(self, now: dt.datetime) -> dt.timedelta:
        """How long until it ends (negative once it has)."""
        return self.not_after - now

    def needs_attention(self, now: dt.datetime) -> bool:
        """Whether it ends within its attention window (decision 2), or has ended."""
        return self.left(now) <= self.window


def watched(store: CertificateStore) -> tuple[Watched, ...]:
    """What the hierarchy runs on (decision 1): the CAs, the root first; each issuing CA's
    current service certificates, by role; each CA's newest full CRL."""
    found = []
    for authority in store.authorities():
        role = Role.ROOT_CA if authority.name == ROOT_CA else Role.ISSUING_CA
        found.append(
            Watched(
                role,
                authority.name,
                authority.serial_hex,
                authority.certificate.not_valid_after_utc,
                ATTENTION[role],
            )
        )
    for profile, role in _SERVICES.items():
        newest = store.newest_service_certificates(profile)
        found.extend(
            Watched(role, issuer, cert.serial_hex, cert.not_after, ATTENTION[role])
            for issuer, cert in sorted(newest.items())
        )
    # The issuing CAs' margins are the schedule's defaults (only the full CRLs' shortest
    # interval is a setting: NATID_CRL_FULL_MIN_INTERVAL_SECONDS).
    issuing = CrlSchedule()
    crls = newest_full_crls(store)
    for issuer in sorted(crls, key=lambda name: (name != ROOT_CA, name)):
        number, next_update = crls[issuer]
        margin = (ROOT_CRL_SCHEDULE if issuer == ROOT_CA else issuing).full_margin
        found.append(Watched(Role.CRL, issuer, f"CRL {number}", next_update, margin - _DAY))
    return tuple(found)
