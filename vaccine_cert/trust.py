"""The document signer certificates (DSCs) a verifier trusts, indexed by HCERT key identifier.

* ``kid`` (HCERT spec, Appendix A, "The Key Identifier"): the first 8 bytes of the SHA-256
  hash of the DSC's DER encoding. Being only 64 bits, two DSCs may share one, and the spec
  says a verifier "MUST check all DSCs with that KID" ("Key Identifier"); the verifier does.
* Purpose (HCERT spec, Appendix A, "Key Usage Policy Identifiers"): a DSC may restrict the
  kinds of certificate it signs with extended key usage OIDs - test ``...2021.1.1``,
  vaccination ``...2021.1.2``, recovery ``...2021.1.3`` - under either of two arcs seen in
  practice: ``1.3.6.1.4.1.1847.2021.1.x`` and ``1.3.6.1.4.1.0.1847.2021.1.x`` (the one the
  v1.0.x spec text prints and the public test vectors' DSCs carry). A DSC with none of these
  OIDs may sign all three kinds.

Building the index parses each certificate once (hash, key, extensions), so verifying a batch
against one trust list costs a dictionary look-up per credential.

Revoked signers (:class:`RevokedSigner`): a verifier that knows a DSC was revoked (or suspended)
by its issuer - NatID knows its own from the CA's records - never trusts it, even when a trust
list still carries it, and keeps it aside only to say why a credential it signed fails: "the
signer's certificate was revoked on ..." rather than the "no trusted signer" a forger's key gets.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from vaccine_cert.errors import InvalidTrustedCertificate

__all__ = [
    "PURPOSE_OIDS",
    "CertificateType",
    "RevokedSigner",
    "TrustedSigner",
    "TrustedSigners",
    "kid_b64",
    "kid_of",
]


class CertificateType(StrEnum):
    """The kinds of DCC, spelled as the DCC schema's group keys."""

    VACCINATION = "v"
    TEST = "t"
    RECOVERY = "r"


#: HCERT spec, "Key Usage Policy Identifiers": extended key usage OID -> the kind it allows.
PURPOSE_OIDS: dict[str, CertificateType] = {
    "1.3.6.1.4.1.1847.2021.1.1": CertificateType.TEST,
    "1.3.6.1.4.1.1847.2021.1.2": CertificateType.VACCINATION,
    "1.3.6.1.4.1.1847.2021.1.3": CertificateType.RECOVERY,
    "1.3.6.1.4.1.0.1847.2021.1.1": CertificateType.TEST,
    "1.3.6.1.4.1.0.1847.2021.1.2": CertificateType.VACCINATION,
    "1.3.6.1.4.1.0.1847.2021.1.3": CertificateType.RECOVERY,
}

_ALL_TYPES = frozenset(CertificateType)


def kid_b64(kid: bytes) -> str:
    """A key identifier in base64, as DCC trust lists print it."""
    return base64.b64encode(kid).decode("ascii")


