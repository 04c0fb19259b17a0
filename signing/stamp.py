"""Visible signature stamps: the signer in Khmer and Latin script, title, ministry, time and a
QR code that opens NatID's validation page (issue 5, "Visible signature stamps").

ARCHITECTURE.md "Languages": Khmer needs complex-script shaping - vowel signs placed before
their consonant, subscript consonants (coeng), stacked marks. The stamp text is shaped by
HarfBuzz through pyHanko's OpenType font engine
(:class:`pyhanko.pdf_utils.font.opentype.GlyphAccumulatorFactory`), which embeds a subset of
the font as a CID-keyed font with a ToUnicode map, so the text also extracts and searches
correctly (``pdftotext``). Decisions:

1. **Font**: Khmer OS (Debian ``fonts-khmeros``, GPL-2 with a font exception; it has Latin
   glyphs too, so one font draws both scripts). It is looked up at run time in the usual
   places (:data:`FONT_CANDIDATES`, or ``NATID_KHMER_FONT``); missing is
   :class:`~signing.errors.StampFontMissing` naming the package to install, never a silent
   fallback to a font without Khmer glyphs.
2. **QR code**: drawn with segno as filled PDF rectangles (vector, sharp at any zoom), level M
   error correction, linking to ``{public_base_url}/sign/validate?cert=SERIAL&t=TIME``; the
   stamp is also a link annotation to that URL. pyHanko's own QR stamp needs the ``qrcode``
   package; only the drawing is replaced here.
3. **Time** in the stamp is UTC with the zone written out, so it reads the same everywhere.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter, init_xobject_dictionary
from pyhanko.stamp import QRPosition, QRStamp, QRStampStyle

from signing.errors import StampFontMissing
from signing.pades import VisibleSpec

__all__ = ["FONT_CANDIDATES", "SignerDisplay", "find_khmer_font", "stamp_spec", "stamp_text"]

#: Where the Khmer font is looked for, in order (after ``NATID_KHMER_FONT``).
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/khmeros/KhmerOS.ttf"),
    Path("/usr/share/fonts/truetype/khmeros/KhmerOSsys.ttf"),
    Path("/usr/share/fonts/truetype/noto/NotoSansKhmer-Regular.ttf"),
    Path("/usr/share/fonts/opentype/noto/NotoSansKhmer-Regular.ttf"),
)
_FONT_SIZE = 7
#: Khmer stacks subscript consonants and vowels below the base line: a line needs about twice
#: the font size, or the marks of one line touch the next.
_LEADING = 14
#: Stamp box in points: about 11.3 x 4.9 cm, bottom left of the page.
STAMP_BOX = (36, 36, 356, 176)


@dataclass(frozen=True, slots=True)
class SignerDisplay:
    """What the stamp shows about the signer (from the register)."""

    name_km: str
    name_latin: str
    title: str | None = None
    title_km: str | None = None
    organisation: str | None = None
    organisation_km: str | None = None
    #: ``signature`` (a person) or ``seal`` (a legal entity).
    kind: str = "signature"


def find_khmer_font(configured: Path | None = None) -> Path:
    """The Khmer font file to embed (decision 1): ``configured`` (the setting
    ``NATID_KHMER_FONT``) if given, else the first of :data:`FONT_CANDIDATES` present."""
    if configured is not None:
        if configured.is_file():
            return configured
        raise StampFontMissing("NATID_KHMER_FONT names a file that does not exist")
    candidates = list(FONT_CANDIDATES)
    for path in candidates:
        if path.is_file():
            return path
    raise StampFontMissing(
        "no Khmer font for signature stamps: install the Debian package fonts-khmeros "
        "(or set NATID_KHMER_FONT to a Khmer TrueType font)"
    )


def stamp_text(display: SignerDisplay, *, at: dt.datetime) -> str:
    """The stamp's lines: what happened, the names, the position, the time."""
    if display.kind == "seal":
        heading = "បោះត្រាអេឡិចត្រូនិកដោយ / Electronically sealed by"
    else:
        heading = "ចុះហត្ថលេខាអេឡិចត្រូនិកដោយ / Digitally signed by"
    lines = [heading, display.name_km, display.name_latin.upper()]
    if display.title_km or display.title:
        lines.append(" / ".join(t for t in (display.title_km, display.title) if t))
    if display.organisation_km:
        lines.append(display.organisation_km)
    if display.organisation:
        lines.append(display.organisation)
    when = at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines.append(f"កាលបរិច្ឆេទ / Date: {when}")
    return "\n".join(lines)


