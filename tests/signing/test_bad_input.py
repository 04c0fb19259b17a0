"""Encrypted, broken and hostile PDFs: a clear InvalidPdf, quickly, and nothing recorded."""

from __future__ import annotations

import contextlib
import time
import zlib

import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca.store import IssuedCertificate
from core.audit import AuditLedger
from core.errors import InvalidInput
from registry import LegalEntity
from signing.errors import EncryptedPdf, InvalidPdf
from signing.pades import open_pdf
from signing.service import SigningService
from tests.signing._pdf import make_pdf


def encrypted_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="secret")
    pdf.set_encryption(owner_password="owner", user_password="")
    return bytes(pdf.output())


def _pdf_with_object(body: bytes) -> bytes:
    """A one-page PDF whose catalogue points at one extra object ``body`` (xref correct)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Extra 4 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        body,
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


HOSTILE = {
    "not a pdf": b"GIF89a....",
    "empty": b"",
    "header only": b"%PDF-1.7\n",
    "truncated": make_pdf()[:300],
    "broken xref": make_pdf().replace(b"startxref", b"startxrex"),
    "garbage body": b"%PDF-1.4\n" + bytes(range(256)) * 40,
    "xref loop": b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 1 0 R >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R /Prev 9 >>\nstartxref\n9\n%%EOF\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_pdf_is_refused_quickly_and_nothing_is_audited(
    signing: SigningService,
    entity: LegalEntity,
    eseal: IssuedCertificate,
    ledger: AuditLedger,
    name: str,
) -> None:
    before = ledger.head().seq
    started = time.monotonic()

    with pytest.raises(InvalidPdf):
        signing.seal(entity.id, HOSTILE[name], actor="t", level="B-B")

    assert time.monotonic() - started < 10
    assert ledger.head().seq == before


def test_encrypted_pdf_is_refused_for_signing_and_validation(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate
) -> None:
    data = encrypted_pdf()

    with pytest.raises(EncryptedPdf, match="encrypted") as caught:
        signing.seal(entity.id, data, actor="t")
    assert isinstance(caught.value, InvalidInput)
    with pytest.raises(EncryptedPdf):
        signing.validate(data)


_BOMB = zlib.compress(b"\0" * (512 * 1024 * 1024), 9)  # 512 MiB of zeros in ~0.5 MiB
LAZY_HOSTILE = {
    "decompression bomb": _pdf_with_object(
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(_BOMB) + _BOMB + b"\nendstream"
    ),
    "deep nesting": _pdf_with_object(b"[" * 50_000 + b"]" * 50_000),
}


@pytest.mark.parametrize("name", sorted(LAZY_HOSTILE))
def test_hostile_objects_cost_bounded_time_and_memory(
    signing: SigningService, entity: LegalEntity, eseal: IssuedCertificate, name: str
) -> None:
    data = LAZY_HOSTILE[name]
    started = time.monotonic()

    # The stream is never decoded to sign (pyHanko reads only what the signature needs), so
    # this either signs or fails cleanly - in bounded time either way.
    try:
        signed = signing.seal(entity.id, data, actor="t", level="B-B")
    except InvalidPdf:
        pass
    else:
        assert signing.validate(signed).signatures
    assert time.monotonic() - started < 20


def test_unsigned_pdf_validates_to_an_empty_report(signing: SigningService) -> None:
    report = signing.validate(make_pdf())

    assert report.signatures == ()
    assert not report.ok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_open_pdf_never_raises_anything_but_invalid_pdf(data: bytes) -> None:
    for candidate in (data, b"%PDF-1.7\n" + data, make_pdf()[: len(data)] + data):
        with contextlib.suppress(InvalidPdf):
            open_pdf(candidate)