def kid_of(certificate: x509.Certificate) -> bytes:
    """The HCERT key identifier of a DSC: SHA-256 of its DER encoding, first 8 bytes."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()[:8]


@dataclass(frozen=True, slots=True)
class TrustedSigner:
    """One trusted DSC, with what the verifier needs from it worked out once."""

    certificate: x509.Certificate
    kid: bytes
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    #: The kinds of DCC this DSC may sign (all three when it carries no DCC purpose OID).
    allowed_types: frozenset[CertificateType]
    #: The certificate's validity period (RFC 5280 §4.1.2.5), read once.
    not_before: dt.datetime
    not_after: dt.datetime

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> TrustedSigner:
        """Index one certificate; raise :class:`InvalidTrustedCertificate` if it is unusable."""
        name = _describe(certificate)
        try:
            key = certificate.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise InvalidTrustedCertificate(f"{name}: unreadable public key ({exc})") from exc
        purposes = _purpose_oids(certificate, name)
        if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise InvalidTrustedCertificate(
                f"{name}: an HCERT signer key is ECDSA or RSA, got {type(key).__name__}"
            )
        allowed = frozenset(PURPOSE_OIDS[oid] for oid in purposes if oid in PURPOSE_OIDS)
        return cls(
            certificate=certificate,
            kid=kid_of(certificate),
            public_key=key,
            allowed_types=allowed or _ALL_TYPES,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
        )

    @property
    def kid_b64(self) -> str:
        """The key identifier in base64, as trust lists print it."""
        return kid_b64(self.kid)


@dataclass(frozen=True, slots=True)
class RevokedSigner:
    """A DSC its issuer revoked or suspended: never trusted (module docstring)."""

    certificate: x509.Certificate
    kid: bytes
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey
    revoked_at: dt.datetime
    #: The RFC 5280 §5.3.1 CRLReason name (``keyCompromise``, ``certificateHold``, ...).
    reason: str

    @classmethod
    def from_certificate(
        cls, certificate: x509.Certificate, *, revoked_at: dt.datetime, reason: str
    ) -> RevokedSigner:
        """Index one revoked certificate; raise :class:`InvalidTrustedCertificate` if its key
        is not one an HCERT signer has."""
        parsed = TrustedSigner.from_certificate(certificate)
        return cls(certificate, parsed.kid, parsed.public_key, revoked_at, reason)

    @property
    def kid_b64(self) -> str:
        return kid_b64(self.kid)

    @property
    def suspended(self) -> bool:
        """On hold (RFC 5280 ``certificateHold``): the issuer may release it again."""
        return self.reason == "certificateHold"


class TrustedSigners:
    """An immutable set of trusted DSCs, looked up by ``kid``, and the revoked DSCs the
    verifier knows of (module docstring); a signer that is also revoked is not trusted."""

    __slots__ = ("_by_kid", "_count", "_revoked_by_kid")

    def __init__(
        self, signers: Iterable[TrustedSigner], revoked: Iterable[RevokedSigner] = ()
    ) -> None:
        revoked_by_kid: dict[bytes, list[RevokedSigner]] = {}
        for item in revoked:
            revoked_by_kid.setdefault(item.kid, []).append(item)
        by_kid: dict[bytes, list[TrustedSigner]] = {}
        count = 0
        for signer in signers:
            if any(r.certificate == signer.certificate for r in revoked_by_kid.get(signer.kid, ())):
                continue
            by_kid.setdefault(signer.kid, []).append(signer)
            count += 1
        self._by_kid = {kid: tuple(group) for kid, group in by_kid.items()}
        self._revoked_by_kid = {kid: tuple(group) for kid, group in revoked_by_kid.items()}
        self._count = count

    @classmethod
    def from_certificates(cls, certificates: Iterable[x509.Certificate]) -> TrustedSigners:
        """Trust these DSCs (each parsed once; see :meth:`TrustedSigner.from_certificate`)."""
        return cls(TrustedSigner.from_certificate(cert) for cert in certificates)

    def with_revoked(self, revoked: Iterable[RevokedSigner]) -> TrustedSigners:
        """These signers, less any of ``revoked``, which the verifier now knows of too."""
        known = [r for group in self._revoked_by_kid.values() for r in group]
        signers = [s for group in self._by_kid.values() for s in group]
        return TrustedSigners(signers, [*known, *revoked])

    def with_kid(self, kid: bytes) -> tuple[TrustedSigner, ...]:
        """Every trusted DSC whose ``kid`` is ``kid`` (possibly none)."""
        return self._by_kid.get(kid, ())

    def revoked_with_kid(self, kid: bytes) -> tuple[RevokedSigner, ...]:
        """Every known revoked DSC whose ``kid`` is ``kid`` (possibly none)."""
        return self._revoked_by_kid.get(kid, ())

    def __len__(self) -> int:
        """How many signers are trusted (revoked ones do not count)."""
        return self._count


def _purpose_oids(certificate: x509.Certificate, name: str) -> set[str]:
    """The extended key usage OIDs of a DSC (empty if it has no such extension).

    Some DSCs in circulation encode an extension in a way DER forbids (Finland's test DSC
    encodes BasicConstraints' default ``cA FALSE``), and cryptography then refuses to read any
    extension. asn1crypto is lenient there, and only the extended key usage matters here, so it
    reads that one extension when cryptography cannot.
    """
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return set()
    except ValueError:
        der = certificate.public_bytes(serialization.Encoding.DER)
        try:
            value = asn1_x509.Certificate.load(der).extended_key_usage_value
            return set() if value is None else {oid.dotted for oid in value}
        except (ValueError, TypeError) as exc:
            raise InvalidTrustedCertificate(f"{name}: unreadable extensions ({exc})") from exc
    return {oid.dotted_string for oid in eku}


def _describe(certificate: x509.Certificate) -> str:
    try:
        return f"certificate {certificate.subject.rfc4514_string()!r}"
    except ValueError:
        return "certificate"
