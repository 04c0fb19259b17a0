"""The registration office's printed documents: the activation letter and the receipt (issue 8).

Both are one A4 page in Khmer and English, made with fpdf2 the same way as the printable health
certificate (:mod:`vaccine_cert.pdf`): every text run is shaped with HarfBuzz
(``set_text_shaping``), Khmer in KhmerOS (Debian ``fonts-khmeros``) and Latin in DejaVu Sans,
both embedded as subsets; the fonts are found by :class:`vaccine_cert.pdf.CertificateFonts`, so
a missing font is the same clear error there and here.

* :func:`render_letter_pdf` - the activation letter handed to the citizen: their name in both
  scripts, the code as plain extractable text on its own line (``Activation code: 7KQ4-M2XD-9P``,
  so a screen reader, ``pdftotext`` or a copy-paste gets it right), when it expires, the QR code
  of the activation address (ISO/IEC 18004, error correction M, drawn as vector squares 50 mm
  wide so a phone reads it off paper), the address itself, and three steps and a warning in
  both languages. The ID card number is NOT printed: a lost letter alone opens nothing.
* :func:`keep_letter` / :func:`kept_letter` - the letter's PDF waits in the cache (shared by
  every worker) for :data:`LETTER_TTL` under the account of the officer who made it, and is
  handed to that officer only; after that the officer issues a new code.
* :func:`render_receipt_pdf` - what was done for the person at the counter today (proofing, a
  letter issued, certificates with serials), never a code; :func:`receipt_lines` gathers it
  from the register, the audit ledger (``officer.activation.issued``,
  ``officer.account.reset``) and the CA's records.

Times are printed in Cambodia time (UTC+7, no daylight saving), which is what the citizen reads
on their phone, as :func:`api.page_format.printed_time` writes them: "2026-11-15 17:00
(UTC+7)". Not the pages' "Cambodia time" label with Khmer digits on Khmer pages: each of these
documents is Khmer and English at once, and its times stand on the Latin-script lines beside
the English words, where a label in one language would leave out the other reader. Nothing
here reads a clock: the caller passes every time.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import segno
from fpdf import FPDF
from sqlalchemy import select

from api.page_format import LOCAL_ZONE, printed_time
from api.routers.officer_text import pair
from core.models import AuditEntryRow
from vaccine_cert.pdf import CertificateFonts

if TYPE_CHECKING:
    from api.context import AppContext
    from core.cache import Cache
    from registry.records import Person

__all__ = [
    "LETTER_TTL",
    "QR_WIDTH_MM",
    "LetterFacts",
    "ReceiptFacts",
    "ReceiptLine",
    "keep_letter",
    "kept_letter",
    "receipt_lines",
    "render_letter_pdf",
    "render_receipt_pdf",
]

#: How long a letter's PDF stays downloadable for the officer who made it.
LETTER_TTL = dt.timedelta(minutes=30)
#: Printed width of the QR code, quiet zone included.
QR_WIDTH_MM = 50.0

_MARGIN = 18.0
_INK = (20, 20, 20)
_MUTED = (85, 85, 85)
_BAND = (0, 84, 147)


@dataclass(frozen=True, slots=True)
class LetterFacts:
    """What the activation letter prints (the code is the one secret on it)."""

    name_km: str
    name_latin: str
    code: str
    activate_url: str
    expires_at: dt.datetime
    issued_at: dt.datetime
    office: str


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One thing done today: Khmer and English words, and a detail (a serial, a time)."""

    km: str
    en: str
    detail: str


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    name_km: str
    name_latin: str
    office: str
    officer: str
    printed_at: dt.datetime
    lines: Sequence[ReceiptLine]


def _document(fonts: CertificateFonts | None, *, title: str, at: dt.datetime) -> FPDF:
    found = fonts or CertificateFonts.find()
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(auto=True, margin=_MARGIN)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.add_font("khmer", "", str(found.khmer))
    pdf.add_font("latin", "", str(found.latin))
    pdf.add_font("latin", "B", str(found.latin_bold))
    pdf.set_fallback_fonts(["khmer"])
    pdf.set_text_shaping(True)
    pdf.set_title(title)
    pdf.set_author("NatID")
    pdf.set_lang("km")
    pdf.set_creation_date(at)
    pdf.add_page()
    return pdf


