"""A test PKI for the revocation tests (OCSP, CRL), built by the project's own code.

The hierarchy is created with :func:`ca.hierarchy.create_hierarchy` in a
:class:`MemoryKeyBackend`, valid from a moment just before the real current time, because
``openssl`` checks certificates, CRLs and OCSP responses against its own clock. Also here: a
key wrapper that counts signatures (a real backend key whose "HSM" is a plain key), pkilint
for OCSP responses and CRLs, and small helpers to run ``openssl``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from pkilint import loader
from pkilint.pkix import create_attribute_decoder, create_extension_decoder, extension, name
from pkilint.pkix import crl as pkilint_crl
from pkilint.pkix import ocsp as pkilint_ocsp

from ca.hierarchy import Hierarchy, ca_key_label, create_hierarchy, ocsp_key_label
from ca.names import NaturalPersonSubject, natural_person_name
from ca.urls import PkiUrls
from hsm_adapters._keys import BackendECPrivateKey
from hsm_adapters.base import KeyAlgorithm
from tests.ca._lint import Finding, _findings
from tests.ca.conftest import BASE_URL, MemoryKeyBackend, issue, make_key

CA = "citizen"


def now_utc() -> dt.datetime:
    """The real time, whole seconds: openssl judges validity by it (tests only)."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass
class Pki:
    """The development hierarchy plus a few leaf certificates of the citizen CA."""

    backend: MemoryKeyBackend
    hierarchy: Hierarchy
    urls: PkiUrls
    created_at: dt.datetime
    leaves: dict[str, x509.Certificate] = field(default_factory=dict)

    @property
    def ca_cert(self) -> x509.Certificate:
        return self.hierarchy.cas[CA]

    @property
    def ca_key(self) -> Any:
        return self.backend.load(ca_key_label(CA))

    @property
    def responder_cert(self) -> x509.Certificate:
        return self.hierarchy.ocsp_responders[CA]

    @property
    def responder_key(self) -> Any:
        return self.backend.load(ocsp_key_label(CA))

    def leaf(self, label: str, ca_name: str = CA) -> x509.Certificate:
        """A citizen-auth certificate of ``ca_name``, made once per label."""
        if label not in self.leaves:
            person = NaturalPersonSubject(
                given_name_km="ដារ៉ា",
                family_name_km="សុខ",
                given_name_latin="DARA",
                family_name_latin="SOK",
                national_id=f"0102030{len(self.leaves):02d}",
            )
            self.leaves[label] = issue(
                self.hierarchy,
                self.backend,
                "citizen-auth" if ca_name == CA else "gov-auth",
                natural_person_name(person),
                ca_name=ca_name,
                at=self.created_at,
            )
        return self.leaves[label]


def make_pki() -> Pki:
    backend = MemoryKeyBackend()
    urls = PkiUrls(BASE_URL)
    at = now_utc() - dt.timedelta(hours=1)
    return Pki(backend, create_hierarchy(backend, urls=urls, at=at), urls, at)


class SignCounter:
    """Counts the signatures made by keys it wrapped."""

    def __init__(self) -> None:
        self.calls = 0

    def wrap(self, key: ec.EllipticCurvePrivateKey, label: str = "counted") -> BackendECPrivateKey:
        """A backend key object whose "HSM" is ``key``: every ``sign()`` is counted."""

        def signer(digest: bytes, algorithm: hashes.HashAlgorithm, *, deterministic: bool) -> bytes:
            self.calls += 1
            return key.sign(digest, ec.ECDSA(utils.Prehashed(algorithm)))

        return BackendECPrivateKey(
            label=label, backend_name="counting", public_key=key.public_key(), signer=signer
        )


def fresh_p256() -> ec.EllipticCurvePrivateKey:
    key = make_key(KeyAlgorithm.EC_P256)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


# --- files and openssl --------------------------------------------------------------------------


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def openssl(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run openssl; stdout and stderr together (openssl ocsp splits its verdicts over both)."""
    return subprocess.run(
        ["openssl", *map(str, args)],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


# --- pkilint: OCSP responses and CRLs (the validators of lint_ocsp_response / lint_crl) -------


def lint_ocsp_response(der: bytes) -> list[Finding]:
    """Every finding of pkilint's RFC 6960 OCSP response linter (as ``lint_ocsp_response``)."""
    validator = pkilint_ocsp.create_pkix_ocsp_response_validator_container(
        [
            pkilint_ocsp.create_response_decoder(),
            create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )
    document = loader.RFC6960OCSPResponseDocumentLoader().load_der_document(der, "response")
    return _findings(validator.validate(document.root))


def lint_crl(der: bytes) -> list[Finding]:
    """Every finding of pkilint's RFC 5280 CRL linter (``lint_crl -t CRL -p PKIX``)."""
    validator = pkilint_crl.create_pkix_crl_validator_container(
        [
            create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            pkilint_crl.create_issuer_validator_container([]),
            pkilint_crl.create_validity_validator_container([]),
            pkilint_crl.create_extensions_validator_container([]),
        ],
    )
    document = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    return _findings(validator.validate(document.root))