class _ThousandthsGlyphAccumulator(GlyphAccumulator):
    """pyHanko's HarfBuzz glyph engine, with widths in thousandths of an em.

    PDF glyph widths (``/W``) and ``TJ`` adjustments are in 1/1000 em (ISO 32000-2 §9.2.4);
    pyHanko 0.38 writes them in font units, which is right only for fonts with 1000 units per
    em (most CFF fonts). TrueType fonts such as Khmer OS have 2048, so every glyph came out
    about twice as wide as drawn. HarfBuzz is asked for positions at a scale of 1000 and the
    widths are converted to match.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._font_units = self.units_per_em
        self.hb_font.scale = (1000, 1000)
        self.units_per_em = 1000

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        cached = self._glyphs.get(glyph_id)
        if cached is not None:
            return cached
        cid, width = super()._get_cid_and_width(glyph_id)
        result = (cid, round(width * 1000 / self._font_units))
        self._glyphs[glyph_id] = result
        return result


@dataclass(frozen=True)
class _KhmerFontFactory(GlyphAccumulatorFactory):
    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: Any = None
    ) -> GlyphAccumulator:
        out: Any = writer
        if obj_stream is None and out.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = out.prepare_object_stream()
        # Read whole, so no file handle stays open (pyHanko's factory leaves it open).
        handle = io.BytesIO(Path(self.font_file).read_bytes())
        return _ThousandthsGlyphAccumulator(
            writer=writer,
            font_handle=handle,
            font_size=self.font_size,
            obj_stream=obj_stream,
        )


class _SegnoQRStamp(QRStamp):
    """pyHanko's QR stamp with the code drawn from segno's matrix (decision 2)."""

    def _qr_xobject(self) -> tuple[Any, int]:
        qr = segno.make_qr(self.url, error="m", boost_error=False)
        border = 4
        size = qr.symbol_size(scale=1, border=border)[0]
        # Row 0 of the matrix is the top; PDF's y axis points up.
        ops = [b"0 0 0 rg"]
        for row_number, row in enumerate(qr.matrix):
            y = size - border - row_number - 1
            for col_number, dark in enumerate(row):
                if dark:
                    ops.append(b"%d %d 1 1 re" % (col_number + border, y))
        ops.append(b"f")
        xobj: Any = init_xobject_dictionary(b"\n".join(ops), size, size)
        xobj.compress()
        writer: Any = self.writer
        return writer.add_object(xobj), int(size)


@dataclass(frozen=True)
class _NatIDStampStyle(QRStampStyle):
    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> QRStamp:
        url = text_params.pop("url")
        return _SegnoQRStamp(writer, style=self, url=url, text_params=text_params, box=box)


def stamp_spec(
    display: SignerDisplay,
    *,
    at: dt.datetime,
    validation_url: str,
    font_path: Path,
    page: int = -1,
    box: tuple[int, int, int, int] = STAMP_BOX,
) -> VisibleSpec:
    """The visible-signature settings for :func:`signing.pades.sign_pdf_bytes`."""
    if not font_path.is_file():
        raise StampFontMissing(f"the stamp font {font_path} does not exist")
    font = _KhmerFontFactory(str(font_path), font_size=_FONT_SIZE)
    style = _NatIDStampStyle(
        # The whole text is one parameter, so '%' in a name is never read as a directive.
        stamp_text="%(body)s",
        text_box_style=TextBoxStyle(font=font, font_size=_FONT_SIZE, leading=_LEADING),
        border_width=1,
        qr_position=QRPosition.LEFT_OF_TEXT,
        innsep=4,
        background=None,
    )
    return VisibleSpec(
        style=style,
        text_params={"body": stamp_text(display, at=at), "url": validation_url},
        page=page,
        box=box,
        link=validation_url,
    )
