"""The qcStatements extension: ETSI EN 319 412-5 statements and the RFC 3739 semantics identifier.

cryptography has no API for ``id-pe-qcStatements`` (RFC 3739 §3.2.6, OID 1.3.6.1.5.5.7.1.3), so
this module encodes it with asn1crypto and hands cryptography an ``UnrecognizedExtension``:

    QCStatements ::= SEQUENCE OF QCStatement
    QCStatement  ::= SEQUENCE { statementId OBJECT IDENTIFIER,
                                statementInfo ANY DEFINED BY statementId OPTIONAL }

Statements (EN 319 412-5 §4.2 and §4.3; RFC 3739 §3.2.6.1):

* ``id-qcs-pkixQCSyntax-v2`` with a semantics identifier - EN 319 412-1 §5.1: the subject's
  serialNumber / organizationIdentifier follows ``IDCKH-...`` / ``NTRKH-...`` (natural person
  0.4.0.194121.1.1, legal person 0.4.0.194121.1.2);
* ``QcCompliance`` (§4.2.1) - issued as a qualified certificate;
* ``QcCClegislation`` (§4.2.4) - qualified under the law of these countries, not the EU's;
* ``QcSSCD`` (§4.2.2) - the private key is in a qualified signature/seal creation device;
* ``QcType`` (§4.2.3) - esign, eseal or web;
* ``QcRetentionPeriod`` (§4.3.3) and ``QcPDS`` (§4.3.4) - retention years, PKI disclosure
  statements (https URLs with a language).

The extension is never critical (EN 319 412-5 QCS-4.1-02).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from asn1crypto import core  # type: ignore[import-untyped]
from cryptography import x509

from ca.errors import MalformedQcStatements

__all__ = [
    "QC_STATEMENTS_OID",
    "PdsLocation",
    "QcStatements",
    "QcType",
    "SemanticsId",
]

QC_STATEMENTS_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")

_PKIX_QC_SYNTAX_V2 = "1.3.6.1.5.5.7.11.2"
_QC_COMPLIANCE = "0.4.0.1862.1.1"
_QC_RETENTION_PERIOD = "0.4.0.1862.1.3"
_QC_SSCD = "0.4.0.1862.1.4"
_QC_PDS = "0.4.0.1862.1.5"
_QC_TYPE = "0.4.0.1862.1.6"
_QC_CC_LEGISLATION = "0.4.0.1862.1.7"

_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[a-z]{2}")


class QcType(StrEnum):
    """EN 319 412-5 §4.2.3 certificate types (``id-etsi-qct-*``)."""

    ESIGN = "esign"
    ESEAL = "eseal"
    WEB = "web"

    @property
    def oid(self) -> str:
        return _QC_TYPE_OIDS[self]


_QC_TYPE_OIDS = {
    QcType.ESIGN: "0.4.0.1862.1.6.1",
    QcType.ESEAL: "0.4.0.1862.1.6.2",
    QcType.WEB: "0.4.0.1862.1.6.3",
}


class SemanticsId(StrEnum):
    """EN 319 412-1 §5.1 semantics identifiers (``id-etsi-qcs-semanticsId-*``)."""

    NATURAL = "natural"
    LEGAL = "legal"

    @property
    def oid(self) -> str:
        return _SEMANTICS_OIDS[self]


_SEMANTICS_OIDS = {
    SemanticsId.NATURAL: "0.4.0.194121.1.1",
    SemanticsId.LEGAL: "0.4.0.194121.1.2",
}


# --- ASN.1 (asn1crypto) -----------------------------------------------------------------------


class _SemanticsInformation(core.Sequence):  # type: ignore[misc]
    # RFC 3739 §3.2.6.1; nameRegistrationAuthorities is not used by NatID.
    _fields: ClassVar = [("semanticsIdentifier", core.ObjectIdentifier, {"optional": True})]


class _Oids(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.ObjectIdentifier


class _Countries(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.PrintableString


class _PdsLocation(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("url", core.IA5String), ("language", core.PrintableString)]


class _PdsLocations(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _PdsLocation


class _QcStatement(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("statementId", core.ObjectIdentifier),
        ("statementInfo", core.Any, {"optional": True}),
    ]


class _QcStatements(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _QcStatement


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PdsLocation:
    """Where a PKI disclosure statement is published, and in which language (ISO 639-1)."""

    url: str
    language: str

    def __post_init__(self) -> None:
        if not self.url.startswith("https://") or not self.url.isascii() or " " in self.url:
            raise MalformedQcStatements(f"a PDS URL must be https (QCS-4.3.4), got {self.url!r}")
        if _LANGUAGE.fullmatch(self.language) is None:
            raise MalformedQcStatements(
                f"a PDS language must be ISO 639-1 (two lowercase letters), got {self.language!r}"
            )


@dataclass(frozen=True, slots=True)
class QcStatements:
    """The statements a certificate makes; only the ones set are encoded."""

    semantics: SemanticsId | None = None
    compliance: bool = False
    legislation: tuple[str, ...] = ()
    sscd: bool = False
    qc_type: QcType | None = None
    retention_years: int | None = None
    pds: tuple[PdsLocation, ...] = ()

    def __post_init__(self) -> None:
        for country in self.legislation:
            if not isinstance(country, str) or _COUNTRY.fullmatch(country) is None:
                raise MalformedQcStatements(
                    f"QcCClegislation needs ISO 3166-1 alpha-2 codes, got {country!r}"
                )
        if self.legislation and not self.compliance:
            # EN 319 412-5 §4.2.4: the legislation statement qualifies a QcCompliance claim.
            raise MalformedQcStatements("QcCClegislation is only meaningful with QcCompliance")
        if self.retention_years is not None and self.retention_years <= 0:
            raise MalformedQcStatements(
                f"QcRetentionPeriod must be a positive number of years, got {self.retention_years}"
            )
        if not any(
            (self.semantics, self.compliance, self.legislation, self.sscd, self.qc_type)
        ) and (self.retention_years is None and not self.pds):
            raise MalformedQcStatements("a qcStatements extension needs at least one statement")

    def to_der(self) -> bytes:
        """The DER encoding of the extension value."""
        statements: list[_QcStatement] = []

        def add(oid: str, info: core.Asn1Value | None = None) -> None:
            value = _QcStatement({"statementId": oid})
            if info is not None:
                value["statementInfo"] = core.Any.load(info.dump())
            statements.append(value)

        if self.semantics is not None:
            add(
                _PKIX_QC_SYNTAX_V2,
                _SemanticsInformation({"semanticsIdentifier": self.semantics.oid}),
            )
        if self.compliance:
            add(_QC_COMPLIANCE)
        if self.legislation:
            add(_QC_CC_LEGISLATION, _Countries(list(self.legislation)))
        if self.sscd:
            add(_QC_SSCD)
        if self.qc_type is not None:
            add(_QC_TYPE, _Oids([self.qc_type.oid]))
        if self.retention_years is not None:
            add(_QC_RETENTION_PERIOD, core.Integer(self.retention_years))
        if self.pds:
            add(
                _QC_PDS,
                _PdsLocations([{"url": p.url, "language": p.language} for p in self.pds]),
            )
        return bytes(_QcStatements(statements).dump(force=True))

    def extension(self) -> x509.UnrecognizedExtension:
        """The extension value for ``CertificateBuilder.add_extension(..., critical=False)``."""
        return x509.UnrecognizedExtension(QC_STATEMENTS_OID, self.to_der())

    @classmethod
    def from_der(cls, data: bytes) -> QcStatements:
        """Parse a qcStatements extension value; statements not listed above are ignored."""
        try:
            return cls._parse(data)
        except MalformedQcStatements:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            raise MalformedQcStatements(f"malformed qcStatements: {exc}"[:200]) from exc

    @classmethod
    def _parse(cls, data: bytes) -> QcStatements:
        parsed = _QcStatements.load(bytes(data), strict=True)
        fields: dict[str, object] = {}
        seen: set[str] = set()
        for statement in parsed:
            oid = statement["statementId"].dotted
            if oid in seen:
                raise MalformedQcStatements(f"the statement {oid} appears twice")
            seen.add(oid)
            info = statement["statementInfo"]
            has_info = not isinstance(info, core.Void)
            if oid == _PKIX_QC_SYNTAX_V2 and has_info:
                sem = info.parse(_SemanticsInformation)["semanticsIdentifier"]
                by_oid = {v: k for k, v in _SEMANTICS_OIDS.items()}
                if not isinstance(sem, core.Void) and sem.dotted in by_oid:
                    fields["semantics"] = by_oid[sem.dotted]
            elif oid == _QC_COMPLIANCE:
                fields["compliance"] = True
            elif oid == _QC_SSCD:
                fields["sscd"] = True
            elif oid == _QC_CC_LEGISLATION and has_info:
                fields["legislation"] = tuple(c.native for c in info.parse(_Countries))
            elif oid == _QC_TYPE and has_info:
                by_oid_t = {v: k for k, v in _QC_TYPE_OIDS.items()}
                types = [by_oid_t.get(t.dotted) for t in info.parse(_Oids)]
                if len(types) != 1 or types[0] is None:
                    raise MalformedQcStatements("QcType must name exactly one known type")
                fields["qc_type"] = types[0]
            elif oid == _QC_RETENTION_PERIOD and has_info:
                fields["retention_years"] = int(info.parse(core.Integer).native)
            elif oid == _QC_PDS and has_info:
                fields["pds"] = tuple(
                    PdsLocation(url=p["url"].native, language=p["language"].native)
                    for p in info.parse(_PdsLocations)
                )
        return cls(**fields)  # type: ignore[arg-type]
