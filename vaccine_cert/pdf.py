"""The printable health certificate: one A4 page in Khmer and English with the credential's QR code.

What is printed comes from the ``HC1:`` payload itself (:func:`~vaccine_cert.hcert.decode_hc1`):
the holder's Latin name and date of birth, the kind's details, the UVCI, the issuer and the
validity are read from the signed CBOR, so the paper cannot say anything the QR code does not.
The one addition is the holder's name in Khmer script, which the DCC has no field for (its
``nam`` is Latin, ICAO 9303): the caller passes it from the register, and it is printed beside
the Latin name, never instead of it.

Decisions:

* Coded fields are printed with their value-set display names (eHealth Network, "Value Sets for
  Digital Covid Certificates": ``EU/1/20/1528`` -> Comirnaty) and the code in brackets, so a
  reader and a machine agree; an unknown code is printed as it is.
* Khmer needs complex-script shaping (subscript consonants, vowel signs placed around the base):
  fpdf2 shapes every run with HarfBuzz (``set_text_shaping``) and embeds a subset of KhmerOS
  (Debian ``fonts-khmeros``); Latin text uses DejaVu Sans (``fonts-dejavu-core``) with KhmerOS as
  fallback. A missing font is a clear :class:`CertificateFontMissing`, never a page of boxes.
* The QR code (HCERT spec, "QR 2D Barcode": alphanumeric mode, error correction Q, via
  :func:`vaccine_cert.qr.make_qr`) is drawn as vector squares, 70 mm wide with its 4-module quiet
  zone - at least 0.7 mm a module for every credential NatID issues, which phone cameras read
  from paper at arm's length (the issue asks for >= 5 cm).
* The PDF carries no clock of its own: its creation date is the credential's ``iat``, so the
  same payload always renders the same document (the e-seal, added in ``api/``, dates it).
* The e-seal is not made here: ``vaccine_cert`` does not import ``signing`` (ARCHITECTURE.md,
  the services are independent); ``api/`` renders with this module, then seals.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fpdf import FPDF

from core.errors import InfrastructureError
from vaccine_cert.checks import as_datetime
from vaccine_cert.errors import HcertDecodeError, HealthCertError, InvalidDccRecord
from vaccine_cert.hcert import decode_hc1
from vaccine_cert.qr import make_qr
from vaccine_cert.valuesets import FIELD_VALUE_SETS

__all__ = [
    "QR_WIDTH_MM",
    "CertificateFontMissing",
    "CertificateFonts",
    "render_certificate_pdf",
]

#: Width of the printed QR code, quiet zone included.
QR_WIDTH_MM = 70.0

_KHMER_CANDIDATES = (
    "/usr/share/fonts/truetype/khmeros/KhmerOS.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansKhmer-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansKhmer-Regular.ttf",
)
_LATIN_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
_LATIN_BOLD_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)


class CertificateFontMissing(HealthCertError, InfrastructureError):
    """A font the printable certificate needs is not installed."""

    code = "certificate_font_missing"


@dataclass(frozen=True, slots=True)
class CertificateFonts:
    """The TrueType fonts the certificate embeds."""

    khmer: Path
    latin: Path
    latin_bold: Path

    @classmethod
    def find(cls) -> CertificateFonts:
        """The installed fonts (Debian ``fonts-khmeros`` and ``fonts-dejavu-core``), or raise."""

        def first(candidates: tuple[str, ...], package: str) -> Path:
            for candidate in candidates:
                if Path(candidate).is_file():
                    return Path(candidate)
            raise CertificateFontMissing(
                f"no font for the printable certificate: install the Debian package {package} "
                f"(looked for {', '.join(candidates)})"
            )

        return cls(
            khmer=first(_KHMER_CANDIDATES, "fonts-khmeros"),
            latin=first(_LATIN_CANDIDATES, "fonts-dejavu-core"),
            latin_bold=first(_LATIN_BOLD_CANDIDATES, "fonts-dejavu-core"),
        )


# --- what is printed -----------------------------------------------------------------------------

_TITLES = {
    "v": ("វិញ្ញាបនបត្រចាក់វ៉ាក់សាំង", "Vaccination certificate"),
    "t": ("វិញ្ញាបនបត្រធ្វើតេស្ត", "Test certificate"),
    "r": ("វិញ្ញាបនបត្រជាសះស្បើយ", "Certificate of recovery"),
}

#: (group, field) -> (Khmer label, English label), in the order printed.
_FIELD_LABELS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "v": (
        ("tg", "ជំងឺ", "Disease or agent targeted"),
        ("vp", "ប្រភេទវ៉ាក់សាំង", "Vaccine or prophylaxis"),
        ("mp", "ផលិតផលវ៉ាក់សាំង", "Vaccine product"),
        ("ma", "ក្រុមហ៊ុនផលិត", "Manufacturer"),
        ("dose", "ដូស", "Dose"),
        ("dt", "កាលបរិច្ឆេទចាក់", "Date of vaccination"),
    ),
    "t": (
        ("tg", "ជំងឺ", "Disease or agent targeted"),
        ("tt", "ប្រភេទតេស្ត", "Type of test"),
        ("nm", "ឈ្មោះតេស្ត", "Test name"),
        ("ma", "ក្រុមហ៊ុនផលិតតេស្ត", "Test manufacturer"),
        ("sc", "ពេលយកសំណាក", "Sample collected"),
        ("tr", "លទ្ធផល", "Test result"),
        ("tc", "មណ្ឌលធ្វើតេស្ត", "Testing centre"),
    ),
    "r": (
        ("tg", "ជំងឺ", "Disease or agent targeted"),
        ("fr", "លទ្ធផលវិជ្ជមានលើកដំបូង", "First positive test"),
        ("df", "មានសុពលភាពពី", "Valid from"),
        ("du", "មានសុពលភាពរហូតដល់", "Valid until"),
    ),
}

_COMMON_LABELS = (
    ("co", "ប្រទេស", "Country"),
    ("is", "អ្នកចេញវិញ្ញាបនបត្រ", "Issuer"),
)


@dataclass(frozen=True, slots=True)
class _Facts:
    group: str
    family_name: str
    given_name: str
    date_of_birth: str
    rows: tuple[tuple[str, str, str], ...]  # (Khmer label, English label, value)
    uvci: str
    issued_at: dt.datetime | None
    expires_at: dt.datetime | None


@functools.cache
def _displays() -> dict[str, dict[str, str]]:
    """Value-set file -> code -> display name (the bundled value sets)."""
    folder = resources.files("vaccine_cert") / "data" / "valuesets"
    out: dict[str, dict[str, str]] = {}
    for name in set(FIELD_VALUE_SETS.values()):
        try:
            values = json.loads((folder / name).read_text(encoding="utf-8"))["valueSetValues"]
            out[name] = {code: str(v.get("display", code)) for code, v in values.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            out[name] = {}
    return out


def _display(group: str, field: str, value: Any) -> str:
    text = str(value)
    name = FIELD_VALUE_SETS.get((group, field))
    if name is None:
        return text
    shown = _displays()[name].get(text)
    return f"{shown} ({text})" if shown and shown != text else text


def _facts(payload: str) -> _Facts:
    try:
        decoded = decode_hc1(payload)
    except HcertDecodeError as exc:
        raise InvalidDccRecord("payload", f"is not a readable HC1 credential ({exc})") from exc
    dcc = decoded.dcc
    groups = [g for g in ("v", "t", "r") if isinstance(dcc.get(g), list) and dcc[g]]
    if len(groups) != 1 or not isinstance(dcc[groups[0]][0], dict):
        raise InvalidDccRecord("payload", "must hold exactly one vaccination, test or recovery")
    group = groups[0]
    entry: dict[str, Any] = dcc[group][0]
    rows: list[tuple[str, str, str]] = []
    for field, km, en in _FIELD_LABELS[group]:
        if field == "dose":
            if "dn" in entry and "sd" in entry:
                rows.append((km, en, f"{entry['dn']} / {entry['sd']}"))
        elif field in entry:
            rows.append((km, en, _display(group, field, entry[field])))
    rows += [(km, en, str(entry[f])) for f, km, en in _COMMON_LABELS if f in entry]
    found = dcc.get("nam")
    nam: dict[str, Any] = found if isinstance(found, dict) else {}
    return _Facts(
        group=group,
        family_name=str(nam.get("fn") or nam.get("fnt") or ""),
        given_name=str(nam.get("gn") or nam.get("gnt") or ""),
        date_of_birth=str(dcc.get("dob", "")),
        rows=tuple(rows),
        uvci=str(entry.get("ci", "")),
        issued_at=as_datetime(decoded.issued_at),
        expires_at=as_datetime(decoded.expires_at),
    )


# --- layout --------------------------------------------------------------------------------------

_MARGIN = 18.0
_INK = (20, 20, 20)
_MUTED = (85, 85, 85)
_BAND = (0, 84, 147)


def _stamp(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "-"


def render_certificate_pdf(
    payload: str,
    *,
    holder_name_km: str | None = None,
    issuer_name_km: str | None = None,
    fonts: CertificateFonts | None = None,
) -> bytes:
    """The printable certificate of ``payload`` (module docstring) as PDF bytes.

    ``holder_name_km`` is the holder's name in Khmer script from the register; ``issuer_name_km``
    the issuing authority's Khmer name. Raise :class:`InvalidDccRecord` for a payload that does
    not decode and :class:`CertificateFontMissing` if a font is not installed.
    """
    facts = _facts(payload)
    fonts = fonts or CertificateFonts.find()
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.add_font("khmer", "", str(fonts.khmer))
    pdf.add_font("latin", "", str(fonts.latin))
    pdf.add_font("latin", "B", str(fonts.latin_bold))
    pdf.set_fallback_fonts(["khmer"])
    pdf.set_text_shaping(True)
    title_km, title_en = _TITLES[facts.group]
    pdf.set_title(f"{title_en} - {facts.uvci}")
    pdf.set_author(next((v for _km, en, v in facts.rows if en == "Issuer"), "NatID"))
    pdf.set_lang("km")
    if facts.issued_at is not None:
        pdf.set_creation_date(facts.issued_at)
    pdf.add_page()
    width = pdf.w - 2 * _MARGIN
    _header(pdf, issuer_name_km, title_km, title_en, width)
    _holder(pdf, facts, holder_name_km, width)
    rows = [
        *facts.rows,
        ("ចេញនៅ", "Issued", _stamp(facts.issued_at)),
        ("ផុតកំណត់", "Expires", _stamp(facts.expires_at)),
    ]
    for km, en, value in rows:
        _row(pdf, km, en, value, width)
    pdf.ln(1)
    _label(pdf, "លេខសម្គាល់វិញ្ញាបនបត្រ", "Unique certificate identifier (UVCI)")
    pdf.set_font("latin", "", 9.5)
    pdf.cell(width, 6, facts.uvci, new_x="LMARGIN", new_y="NEXT")
    _qr_block(pdf, payload, width)
    return bytes(pdf.output())


def _header(pdf: FPDF, issuer_km: str | None, title_km: str, title_en: str, width: float) -> None:
    """The band and the issuer and title in both languages."""
    pdf.set_fill_color(*_BAND)
    pdf.rect(0, 0, pdf.w, 12, style="F")
    pdf.set_y(16)
    pdf.set_text_color(*_INK)
    if issuer_km:
        pdf.set_font("khmer", size=13)
        pdf.cell(width, 8, issuer_km, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("khmer", size=20)
    pdf.cell(width, 12, title_km, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("latin", "B", 17)
    pdf.cell(width, 9, title_en, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _holder(pdf: FPDF, facts: _Facts, name_km: str | None, width: float) -> None:
    """The holder, large: what an officer compares with the passport."""
    _label(pdf, "ឈ្មោះ", "Name")
    if name_km:
        pdf.set_font("khmer", size=18)
        pdf.cell(width, 11, name_km, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("latin", "B", 18)
    latin = f"{facts.family_name.upper()} {facts.given_name}".strip()
    pdf.cell(width, 9, latin, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    _label(pdf, "ថ្ងៃខែឆ្នាំកំណើត", "Date of birth")
    pdf.set_font("latin", "B", 16)
    pdf.cell(width, 9, facts.date_of_birth or "-", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_draw_color(*_MUTED)
    pdf.line(_MARGIN, pdf.get_y(), _MARGIN + width, pdf.get_y())
    pdf.ln(2)


def _qr_block(pdf: FPDF, payload: str, width: float) -> None:
    """The QR code centred near the bottom, with a bilingual line on how to check it."""
    qr_top = max(pdf.h - _MARGIN - 12 - QR_WIDTH_MM, pdf.get_y() + 3)
    _draw_qr(pdf, payload, x=(pdf.w - QR_WIDTH_MM) / 2, y=qr_top)
    pdf.set_y(qr_top + QR_WIDTH_MM + 1)
    pdf.set_text_color(*_MUTED)
    pdf.set_font("khmer", size=8.5)
    pdf.cell(
        width, 5, "ស្កេនកូដ QR ដើម្បីផ្ទៀងផ្ទាត់វិញ្ញាបនបត្រនេះ", align="C",
        new_x="LMARGIN", new_y="NEXT",
    )  # fmt: skip
    pdf.set_font("latin", "", 8)
    pdf.cell(
        width, 4, "Scan the QR code with any EU DCC verifier app to check this certificate.",
        align="C",
    )  # fmt: skip


def _label(pdf: FPDF, km: str, en: str) -> None:
    pdf.set_text_color(*_MUTED)
    pdf.set_font("khmer", size=9)
    pdf.cell(pdf.get_string_width(km) + 2, 6, km)
    pdf.set_font("latin", "", 8.5)
    pdf.cell(0, 6, f"/ {en}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*_INK)


def _row(pdf: FPDF, km: str, en: str, value: str, width: float) -> None:
    label_width = 68.0
    top = pdf.get_y()
    pdf.set_text_color(*_MUTED)
    pdf.set_font("khmer", size=8.5)
    pdf.set_xy(_MARGIN, top)
    pdf.cell(label_width, 5, km)
    pdf.set_font("latin", "", 7.5)
    pdf.set_xy(_MARGIN, top + 5)
    pdf.cell(label_width, 4, en)
    pdf.set_text_color(*_INK)
    pdf.set_font("latin", "", 10.5)
    pdf.set_xy(_MARGIN + label_width, top + 1)
    pdf.multi_cell(width - label_width, 5.5, value, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top + 10))


def _draw_qr(pdf: FPDF, payload: str, *, x: float, y: float) -> None:
    """The QR code as black squares on white, runs of a row merged into one rectangle."""
    matrix = make_qr(payload).matrix
    quiet = 4
    size = len(matrix) + 2 * quiet
    module = QR_WIDTH_MM / size
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, QR_WIDTH_MM, QR_WIDTH_MM, style="F")
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            pdf.rect(
                x + (quiet + start) * module, y + (quiet + r) * module,
                (c - start) * module + 0.02, module + 0.02, style="F",
            )  # fmt: skip
