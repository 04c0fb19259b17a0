"""Key policy, validity, serials, issuer checks and signature algorithms (ca/x509build.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from ca.errors import (
    CAError,
    InvalidCertificateRequest,
    KeyPolicyViolation,
    ProfileViolation,
)
from ca.hierarchy import Hierarchy
from ca.names import (
    LegalPersonSubject,
    NaturalPersonSubject,
    legal_person_name,
    natural_person_name,
    service_name,
)
from ca.profiles import CertificateProfile, DccPurpose, get_profile
from ca.urls import PkiUrls
from ca.x509build import RsaSignaturePadding, build_certificate, check_public_key, new_serial
from core.errors import InvalidInput
from hsm_adapters.base import BackendPrivateKey, KeyAlgorithm
from tests.ca.conftest import BASE_URL, HIERARCHY_TIME, MemoryKeyBackend, issue, make_key

URLS = PkiUrls(BASE_URL)


@pytest.fixture(scope="module")
def person(citizen: NaturalPersonSubject) -> x509.Name:
    return natural_person_name(citizen)


def _build(
    profile: str | CertificateProfile,
    hierarchy: Hierarchy,
    backend: MemoryKeyBackend,
    subject: x509.Name,
    *,
    ca_name: str = "citizen",
    key: BackendPrivateKey | None = None,
    not_before: dt.datetime = HIERARCHY_TIME,
    not_after: dt.datetime | None = None,
    serial: int | None = None,
    **kwargs: object,
) -> x509.Certificate:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    key = key or make_key(KeyAlgorithm.EC_P256)
    return build_certificate(
        prof,
        subject=subject,
        public_key=key.public_key(),
        issuer_cert=hierarchy.cas[ca_name],
        issuer_key=backend.load(f"ca-{ca_name}"),
        serial=new_serial() if serial is None else serial,
        not_before=not_before,
        not_after=not_after or prof.validity_window(at=not_before)[1],
        urls=URLS,
        ca_name=ca_name,
        **kwargs,  # type: ignore[arg-type]
    )


# --- serial numbers ---------------------------------------------------------------------------


def test_serials_are_positive_20_octets_and_unique_across_1000() -> None:
    serials = [new_serial() for _ in range(1000)]
    assert len(set(serials)) == 1000
    for serial in serials:
        assert 0 < serial < 2**159
        # The DER INTEGER content never needs more than 20 octets (RFC 5280 §4.1.2.2).
        assert len(serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)) <= 20
    # 159 random bits: the top bits are used, so these are not small counters.
    assert max(serials).bit_length() >= 150


def test_serial_is_written_into_the_certificate(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    serial = new_serial()
    cert = _build("citizen-auth", hierarchy, dev_backend, person, serial=serial)
    assert cert.serial_number == serial


@pytest.mark.parametrize("serial", [0, -5, 2**159, 2**200])
def test_serial_zero_negative_or_over_20_octets_refused(
    serial: int, hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    with pytest.raises(InvalidCertificateRequest):
        _build("citizen-auth", hierarchy, dev_backend, person, serial=serial)


# --- key policy -------------------------------------------------------------------------------


def test_rsa_1024_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(KeyPolicyViolation) as info:
        check_public_key(get_profile("citizen-sign"), weak)
    assert "1024" in str(info.value)
    assert isinstance(info.value, InvalidInput)
    assert isinstance(info.value, CAError)


def test_rsa_exponent_3_refused() -> None:
    key = rsa.generate_private_key(public_exponent=3, key_size=2048).public_key()
    with pytest.raises(KeyPolicyViolation):
        check_public_key(get_profile("citizen-sign"), key)


def test_rsa_between_listed_sizes_accepted_and_above_4096_refused() -> None:
    profile = get_profile("eseal")
    odd = rsa.generate_private_key(public_exponent=65537, key_size=2560).public_key()
    assert check_public_key(profile, odd) is KeyAlgorithm.RSA_2048
    huge = rsa.generate_private_key(public_exponent=65537, key_size=4104).public_key()
    with pytest.raises(KeyPolicyViolation):
        check_public_key(profile, huge)


def test_p256_key_refused_where_the_profile_requires_p384() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(KeyPolicyViolation):
        check_public_key(get_profile("root-ca"), key)
    assert check_public_key(get_profile("root-ca"), make_key(KeyAlgorithm.EC_P384).public_key())


def test_p384_key_refused_for_dcc_signer() -> None:
    """EU DCC verifiers only know ES256 and PS256: a P-384 signer would sign unusable QRs."""
    with pytest.raises(KeyPolicyViolation):
        check_public_key(get_profile("health-dsc"), make_key(KeyAlgorithm.EC_P384).public_key())


@pytest.mark.parametrize("curve", [ec.SECP521R1(), ec.SECP256K1(), ec.BrainpoolP256R1()])
def test_other_curves_refused(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve).public_key()
    with pytest.raises(KeyPolicyViolation):
        check_public_key(get_profile("citizen-auth"), key)


def test_ed25519_refused_for_person_profiles() -> None:
    with pytest.raises(KeyPolicyViolation):
        check_public_key(get_profile("citizen-sign"), make_key(KeyAlgorithm.ED25519).public_key())


def test_key_policy_is_enforced_by_build_certificate(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyPolicyViolation):
        _build("citizen-auth", hierarchy, dev_backend, person, key=weak)


# --- validity ---------------------------------------------------------------------------------


def test_validity_never_beyond_the_issuer(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    issuer = hierarchy.cas["citizen"]
    late = issuer.not_valid_after_utc - dt.timedelta(days=30)
    cert = _build("citizen-auth", hierarchy, dev_backend, person, not_before=late)
    assert cert.not_valid_before_utc == late
    assert cert.not_valid_after_utc == issuer.not_valid_after_utc


def test_validity_of_every_hierarchy_certificate_nests_in_its_issuer(
    issued: dict[str, tuple[x509.Certificate, str]], hierarchy: Hierarchy
) -> None:
    for cert, ca_name in issued.values():
        issuer = hierarchy.cas[ca_name]
        assert issuer.not_valid_before_utc <= cert.not_valid_before_utc
        assert cert.not_valid_after_utc <= issuer.not_valid_after_utc


def test_validity_is_the_profile_period_inclusive(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    cert = _build("citizen-auth", hierarchy, dev_backend, person)
    period = cert.not_valid_after_utc - cert.not_valid_before_utc + dt.timedelta(seconds=1)
    assert period == get_profile("citizen-auth").validity


def test_validity_longer_than_the_profile_refused(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    too_late = HIERARCHY_TIME + get_profile("citizen-auth").validity
    with pytest.raises(ProfileViolation):
        _build("citizen-auth", hierarchy, dev_backend, person, not_after=too_late)


def test_validity_outside_the_issuer_refused(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    after = hierarchy.cas["citizen"].not_valid_after_utc + dt.timedelta(days=1)
    with pytest.raises(InvalidCertificateRequest):
        _build("citizen-auth", hierarchy, dev_backend, person, not_before=after)


def test_naive_datetime_refused(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    naive = dt.datetime(2027, 1, 1)  # naive on purpose
    with pytest.raises(InvalidCertificateRequest):
        _build(
            "citizen-auth",
            hierarchy,
            dev_backend,
            person,
            not_before=naive,
            not_after=naive + dt.timedelta(days=1),
        )


# --- the request against the profile ----------------------------------------------------------


def test_citizen_ca_cannot_issue_eseals(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, company: LegalPersonSubject
) -> None:
    with pytest.raises(ProfileViolation):
        _build("eseal", hierarchy, dev_backend, legal_person_name(company), ca_name="citizen")


def test_legal_person_name_refused_for_a_citizen_profile(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, company: LegalPersonSubject
) -> None:
    with pytest.raises(ProfileViolation):
        _build("citizen-sign", hierarchy, dev_backend, legal_person_name(company))


def test_person_name_refused_for_a_seal(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    with pytest.raises(ProfileViolation):
        _build("eseal", hierarchy, dev_backend, person, ca_name="entity")


def test_tls_server_needs_dns_names(hierarchy: Hierarchy, dev_backend: MemoryKeyBackend) -> None:
    web = service_name("www.moh.gov.kh", organisation="Ministry of Health")
    with pytest.raises(ProfileViolation):
        _build("tls-server", hierarchy, dev_backend, web, ca_name="government")


@pytest.mark.parametrize(
    "dns",
    ["*.gov.kh", "localhost", "WWW.MOH.GOV.KH", "10.0.0.1", "a..kh", "-x.gov.kh", "x_y.gov.kh"],
)
def test_wildcard_ip_and_malformed_dns_names_refused(
    dns: str, hierarchy: Hierarchy, dev_backend: MemoryKeyBackend
) -> None:
    web = service_name("www.moh.gov.kh", organisation="Ministry of Health")
    with pytest.raises(ProfileViolation):
        _build("tls-server", hierarchy, dev_backend, web, ca_name="government", san=[dns])


def test_san_refused_on_person_certificates(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    with pytest.raises(ProfileViolation):
        _build("citizen-auth", hierarchy, dev_backend, person, san=["evil.example.com"])


def test_dcc_signer_needs_its_purposes(hierarchy: Hierarchy, dev_backend: MemoryKeyBackend) -> None:
    dsc = service_name("Health DSC", organisation="Ministry of Health")
    with pytest.raises(ProfileViolation):
        _build("health-dsc", hierarchy, dev_backend, dsc, ca_name="health")
    cert = _build(
        "health-dsc",
        hierarchy,
        dev_backend,
        dsc,
        ca_name="health",
        dcc_purposes=[DccPurpose.TEST],
    )
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == ["1.3.6.1.4.1.1847.2021.1.1"]


def test_dcc_purposes_refused_outside_health_dsc(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    with pytest.raises(ProfileViolation):
        _build("citizen-auth", hierarchy, dev_backend, person, dcc_purposes=[DccPurpose.TEST])


def test_unknown_dcc_purpose_refused(hierarchy: Hierarchy, dev_backend: MemoryKeyBackend) -> None:
    dsc = service_name("Health DSC", organisation="Ministry of Health")
    with pytest.raises(ProfileViolation):
        _build("health-dsc", hierarchy, dev_backend, dsc, ca_name="health", dcc_purposes=["x"])


# --- the issuer -------------------------------------------------------------------------------


def test_wrong_issuer_key_refused(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    """A certificate naming the citizen CA but signed by another key would be a forgery."""
    prof = get_profile("citizen-auth")
    start, end = prof.validity_window(at=HIERARCHY_TIME)
    with pytest.raises(InvalidCertificateRequest):
        build_certificate(
            prof,
            subject=person,
            public_key=make_key(KeyAlgorithm.EC_P256).public_key(),
            issuer_cert=hierarchy.cas["citizen"],
            issuer_key=dev_backend.load("ca-government"),
            serial=new_serial(),
            not_before=start,
            not_after=end,
            urls=URLS,
            ca_name="citizen",
        )


def test_leaf_cannot_issue_certificates(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    ocsp = hierarchy.ocsp_responders["citizen"]
    prof = get_profile("citizen-auth")
    start, end = prof.validity_window(at=HIERARCHY_TIME)
    with pytest.raises(InvalidCertificateRequest):
        build_certificate(
            prof,
            subject=person,
            public_key=make_key(KeyAlgorithm.EC_P256).public_key(),
            issuer_cert=ocsp,
            issuer_key=dev_backend.load("ocsp-citizen"),
            serial=new_serial(),
            not_before=start,
            not_after=end,
            urls=URLS,
            ca_name="citizen",
        )


def test_only_the_root_profile_is_self_signed(person: x509.Name) -> None:
    key = make_key(KeyAlgorithm.EC_P256)
    prof = get_profile("citizen-auth")
    start, end = prof.validity_window(at=HIERARCHY_TIME)
    with pytest.raises(ProfileViolation):
        build_certificate(
            prof,
            subject=person,
            public_key=key.public_key(),
            issuer_cert=None,
            issuer_key=key,
            serial=new_serial(),
            not_before=start,
            not_after=end,
            urls=URLS,
            ca_name="citizen",
        )


# --- signature algorithms ---------------------------------------------------------------------


def _self_signed(key: BackendPrivateKey, **kwargs: object) -> x509.Certificate:
    # A root of any algorithm, to exercise every signing path.
    prof = dataclasses.replace(get_profile("root-ca"), key_algorithms=frozenset(KeyAlgorithm))
    start, end = prof.validity_window(at=HIERARCHY_TIME)
    return build_certificate(
        prof,
        subject=service_name("Test Root", organisation="NatID Test"),
        public_key=key.public_key(),
        issuer_cert=None,
        issuer_key=key,
        serial=new_serial(),
        not_before=start,
        not_after=end,
        urls=URLS,
        ca_name="root",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("algorithm", "oid"),
    [
        (KeyAlgorithm.EC_P256, "1.2.840.10045.4.3.2"),  # ecdsa-with-SHA256
        (KeyAlgorithm.EC_P384, "1.2.840.10045.4.3.3"),  # ecdsa-with-SHA384
        (KeyAlgorithm.RSA_2048, "1.2.840.113549.1.1.10"),  # RSASSA-PSS
        (KeyAlgorithm.ED25519, "1.3.101.112"),  # Ed25519
    ],
)
def test_signature_algorithm_follows_the_issuer_key(algorithm: KeyAlgorithm, oid: str) -> None:
    cert = _self_signed(make_key(algorithm))
    assert cert.signature_algorithm_oid.dotted_string == oid
    cert.verify_directly_issued_by(cert)


def test_rsa_pss_uses_sha256_mgf1_sha256_and_32_byte_salt() -> None:
    cert = _self_signed(make_key(KeyAlgorithm.RSA_2048))
    params = cert.signature_algorithm_parameters
    assert isinstance(params, padding.PSS)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    # RFC 4055 §3.1 / RFC 8017: the salt is as long as the hash.
    der = cert.public_bytes(Encoding.DER)
    assert bytes.fromhex("a203020120") in der  # saltLength [2] INTEGER 32


def test_rsa_pkcs1v15_on_request() -> None:
    cert = _self_signed(make_key(KeyAlgorithm.RSA_2048), rsa_padding=RsaSignaturePadding.PKCS1V15)
    assert cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.11"
    cert.verify_directly_issued_by(cert)


def test_issued_certificate_verifies_under_its_issuer(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend, person: x509.Name
) -> None:
    cert = issue(hierarchy, dev_backend, "citizen-sign", person, ca_name="citizen")
    cert.verify_directly_issued_by(hierarchy.cas["citizen"])
    assert cert.issuer == hierarchy.cas["citizen"].subject