def _header(pdf: FPDF, key: str) -> float:
    km, en = pair(key)
    width = pdf.w - 2 * _MARGIN
    pdf.set_fill_color(*_BAND)
    pdf.rect(0, 0, pdf.w, 10, style="F")
    pdf.set_y(15)
    pdf.set_text_color(*_INK)
    pdf.set_font("khmer", size=18)
    pdf.cell(width, 11, km, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("latin", "B", 15)
    pdf.cell(width, 8, en, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    return width


def _label(pdf: FPDF, key: str) -> None:
    km, en = pair(key)
    pdf.set_text_color(*_MUTED)
    pdf.set_font("khmer", size=9)
    pdf.cell(pdf.get_string_width(km) + 2, 6, km)
    pdf.set_font("latin", "", 8.5)
    pdf.cell(0, 6, f"/ {en}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*_INK)


def _names(pdf: FPDF, name_km: str, name_latin: str, width: float) -> None:
    _label(pdf, "doc_name")
    if name_km.strip():
        pdf.set_font("khmer", size=16)
        pdf.cell(width, 10, name_km, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("latin", "B", 15)
    pdf.cell(width, 8, name_latin, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)


def _bilingual(pdf: FPDF, key: str, width: float, **values: str) -> None:
    km, en = pair(key)
    pdf.set_font("khmer", size=10.5)
    pdf.multi_cell(width, 6.5, km.format(**values), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("latin", "", 9.5)
    pdf.multi_cell(width, 5, en.format(**values), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.5)


def _draw_qr(pdf: FPDF, text: str, *, x: float, y: float) -> None:
    """The QR code of ``text`` as black squares on white, with its 4-module quiet zone."""
    matrix = segno.make_qr(text, error="m", boost_error=False).matrix
    quiet = 4
    module = QR_WIDTH_MM / (len(matrix) + 2 * quiet)
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


def render_letter_pdf(facts: LetterFacts, *, fonts: CertificateFonts | None = None) -> bytes:
    """The activation letter (module docstring) as PDF bytes."""
    pdf = _document(fonts, title="NatID activation letter", at=facts.issued_at)
    width = _header(pdf, "doc_letter_title")
    _names(pdf, facts.name_km, facts.name_latin, width)
    # The code: Khmer label, then one Latin line "Activation code: XXXX-XXXX-XX".
    code_km, code_en = pair("doc_code")
    pdf.set_text_color(*_MUTED)
    pdf.set_font("khmer", size=10)
    pdf.cell(width, 7, code_km, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(*_INK)
    pdf.set_font("latin", "B", 18)
    pdf.cell(width, 11, f"{code_en}: {facts.code}", new_x="LMARGIN", new_y="NEXT")
    expires_km, expires_en = pair("doc_expires")
    pdf.set_font("khmer", size=10)
    pdf.cell(pdf.get_string_width(expires_km) + 2, 7, expires_km)
    pdf.set_font("latin", "", 10)
    pdf.cell(
        0, 7, f"/ {expires_en}: {printed_time(facts.expires_at)}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(3)
    qr_top = pdf.get_y()
    _draw_qr(pdf, facts.activate_url, x=_MARGIN, y=qr_top)
    # The steps beside the QR code.
    text_x = _MARGIN + QR_WIDTH_MM + 6
    text_width = width - QR_WIDTH_MM - 6
    pdf.set_left_margin(text_x)
    pdf.set_xy(text_x, qr_top + 2)
    for key in ("doc_step1", "doc_step2", "doc_step3"):
        _bilingual(pdf, key, text_width)
    pdf.set_left_margin(_MARGIN)
    pdf.set_y(max(pdf.get_y(), qr_top + QR_WIDTH_MM) + 3)
    _label(pdf, "doc_scan")
    pdf.set_font("latin", "", 10)
    pdf.multi_cell(width, 6, facts.activate_url, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_draw_color(*_MUTED)
    pdf.line(_MARGIN, pdf.get_y(), _MARGIN + width, pdf.get_y())
    pdf.ln(3)
    _bilingual(pdf, "doc_warning", width)
    _label(pdf, "doc_issued")
    pdf.set_font("latin", "", 10)
    pdf.multi_cell(
        width, 6, f"{facts.office} · {printed_time(facts.issued_at)}", new_x="LMARGIN", new_y="NEXT"
    )
    return bytes(pdf.output())


def render_receipt_pdf(facts: ReceiptFacts, *, fonts: CertificateFonts | None = None) -> bytes:
    """The receipt of today's work for one person (module docstring) as PDF bytes."""
    pdf = _document(fonts, title="NatID registration office receipt", at=facts.printed_at)
    width = _header(pdf, "doc_receipt_title")
    _names(pdf, facts.name_km, facts.name_latin, width)
    for key, value in (
        ("doc_date", printed_time(facts.printed_at)),
        ("office", facts.office),
        ("signed_in_as", facts.officer),
    ):
        _label(pdf, key)
        pdf.set_font("latin", "", 10.5)
        pdf.multi_cell(width, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    _label(pdf, "doc_done")
    if not facts.lines:
        _bilingual(pdf, "doc_nothing", width)
    for line in facts.lines:
        pdf.set_font("khmer", size=10.5)
        pdf.multi_cell(width, 6.5, f"• {line.km}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("latin", "", 9.5)
        pdf.multi_cell(width, 5, f"  {line.en}", new_x="LMARGIN", new_y="NEXT")
        if line.detail:
            pdf.set_font("latin", "", 9)
            pdf.multi_cell(width, 5, f"  {line.detail}", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    pdf.ln(2)
    _bilingual(pdf, "doc_keep", width)
    return bytes(pdf.output())


# --- keeping the letter, gathering the receipt ---------------------------------------------------


def _letter_key(activation_id: str) -> str:
    return f"natid:officer:letter:{activation_id}"


def keep_letter(cache: Cache, activation_id: str, *, owner: str, pdf: bytes) -> None:
    """Keep ``pdf`` for :data:`LETTER_TTL`, for the officer account ``owner`` only."""
    stored = {"owner": owner, "pdf": base64.b64encode(pdf).decode("ascii")}
    data = json.dumps(stored).encode("ascii")
    cache.set(_letter_key(activation_id), data, ttl=LETTER_TTL.total_seconds())


def kept_letter(cache: Cache, activation_id: str, *, owner: str) -> bytes | None:
    """The kept PDF if ``owner`` made it and it has not expired, else None."""
    if not activation_id or len(activation_id) > 64 or not activation_id.isascii():
        return None
    raw = cache.get(_letter_key(activation_id))
    stored = json.loads(raw) if raw else None
    if not isinstance(stored, dict) or stored.get("owner") != owner:
        return None
    return base64.b64decode(stored["pdf"])


def _line(key: str, detail: str, **values: str) -> ReceiptLine:
    km, en = pair(key)
    return ReceiptLine(km.format(**values), en.format(**values), detail)


def receipt_lines(ctx: AppContext, person: Person, now: dt.datetime) -> list[ReceiptLine]:
    """What was done for ``person`` since midnight, Cambodia time, up to ``now``."""
    start = now.astimezone(LOCAL_ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    lines: list[ReceiptLine] = []
    for record in ctx.register.proofing_records(person.id):
        if record.method.value == "in_person" and start <= record.at <= now:
            level_km, level_en = pair(f"level_{record.level.value}")
            evidence = pair(f"doc_{record.evidence.value}")[1]
            km, en = pair("doc_proofing")
            detail = f"{evidence} · {printed_time(record.at)}"
            lines.append(ReceiptLine(km.format(level=level_km), en.format(level=level_en), detail))
    events = ("officer.activation.issued", "officer.account.reset")
    query = (
        select(AuditEntryRow)
        .where(AuditEntryRow.subject == person.id, AuditEntryRow.event.in_(events))
        .where(AuditEntryRow.at >= start)
        .order_by(AuditEntryRow.seq)
    )
    with ctx.sessions() as session:
        entries = list(session.scalars(query))
    for entry in entries:
        expires = dt.datetime.fromisoformat(str(json.loads(entry.data).get("expires_at")))
        key = "doc_letter" if entry.event == events[0] else "doc_reset"
        lines.append(_line(key, printed_time(entry.at), date=printed_time(expires)))
    for cert in ctx.ca().list(subject_id=person.id, limit=50):
        if start <= cert.issued_at <= now:
            detail = f"serial {cert.serial_hex} · {printed_time(cert.issued_at)}"
            lines.append(_line("doc_certificate", detail, profile=cert.profile.value))
    return lines
