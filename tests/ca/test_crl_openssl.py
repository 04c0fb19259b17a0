"""CRL interoperability: ``openssl crl`` and ``openssl verify -crl_check`` agree; pkilint.

Four citizens: alice revoked (keyCompromise) before the full CRL, bob revoked after it (only
in the delta), carol put on hold before the full CRL and released after it (removeFromCRL in
the delta), dave never revoked.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ca.crl import build_crl, delta_entries
from ca.hierarchy import ROOT_KEY_LABEL
from ca.revocation import RevocationReason, RevokedEntry
from tests.ca._lint import errors
from tests.ca._pki import CA, Pki, lint_crl, make_pki, now_utc, openssl, output, pem, write
from tests.conftest import require_command

R = RevocationReason
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass
class Published:
    dir: Path
    full: x509.CertificateRevocationList
    delta: x509.CertificateRevocationList
    root_crl: x509.CertificateRevocationList


def _save(path: Path, crl: x509.CertificateRevocationList) -> None:
    write(path.with_suffix(".der"), crl.public_bytes(serialization.Encoding.DER))
    write(path.with_suffix(".pem"), crl.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def published(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Published:
    d = tmp_path_factory.mktemp("crl-openssl")
    t = now_utc()
    serial = {name: pki.leaf(name).serial_number for name in ("alice", "bob", "carol", "dave")}
    base = [
        RevokedEntry(serial["alice"], t - 2 * HOUR, R.KEY_COMPROMISE, t - 3 * HOUR),
        RevokedEntry(serial["carol"], t - 2 * HOUR, R.CERTIFICATE_HOLD),
    ]
    full = build_crl(
        pki.ca_cert, pki.ca_key, base, crl_number=41,
        this_update=t - HOUR, next_update=t + 7 * DAY,
        idp_url=pki.urls.crl(CA), freshest_crl_url=pki.urls.delta_crl(CA),
    )  # fmt: skip
    current = [base[0], RevokedEntry(serial["bob"], t - dt.timedelta(minutes=10))]
    delta = build_crl(
        pki.ca_cert, pki.ca_key, delta_entries(base, current), crl_number=42, delta_base=41,
        this_update=t, next_update=t + DAY, idp_url=pki.urls.crl(CA),
    )  # fmt: skip
    # The root CRL names no IDP: the root certificate has no CRL distribution point of its own,
    # and an IDP would put it out of the CRL's scope for openssl -crl_check_all.
    root_crl = build_crl(
        pki.hierarchy.root, pki.backend.load(ROOT_KEY_LABEL), [], crl_number=1,
        this_update=t, next_update=t + 30 * DAY, idp_url=None,
    )  # fmt: skip
    _save(d / "full", full)
    _save(d / "delta", delta)
    _save(d / "root", root_crl)
    write(d / "chain.pem", pem(pki.ca_cert, pki.hierarchy.root))
    for name in serial:
        write(d / f"{name}.pem", pem(pki.leaf(name)))
    return Published(d, full, delta, root_crl)


@pytest.fixture(autouse=True)
def _openssl() -> None:
    require_command("openssl")


@pytest.mark.parametrize("name", ["full", "delta", "root"])
def test_openssl_verifies_the_crl_signature(published: Published, name: str) -> None:
    d = published.dir
    crl = d / f"{name}.der"
    result = openssl("crl", "-in", crl, "-inform", "DER", "-CAfile", d / "chain.pem", "-noout")
    assert result.returncode == 0, output(result)
    assert "verify OK" in output(result)


def test_openssl_shows_numbers_delta_indicator_and_reasons(published: Published) -> None:
    d = published.dir
    full = output(openssl("crl", "-in", d / "full.der", "-inform", "DER", "-text", "-noout"))
    assert re.search(r"X509v3 CRL Number: *\n +41\n", full)
    assert "Delta CRL Indicator" not in full
    assert "URI:http://pki.natid.gov.kh/pki/crl/citizen.crl" in full  # IDP
    assert "URI:http://pki.natid.gov.kh/pki/crl/citizen-delta.crl" in full  # freshestCRL
    assert "Key Compromise" in full
    assert "Certificate Hold" in full
    assert "Invalidity Date" in full
    delta = output(openssl("crl", "-in", d / "delta.der", "-inform", "DER", "-text", "-noout"))
    assert re.search(r"X509v3 Delta CRL Indicator: critical *\n +41\n", delta)
    assert re.search(r"X509v3 CRL Number: *\n +42\n", delta)
    assert "Remove From CRL" in delta
    assert "Key Compromise" not in delta  # alice did not change since the base


def verify(published: Published, name: str, *flags: str) -> str:
    d = published.dir
    crls = ["-CRLfile", str(d / "full.pem")]
    if "-use_deltas" in flags:
        crls += ["-CRLfile", str(d / "delta.pem")]
    if "-crl_check_all" in flags:
        crls += ["-CRLfile", str(d / "root.pem")]
    return output(openssl("verify", *flags, *crls, "-CAfile", d / "chain.pem", d / f"{name}.pem"))


@pytest.mark.parametrize(
    ("name", "revoked"), [("alice", True), ("bob", False), ("carol", True), ("dave", False)]
)
def test_openssl_verify_with_the_full_crl(published: Published, name: str, revoked: bool) -> None:
    text = verify(published, name, "-crl_check")
    if revoked:
        assert "certificate revoked" in text
    else:
        assert text.strip().endswith(": OK"), text


@pytest.mark.parametrize(
    ("name", "revoked"), [("alice", True), ("bob", True), ("carol", False), ("dave", False)]
)
def test_openssl_verify_with_full_and_delta_crls(
    published: Published, name: str, revoked: bool
) -> None:
    # -extended_crl keeps OpenSSL from taking the (newer) delta for a complete CRL.
    text = verify(published, name, "-crl_check", "-extended_crl", "-use_deltas")
    if revoked:
        assert "certificate revoked" in text
    else:
        assert text.strip().endswith(": OK"), text


def test_openssl_checks_the_whole_chain_with_the_root_crl(published: Published) -> None:
    assert verify(published, "dave", "-crl_check_all").strip().endswith(": OK")
    assert "certificate revoked" in verify(published, "alice", "-crl_check_all")


@pytest.mark.parametrize("name", ["full", "delta", "root_crl"])
def test_pkilint_finds_no_error_in_crls(published: Published, name: str) -> None:
    crl: x509.CertificateRevocationList = getattr(published, name)
    assert errors(lint_crl(crl.public_bytes(serialization.Encoding.DER))) == []


def test_pkilint_is_awake_a_bare_crl_fails(pki: Pki) -> None:
    # The linter check above means something: a CRL without cRLNumber and AKI is flagged.
    t = now_utc()
    bare = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.ca_cert.subject)
        .last_update(t)
        .next_update(t + DAY)
        .sign(pki.ca_key, hashes.SHA384())
    )
    codes = {f.code for f in errors(lint_crl(bare.public_bytes(serialization.Encoding.DER)))}
    assert codes == {"pkix.crl_number_missing", "pkix.authority_key_identifier_missing"}
