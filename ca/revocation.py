"""Revocation vocabulary shared by storage, CRLs and OCSP (RFC 5280 §5.3.1, RFC 6960 §4.2.1).

* :class:`RevocationReason` - the ``CRLReason`` values by their RFC 5280 §5.3.1 names
  (``keyCompromise``, ``certificateHold``, ...). The same names go on the wire (CLI ``--reason``,
  admin API, audit entries), and each member knows its ASN.1 enumeration code and the
  matching :class:`cryptography.x509.ReasonFlags`.
* :class:`CertStatus` - the OCSP ``CertStatus`` choice (RFC 6960 §4.2.1): ``good``,
  ``revoked``, ``unknown``.
* :class:`RevocationStatus` - what a status lookup answers for one serial of one issuer; the
  OCSP responder turns it into a ``SingleResponse``.
* :class:`RevokedEntry` - one ``revokedCertificates`` entry of a CRL (RFC 5280 §5.1.2.6) or of a
  delta CRL (§5.2.4), where ``removeFromCRL`` marks a certificate whose hold was released.

Suspension is revocation with reason ``certificateHold`` (RFC 5280 §5.3.1): OCSP answers
``revoked`` with that reason, and releasing the hold makes the certificate ``good`` again. The
reason ``removeFromCRL`` is not a revocation reason: it only appears in delta CRL entries, so
:meth:`RevocationStatus.revoked` refuses it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ca.errors import InvalidRevocationReason, InvalidRevocationStatus

__all__ = [
    "MAX_SERIAL",
    "CertStatus",
    "RevocationReason",
    "RevocationStatus",
    "RevokedEntry",
    "check_serial",
    "signing_hash_for",
]

#: RFC 5280 §4.1.2.2: a serial number is a positive integer of at most 20 octets.
MAX_SERIAL = (1 << 159) - 1


class RevocationReason(StrEnum):
    """RFC 5280 §5.3.1 ``CRLReason``, by the standard's own names."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "keyCompromise"
    CA_COMPROMISE = "cACompromise"
    AFFILIATION_CHANGED = "affiliationChanged"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessationOfOperation"
    CERTIFICATE_HOLD = "certificateHold"
    # value 7 is not used (RFC 5280 §5.3.1)
    REMOVE_FROM_CRL = "removeFromCRL"
    PRIVILEGE_WITHDRAWN = "privilegeWithdrawn"
    AA_COMPROMISE = "aACompromise"

    @classmethod
    def parse(cls, text: str) -> RevocationReason:
        """The reason named ``text`` (RFC 5280 name, case-insensitive), or raise.

        :raises InvalidRevocationReason: ``text`` names no ``CRLReason``.
        """
        if isinstance(text, str):
            folded = text.strip().casefold()
            for member in cls:
                if member.value.casefold() == folded:
                    return member
        shown = repr(text)[:40] if isinstance(text, str) else type(text).__name__
        names = ", ".join(m.value for m in cls)
        raise InvalidRevocationReason(
            f"unknown revocation reason {shown}: expected one of {names} (RFC 5280 §5.3.1)"
        )

    @property
    def code(self) -> int:
        """The ASN.1 ENUMERATED value of this reason (RFC 5280 §5.3.1)."""
        return _CODES[self]

    @property
    def flag(self) -> x509.ReasonFlags:
        """The matching cryptography ``ReasonFlags`` member (same spelling as the RFC)."""
        return x509.ReasonFlags(self.value)

    @classmethod
    def from_flag(cls, flag: x509.ReasonFlags) -> RevocationReason:
        """The reason for a cryptography ``ReasonFlags`` member read from a CRL or OCSP response."""
        return cls(flag.value)

    @property
    def is_revocation(self) -> bool:
        """True for reasons a certificate can be revoked (or held) with; False for removeFromCRL."""
        return self is not RevocationReason.REMOVE_FROM_CRL


_CODES: dict[RevocationReason, int] = {
    RevocationReason.UNSPECIFIED: 0,
    RevocationReason.KEY_COMPROMISE: 1,
    RevocationReason.CA_COMPROMISE: 2,
    RevocationReason.AFFILIATION_CHANGED: 3,
    RevocationReason.SUPERSEDED: 4,
    RevocationReason.CESSATION_OF_OPERATION: 5,
    RevocationReason.CERTIFICATE_HOLD: 6,
    RevocationReason.REMOVE_FROM_CRL: 8,
    RevocationReason.PRIVILEGE_WITHDRAWN: 9,
    RevocationReason.AA_COMPROMISE: 10,
}


