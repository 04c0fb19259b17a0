"""Test PDFs made with fpdf2 (no committed binaries)."""

from __future__ import annotations

from fpdf import FPDF


def make_pdf(
    pages: int = 1, *, text: str = "Memo", version: str | None = None, compress: bool = False
) -> bytes:
    """A small text PDF of ``pages`` pages (content streams readable unless ``compress``)."""
    pdf = FPDF()
    pdf.set_compression(compress)
    pdf.set_font("helvetica", size=14)
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(text=f"{text} - page {number}")
    data = bytes(pdf.output())
    if version is not None:
        data = data.replace(data[:8], f"%PDF-{version}".encode(), 1)
    return data
