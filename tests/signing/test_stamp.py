"""Visible stamps: Khmer shaped by HarfBuzz in an embedded font, the text extractable, the QR
link pointing at the validation page; a missing font is a clear error."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy.orm import Session, sessionmaker

from ca.service import CAService
from ca.store import IssuedCertificate
from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister, LegalEntity
from signing.errors import StampFontMissing
from signing.service import SigningService
from signing.stamp import find_khmer_font
from tests.ca._issuance import BASE_URL
from tests.conftest import require, require_command
from tests.signing._pdf import make_pdf


@pytest.fixture
def font() -> Path:
    try:
        return find_khmer_font()
    except StampFontMissing:
        require(False, "the Khmer font (Debian fonts-khmeros)")
        raise


def _stamp_font(signed: bytes) -> tuple[set[int], bytes]:
    """(CIDs listed in /W, embedded font program) of the signature appearance's font."""
    reader = PdfFileReader(io.BytesIO(signed))
    sig_field = reader.embedded_signatures[0].sig_field
    appearance = sig_field["/AP"]["/N"]

    def fonts(xobject: object) -> list[object]:
        resources = xobject.get("/Resources", {})  # type: ignore[attr-defined]
        found = [font_obj.get_object() for font_obj in resources.get("/Font", {}).values()]
        for child in resources.get("/XObject", {}).values():
            found += fonts(child.get_object())
        return found

    type0 = next(f for f in fonts(appearance) if f["/Subtype"] == "/Type0")
    cidfont = type0["/DescendantFonts"][0].get_object()
    widths = list(cidfont["/W"])
    cids: set[int] = set()
    for index in range(0, len(widths), 2):
        start = int(widths[index])
        cids.update(range(start, start + len(widths[index + 1])))
    program = cidfont["/FontDescriptor"]["/FontFile2"].get_object().data
    return cids, program


def test_khmer_is_shaped_with_glyphs_beyond_the_cmap(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, font: Path
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-B", visible=True)

    cids, program = _stamp_font(signed)
    original = TTFont(str(font))
    reachable = {original.getGlyphID(name) for name in original.getBestCmap().values()}
    # CIDs are glyph ids (CIDToGIDMap Identity): glyphs no character maps to directly are
    # HarfBuzz's substitutions - subscript consonants (coeng forms), ligatures, mark variants.
    substituted = cids - reachable
    assert substituted, "no shaped (substituted) glyphs: Khmer was not shaped"
    assert len(program) < len(font.read_bytes()) / 2  # a subset is embedded, not the font
    assert signing.validate(signed).ok


def test_stamp_text_extracts_as_khmer_and_latin(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    font: Path,
    tmp_path: Path,
) -> None:
    pdftotext = require_command("pdftotext")
    path = tmp_path / "sealed.pdf"
    path.write_bytes(signing.seal(entity.id, make_pdf(), actor="t", level="B-B", visible=True))

    text = subprocess.run(
        [pdftotext, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout

    assert entity.name_km in text
    assert entity.name_en.upper() in text
    assert "Electronically sealed by" in text
    assert "2026-11-01 09:00:00 UTC" in text


def test_servant_stamp_has_title_and_ministry(
    signing: SigningService,
    servant_id: str,
    register: EmbeddedRegister,
    font: Path,
    tmp_path: Path,
) -> None:
    pdftotext = require_command("pdftotext")
    servant = register.get_servant(servant_id)
    person = register.get_person(servant.person_id)
    path = tmp_path / "signed.pdf"
    path.write_bytes(
        signing.sign_pdf(make_pdf(), signer=servant_id, actor="t", level="B-B", visible=True)
    )

    text = subprocess.run(
        [pdftotext, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout

    for expected in (person.name_km, person.name_latin.upper(), servant.title,
                     servant.ministry_name_en, "Digitally signed by"):  # fmt: skip
        assert expected in text
    assert servant.title_km is not None and servant.title_km in text


def test_qr_link_opens_the_validation_page(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, font: Path
) -> None:
    signed = signing.seal(entity.id, make_pdf(), actor="t", level="B-B", visible=True)

    reader = PdfFileReader(io.BytesIO(signed))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    links = [
        a.get_object()["/A"]["/URI"]
        for a in page["/Annots"]
        if a.get_object().get("/Subtype") == "/Link"
    ]
    assert links == [
        f"http://pki.natid.gov.kh/sign/validate?cert={eseal.serial_hex}&t=20261101T090000Z"
    ]


def test_missing_font_is_a_clear_error_and_nothing_is_signed(
    session_factory: sessionmaker[Session],
    ca_service: CAService,
    hierarchy_keys: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
    register: EmbeddedRegister,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    tmp_path: Path,
) -> None:
    service = SigningService(
        session_factory,
        ca=ca_service,
        keys=hierarchy_keys,
        ledger=ledger,
        clock=clock,
        register=register,
        public_base_url=BASE_URL,
        font_path=tmp_path / "missing.ttf",
    )
    before = ledger.head().seq

    with pytest.raises(StampFontMissing, match="does not exist"):
        service.seal(entity.id, make_pdf(), actor="t", visible=True)
    assert ledger.head().seq == before
    # Invisible signatures need no font.
    assert service.validate(service.seal(entity.id, make_pdf(), actor="t", level="B-B")).ok
