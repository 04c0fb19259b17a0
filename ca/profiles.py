"""Certificate profiles as data: one frozen value per profile, in one table.

Each profile says what a certificate of its kind contains (RFC 5280 §4.2 extensions; ETSI
EN 319 412-2 for natural persons, -3 for legal persons, -5 for QC statements), which keys it
accepts, which CA issues it and how well its subject must have been proven. ``x509build``
turns a profile and a subject into a certificate; nothing else decides what goes into one.
docs/ca-profiles.md explains each row.

Key-usage choices (EN 319 412-2 §4.3.2 table 1): signing certificates carry nonRepudiation
(contentCommitment) alone - type A, which NAT-4.3.2-3 recommends - and authentication
certificates digitalSignature alone - type C - so that one key never serves both purposes.

Certificate policies sit under a configurable OID arc (default ``2.999.1``: ``2.999`` is the
arc ITU-T X.660 reserves for examples, so a development CA squats nobody's arc). A profile's
policy is ``<arc>.<policy_number>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from cryptography import x509
from cryptography.x509.oid import CertificatePoliciesOID, ExtendedKeyUsageOID

from ca.errors import InvalidPkiConfiguration, UnknownProfile
from ca.qcstatements import QcStatements, QcType, SemanticsId
from hsm_adapters.base import KeyAlgorithm
from registry.records import AssuranceLevel

__all__ = [
    "DEFAULT_POLICY_ARC",
    "PROFILES",
    "RSA_ALGORITHMS",
    "BasicConstraintsSpec",
    "CertificateProfile",
    "DccPurpose",
    "KeyUsageBit",
    "ProfileName",
    "SubjectKind",
    "get_profile",
    "policy_oid",
]

#: The default certificate-policy arc (configuration; see the module docstring).
DEFAULT_POLICY_ARC = "2.999.1"

_SECOND = dt.timedelta(seconds=1)

#: The RSA sizes a profile may list; listing any of them means "RSA from the smallest listed
#: size up to the largest" (so a 3000-bit key passes a profile that lists 2048 and 4096).
RSA_ALGORITHMS = frozenset({KeyAlgorithm.RSA_2048, KeyAlgorithm.RSA_3072, KeyAlgorithm.RSA_4096})


class ProfileName(StrEnum):
    ROOT_CA = "root-ca"
    ISSUING_CA = "issuing-ca"
    CITIZEN_AUTH = "citizen-auth"
    CITIZEN_SIGN = "citizen-sign"
    GOV_AUTH = "gov-auth"
    GOV_SIGN = "gov-sign"
    ESEAL = "eseal"
    HEALTH_DSC = "health-dsc"
    TSA = "tsa"
    OCSP_RESPONDER = "ocsp-responder"
    TLS_SERVER = "tls-server"


class SubjectKind(StrEnum):
    NATURAL_PERSON = "natural-person"
    LEGAL_PERSON = "legal-person"
    CA = "ca"
    SERVICE = "service"


class KeyUsageBit(StrEnum):
    """RFC 5280 §4.2.1.3 key usage bits, by their RFC 5280 names."""

    DIGITAL_SIGNATURE = "digitalSignature"
    NON_REPUDIATION = "nonRepudiation"  # X.509 (2008) calls it contentCommitment
    KEY_ENCIPHERMENT = "keyEncipherment"
    DATA_ENCIPHERMENT = "dataEncipherment"
    KEY_AGREEMENT = "keyAgreement"
    KEY_CERT_SIGN = "keyCertSign"
    CRL_SIGN = "cRLSign"


class DccPurpose(StrEnum):
    """What an EU DCC document signer may sign (eHealth Network, DCC technical specification
    volume 1, §5: extended key usage OIDs of the Document Signer Certificate)."""

    VACCINATION = "vaccination"
    TEST = "test"
    RECOVERY = "recovery"

    @property
    def oid(self) -> x509.ObjectIdentifier:
        return _DCC_OIDS[self]


_DCC_OIDS = {
    DccPurpose.TEST: x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.1"),
    DccPurpose.VACCINATION: x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.2"),
    DccPurpose.RECOVERY: x509.ObjectIdentifier("1.3.6.1.4.1.1847.2021.1.3"),
}


@dataclass(frozen=True, slots=True)
class BasicConstraintsSpec:
    """RFC 5280 §4.2.1.9; always critical when present (required for CA certificates)."""

    ca: bool
    path_length: int | None


@dataclass(frozen=True, slots=True)
class CertificateProfile:
    """Everything that decides a certificate's content, except the subject and the key."""

    name: ProfileName
    description: str
    subject_kind: SubjectKind
    #: Longest validity period (notBefore through notAfter inclusive, RFC 5280 §4.1.2.5);
    #: the issuer's notAfter caps it further.
    validity: dt.timedelta
    key_usage: frozenset[KeyUsageBit]
    extended_key_usage: tuple[x509.ObjectIdentifier, ...]
    extended_key_usage_critical: bool
    basic_constraints: BasicConstraintsSpec | None
    key_algorithms: frozenset[KeyAlgorithm]
    qc_statements: QcStatements | None
    #: ``<arc>.<policy_number>``; ``None`` for no policy of our own.
    policy_number: int | None
    #: ``anyPolicy`` (RFC 5280 §4.2.1.4): the issuing CAs, run by the same operator as the root.
    any_policy: bool
    aia_ca_issuers: bool
    aia_ocsp: bool
    crl_distribution_point: bool
    #: The freshest-CRL extension (RFC 5280 §4.2.1.15) pointing at the delta CRL.
    delta_crl: bool
    #: id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1) for delegated OCSP responders.
    ocsp_no_check: bool
    #: DNS names in subjectAltName are required (and allowed) only where this is set.
    san_dns: bool
    #: The EU DCC purposes a certificate of this profile may be limited to (health-dsc).
    dcc_purposes: frozenset[DccPurpose]
    #: How well the subject's identity must have been proven (eIDAS LoA) before issuance.
    proofing_level: AssuranceLevel | None
    #: The CA names that issue this profile (``root`` signs itself for ``root-ca``).
    issuing_cas: tuple[str, ...]

    @property
    def is_ca(self) -> bool:
        return self.basic_constraints is not None and self.basic_constraints.ca

    def validity_window(self, *, at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The longest ``(notBefore, notAfter)`` starting at ``at``, in whole seconds.

        RFC 5280 §4.1.2.5: the period runs "from notBefore through notAfter, inclusive", so a
        period of ``validity`` ends one second before ``at + validity``.
        """
        start = at.replace(microsecond=0)
        return start, start + self.validity - _SECOND

    def policy_oids(self, arc: str = DEFAULT_POLICY_ARC) -> tuple[x509.ObjectIdentifier, ...]:
        oids: list[x509.ObjectIdentifier] = []
        if self.policy_number is not None:
            oids.append(policy_oid(arc, self.policy_number))
        if self.any_policy:
            oids.append(CertificatePoliciesOID.ANY_POLICY)
        return tuple(oids)


def policy_oid(arc: str, number: int) -> x509.ObjectIdentifier:
    """``<arc>.<number>``, refusing an arc that is not a dotted OID."""
    parts = arc.split(".") if isinstance(arc, str) else []
    valid = (
        len(parts) >= 2
        and all(p.isdigit() and p.isascii() and (p == "0" or not p.startswith("0")) for p in parts)
        and int(parts[0]) <= 2
        and (int(parts[0]) == 2 or int(parts[1]) <= 39)
    )
    if not valid:
        raise InvalidPkiConfiguration(
            f"the certificate-policy arc must be a dotted OID such as 2.999.1, got {arc!r}"
        )
    return x509.ObjectIdentifier(f"{arc}.{number}")


# --- the table --------------------------------------------------------------------------------

_DAY = dt.timedelta(days=1)
_YEAR = dt.timedelta(days=365)
_ISSUING_CAS = ("citizen", "entity", "government", "health")
_LEAF_KEYS = frozenset({KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384}) | RSA_ALGORITHMS
_KH_QUALIFIED_SIGN = QcStatements(
    semantics=SemanticsId.NATURAL,
    compliance=True,
    legislation=("KH",),
    sscd=True,
    qc_type=QcType.ESIGN,
)
_CA_BITS = frozenset({KeyUsageBit.KEY_CERT_SIGN, KeyUsageBit.CRL_SIGN})
_SIGN_BITS = frozenset({KeyUsageBit.NON_REPUDIATION})
_AUTH_BITS = frozenset({KeyUsageBit.DIGITAL_SIGNATURE})


def _profile(
    name: ProfileName,
    description: str,
    subject_kind: SubjectKind,
    validity: dt.timedelta,
    key_usage: frozenset[KeyUsageBit],
    *,
    issuing_cas: tuple[str, ...],
    key_algorithms: frozenset[KeyAlgorithm] = _LEAF_KEYS,
    extended_key_usage: tuple[x509.ObjectIdentifier, ...] = (),
    extended_key_usage_critical: bool = False,
    basic_constraints: BasicConstraintsSpec | None = None,
    qc_statements: QcStatements | None = None,
    policy_number: int | None = None,
    any_policy: bool = False,
    aia_ca_issuers: bool = True,
    aia_ocsp: bool = True,
    crl_distribution_point: bool = True,
    delta_crl: bool = True,
    ocsp_no_check: bool = False,
    san_dns: bool = False,
    dcc_purposes: frozenset[DccPurpose] = frozenset(),
    proofing_level: AssuranceLevel | None = None,
) -> CertificateProfile:
    return CertificateProfile(
        name=name,
        description=description,
        subject_kind=subject_kind,
        validity=validity,
        key_usage=key_usage,
        extended_key_usage=extended_key_usage,
        extended_key_usage_critical=extended_key_usage_critical,
        basic_constraints=basic_constraints,
        key_algorithms=key_algorithms,
        qc_statements=qc_statements,
        policy_number=policy_number,
        any_policy=any_policy,
        aia_ca_issuers=aia_ca_issuers,
        aia_ocsp=aia_ocsp,
        crl_distribution_point=crl_distribution_point,
        delta_crl=delta_crl,
        ocsp_no_check=ocsp_no_check,
        san_dns=san_dns,
        dcc_purposes=dcc_purposes,
        proofing_level=proofing_level,
        issuing_cas=issuing_cas,
    )


_TABLE = (
    _profile(
        ProfileName.ROOT_CA,
        "Self-signed root of the national PKI; kept offline, signs CA certificates and its CRL.",
        SubjectKind.CA,
        20 * _YEAR + 5 * _DAY,
        _CA_BITS,
        issuing_cas=("root",),
        key_algorithms=frozenset({KeyAlgorithm.EC_P384}),
        basic_constraints=BasicConstraintsSpec(ca=True, path_length=None),
        aia_ca_issuers=False,
        aia_ocsp=False,
        crl_distribution_point=False,
        delta_crl=False,
    ),
    _profile(
        ProfileName.ISSUING_CA,
        "Issuing CA under the root; signs end-entity certificates, CRLs and OCSP responders.",
        SubjectKind.CA,
        10 * _YEAR + 2 * _DAY,
        _CA_BITS,
        issuing_cas=("root",),
        key_algorithms=frozenset({KeyAlgorithm.EC_P384, KeyAlgorithm.EC_P256}),
        basic_constraints=BasicConstraintsSpec(ca=True, path_length=0),
        any_policy=True,
        # The root has no OCSP responder (its key stays offline): its CRL is the status source.
        aia_ocsp=False,
        delta_crl=False,
    ),
    _profile(
        ProfileName.CITIZEN_AUTH,
        "Citizen authentication (log-in, TLS client); digitalSignature only (type C).",
        SubjectKind.NATURAL_PERSON,
        5 * _YEAR,
        _AUTH_BITS,
        issuing_cas=("citizen",),
        extended_key_usage=(ExtendedKeyUsageOID.CLIENT_AUTH,),
        qc_statements=QcStatements(semantics=SemanticsId.NATURAL),
        policy_number=1,
        proofing_level=AssuranceLevel.SUBSTANTIAL,
    ),
    _profile(
        ProfileName.CITIZEN_SIGN,
        "Citizen qualified electronic signature under Cambodian law; nonRepudiation only.",
        SubjectKind.NATURAL_PERSON,
        5 * _YEAR,
        _SIGN_BITS,
        issuing_cas=("citizen",),
        qc_statements=_KH_QUALIFIED_SIGN,
        policy_number=2,
        proofing_level=AssuranceLevel.HIGH,
    ),
    _profile(
        ProfileName.GOV_AUTH,
        "Civil servant authentication to government systems; digitalSignature only.",
        SubjectKind.NATURAL_PERSON,
        3 * _YEAR,
        _AUTH_BITS,
        issuing_cas=("government",),
        extended_key_usage=(ExtendedKeyUsageOID.CLIENT_AUTH,),
        qc_statements=QcStatements(semantics=SemanticsId.NATURAL),
        policy_number=3,
        proofing_level=AssuranceLevel.HIGH,
    ),
    _profile(
        ProfileName.GOV_SIGN,
        "Civil servant qualified signature (approvals, official documents); nonRepudiation only.",
        SubjectKind.NATURAL_PERSON,
        3 * _YEAR,
        _SIGN_BITS,
        issuing_cas=("government",),
        qc_statements=_KH_QUALIFIED_SIGN,
        policy_number=4,
        proofing_level=AssuranceLevel.HIGH,
    ),
    _profile(
        ProfileName.ESEAL,
        "Qualified electronic seal of a legal person (key in the CA's HSM); nonRepudiation only.",
        SubjectKind.LEGAL_PERSON,
        3 * _YEAR,
        _SIGN_BITS,
        issuing_cas=("entity",),
        qc_statements=QcStatements(
            semantics=SemanticsId.LEGAL,
            compliance=True,
            legislation=("KH",),
            sscd=True,
            qc_type=QcType.ESEAL,
        ),
        policy_number=5,
        proofing_level=AssuranceLevel.HIGH,
    ),
    _profile(
        ProfileName.HEALTH_DSC,
        "EU DCC document signer of the health authority; EKU limits it to DCC purposes.",
        SubjectKind.SERVICE,
        2 * _YEAR,
        _AUTH_BITS,
        issuing_cas=("health",),
        # DCC verifiers accept ES256 and PS256 only (DCC technical specification vol. 1, §3.3).
        key_algorithms=frozenset({KeyAlgorithm.EC_P256}) | RSA_ALGORITHMS,
        policy_number=6,
        dcc_purposes=frozenset(DccPurpose),
    ),
    _profile(
        ProfileName.TSA,
        "RFC 3161 time-stamping unit; critical EKU timeStamping only (RFC 3161 §2.3).",
        SubjectKind.SERVICE,
        6 * _YEAR,
        _AUTH_BITS,
        issuing_cas=("government",),
        extended_key_usage=(ExtendedKeyUsageOID.TIME_STAMPING,),
        extended_key_usage_critical=True,
        policy_number=7,
    ),
    _profile(
        ProfileName.OCSP_RESPONDER,
        "Delegated OCSP responder of one issuing CA; short-lived, with id-pkix-ocsp-nocheck.",
        SubjectKind.SERVICE,
        90 * _DAY,
        _AUTH_BITS,
        issuing_cas=_ISSUING_CAS,
        key_algorithms=frozenset({KeyAlgorithm.EC_P256, KeyAlgorithm.EC_P384}),
        extended_key_usage=(ExtendedKeyUsageOID.OCSP_SIGNING,),
        policy_number=8,
        # RFC 6960 §4.2.2.2.1: with nocheck the responder certificate is not status-checked,
        # so it names no OCSP responder and no CRL.
        aia_ocsp=False,
        crl_distribution_point=False,
        delta_crl=False,
        ocsp_no_check=True,
    ),
    _profile(
        ProfileName.TLS_SERVER,
        "TLS server certificate of a government web site; SAN DNS names, EKU serverAuth.",
        SubjectKind.SERVICE,
        # CA/B Forum BR §6.3.2 (ballot SC-081): at most 200 days from March 2026.
        200 * _DAY,
        _AUTH_BITS,
        issuing_cas=("government",),
        extended_key_usage=(ExtendedKeyUsageOID.SERVER_AUTH,),
        policy_number=9,
        san_dns=True,
    ),
)

#: Every profile by name (read-only).
PROFILES: Mapping[str, CertificateProfile] = MappingProxyType({p.name: p for p in _TABLE})


def get_profile(name: str) -> CertificateProfile:
    """The profile called ``name``; raises :class:`~ca.errors.UnknownProfile`."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise UnknownProfile(
            f"unknown certificate profile {str(name)[:40]!r}; expected one of {known}"
        ) from None
