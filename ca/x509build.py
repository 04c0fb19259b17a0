"""Build and sign one certificate from a profile (RFC 5280 §4.1 and §4.2).

:func:`build_certificate` is the only place a NatID certificate is assembled. It enforces, in
this order, before anything is signed:

1. the profile's key policy on the subject key (:func:`check_public_key`): allowed algorithm,
   RSA from 2048 bits with exponent 65537, EC on P-256 or P-384 only;
2. the request against the profile: subject kind, SAN DNS names, DCC purposes, issuing CA;
3. the issuer: a CA certificate (basicConstraints cA, keyCertSign) whose key is ``issuer_key``;
4. the serial number (positive, at most 20 octets: RFC 5280 §4.1.2.2) and the validity
   (timezone-aware, at most the profile's validity, never beyond the issuer's notAfter).

Extensions follow the profile: basicConstraints (critical), keyUsage (critical),
extendedKeyUsage, subjectKeyIdentifier (§4.2.1.2, method 1) and authorityKeyIdentifier
(§4.2.1.1), subjectAltName, certificatePolicies, authorityInfoAccess, cRLDistributionPoints,
freshestCRL, id-pkix-ocsp-nocheck and qcStatements.

The signature algorithm follows the issuer's key: ECDSA P-256 with SHA-256, P-384 with SHA-384
(RFC 5758 §3.2), RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt (RFC 4055 §3.1) or,
on request, PKCS#1 v1.5 with SHA-256, and Ed25519 (RFC 8410) without a separate hash.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections.abc import Collection, Sequence
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from ca.errors import InvalidCertificateRequest, KeyPolicyViolation, ProfileViolation
from ca.profiles import (
    DEFAULT_POLICY_ARC,
    RSA_ALGORITHMS,
    CertificateProfile,
    DccPurpose,
    KeyUsageBit,
    SubjectKind,
)
from ca.qcstatements import QcStatements
from ca.urls import PkiUrls
from core.clock import require_aware
from core.errors import InvalidInput
from hsm_adapters.base import BackendPrivateKey, BackendPublicKey, KeyAlgorithm

__all__ = ["RsaSignaturePadding", "build_certificate", "check_public_key", "new_serial"]

_RSA_EXPONENT = 65537
_RSA_BITS = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}
_CURVES = {"secp256r1": KeyAlgorithm.EC_P256, "secp384r1": KeyAlgorithm.EC_P384}
# RFC 1034 §3.5 / RFC 5890 LDH labels, lowercase; "xn--" A-labels pass as they are LDH.
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_SERIAL_BITS = 159  # 20 octets with the sign bit clear
_SECOND = dt.timedelta(seconds=1)


class RsaSignaturePadding(StrEnum):
    PSS = "pss"
    PKCS1V15 = "pkcs1v15"


def new_serial() -> int:
    """A fresh certificate serial number: 20 bytes from the OS CSPRNG, top bit cleared.

    RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B Forum BR §7.1 asks for at least 64
    bits of CSPRNG output. With the top bit cleared the DER INTEGER needs no leading zero
    octet, so it never exceeds 20 octets; 159 random bits make a collision negligible.
    """
    while True:
        raw = bytearray(secrets.token_bytes(20))
        raw[0] &= 0x7F
        serial = int.from_bytes(raw, "big")
        if serial:
            return serial


def check_public_key(profile: CertificateProfile, public_key: object) -> KeyAlgorithm:
    """Raise :class:`KeyPolicyViolation` unless ``profile`` accepts ``public_key``.

    Returns the key's algorithm (for RSA, the largest listed size not above the key's).
    """
    allowed = profile.key_algorithms
    names = ", ".join(sorted(allowed))
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        algorithm = _CURVES.get(curve)
        if algorithm is None:
            raise KeyPolicyViolation(f"EC curve {curve} is not allowed: only P-256 and P-384")
        if algorithm not in allowed:
            raise KeyPolicyViolation(
                f"profile {profile.name} does not accept {algorithm}; it accepts {names}"
            )
        return algorithm
    if isinstance(public_key, rsa.RSAPublicKey):
        sizes = sorted(_RSA_BITS[a] for a in allowed & RSA_ALGORITHMS)
        if not sizes:
            raise KeyPolicyViolation(
                f"profile {profile.name} does not accept RSA keys; it accepts {names}"
            )
        bits = public_key.key_size
        if not sizes[0] <= bits <= sizes[-1]:
            raise KeyPolicyViolation(
                f"an RSA key of {bits} bits is not allowed by profile {profile.name}: "
                f"expected {sizes[0]} to {sizes[-1]} bits"
            )
        exponent = public_key.public_numbers().e
        if exponent != _RSA_EXPONENT:
            raise KeyPolicyViolation(f"RSA public exponent {exponent} refused; expected 65537")
        return max((a for a in RSA_ALGORITHMS if _RSA_BITS[a] <= bits), key=_RSA_BITS.__getitem__)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        if KeyAlgorithm.ED25519 not in allowed:
            raise KeyPolicyViolation(
                f"profile {profile.name} does not accept Ed25519; it accepts {names}"
            )
        return KeyAlgorithm.ED25519
    raise KeyPolicyViolation(
        f"{type(public_key).__name__} keys are not allowed; profile {profile.name} accepts {names}"
    )


def _signature_parameters(
    issuer_key: object, rsa_padding: RsaSignaturePadding
) -> tuple[hashes.SHA256 | hashes.SHA384 | None, padding.PSS | padding.PKCS1v15 | None]:
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        curve = issuer_key.curve.name
        if curve == "secp256r1":
            return hashes.SHA256(), None
        if curve == "secp384r1":
            return hashes.SHA384(), None
        raise InvalidCertificateRequest(f"issuer key on curve {curve} is not allowed")
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        if rsa_padding is RsaSignaturePadding.PKCS1V15:
            return hashes.SHA256(), padding.PKCS1v15()
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        return hashes.SHA256(), pss
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return None, None
    raise InvalidCertificateRequest(
        f"issuer key of type {type(issuer_key).__name__} cannot sign certificates"
    )


def _check_subject(profile: CertificateProfile, subject: x509.Name) -> None:
    def has(oid: x509.ObjectIdentifier) -> bool:
        return bool(subject.get_attributes_for_oid(oid))

    if not has(NameOID.COMMON_NAME) or not has(NameOID.COUNTRY_NAME):
        raise ProfileViolation("the subject needs a countryName and a commonName")
    kind = profile.subject_kind
    if kind is SubjectKind.NATURAL_PERSON and not (
        has(NameOID.SERIAL_NUMBER) and (has(NameOID.GIVEN_NAME) or has(NameOID.SURNAME))
    ):
        raise ProfileViolation(
            f"profile {profile.name} is for natural persons: the subject needs givenName or "
            "surname and a serialNumber (EN 319 412-2 §4.2.4)"
        )
    if kind is SubjectKind.LEGAL_PERSON and not (
        has(NameOID.ORGANIZATION_IDENTIFIER) and has(NameOID.ORGANIZATION_NAME)
    ):
        raise ProfileViolation(
            f"profile {profile.name} is for legal persons: the subject needs organizationName "
            "and organizationIdentifier (EN 319 412-3 §4.2.1)"
        )
    if kind in {SubjectKind.CA, SubjectKind.SERVICE} and (
        has(NameOID.GIVEN_NAME) or has(NameOID.SURNAME)
    ):
        raise ProfileViolation(f"profile {profile.name} is not for natural persons")


def _dns_names(profile: CertificateProfile, san: Sequence[str] | None) -> list[x509.DNSName]:
    if not profile.san_dns:
        if san:
            raise ProfileViolation(f"profile {profile.name} takes no subjectAltName")
        return []
    if not san:
        raise ProfileViolation(f"profile {profile.name} needs at least one DNS name")
    names: list[x509.DNSName] = []
    for name in san:
        labels = name.split(".") if isinstance(name, str) else []
        if (
            len(labels) < 2
            or len(name) > 253
            or not all(_DNS_LABEL.fullmatch(label) for label in labels)
            or labels[-1].isdigit()
        ):
            raise ProfileViolation(
                f"{str(name)[:80]!r} is not a fully qualified lowercase DNS name "
                "(RFC 5280 §4.2.1.6; no wildcards, no IP addresses)"
            )
        names.append(x509.DNSName(name))
    if len(set(san)) != len(san):
        raise ProfileViolation("the DNS names must not repeat")
    return names


def _eku(
    profile: CertificateProfile, dcc_purposes: Collection[DccPurpose] | None
) -> tuple[x509.ObjectIdentifier, ...]:
    if not profile.dcc_purposes:
        if dcc_purposes:
            raise ProfileViolation(f"profile {profile.name} takes no DCC purposes")
        return profile.extended_key_usage
    if not dcc_purposes:
        raise ProfileViolation(
            f"profile {profile.name} needs the DCC purposes it may sign for "
            f"({', '.join(sorted(profile.dcc_purposes))})"
        )
    try:
        chosen = {DccPurpose(p) for p in dcc_purposes}
    except ValueError as exc:
        raise ProfileViolation(f"unknown DCC purpose: {exc}") from exc
    if not chosen <= profile.dcc_purposes:
        raise ProfileViolation(f"profile {profile.name} does not allow these DCC purposes")
    ordered = sorted(chosen, key=lambda p: p.oid.dotted_string)
    return profile.extended_key_usage + tuple(p.oid for p in ordered)


def _check_issuer(
    issuer_cert: x509.Certificate | None, issuer_key: BackendPrivateKey, public_key: object
) -> None:
    if issuer_cert is None:
        if issuer_key.public_key() != public_key:
            raise InvalidCertificateRequest(
                "a self-signed certificate must certify the signing key's own public key"
            )
        return
    try:
        bc = issuer_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ku = issuer_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise InvalidCertificateRequest("the issuer certificate is not a CA certificate") from exc
    if not bc.ca or not ku.key_cert_sign:
        raise InvalidCertificateRequest(
            "the issuer certificate is not a CA certificate (cA and keyCertSign)"
        )
    if issuer_cert.public_key() != issuer_key.public_key():
        raise InvalidCertificateRequest("the issuer key does not match the issuer certificate")


def _validity(
    profile: CertificateProfile,
    issuer_cert: x509.Certificate | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> tuple[dt.datetime, dt.datetime]:
    try:
        start = require_aware(not_before, "not_before").replace(microsecond=0)
        end = require_aware(not_after, "not_after").replace(microsecond=0)
    except InvalidInput as exc:
        raise InvalidCertificateRequest(exc.message) from exc
    if end <= start:
        raise InvalidCertificateRequest(f"not_after {end} is not after not_before {start}")
    # RFC 5280 §4.1.2.5: notAfter is inclusive, so the period is one second longer than the
    # difference (the CA/B Forum counts the same way).
    period = end - start + _SECOND
    if period > profile.validity:
        raise ProfileViolation(
            f"a validity period of {period} exceeds profile {profile.name}'s {profile.validity}"
        )
    if issuer_cert is not None:
        # RFC 5280 §6.1.3 does not nest validity, but relying parties do: a certificate outliving
        # its issuer would fail validation then. The certificate gets the overlap of both.
        start = max(start, issuer_cert.not_valid_before_utc)
        end = min(end, issuer_cert.not_valid_after_utc)
        if end <= start:
            raise InvalidCertificateRequest(
                "the requested validity lies outside the issuer certificate's validity"
            )
    return start, end


def _key_usage(bits: frozenset[KeyUsageBit]) -> x509.KeyUsage:
    def on(bit: KeyUsageBit) -> bool:
        return bit in bits

    return x509.KeyUsage(
        digital_signature=on(KeyUsageBit.DIGITAL_SIGNATURE),
        content_commitment=on(KeyUsageBit.NON_REPUDIATION),
        key_encipherment=on(KeyUsageBit.KEY_ENCIPHERMENT),
        data_encipherment=on(KeyUsageBit.DATA_ENCIPHERMENT),
        key_agreement=on(KeyUsageBit.KEY_AGREEMENT),
        key_cert_sign=on(KeyUsageBit.KEY_CERT_SIGN),
        crl_sign=on(KeyUsageBit.CRL_SIGN),
        encipher_only=False,
        decipher_only=False,
    )


def build_certificate(
    profile: CertificateProfile,
    *,
    subject: x509.Name,
    public_key: BackendPublicKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: BackendPrivateKey,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
    urls: PkiUrls,
    ca_name: str,
    san: Sequence[str] | None = None,
    dcc_purposes: Collection[DccPurpose] | None = None,
    policy_arc: str = DEFAULT_POLICY_ARC,
    rsa_padding: RsaSignaturePadding = RsaSignaturePadding.PSS,
) -> x509.Certificate:
    """Sign a certificate of ``profile`` for ``subject`` and ``public_key``.

    ``issuer_cert=None`` makes a self-signed certificate (the root), signed by ``issuer_key``
    over its own public key. ``ca_name`` names the issuing CA in the PKI URLs and must be one
    of ``profile.issuing_cas``. Raises a :class:`~ca.errors.InvalidCertificateRequest`
    subclass when anything does not fit; nothing is signed then.
    """
    check_public_key(profile, public_key)
    if ca_name not in profile.issuing_cas:
        raise ProfileViolation(
            f"CA {ca_name!r} does not issue profile {profile.name} "
            f"(issued by {', '.join(profile.issuing_cas)})"
        )
    if (issuer_cert is None) != (profile.name == "root-ca"):
        raise ProfileViolation("only the root-ca profile is self-signed, and it always is")
    _check_subject(profile, subject)
    dns_names = _dns_names(profile, san)
    eku = _eku(profile, dcc_purposes)
    _check_issuer(issuer_cert, issuer_key, public_key)
    if not isinstance(serial, int) or isinstance(serial, bool) or serial <= 0:
        raise InvalidCertificateRequest("the serial number must be a positive integer")
    if serial.bit_length() > _MAX_SERIAL_BITS:
        raise InvalidCertificateRequest("the serial number must fit in 20 octets")
    start, end = _validity(profile, issuer_cert, not_before, not_after)
    hash_algorithm, signature_padding = _signature_parameters(issuer_key, rsa_padding)

    if issuer_cert is None:
        issuer_name = subject
        aki = x509.AuthorityKeyIdentifier(
            x509.SubjectKeyIdentifier.from_public_key(public_key).digest, None, None
        )
    else:
        issuer_name = issuer_cert.subject
        aki = _authority_key_identifier(issuer_cert)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
    )
    for ext, critical in _extensions(
        profile,
        public_key=public_key,
        aki=aki,
        eku=eku,
        dns_names=dns_names,
        urls=urls,
        ca_name=ca_name,
        policy_arc=policy_arc,
    ):
        builder = builder.add_extension(ext, critical=critical)

    try:
        if isinstance(issuer_key, rsa.RSAPrivateKey) and signature_padding is not None:
            return builder.sign(issuer_key, hash_algorithm, rsa_padding=signature_padding)
        return builder.sign(issuer_key, hash_algorithm)
    except ValueError as exc:
        # cryptography's last word on an encodable certificate (names, extension values).
        raise InvalidCertificateRequest(f"the certificate cannot be encoded: {exc}") from exc


def _authority_key_identifier(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    # RFC 5280 §4.2.1.1: the keyIdentifier is the issuer's subjectKeyIdentifier.
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _extensions(
    profile: CertificateProfile,
    *,
    public_key: BackendPublicKey,
    aki: x509.AuthorityKeyIdentifier,
    eku: tuple[x509.ObjectIdentifier, ...],
    dns_names: list[x509.DNSName],
    urls: PkiUrls,
    ca_name: str,
    policy_arc: str,
) -> list[tuple[x509.ExtensionType, bool]]:
    """The extensions of a certificate, in order, each with its criticality."""
    exts: list[tuple[x509.ExtensionType, bool]] = []
    if profile.basic_constraints is not None:
        bc = profile.basic_constraints
        exts.append((x509.BasicConstraints(ca=bc.ca, path_length=bc.path_length), True))
    exts.append((_key_usage(profile.key_usage), True))
    if eku:
        exts.append((x509.ExtendedKeyUsage(list(eku)), profile.extended_key_usage_critical))
    exts.append((x509.SubjectKeyIdentifier.from_public_key(public_key), False))
    exts.append((aki, False))
    if dns_names:
        exts.append((x509.SubjectAlternativeName(dns_names), False))
    policies = profile.policy_oids(policy_arc)
    if policies:
        info = [x509.PolicyInformation(oid, None) for oid in policies]
        exts.append((x509.CertificatePolicies(info), False))
    access = []
    if profile.aia_ocsp:
        access.append(_access(AuthorityInformationAccessOID.OCSP, urls.ocsp(ca_name)))
    if profile.aia_ca_issuers:
        access.append(_access(AuthorityInformationAccessOID.CA_ISSUERS, urls.ca_issuers(ca_name)))
    if access:
        exts.append((x509.AuthorityInformationAccess(access), False))
    if profile.crl_distribution_point:
        exts.append((x509.CRLDistributionPoints([_distribution_point(urls.crl(ca_name))]), False))
    if profile.delta_crl:
        exts.append((x509.FreshestCRL([_distribution_point(urls.delta_crl(ca_name))]), False))
    if profile.ocsp_no_check:
        exts.append((x509.OCSPNoCheck(), False))
    if profile.qc_statements is not None:
        # EN 319 412-5 QCS-4.1-02: never critical.
        exts.append((_qc_extension(profile.qc_statements), False))
    return exts


@functools.lru_cache(maxsize=64)
def _qc_extension(statements: QcStatements) -> x509.UnrecognizedExtension:
    # A profile's statements never change, and encoding them (asn1crypto) cost a third of
    # building a certificate (bench/bench_issuance.py): encode each value once.
    return statements.extension()


def _access(method: x509.ObjectIdentifier, url: str) -> x509.AccessDescription:
    return x509.AccessDescription(method, x509.UniformResourceIdentifier(url))


def _distribution_point(url: str) -> x509.DistributionPoint:
    return x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
