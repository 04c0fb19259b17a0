"""Subject names: ETSI EN 319 412-2/-3 attributes, Khmer in UTF8String, no ID numbers leaked."""

from __future__ import annotations

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from ca.errors import InvalidSubjectName
from ca.hierarchy import Hierarchy
from ca.names import (
    CivilServantSubject,
    LegalPersonSubject,
    NaturalPersonSubject,
    civil_servant_name,
    legal_person_name,
    natural_person_name,
    service_name,
)
from tests.ca.conftest import MemoryKeyBackend, issue

# DER universal tags of the string types (X.680 §8.4).
UTF8STRING = 12
PRINTABLESTRING = 19


def _tags(name: x509.Name) -> dict[str, tuple[int, str]]:
    """Attribute short name -> (DER tag of its value, its text), parsed from the DER encoding."""
    parsed = asn1_x509.Name.load(name.public_bytes())
    out = {}
    for rdn in parsed.chosen:
        for atv in rdn:
            value = atv["value"]
            inner = value.chosen if hasattr(value, "chosen") else value
            out[atv["type"].dotted] = (inner.tag, inner.native)
    return out


def test_natural_person_dn_per_en_319_412_2(citizen: NaturalPersonSubject) -> None:
    name = natural_person_name(citizen)
    assert [(a.oid, a.value) for a in name] == [
        (NameOID.COUNTRY_NAME, "KH"),
        (NameOID.SURNAME, "សុខ"),
        (NameOID.GIVEN_NAME, "ដារ៉ា"),
        (NameOID.SERIAL_NUMBER, "IDCKH-010203040"),
        (NameOID.COMMON_NAME, "SOK DARA"),
    ]


def test_khmer_names_are_utf8string_and_country_printable(
    citizen: NaturalPersonSubject,
) -> None:
    tags = _tags(natural_person_name(citizen))
    assert tags[NameOID.GIVEN_NAME.dotted_string] == (UTF8STRING, "ដារ៉ា")
    assert tags[NameOID.SURNAME.dotted_string] == (UTF8STRING, "សុខ")
    assert tags[NameOID.COMMON_NAME.dotted_string] == (UTF8STRING, "SOK DARA")
    assert tags[NameOID.COUNTRY_NAME.dotted_string] == (PRINTABLESTRING, "KH")
    assert tags[NameOID.SERIAL_NUMBER.dotted_string] == (PRINTABLESTRING, "IDCKH-010203040")


def test_khmer_names_round_trip_through_a_certificate(
    hierarchy: Hierarchy,
    dev_backend: MemoryKeyBackend,
    citizen: NaturalPersonSubject,
    company: LegalPersonSubject,
) -> None:
    cert = issue(
        hierarchy, dev_backend, "citizen-sign", natural_person_name(citizen), ca_name="citizen"
    )
    again = x509.load_der_x509_certificate(cert.public_bytes(Encoding.DER))
    assert again.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)[0].value == "ដារ៉ា"
    assert again.subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "សុខ"

    seal = issue(hierarchy, dev_backend, "eseal", legal_person_name(company), ca_name="entity")
    org = x509.load_der_x509_certificate(seal.public_bytes(Encoding.DER)).subject
    assert org.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == company.name_km


def test_legal_person_dn_per_en_319_412_3(company: LegalPersonSubject) -> None:
    tags = _tags(legal_person_name(company))
    assert tags[NameOID.ORGANIZATION_NAME.dotted_string] == (UTF8STRING, company.name_km)
    assert tags[NameOID.ORGANIZATION_IDENTIFIER.dotted_string] == (UTF8STRING, "NTRKH-00012345")
    assert tags[NameOID.COMMON_NAME.dotted_string] == (UTF8STRING, company.name_en)
    assert tags[NameOID.COUNTRY_NAME.dotted_string] == (PRINTABLESTRING, "KH")


def test_civil_servant_dn_adds_organisation_unit_and_title(
    civil_servant: CivilServantSubject,
) -> None:
    name = civil_servant_name(civil_servant)
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        civil_servant.organisation_name
    )
    assert name.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == (
        civil_servant.organisation_unit
    )
    assert name.get_attributes_for_oid(NameOID.TITLE)[0].value == "Director"
    assert name.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "IDCKH-010203040"
    assert not name.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)


def test_national_id_never_in_repr_or_error_messages(citizen: NaturalPersonSubject) -> None:
    assert "010203040" not in repr(citizen)
    assert "010203040" not in repr(CivilServantSubject(citizen, "ក្រសួង"))
    with pytest.raises(InvalidSubjectName) as info:
        NaturalPersonSubject("ដារ៉ា", "សុខ", "DARA", "SOK", "0102 SECRET 99")
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    "field",
    ["given_name_km", "family_name_km", "given_name_latin", "family_name_latin"],
)
@pytest.mark.parametrize(
    "bad",
    ["", " SOK", "SOK\n", "SO\x00K", "\u202eKOS", "S\u200dOK"],
    ids=["empty", "leading-space", "newline", "nul", "bidi-override", "zero-width-joiner"],
)
def test_spoofing_characters_in_names_rejected(field: str, bad: str) -> None:
    """Control and bidi characters would let a name display as someone else's."""
    values = {
        "given_name_km": "ដារ៉ា",
        "family_name_km": "សុខ",
        "given_name_latin": "DARA",
        "family_name_latin": "SOK",
    }
    values[field] = bad
    with pytest.raises(InvalidSubjectName):
        NaturalPersonSubject(**values, national_id="010203040")


def test_khmer_in_latin_transliteration_rejected() -> None:
    with pytest.raises(InvalidSubjectName):
        NaturalPersonSubject("ដារ៉ា", "សុខ", "ដារ៉ា", "SOK", "010203040")


@pytest.mark.parametrize("register_no", ["", "12 34", "ab\tc", "x" * 65])
def test_register_number_with_whitespace_or_too_long_rejected(register_no: str) -> None:
    with pytest.raises(InvalidSubjectName):
        LegalPersonSubject("Angkor Rice", "អង្គរ", register_no)


def test_country_must_be_iso_3166_alpha_2() -> None:
    with pytest.raises(InvalidSubjectName):
        NaturalPersonSubject("ដារ៉ា", "សុខ", "DARA", "SOK", "010203040", country="KHM")
    with pytest.raises(InvalidSubjectName):
        service_name("NatID Root CA", organisation="NatID", country="kh")


def test_common_name_over_64_bytes_rejected() -> None:
    with pytest.raises(InvalidSubjectName):
        service_name("x" * 65, organisation="NatID")
    with pytest.raises(InvalidSubjectName):
        LegalPersonSubject("A" * 65, "អង្គរ", "123")


_KHMER = st.text(alphabet=st.characters(min_codepoint=0x1780, max_codepoint=0x17FF), max_size=40)


@settings(max_examples=200)
@given(
    given_km=_KHMER,
    family_km=_KHMER,
    national_id=st.one_of(st.from_regex(r"[0-9A-Z]{6,20}", fullmatch=True), st.text(max_size=25)),
)
def test_any_accepted_name_round_trips_through_der(
    given_km: str, family_km: str, national_id: str
) -> None:
    """Whatever the subject types accept, the DN encodes and decodes back unchanged."""
    try:
        subject = NaturalPersonSubject(given_km, family_km, "DARA", "SOK", national_id)
    except InvalidSubjectName:
        return
    name = natural_person_name(subject)
    decoded = asn1_x509.Name.load(name.public_bytes()).native
    assert decoded["given_name"] == given_km
    assert decoded["surname"] == family_km
    assert decoded["serial_number"] == f"IDCKH-{national_id}"
