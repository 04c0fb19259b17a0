"""Issuance against the register: who may get which certificate, under which name.

Every requestable profile is issued from a CSR for a subject added to the register, and the
result passes ``openssl verify -x509_strict`` against the chain the CA stored. The subject DN
comes from the register whatever the CSR claims; subjects that do not exist, are not active,
were not proven well enough, or are the wrong kind are refused and nothing is stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca.errors import (
    ProfileViolation,
    SubjectNotEligible,
    UnknownSubject,
)
from ca.profiles import DccPurpose
from ca.service import CAService
from registry import EmbeddedRegister
from tests.ca._issuance import (
    ACTOR,
    add_entity,
    add_person,
    add_servant,
    ca_service,
    ec_key,
    hierarchy_keys,
    ledger,
    make_csr,
    openssl_verify,
    register,
    row_counts,
    session_hierarchy,
    transparency,
)

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
]


def subject_for(profile: str, register: EmbeddedRegister) -> str:
    """A register id that may have a certificate of ``profile``."""
    if profile.startswith("citizen"):
        return add_person(register).id
    if profile.startswith("gov"):
        ministry = add_entity(register, kind="ministry")
        return add_servant(register, add_person(register), ministry).id
    if profile == "eseal":
        return add_entity(register).id
    return add_entity(register, kind="ministry").id


@pytest.mark.parametrize(
    ("profile", "issuer"),
    [
        ("citizen-auth", "citizen"),
        ("citizen-sign", "citizen"),
        ("gov-auth", "government"),
        ("gov-sign", "government"),
        ("eseal", "entity"),
        ("health-dsc", "health"),
        ("tls-server", "government"),
    ],
)
def test_each_profile_issued_from_a_csr_verifies_with_openssl(
    ca_service: CAService,
    register: EmbeddedRegister,
    tmp_path: Path,
    profile: str,
    issuer: str,
) -> None:
    subject_id = subject_for(profile, register)
    csr = make_csr(ec_key(), dns_names=("portal.moh.gov.kh",) if profile == "tls-server" else ())
    issued = ca_service.issue_from_csr(profile, subject_id, csr, actor=ACTOR)

    assert (issued.profile, issued.issuer, issued.subject_id) == (profile, issuer, subject_id)
    chain = ca_service.chain(issued.issuer)
    done = openssl_verify(tmp_path, issued.certificate, chain)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ca_service.get(issued.serial_hex).certificate == issued.certificate


def test_subject_dn_comes_from_the_register_not_the_csr(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    person = add_person(register, name_latin="Chan Sophea")
    claimed = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Mallory Admin"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "IDCKH-999999999"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ministry of Interior"),
        ]
    )
    csr = make_csr(
        ec_key(),
        subject=claimed,
        dns_names=("login.gov.kh",),
        extensions=[
            x509.BasicConstraints(ca=True, path_length=None),
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
        ],
    )
    cert = ca_service.issue_from_csr("citizen-auth", person.id, csr, actor=ACTOR).certificate

    name = cert.subject
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Chan Sophea"
    assert name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == (
        f"IDCKH-{person.national_id}"
    )
    assert name.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value == person.given_name_km
    assert name.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "KH"
    assert not name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    # The CSR's extension request is ignored: no CA bit, no code signing, no SAN.
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == (
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    )
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.BasicConstraints)
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_accented_transliteration_is_written_in_ascii(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    person = add_person(register, name_latin="Sók Dára")
    cert = ca_service.issue_from_csr(
        "citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR
    ).certificate
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Sok Dara"


def test_civil_servant_dn_names_the_ministry_unit_and_title_in_khmer(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    ministry = add_entity(register, kind="ministry")
    servant = add_servant(register, add_person(register), ministry)
    cert = ca_service.issue_from_csr(
        "gov-sign", servant.id, make_csr(ec_key()), actor=ACTOR
    ).certificate
    values = {attr.oid: attr.value for attr in cert.subject}
    assert values[NameOID.ORGANIZATION_NAME] == ministry.name_km
    assert values[NameOID.ORGANIZATIONAL_UNIT_NAME] == "នាយកដ្ឋានរដ្ឋាភិបាលឌីជីថល"
    assert values[NameOID.TITLE] == "ប្រធាននាយកដ្ឋាន"


def test_health_signer_carries_the_requested_dcc_purposes_only(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    ministry = add_entity(register, kind="ministry")
    cert = ca_service.issue_from_csr(
        "health-dsc",
        ministry.id,
        make_csr(ec_key()),
        actor=ACTOR,
        dcc_purposes={DccPurpose.VACCINATION},
    ).certificate
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [DccPurpose.VACCINATION.oid]


# --- refusals ----------------------------------------------------------------------------------


def test_unknown_subject_refused_and_nothing_stored(
    ca_service: CAService, session_factory: object
) -> None:
    before = row_counts(session_factory)  # type: ignore[arg-type]
    with pytest.raises(UnknownSubject, match="no person with id"):
        ca_service.issue_from_csr(
            "citizen-auth", "6f1c1a57-0000-4000-8000-000000000000", make_csr(ec_key()), actor=ACTOR
        )
    assert row_counts(session_factory) == before  # type: ignore[arg-type]


def test_national_id_given_as_subject_id_is_not_echoed(ca_service: CAService) -> None:
    with pytest.raises(UnknownSubject) as raised:
        ca_service.issue_from_csr("citizen-auth", "012345678", make_csr(ec_key()), actor=ACTOR)
    assert "012345678" not in str(raised.value)


@pytest.mark.parametrize(
    ("level", "profile"),
    [(None, "citizen-auth"), ("low", "citizen-auth"), ("substantial", "citizen-sign")],
)
def test_proofing_level_too_low_refused(
    ca_service: CAService, register: EmbeddedRegister, level: str | None, profile: str
) -> None:
    person = add_person(register, level=level)
    with pytest.raises(SubjectNotEligible, match="needs identity proofing at level"):
        ca_service.issue_from_csr(profile, person.id, make_csr(ec_key()), actor=ACTOR)
    assert ca_service.list(subject_id=person.id) == ()


def test_substantial_proofing_is_enough_for_authentication(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    person = add_person(register, level="substantial")
    issued = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)
    assert issued.subject_id == person.id


def test_deceased_person_refused(ca_service: CAService, register: EmbeddedRegister) -> None:
    person = add_person(register, status="deceased")
    with pytest.raises(SubjectNotEligible, match="not active"):
        ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)


def test_former_civil_servant_refused(ca_service: CAService, register: EmbeddedRegister) -> None:
    ministry = add_entity(register, kind="ministry")
    servant = add_servant(register, add_person(register), ministry, active=False)
    with pytest.raises(SubjectNotEligible, match="no longer holds the position"):
        ca_service.issue_from_csr("gov-auth", servant.id, make_csr(ec_key()), actor=ACTOR)


def test_person_id_cannot_get_a_government_certificate(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    person = add_person(register)
    with pytest.raises(UnknownSubject, match="no civil servant"):
        ca_service.issue_from_csr("gov-sign", person.id, make_csr(ec_key()), actor=ACTOR)


def test_dissolved_company_gets_no_eseal(ca_service: CAService, register: EmbeddedRegister) -> None:
    company = add_entity(register, status="dissolved")
    with pytest.raises(SubjectNotEligible, match="dissolved"):
        ca_service.issue_from_csr("eseal", company.id, make_csr(ec_key()), actor=ACTOR)


def test_company_cannot_get_a_government_web_site_certificate(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    company = add_entity(register)
    csr = make_csr(ec_key(), dns_names=("rice.com.kh",))
    with pytest.raises(SubjectNotEligible, match="ministries and public institutions"):
        ca_service.issue_from_csr("tls-server", company.id, csr, actor=ACTOR)


def test_tls_server_without_dns_names_refused(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    ministry = add_entity(register, kind="ministry")
    with pytest.raises(ProfileViolation, match="needs DNS names"):
        ca_service.issue_from_csr("tls-server", ministry.id, make_csr(ec_key()), actor=ACTOR)


@pytest.mark.parametrize("profile", ["root-ca", "issuing-ca", "ocsp-responder", "tsa"])
def test_hierarchy_profiles_cannot_be_requested(
    ca_service: CAService, register: EmbeddedRegister, profile: str
) -> None:
    entity = add_entity(register, kind="ministry")
    with pytest.raises(ProfileViolation, match="only with the CA hierarchy"):
        ca_service.issue_from_csr(profile, entity.id, make_csr(ec_key()), actor=ACTOR)