class CertStatus(StrEnum):
    """RFC 6960 §4.2.1 ``CertStatus``."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


def check_serial(serial: int) -> int:
    """Return ``serial`` if it is a valid certificate serial number (RFC 5280 §4.1.2.2)."""
    if isinstance(serial, bool) or not isinstance(serial, int) or not 0 < serial <= MAX_SERIAL:
        shown = type(serial).__name__ if not isinstance(serial, int) else "out of range"
        raise InvalidRevocationStatus(
            f"a certificate serial number must be a positive integer of at most 20 octets "
            f"(RFC 5280 §4.1.2.2), got {shown}"
        )
    return serial


_E = TypeVar("_E", bound=StrEnum)


def _enum(kind: type[_E], value: str, name: str) -> _E:
    try:
        return kind(value)
    except ValueError as exc:
        if kind is RevocationReason:
            raise InvalidRevocationReason(
                "unknown revocation reason: expected an RFC 5280 §5.3.1 CRLReason name"
            ) from exc
        raise InvalidRevocationStatus(f"{name} must be one of {[m.value for m in kind]}") from exc


def _aware(value: dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidRevocationStatus(f"{name} must be a timezone-aware datetime")
    return value.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class RevocationStatus:
    """The status of one certificate as the issuer's records say, for OCSP.

    Build it with :meth:`good`, :meth:`unknown` or :meth:`revoked`; the constructor checks that
    only a ``revoked`` status carries a time and a reason.
    """

    status: CertStatus
    revoked_at: dt.datetime | None = None
    reason: RevocationReason | None = None

    def __post_init__(self) -> None:
        status = _enum(CertStatus, self.status, "status")
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "revoked_at", _aware(self.revoked_at, "revoked_at"))
        if status is CertStatus.REVOKED:
            if self.revoked_at is None or self.reason is None:
                raise InvalidRevocationStatus("a revoked status needs a revocation time and reason")
            reason = _enum(RevocationReason, self.reason, "reason")
            if not reason.is_revocation:
                raise InvalidRevocationStatus(
                    "removeFromCRL is not a revocation reason: a released hold is 'good' "
                    "(RFC 5280 §5.3.1)"
                )
            object.__setattr__(self, "reason", reason)
        elif self.revoked_at is not None or self.reason is not None:
            raise InvalidRevocationStatus(
                f"a {status.value!r} status carries no revocation time or reason"
            )

    @classmethod
    def good(cls) -> RevocationStatus:
        return _GOOD

    @classmethod
    def unknown(cls) -> RevocationStatus:
        return _UNKNOWN

    @classmethod
    def revoked(cls, revoked_at: dt.datetime, reason: RevocationReason) -> RevocationStatus:
        return cls(CertStatus.REVOKED, revoked_at, reason)

    @property
    def is_on_hold(self) -> bool:
        return self.reason is RevocationReason.CERTIFICATE_HOLD


_GOOD = RevocationStatus(CertStatus.GOOD)
_UNKNOWN = RevocationStatus(CertStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """One CRL entry (RFC 5280 §5.1.2.6 ``revokedCertificates``, §5.3 entry extensions).

    ``revoked_at`` is the ``revocationDate``; ``invalidity_date`` (§5.3.2) is when the key is
    known or suspected to have been compromised, if that is earlier and known. In a delta CRL,
    reason ``removeFromCRL`` says the certificate's hold was released (§5.2.4); ``revoked_at`` of
    such an entry is the time of the original hold.
    """

    serial: int
    revoked_at: dt.datetime
    reason: RevocationReason = RevocationReason.UNSPECIFIED
    invalidity_date: dt.datetime | None = None

    def __post_init__(self) -> None:
        check_serial(self.serial)
        object.__setattr__(self, "revoked_at", _aware(self.revoked_at, "revoked_at"))
        if self.revoked_at is None:
            raise InvalidRevocationStatus("a CRL entry needs a revocation time")
        object.__setattr__(self, "reason", _enum(RevocationReason, self.reason, "reason"))
        object.__setattr__(self, "invalidity_date", _aware(self.invalidity_date, "invalidity_date"))

    @property
    def status(self) -> RevocationStatus:
        """The OCSP status this entry stands for (a removeFromCRL entry is ``good``)."""
        if not self.reason.is_revocation:
            return RevocationStatus.good()
        return RevocationStatus.revoked(self.revoked_at, self.reason)


def signing_hash_for(key: object) -> hashes.HashAlgorithm | None:
    """The hash a CRL or OCSP response is signed with by ``key`` (RFC 5758 §3.2, RFC 8410).

    ECDSA matches the curve's strength (P-256 with SHA-256, P-384 with SHA-384, P-521 with
    SHA-512); RSA uses SHA-256; Ed25519 takes no separate hash (``None``).

    :raises InvalidRevocationStatus: ``key`` is not a signing key of those kinds.
    """
    if isinstance(key, ec.EllipticCurvePrivateKey):
        by_curve: dict[str, hashes.HashAlgorithm] = {
            "secp256r1": hashes.SHA256(),
            "secp384r1": hashes.SHA384(),
            "secp521r1": hashes.SHA512(),
        }
        chosen = by_curve.get(key.curve.name)
        if chosen is not None:
            return chosen
    elif isinstance(key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    raise InvalidRevocationStatus(
        f"a {type(key).__name__} cannot sign CRLs or OCSP responses "
        "(expected ECDSA P-256/P-384/P-521, RSA or Ed25519)"
    )
