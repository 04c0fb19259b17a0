"""What each profile puts into its certificates (ca/profiles.py through ca/x509build.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from ca.errors import InvalidPkiConfiguration, UnknownProfile
from ca.hierarchy import Hierarchy
from ca.profiles import DEFAULT_POLICY_ARC, PROFILES, ProfileName, get_profile, policy_oid
from ca.qcstatements import QC_STATEMENTS_OID, QcStatements, QcType
from registry.records import AssuranceLevel
from tests.ca.conftest import BASE_URL, DCC_PURPOSES, TLS_NAMES

Issued = dict[str, tuple[x509.Certificate, str]]

SIGNING = [ProfileName.CITIZEN_SIGN, ProfileName.GOV_SIGN, ProfileName.ESEAL]
AUTHENTICATION = [ProfileName.CITIZEN_AUTH, ProfileName.GOV_AUTH]
SERVICES = [ProfileName.HEALTH_DSC, ProfileName.TSA, ProfileName.OCSP_RESPONDER]
LEAVES = SIGNING + AUTHENTICATION + SERVICES + [ProfileName.TLS_SERVER]


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(cls)


def _usages(cert: x509.Certificate) -> set[str]:
    ku = _ext(cert, x509.KeyUsage).value
    names = [
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
    ]
    return {n for n in names if getattr(ku, n)}


def _has(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> bool:
    try:
        _ext(cert, cls)
    except x509.ExtensionNotFound:
        return False
    return True


def test_the_table_has_every_profile_of_the_issue() -> None:
    assert set(PROFILES) == {
        "root-ca",
        "issuing-ca",
        "citizen-auth",
        "citizen-sign",
        "gov-auth",
        "gov-sign",
        "eseal",
        "health-dsc",
        "tsa",
        "ocsp-responder",
        "tls-server",
    }
    for name, profile in PROFILES.items():
        assert profile.name == name


def test_unknown_profile_is_not_found() -> None:
    with pytest.raises(UnknownProfile) as info:
        get_profile("citizen-everything")
    assert info.value.http_status == 404


def test_policy_oids_sit_under_the_2_999_arc_and_are_distinct() -> None:
    numbers = [p.policy_number for p in PROFILES.values() if p.policy_number is not None]
    assert len(numbers) == len(set(numbers)) == 9
    assert DEFAULT_POLICY_ARC == "2.999.1"
    assert get_profile("citizen-sign").policy_oids() == (x509.ObjectIdentifier("2.999.1.2"),)
    assert get_profile("citizen-sign").policy_oids("1.3.6.1.4.1.99999.1") == (
        x509.ObjectIdentifier("1.3.6.1.4.1.99999.1.2"),
    )


@pytest.mark.parametrize("arc", ["", "2", "3.1", "1.40", "2.999.x", "2..1", "2.01", "٢.١"])
def test_malformed_policy_arc_rejected(arc: str) -> None:
    with pytest.raises(InvalidPkiConfiguration):
        policy_oid(arc, 1)


@pytest.mark.parametrize("profile", SIGNING)
def test_sign_cert_has_non_repudiation_only(profile: str, issued: Issued) -> None:
    cert, _ = issued[profile]
    assert _usages(cert) == {"content_commitment"}
    assert _ext(cert, x509.KeyUsage).critical


@pytest.mark.parametrize("profile", AUTHENTICATION)
def test_auth_cert_has_digital_signature_only(profile: str, issued: Issued) -> None:
    cert, _ = issued[profile]
    assert _usages(cert) == {"digital_signature"}
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize("profile", ["root-ca", "issuing-ca"])
def test_ca_cert_signs_certificates_and_crls_only(profile: str, issued: Issued) -> None:
    cert, _ = issued[profile]
    assert _usages(cert) == {"key_cert_sign", "crl_sign"}
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    assert bc.value.path_length == (0 if profile == "issuing-ca" else None)


def test_root_names_no_ocsp_responder_nor_crl(hierarchy: Hierarchy) -> None:
    root = hierarchy.root
    assert root.issuer == root.subject
    assert not _has(root, x509.AuthorityInformationAccess)
    assert not _has(root, x509.CRLDistributionPoints)
    assert not _has(root, x509.CertificatePolicies)


def test_issuing_ca_points_at_the_root_crl_and_certificate(hierarchy: Hierarchy) -> None:
    ca = hierarchy.cas["government"]
    aia = _ext(ca, x509.AuthorityInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in aia] == [
        (AuthorityInformationAccessOID.CA_ISSUERS, f"{BASE_URL}/pki/ca/root.crt")
    ]
    crldp = _ext(ca, x509.CRLDistributionPoints).value
    assert crldp[0].full_name[0].value == f"{BASE_URL}/pki/crl/root.crl"
    policies = _ext(ca, x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.5.29.32.0"]


@pytest.mark.parametrize("profile", [p for p in LEAVES if p != ProfileName.OCSP_RESPONDER])
def test_leaf_names_its_ca_ocsp_and_crls(profile: str, issued: Issued) -> None:
    cert, ca = issued[profile]
    aia = {
        (d.access_method, d.access_location.value)
        for d in _ext(cert, x509.AuthorityInformationAccess).value
    }
    assert aia == {
        (AuthorityInformationAccessOID.OCSP, f"{BASE_URL}/pki/ocsp/{ca}"),
        (AuthorityInformationAccessOID.CA_ISSUERS, f"{BASE_URL}/pki/ca/{ca}.crt"),
    }
    crl = _ext(cert, x509.CRLDistributionPoints).value[0].full_name[0].value
    assert crl == f"{BASE_URL}/pki/crl/{ca}.crl"
    delta = _ext(cert, x509.FreshestCRL).value[0].full_name[0].value
    assert delta == f"{BASE_URL}/pki/crl/{ca}-delta.crl"
    policies = [p.policy_identifier for p in _ext(cert, x509.CertificatePolicies).value]
    assert policies == [policy_oid(DEFAULT_POLICY_ARC, get_profile(profile).policy_number or 0)]


def test_tsa_cert_has_critical_time_stamping_eku_only(issued: Issued) -> None:
    cert, _ = issued[ProfileName.TSA]
    eku = _ext(cert, x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert _usages(cert) == {"digital_signature"}


def test_ocsp_responder_is_short_lived_with_nocheck(issued: Issued) -> None:
    cert, _ = issued[ProfileName.OCSP_RESPONDER]
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert _has(cert, x509.OCSPNoCheck)
    assert _usages(cert) == {"digital_signature"}
    assert cert.not_valid_after_utc - cert.not_valid_before_utc < dt.timedelta(days=91)
    # RFC 6960 §4.2.2.2.1: a nocheck responder names no revocation source of its own.
    assert not _has(cert, x509.CRLDistributionPoints)
    aia = _ext(cert, x509.AuthorityInformationAccess).value
    assert [d.access_method for d in aia] == [AuthorityInformationAccessOID.CA_ISSUERS]


def test_tls_server_cert_has_dns_names_and_server_auth(issued: Issued) -> None:
    cert, _ = issued[ProfileName.TLS_SERVER]
    san = _ext(cert, x509.SubjectAlternativeName)
    assert not san.critical
    assert san.value.get_values_for_type(x509.DNSName) == list(TLS_NAMES)
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_health_dsc_eku_lists_exactly_the_granted_dcc_purposes(issued: Issued) -> None:
    cert, _ = issued[ProfileName.HEALTH_DSC]
    eku = _ext(cert, x509.ExtendedKeyUsage)
    assert not eku.critical
    assert sorted(o.dotted_string for o in eku.value) == sorted(
        p.oid.dotted_string for p in DCC_PURPOSES
    )
    # EU DCC: .1 test, .2 vaccination, .3 recovery.
    assert {o.dotted_string for o in eku.value} == {
        "1.3.6.1.4.1.1847.2021.1.2",
        "1.3.6.1.4.1.1847.2021.1.3",
    }
    assert _usages(cert) == {"digital_signature"}


@pytest.mark.parametrize(
    ("profile", "qc_type"),
    [
        (ProfileName.CITIZEN_SIGN, QcType.ESIGN),
        (ProfileName.GOV_SIGN, QcType.ESIGN),
        (ProfileName.ESEAL, QcType.ESEAL),
        (ProfileName.CITIZEN_AUTH, None),
        (ProfileName.GOV_AUTH, None),
    ],
)
def test_person_certs_carry_semantics_and_qc_claims(
    profile: str, qc_type: QcType | None, issued: Issued
) -> None:
    cert, _ = issued[profile]
    ext = cert.extensions.get_extension_for_oid(QC_STATEMENTS_OID)
    assert not ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    qc = QcStatements.from_der(ext.value.value)
    assert qc.semantics is not None
    assert qc.qc_type is qc_type
    assert qc.compliance is (qc_type is not None)


@pytest.mark.parametrize("profile", ["root-ca", "issuing-ca", *SERVICES, "tls-server"])
def test_ca_and_service_certs_make_no_qc_claims(profile: str, issued: Issued) -> None:
    cert, _ = issued[profile]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_oid(QC_STATEMENTS_OID)


def test_proofing_levels_for_the_issuance_slice() -> None:
    assert get_profile("citizen-auth").proofing_level is AssuranceLevel.SUBSTANTIAL
    for name in ("citizen-sign", "gov-auth", "gov-sign", "eseal"):
        assert get_profile(name).proofing_level is AssuranceLevel.HIGH
    for name in ("root-ca", "issuing-ca", "tsa", "ocsp-responder", "tls-server", "health-dsc"):
        assert get_profile(name).proofing_level is None


def test_every_leaf_has_key_identifiers(issued: Issued) -> None:
    for cert, _ in issued.values():
        ski = _ext(cert, x509.SubjectKeyIdentifier).value
        aki = _ext(cert, x509.AuthorityKeyIdentifier).value
        assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())  # type: ignore[arg-type]
        assert aki.authority_cert_issuer is None
        assert aki.key_identifier is not None
