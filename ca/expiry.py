"""When the hierarchy's own certificates end, and which of them need an operator.

A national CA fails loudly on the day one of its own certificates ends: an expired OCSP
responder certificate makes every status answer unverifiable, an expired time-stamping
certificate stops new time-stamps and archive renewals, and an issuing CA near its end cuts
short every certificate it issues (ca/x509build.py: never past the issuer). :func:`watched`
lists the certificates the hierarchy itself runs on, one per role, with their ends; ``natid ca
expiry``, the ``natid_certificate_not_after_timestamp_seconds`` metric and ``natid serve``'s
warnings (api/upkeep.py) read it. Decisions:

1. **What is watched**: every CA of the hierarchy (its own certificate), and per issuing CA the
   newest good certificate of each service profile it runs on (the OCSP responders, the
   time-stamping unit). End-entity certificates are their holders' business (the register's
   life-cycle events renew them); the health authority's document signers are rotated by
   issuance itself (vaccine_cert/service.py, ``ensure_signer``).
2. **Attention windows, by who renews**: an OCSP responder certificate (90 days) is renewed by
   ``natid serve`` when 30 days are left (at start-up and every upkeep interval after), so one
   with 15 days or fewer left means that renewal is failing. The time-stamping unit is renewed
   by an operator (``natid ca tsa-renew``) within a year of its end, its renewal's own window.
   A CA's rollover is a key ceremony planned long ahead, and from the moment a CA has less left
   than the certificates it issues live, they end early with it: two years.
3. **Read-only and cheap**: three indexed queries, nothing renewed here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from ca.hierarchy import ROOT_CA
from ca.profiles import ProfileName
from ca.store import CertificateStore

__all__ = ["ATTENTION", "Role", "Watched", "watched"]


class Role(StrEnum):
    """What a watched certificate is for."""

    ROOT_CA = "root-ca"
    ISSUING_CA = "issuing-ca"
    OCSP_RESPONDER = "ocsp-responder"
    TSA = "tsa"


#: Attention when a certificate of the role has this long left or less (decision 2).
ATTENTION: dict[Role, dt.timedelta] = {
    Role.ROOT_CA: dt.timedelta(days=730),
    Role.ISSUING_CA: dt.timedelta(days=730),
    Role.OCSP_RESPONDER: dt.timedelta(days=15),
    Role.TSA: dt.timedelta(days=365),
}

_SERVICES = {ProfileName.OCSP_RESPONDER: Role.OCSP_RESPONDER, ProfileName.TSA: Role.TSA}


@dataclass(frozen=True, slots=True)
class Watched:
    """One certificate the hierarchy runs on."""

    role: Role
    #: The CA it belongs to: the CA itself, or the CA that issued the service certificate.
    ca: str
    serial_hex: str
    not_after: dt.datetime

    def left(self, now: dt.datetime) -> dt.timedelta:
        """How long until it ends (negative once it has)."""
        return self.not_after - now

    def needs_attention(self, now: dt.datetime) -> bool:
        """Whether it ends within its role's attention window (decision 2), or has ended."""
        return self.left(now) <= ATTENTION[self.role]


def watched(store: CertificateStore) -> tuple[Watched, ...]:
    """The hierarchy's certificates (decision 1): the CAs, the root first, then each issuing
    CA's current service certificates, by role."""
    found = [
        Watched(
            Role.ROOT_CA if authority.name == ROOT_CA else Role.ISSUING_CA,
            authority.name,
            authority.serial_hex,
            authority.certificate.not_valid_after_utc,
        )
        for authority in store.authorities()
    ]
    for profile, role in _SERVICES.items():
        newest = store.newest_service_certificates(profile)
        found.extend(
            Watched(role, issuer, cert.serial_hex, cert.not_after)
            for issuer, cert in sorted(newest.items())
        )
    return tuple(found)
