"""The printable certificate (vaccine_cert/pdf.py): what a reader sees and what a phone scans.

Real tools read the PDF: poppler's ``pdftotext`` for the text, ``pdffonts`` for the embedded
Khmer font, ``pdftoppm`` to print it to pixels, and zxing-cpp to scan the QR code off that
picture - the payload it finds must be the credential, and it must verify.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from tests.ca._issuance import (
    ca_service,
    hierarchy_keys,
    ledger,
    register,
    session_hierarchy,
    transparency,
)
from tests.conftest import require_command
from tests.vaccine_cert._health import RECOVERY, TEST, VACCINATION, World, world
from vaccine_cert import pdf as pdf_module
from vaccine_cert import read_qr_texts
from vaccine_cert.errors import InvalidDccRecord
from vaccine_cert.pdf import CertificateFontMissing, CertificateFonts, render_certificate_pdf

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
    "world",
]

DPI = 150
MM_PER_INCH = 25.4


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [require_command("pdftotext"), "-layout", str(path), "-"],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    return done.stdout


def _png(pdf: bytes, tmp_path: Path) -> bytes:
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [require_command("pdftoppm"), "-r", str(DPI), "-png", "-singlefile", str(path),
         str(tmp_path / "page")],
        check=True, capture_output=True,
    )  # fmt: skip
    return (tmp_path / "page.png").read_bytes()


def test_printed_text_names_the_holder_and_the_certificate(world: World, tmp_path: Path) -> None:
    issued = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="test")
    pdf = render_certificate_pdf(
        issued.payload, holder_name_km="សុខ ដារ៉ា", issuer_name_km="ក្រសួងសុខាភិបាល"
    )
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf, tmp_path)
    assert "SOK Dara" in text  # the register's Latin name, family name first
    assert issued.uvci in text
    assert "Vaccination certificate" in text
    assert "Comirnaty (EU/1/20/1528)" in text  # value-set display name and the code
    assert re.search(r"\b2 ?/ ?2\b", text)  # dose 2 of 2
    assert "2026-10-01" in text
    assert "Ministry of Health" in text
    fonts = subprocess.run(
        [require_command("pdffonts"), str(tmp_path / "c.pdf")],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    # KhmerOS is embedded as a subset (the "yes" columns: embedded, subset, Unicode map).
    khmer = [line for line in fonts.splitlines() if "KhmerOS" in line]
    assert khmer
    assert all(line.split()[-5:-2] == ["yes", "yes", "yes"] for line in khmer)


def test_qr_scanned_off_the_printed_page_is_the_credential_and_verifies(
    world: World, tmp_path: Path
) -> None:
    issued = world.health.issue(world.holder.id, "vaccination", VACCINATION, actor="test")
    png = _png(render_certificate_pdf(issued.payload, holder_name_km="សុខ ដារ៉ា"), tmp_path)
    assert read_qr_texts(png) == (issued.payload,)
    assert world.health.verify(issued.payload).valid


def test_qr_is_at_least_5_cm_wide_on_paper(world: World, tmp_path: Path) -> None:
    issued = world.health.issue(world.holder.id, "test", TEST, actor="test")
    png = _png(render_certificate_pdf(issued.payload), tmp_path)
    with Image.open(io.BytesIO(png)) as page:
        [found] = zxingcpp.read_barcodes(page)
    xs = [p.x for p in (found.position.top_left, found.position.top_right)]
    width_mm = (max(xs) - min(xs)) * MM_PER_INCH / DPI
    assert width_mm >= 50  # symbol alone, without the quiet zone


@pytest.mark.parametrize(
    ("kind", "record", "expected"),
    [
        ("test", TEST, ["Test certificate", "Not detected (260415000)", "Calmette Hospital"]),
        ("recovery", RECOVERY, ["Certificate of recovery", "2026-09-01", "2027-03-01"]),
    ],
)
def test_every_kind_prints_its_own_details(
    world: World, tmp_path: Path, kind: str, record: dict[str, object], expected: list[str]
) -> None:
    issued = world.health.issue(world.holder.id, kind, record, actor="test")
    text = _text(render_certificate_pdf(issued.payload), tmp_path)
    for item in expected:
        assert item in text


def test_a_payload_that_does_not_decode_is_refused_before_rendering() -> None:
    with pytest.raises(InvalidDccRecord) as caught:
        render_certificate_pdf("HC1:NOT A CREDENTIAL")
    assert caught.value.code == "dcc_record_invalid"


def test_missing_khmer_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pdf_module, "_KHMER_CANDIDATES", ("/nonexistent/KhmerOS.ttf",))
    with pytest.raises(CertificateFontMissing) as caught:
        CertificateFonts.find()
    assert "fonts-khmeros" in caught.value.message
