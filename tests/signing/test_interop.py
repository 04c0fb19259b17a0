"""Signatures verify with tools nobody here wrote, and a tampered file fails in all of them.

* poppler's ``pdfsig``, with NatID's root in an NSS database (``certutil``, Debian
  ``libnss3-tools``): "Signature is Valid." and the issuer found trusted (see the note in
  the test about poppler 22.12's certificate verdict);
* ``openssl cms -verify`` over the bytes the /ByteRange names, against the root;
* ``openssl ts -verify`` of the signature time-stamp token over the signature value
  (ETSI EN 319 122-1 §5.3: the time-stamp imprints the SignerInfo's signature);
* after one byte of the signed content changes: pdfsig reports the signature invalid,
  openssl cms fails, and NatID's validator says TOTAL-FAILED / HASH_FAILURE.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader

from ca.service import CAService
from ca.store import IssuedCertificate
from registry import LegalEntity
from signing.service import SigningService
from signing.validate import Indication
from tests.conftest import require_command
from tests.signing._pdf import make_pdf

pytestmark = pytest.mark.slow


def _pem(cert: object) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
def trust(tmp_path: Path, ca_service: CAService) -> tuple[Path, Path]:
    """(NSS database directory, root PEM) trusting NatID's root for signing."""
    certutil = require_command("certutil")
    root_pem = tmp_path / "root.pem"
    root_pem.write_bytes(_pem(ca_service.hierarchy().root))
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run([certutil, "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{nss}", "-n", "natid-root", "-t", "CT,C,C",
         "-i", str(root_pem)],
        check=True,
    )  # fmt: skip
    return nss, root_pem


def _pdfsig(path: Path, nss: Path) -> str:
    pdfsig = require_command("pdfsig")
    result = subprocess.run(
        [pdfsig, "-nssdir", f"sql:{nss}", "-no-ocsp", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout + result.stderr


def _signed_parts(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(bytes covered by /ByteRange, CMS SignedData DER, time-stamp token DER or b"")."""
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    byte_range = list(sig.sig_object["/ByteRange"])
    covered = b"".join(
        data[byte_range[i] : byte_range[i] + byte_range[i + 1]]
        for i in range(0, len(byte_range), 2)
    )
    cms = sig.signed_data
    from asn1crypto import cms as asn1_cms  # type: ignore[import-untyped]

    content_info = asn1_cms.ContentInfo({"content_type": "signed_data", "content": cms})
    token = b""
    unsigned = sig.signer_info["unsigned_attrs"]
    if unsigned.native:
        for attr in unsigned:
            if attr["type"].native == "signature_time_stamp_token":
                token = attr["values"][0].dump()
    return covered, content_info.dump(), token


def _openssl_cms_verify(tmp_path: Path, covered: bytes, cms_der: bytes, root: Path) -> bool:
    openssl = require_command("openssl")
    (tmp_path / "content.bin").write_bytes(covered)
    (tmp_path / "sig.der").write_bytes(cms_der)
    result = subprocess.run(
        [openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "sig.der"),
         "-content", str(tmp_path / "content.bin"), "-CAfile", str(root), "-purpose", "any",
         "-out", "/dev/null"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode == 0 and "Verification successful" in result.stderr


@pytest.mark.parametrize("level", ["B-T", "B-LTA"])
def test_pdfsig_and_openssl_accept_and_reject_what_natid_does(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    trust: tuple[Path, Path],
    ca_service: CAService,
    tmp_path: Path,
    level: str,
) -> None:
    nss, root = trust
    signed = signing.seal(
        entity.id, make_pdf(text="Licence 42"), actor="t", level=level, visible=True
    )
    good = tmp_path / "good.pdf"
    good.write_bytes(signed)

    out = _pdfsig(good, nss)
    assert "Signature is Valid." in out, out
    # poppler 22.12 (Debian 12) reports "Unknown issue with Certificate" for every chain we
    # tried, including a two-certificate PKI made with plain cryptography and signed by
    # pyHanko's SimpleSigner, while NSS's own vfychain (-pp -u 4, email signer) accepts the
    # same chain against the same database: the certificate verdict is poppler's, not ours.
    # What this asserts is that the root in the NSS database is found (not "isn't Trusted").
    assert "issuer isn't Trusted" not in out and "issuer is unknown" not in out, out
    assert "Total document signed" in out or level == "B-LTA"

    covered, cms_der, token = _signed_parts(signed)
    assert _openssl_cms_verify(tmp_path, covered, cms_der, root)
    # NSS itself (libpkix, usage "email signer" as poppler asks) accepts the signer's chain.
    vfychain = require_command("vfychain")
    chain = [eseal.certificate, *ca_service.chain("entity")[:-1]]
    ders = []
    for number, cert in enumerate(chain):
        ders.append(tmp_path / f"chain{number}.der")
        ders[-1].write_bytes(cert.public_bytes(serialization.Encoding.DER))
    nss_verdict = subprocess.run(
        [vfychain, "-d", f"sql:{nss}", "-pp", "-u", "4", *map(str, ders)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "Chain is good!" in nss_verdict.stdout + nss_verdict.stderr, nss_verdict.stdout
    assert signing.validate(signed).ok

    # openssl ts: the token imprints SHA-256 of the signature value.
    openssl = require_command("openssl")
    sig = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    imprint = hashlib.sha256(sig.signer_info["signature"].native).hexdigest()
    (tmp_path / "tst.der").write_bytes(token)
    ts = subprocess.run(
        [openssl, "ts", "-verify", "-token_in", "-in", str(tmp_path / "tst.der"),
         "-digest", imprint, "-CAfile", str(root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ts.returncode == 0 and "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
    wrong = hashlib.sha256(b"another signature").hexdigest()
    ts_bad = subprocess.run(
        [openssl, "ts", "-verify", "-token_in", "-in", str(tmp_path / "tst.der"),
         "-digest", wrong, "-CAfile", str(root)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ts_bad.returncode != 0

    # One byte of the signed content changes.
    tampered_bytes = signed.replace(b"Licence 42", b"Licence 43", 1)
    assert tampered_bytes != signed
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(tampered_bytes)

    out_bad = _pdfsig(tampered, nss)
    assert "Signature is Invalid" in out_bad or "Digest Mismatch" in out_bad, out_bad
    covered_bad, cms_bad, _ = _signed_parts(tampered_bytes)
    assert not _openssl_cms_verify(tmp_path, covered_bad, cms_bad, root)
    first = signing.validate(tampered_bytes).signatures[0]
    assert (first.indication, first.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")
