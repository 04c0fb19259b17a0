"""Every profile's certificate passes pkilint and ``openssl verify -x509_strict``.

Person certificates are linted as the most specific ETSI type that fits them, and pkilint's own
type detection (``lint_etsi_cert --detect``) must agree. CA and service certificates, which no
ETSI type describes, are linted by the RFC 5280 linter. No finding of severity ERROR or worse
is accepted; the only allowances are listed below, each with its reason.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pkilint.etsi.etsi_constants import CertificateType

from ca.hierarchy import Hierarchy, create_hierarchy
from ca.names import NaturalPersonSubject, natural_person_name, service_name
from ca.profiles import PROFILES, KeyUsageBit, ProfileName, get_profile
from ca.urls import PkiUrls
from ca.x509build import RsaSignaturePadding, build_certificate, new_serial
from hsm_adapters.base import KeyAlgorithm
from tests.ca._lint import detect_etsi_type, errors, lint_etsi, lint_pkix
from tests.ca.conftest import BASE_URL, HIERARCHY_TIME, MemoryKeyBackend, issue, make_key
from tests.conftest import require_command

#: The ETSI certificate type each person profile is linted as (None: RFC 5280 linter only).
ETSI_TYPES: dict[str, CertificateType | None] = {
    ProfileName.ROOT_CA: None,
    ProfileName.ISSUING_CA: None,
    # Authentication: natural person, no QC claim (EN 319 412-2).
    ProfileName.CITIZEN_AUTH: CertificateType.NCP_NATURAL_PERSON_CERTIFICATE,
    ProfileName.GOV_AUTH: CertificateType.NCP_NATURAL_PERSON_CERTIFICATE,
    # Signing: qualified under a non-EU law (QcCClegislation KH), key on a QSCD (EN 319 412-5).
    ProfileName.CITIZEN_SIGN: CertificateType.QCP_N_QSCD_NON_EIDAS_FINAL_CERTIFICATE,
    ProfileName.GOV_SIGN: CertificateType.QCP_N_QSCD_NON_EIDAS_FINAL_CERTIFICATE,
    # pkilint has no qualified-seal type; the legal-person type checks EN 319 412-3 and -5.
    ProfileName.ESEAL: CertificateType.NCP_LEGAL_PERSON_CERTIFICATE,
    ProfileName.HEALTH_DSC: None,
    ProfileName.TSA: None,
    ProfileName.OCSP_RESPONDER: None,
    ProfileName.TLS_SERVER: None,
}

#: ERROR-or-worse finding codes accepted for a profile, each with the reason. Empty on purpose:
#: the one known false positive (pyasn1-fasder refusing OIDs under 2.999) is handled by the
#: decoder workaround in tests/ca/_lint.py, so certificatePolicies is still linted.
ALLOWED: dict[str, dict[str, str]] = {}

_ATTIME = int(HIERARCHY_TIME.timestamp()) + 86_400  # one day into the hierarchy's life

#: Extra ``openssl verify -purpose`` per profile: openssl's own reading of KU/EKU.
_PURPOSES = {
    ProfileName.TLS_SERVER: "sslserver",
    ProfileName.CITIZEN_AUTH: "sslclient",
    ProfileName.GOV_AUTH: "sslclient",
    # openssl's timestampsign purpose demands a critical EKU of timeStamping alone (RFC 3161).
    ProfileName.TSA: "timestampsign",
}


def test_every_profile_is_covered(issued: dict[str, tuple[x509.Certificate, str]]) -> None:
    assert set(issued) == set(PROFILES) == set(ETSI_TYPES)


@pytest.mark.parametrize("profile", list(ProfileName))
def test_profile_passes_pkilint(
    profile: ProfileName, issued: dict[str, tuple[x509.Certificate, str]]
) -> None:
    der = issued[profile][0].public_bytes(Encoding.DER)
    cert_type = ETSI_TYPES[profile]
    if cert_type is None:
        findings = lint_pkix(der)
    else:
        assert detect_etsi_type(der) is cert_type
        findings = lint_etsi(der, cert_type)
    bad = errors(findings, ALLOWED.get(profile))
    assert not bad, "\n".join(map(str, bad))


def _pem(path: Path, *certs: x509.Certificate) -> str:
    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return str(path)


def _openssl_verify(
    tmp_path: Path,
    root: x509.Certificate,
    chain: list[x509.Certificate],
    leaf: x509.Certificate,
    purpose: str | None = None,
) -> subprocess.CompletedProcess[str]:
    openssl = require_command("openssl")
    args = [openssl, "verify", "-x509_strict", "-attime", str(_ATTIME)]
    args += ["-CAfile", _pem(tmp_path / "root.pem", root)]
    if chain:
        args += ["-untrusted", _pem(tmp_path / "chain.pem", *chain)]
    if purpose:
        args += ["-purpose", purpose]
    args.append(_pem(tmp_path / "leaf.pem", leaf))
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)


@pytest.mark.tool
@pytest.mark.parametrize("profile", list(ProfileName))
def test_profile_passes_openssl_verify_strict(
    profile: ProfileName,
    issued: dict[str, tuple[x509.Certificate, str]],
    hierarchy: Hierarchy,
    tmp_path: Path,
) -> None:
    cert, ca_name = issued[profile]
    chain = [] if ca_name == "root" else [hierarchy.cas[ca_name]]
    result = _openssl_verify(tmp_path, hierarchy.root, chain, cert, _PURPOSES.get(profile))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": OK")


@pytest.mark.tool
def test_openssl_refuses_leaf_outside_its_validity(
    issued: dict[str, tuple[x509.Certificate, str]], hierarchy: Hierarchy, tmp_path: Path
) -> None:
    """The verification above is not vacuous: the same chain fails after the leaf expires."""
    cert, ca_name = issued[ProfileName.CITIZEN_AUTH]
    openssl = require_command("openssl")
    late = int(cert.not_valid_after_utc.timestamp()) + 1
    args = [openssl, "verify", "-x509_strict", "-attime", str(late)]
    args += ["-CAfile", _pem(tmp_path / "root.pem", hierarchy.root)]
    args += ["-untrusted", _pem(tmp_path / "chain.pem", hierarchy.cas[ca_name])]
    args.append(_pem(tmp_path / "leaf.pem", cert))
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode != 0
    assert "expired" in (result.stdout + result.stderr)


@pytest.mark.tool
def test_sign_cert_is_not_accepted_for_tls_client_auth(
    issued: dict[str, tuple[x509.Certificate, str]], hierarchy: Hierarchy, tmp_path: Path
) -> None:
    """A signing (nonRepudiation-only) certificate cannot be used to log in over TLS."""
    cert, ca_name = issued[ProfileName.CITIZEN_SIGN]
    result = _openssl_verify(tmp_path, hierarchy.root, [hierarchy.cas[ca_name]], cert, "sslclient")
    assert result.returncode != 0


@pytest.mark.tool
def test_rsa_keys_and_rsa_pss_signatures_pass_pkilint_and_openssl(tmp_path: Path) -> None:
    """An RSA subject key and RSA-PSS / PKCS#1 v1.5 signatures, for CAs that use RSA."""
    backend = MemoryKeyBackend()
    urls = PkiUrls(BASE_URL)
    rsa_root = dataclasses.replace(
        get_profile("root-ca"), key_algorithms=frozenset({KeyAlgorithm.RSA_3072})
    )
    root_key = make_key(KeyAlgorithm.RSA_3072)
    start, end = rsa_root.validity_window(at=HIERARCHY_TIME)
    for padding in RsaSignaturePadding:
        root = build_certificate(
            rsa_root,
            subject=service_name("RSA Test Root", organisation="NatID Test"),
            public_key=root_key.public_key(),
            issuer_cert=None,
            issuer_key=root_key,
            serial=new_serial(),
            not_before=start,
            not_after=end,
            urls=urls,
            ca_name="root",
            rsa_padding=padding,
        )
        assert not errors(lint_pkix(root.public_bytes(Encoding.DER)))
        result = _openssl_verify(tmp_path, root, [], root)
        assert result.returncode == 0, result.stdout + result.stderr

    hierarchy = create_hierarchy(backend, urls=urls, at=HIERARCHY_TIME)
    person = natural_person_name(NaturalPersonSubject("ដារ៉ា", "សុខ", "DARA", "SOK", "010203040"))
    leaf = issue(
        hierarchy,
        backend,
        "citizen-sign",
        person,
        ca_name="citizen",
        key=make_key(KeyAlgorithm.RSA_2048),
    )
    der = leaf.public_bytes(Encoding.DER)
    assert not errors(lint_etsi(der, CertificateType.QCP_N_QSCD_NON_EIDAS_FINAL_CERTIFICATE))
    result = _openssl_verify(tmp_path, hierarchy.root, [hierarchy.cas["citizen"]], leaf)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_harness_reports_real_errors(
    hierarchy: Hierarchy, dev_backend: MemoryKeyBackend
) -> None:
    """Negative control: a certificate that breaks EN 319 412-2 is caught by the same harness."""
    bad_profile = dataclasses.replace(
        get_profile("citizen-auth"),
        key_usage=frozenset({KeyUsageBit.DIGITAL_SIGNATURE, KeyUsageBit.KEY_CERT_SIGN}),
    )
    key = make_key(KeyAlgorithm.EC_P256)
    start, end = bad_profile.validity_window(at=HIERARCHY_TIME)
    cert = build_certificate(
        bad_profile,
        subject=natural_person_name(NaturalPersonSubject("ដារ៉ា", "សុខ", "DARA", "SOK", "010203040")),
        public_key=key.public_key(),
        issuer_cert=hierarchy.cas["citizen"],
        issuer_key=dev_backend.load("ca-citizen"),
        serial=new_serial(),
        not_before=start,
        not_after=end,
        urls=PkiUrls(BASE_URL),
        ca_name="citizen",
    )
    found = errors(
        lint_etsi(cert.public_bytes(Encoding.DER), CertificateType.NCP_NATURAL_PERSON_CERTIFICATE)
    )
    assert "etsi.en_319_412_2.nat-4.3.2-1.unknown_key_usage_setting" in {f.code for f in found}
