"""Subjects as the CA needs them, and their distinguished names.

* Natural persons: ETSI EN 319 412-2 §4.2.4 (countryName, givenName and/or surname,
  commonName, serialNumber) with the EN 319 412-1 §5.1.3 semantics identifier
  ``IDCKH-<identity card number>`` in serialNumber.
* Civil servants: a natural person plus organizationName, organizationalUnitName and title
  (EN 319 412-2 §4.2.4 allows them for a person associated with an organisation).
* Legal persons: EN 319 412-3 §4.2.1 (countryName, organizationName, organizationIdentifier,
  commonName) with the EN 319 412-1 §5.1.4 identifier ``NTRKH-<register number>``.
* CAs and services (OCSP responders, the TSA, health document signers, web sites):
  countryName, organizationName, commonName (RFC 5280 §4.1.2.4; EN 319 412-2 §4.2.3.1 for CAs).

Which attribute carries which script (docs/ca-profiles.md, "Names"): the structured name
attributes (givenName, surname, organizationName of a legal person) carry the name as
registered, in Khmer; commonName, the one attribute every tool displays, carries the Latin
transliteration so that ASCII-only relying parties can show and match it. Every string is
UTF8String (RFC 5280 §4.1.2.4: "CAs MUST use UTF8String"), except countryName and
serialNumber, which X.520 defines as PrintableString.

These are the CA's own types, not the register's: the issuance slice maps register records to
them. The national ID number is kept out of ``repr()`` and out of every error message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from ca.errors import InvalidSubjectName

__all__ = [
    "CivilServantSubject",
    "LegalPersonSubject",
    "NaturalPersonSubject",
    "civil_servant_name",
    "legal_person_name",
    "natural_person_name",
    "service_name",
]

#: ETSI EN 319 412-1 §5.1.3: "IDC" (identity card number) + ISO 3166 country + "-".
NATURAL_PERSON_ID_SCHEME = "IDC"
#: ETSI EN 319 412-1 §5.1.4: "NTR" (national trade register) + ISO 3166 country + "-".
LEGAL_PERSON_ID_SCHEME = "NTR"

_COUNTRY = re.compile(r"[A-Z]{2}")
# An identity card number is PrintableString (X.520 serialNumber) and goes into a semantics
# identifier, so letters and digits only.
_NATIONAL_ID = re.compile(r"[0-9A-Z]{6,20}")
# A register number: no whitespace (eIDAS LegalPersonIdentifier, EN 319 412-1 LEG-5.1.6-03).
_REGISTER_NO = re.compile(r"[0-9A-Za-z][0-9A-Za-z./-]{0,63}")
# Latin transliterations: what an ASCII-only relying party can show and compare.
_LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z .'-]*")

# Upper bounds (RFC 5280 Appendix A: ub-common-name, ub-organization-name, ub-title 64;
# ub-name 32768, kept to a sane 128). EN 319 412-2 NAT-4.2.4-18 and EN 319 412-3 LEG-4.2.1-9
# allow longer person and organisation names; 128 leaves room for long Khmer names.
_MAX_COMMON_NAME_BYTES = 64
_MAX_SHORT = 64
_MAX_LONG = 128


def _text(value: str, what: str, *, max_len: int) -> str:
    """A non-empty, trimmed, printable Unicode string (no control or format characters).

    Khmer needs U+200B (ZERO WIDTH SPACE) as a word separator in some texts, which is a format
    character (Cf); it is allowed, every other control or format character is refused.
    """
    if not isinstance(value, str):
        raise InvalidSubjectName(f"{what} must be a string, got {type(value).__name__}")
    if not value or value != value.strip():
        raise InvalidSubjectName(f"{what} must be non-empty without surrounding whitespace")
    if len(value) > max_len:
        raise InvalidSubjectName(f"{what} is {len(value)} characters long, at most {max_len}")
    for ch in value:
        category = unicodedata.category(ch)
        if category in {"Cc", "Cs", "Co", "Cn"} or (category == "Cf" and ch != "\u200b"):
            raise InvalidSubjectName(f"{what} contains the character U+{ord(ch):04X}")
    return value


def _latin(value: str, what: str) -> str:
    _text(value, what, max_len=_MAX_SHORT)
    if _LATIN_NAME.fullmatch(value) is None:
        raise InvalidSubjectName(
            f"{what} must be a Latin transliteration (A-Z, a-z, space, . ' -), got {value!r}"
        )
    return value


def _country(value: str) -> str:
    if not isinstance(value, str) or _COUNTRY.fullmatch(value) is None:
        raise InvalidSubjectName(f"country must be an ISO 3166-1 alpha-2 code, got {value!r}")
    return value


def _common_name(value: str) -> str:
    if len(value.encode("utf-8")) > _MAX_COMMON_NAME_BYTES:
        raise InvalidSubjectName(
            f"the commonName {value[:20]!r}... is longer than {_MAX_COMMON_NAME_BYTES} bytes"
        )
    return value


@dataclass(frozen=True, slots=True)
class NaturalPersonSubject:
    """A citizen or resident as a certificate names them."""

    given_name_km: str
    family_name_km: str
    given_name_latin: str
    family_name_latin: str
    national_id: str = field(repr=False)
    country: str = "KH"

    def __post_init__(self) -> None:
        _text(self.given_name_km, "given_name_km", max_len=_MAX_LONG)
        _text(self.family_name_km, "family_name_km", max_len=_MAX_LONG)
        _latin(self.given_name_latin, "given_name_latin")
        _latin(self.family_name_latin, "family_name_latin")
        _country(self.country)
        if (
            not isinstance(self.national_id, str)
            or _NATIONAL_ID.fullmatch(self.national_id) is None
        ):
            # The value itself is never shown: it is a national ID number.
            raise InvalidSubjectName(
                "national_id must be 6-20 characters of 0-9 A-Z (the identity card number)"
            )
        _common_name(self.latin_name)

    @property
    def latin_name(self) -> str:
        """The name as an ASCII-only reader shows it: family name first, as in Khmer usage."""
        return f"{self.family_name_latin} {self.given_name_latin}"

    @property
    def semantics_identifier(self) -> str:
        """``IDCKH-<identity card number>`` (EN 319 412-1 §5.1.3)."""
        return f"{NATURAL_PERSON_ID_SCHEME}{self.country}-{self.national_id}"


@dataclass(frozen=True, slots=True)
class LegalPersonSubject:
    """A company, ministry, NGO or other registered organisation."""

    name_en: str
    name_km: str
    register_no: str
    country: str = "KH"

    def __post_init__(self) -> None:
        _text(self.name_km, "name_km", max_len=_MAX_LONG)
        _text(self.name_en, "name_en", max_len=_MAX_SHORT)
        if not self.name_en.isascii():
            raise InvalidSubjectName("name_en must be ASCII (it is the commonName)")
        _common_name(self.name_en)
        _country(self.country)
        if (
            not isinstance(self.register_no, str)
            or _REGISTER_NO.fullmatch(self.register_no) is None
        ):
            raise InvalidSubjectName(
                "register_no must be 1-64 characters of 0-9 A-Z a-z . / -, "
                f"got {self.register_no!r}"
            )

    @property
    def organization_identifier(self) -> str:
        """``NTRKH-<register number>`` (EN 319 412-1 §5.1.4)."""
        return f"{LEGAL_PERSON_ID_SCHEME}{self.country}-{self.register_no}"


@dataclass(frozen=True, slots=True)
class CivilServantSubject:
    """A natural person acting for a government organisation."""

    person: NaturalPersonSubject
    organisation_name: str
    organisation_unit: str | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.person, NaturalPersonSubject):
            raise InvalidSubjectName(
                f"person must be a NaturalPersonSubject, got {type(self.person).__name__}"
            )
        _text(self.organisation_name, "organisation_name", max_len=_MAX_LONG)
        if self.organisation_unit is not None:
            _text(self.organisation_unit, "organisation_unit", max_len=_MAX_SHORT)
        if self.title is not None:
            _text(self.title, "title", max_len=_MAX_SHORT)


def _attr(oid: x509.ObjectIdentifier, value: str) -> x509.NameAttribute[str]:
    # cryptography picks the X.520 string type per attribute: PrintableString for countryName
    # and serialNumber, UTF8String for everything else (which is what carries Khmer).
    try:
        return x509.NameAttribute(oid, value)
    except ValueError as exc:
        raise InvalidSubjectName(f"cannot encode the attribute {oid.dotted_string}: {exc}") from exc


def _person_attributes(person: NaturalPersonSubject) -> list[x509.NameAttribute[str]]:
    return [
        _attr(NameOID.SURNAME, person.family_name_km),
        _attr(NameOID.GIVEN_NAME, person.given_name_km),
        _attr(NameOID.SERIAL_NUMBER, person.semantics_identifier),
        _attr(NameOID.COMMON_NAME, person.latin_name),
    ]


def natural_person_name(person: NaturalPersonSubject) -> x509.Name:
    """The subject DN of a natural person (EN 319 412-2 §4.2.4)."""
    return x509.Name([_attr(NameOID.COUNTRY_NAME, person.country), *_person_attributes(person)])


def civil_servant_name(servant: CivilServantSubject) -> x509.Name:
    """A natural person's DN with the organisation, unit and title they act for."""
    attrs = [
        _attr(NameOID.COUNTRY_NAME, servant.person.country),
        _attr(NameOID.ORGANIZATION_NAME, servant.organisation_name),
    ]
    if servant.organisation_unit is not None:
        attrs.append(_attr(NameOID.ORGANIZATIONAL_UNIT_NAME, servant.organisation_unit))
    if servant.title is not None:
        attrs.append(_attr(NameOID.TITLE, servant.title))
    return x509.Name(attrs + _person_attributes(servant.person))


def legal_person_name(entity: LegalPersonSubject) -> x509.Name:
    """The subject DN of a legal person (EN 319 412-3 §4.2.1)."""
    return x509.Name(
        [
            _attr(NameOID.COUNTRY_NAME, entity.country),
            _attr(NameOID.ORGANIZATION_NAME, entity.name_km),
            _attr(NameOID.ORGANIZATION_IDENTIFIER, entity.organization_identifier),
            _attr(NameOID.COMMON_NAME, entity.name_en),
        ]
    )


def service_name(
    common_name: str, *, organisation: str, country: str = "KH", unit: str | None = None
) -> x509.Name:
    """The DN of a CA or a service (OCSP responder, TSA, document signer, web site)."""
    _text(common_name, "common_name", max_len=_MAX_SHORT)
    _common_name(common_name)
    _text(organisation, "organisation", max_len=_MAX_SHORT)
    attrs = [
        _attr(NameOID.COUNTRY_NAME, _country(country)),
        _attr(NameOID.ORGANIZATION_NAME, organisation),
    ]
    if unit is not None:
        attrs.append(_attr(NameOID.ORGANIZATIONAL_UNIT_NAME, _text(unit, "unit", max_len=64)))
    attrs.append(_attr(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)
