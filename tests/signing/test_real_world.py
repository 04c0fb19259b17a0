"""PDFs NatID did not make sign and validate: pdfTeX output from Debian's documentation
(``data/README.md``), and PDF 1.4 / 1.7 / 2.0, multi-page and already-signed documents."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ca.store import IssuedCertificate
from registry import LegalEntity
from signing.service import SigningService
from tests.conftest import require_command
from tests.signing._pdf import make_pdf

DATA = Path(__file__).parent / "data"

DOCUMENTS = {
    "libtasn1.pdf (pdfTeX, PDF 1.5, xref streams)": (DATA / "libtasn1.pdf").read_bytes,
    "shared-mime-info-spec.pdf (pdfTeX, PDF 1.5)": (DATA / "shared-mime-info-spec.pdf").read_bytes,
    "fpdf2, PDF 1.4, compressed, 3 pages": lambda: make_pdf(3, version="1.4", compress=True),
    "fpdf2, PDF 2.0": lambda: make_pdf(version="2.0"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_real_world_pdf_signs_visibly_at_b_lt_and_validates(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    tmp_path: Path,
    name: str,
) -> None:
    original = DOCUMENTS[name]()

    signed = signing.seal(entity.id, original, actor="t", level="B-LT", visible=True)

    assert signed.startswith(original)  # an incremental update: the original bytes untouched
    report = signing.validate(signed)
    assert report.ok, report.as_dict()
    assert report.signatures[0].pades_level == "B-LT"
    pdfsig = require_command("pdfsig")
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    out = subprocess.run(
        [pdfsig, "-nocert", str(path)], capture_output=True, text=True, check=False
    ).stdout
    assert "Signature is Valid." in out, out


def test_already_signed_document_gets_a_second_signature_and_both_hold(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, servant_id: str
) -> None:
    first = signing.sign_pdf(
        (DATA / "shared-mime-info-spec.pdf").read_bytes(), signer=servant_id, actor="t",
        level="B-T",
    )  # fmt: skip

    both = signing.seal(entity.id, first, actor="t", level="B-LTA")

    report = signing.validate(both)
    assert report.ok, report.as_dict()
    assert [s.kind for s in report.signatures] == ["signature", "signature", "document-timestamp"]
    assert [s.pades_level for s in report.signatures[:2]] == ["B-LTA", "B-LTA"]
