"""pkilint through its Python API (the same validators as ``lint_pkix_cert`` / ``lint_etsi_cert``).

One process for every certificate: the validator trees are built once per certificate type,
which keeps the whole lint run well under a second per certificate.

Known false positives are handled here, each named with its reason; nothing is ignored in bulk:

* pyasn1-fasder (pkilint's DER decoder, 0.1.x) refuses every OID whose first two arcs are
  ``2.x`` with ``x >= 40`` ("OID contains out-of-range arc"), although X.690 §8.19.4 and X.660
  allow them: the arc ``2.999`` (ITU-T X.660 example arc, our default policy arc) is among them.
  pkilint then reports a FATAL ``itu.invalid_asn1_syntax`` on certificatePolicies and checks
  nothing inside it. :func:`_decode_der` re-decodes exactly that case with pyasn1's own DER
  decoder, so the extension is decoded and linted like any other; every other decoding
  failure is still reported.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import pkilint.document
from pkilint import etsi, finding_filter, loader
from pkilint.etsi.etsi_constants import CertificateType
from pkilint.pkix import certificate, extension, name
from pkilint.validation import ValidationFindingSeverity
from pyasn1.codec.der import decoder as pyasn1_der
from pyasn1.error import PyAsn1Error

_FASDER_2X_ARC_BUG = "OID contains out-of-range arc"
_fasder_decode_der = pkilint.document.decode_der


def _decode_der(substrate: Any, asn1Spec: Any) -> tuple[Any, bytes]:  # noqa: N803 - pkilint's name
    try:
        return _fasder_decode_der(substrate, asn1Spec=asn1Spec)
    except PyAsn1Error as exc:
        if _FASDER_2X_ARC_BUG not in str(exc):
            raise
    decoded, rest = pyasn1_der.decode(bytes(substrate), asn1Spec=asn1Spec)
    if rest:
        raise PyAsn1Error("trailing octets after the DER value")
    return decoded, b""


pkilint.document.decode_der = _decode_der


class Finding(NamedTuple):
    severity: str
    code: str
    message: str | None
    path: str

    def __str__(self) -> str:
        return f"{self.severity} {self.code} at {self.path}: {self.message or ''}"


@functools.cache
def _pkix_validator() -> Any:
    # Exactly what lint_pkix_cert builds (pkilint/bin/lint_pkix_cert.py).
    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


@functools.cache
def _etsi_validator(cert_type: CertificateType) -> Any:
    # Exactly what lint_etsi_cert builds (pkilint/bin/lint_etsi_cert.py).
    return certificate.create_pkix_certificate_validator_container(
        etsi.create_decoding_validators(cert_type), etsi.create_validators(cert_type)
    )


def _findings(results: Any) -> list[Finding]:
    return [
        Finding(d.finding.severity.name, d.finding.code, d.message, result.node.path)
        for result in results
        for d in result.finding_descriptions
    ]


def _load(der: bytes) -> Any:
    return loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")


def lint_pkix(der: bytes) -> list[Finding]:
    """Every finding of the RFC 5280 linter."""
    return _findings(_pkix_validator().validate(_load(der).root))


def lint_etsi(der: bytes, cert_type: CertificateType) -> list[Finding]:
    """Every finding of the ETSI linter for ``cert_type``, filtered as lint_etsi_cert does."""
    results = _etsi_validator(cert_type).validate(_load(der).root)
    results, _ = finding_filter.filter_results(etsi.create_etsi_finding_filters(cert_type), results)
    return _findings(results)


def detect_etsi_type(der: bytes) -> CertificateType:
    """The type lint_etsi_cert --detect picks (from policy OIDs and QC statements)."""
    return etsi.determine_certificate_type(_load(der))


def errors(findings: list[Finding], allowed: dict[str, str] | None = None) -> list[Finding]:
    """Findings of severity ERROR or FATAL whose code is not in ``allowed`` (code -> reason)."""
    allowed = allowed or {}
    worst = {ValidationFindingSeverity.FATAL.name, ValidationFindingSeverity.ERROR.name}
    return [f for f in findings if f.severity in worst and f.code not in allowed]
