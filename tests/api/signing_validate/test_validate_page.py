"""The validation page, the QR-code page and the validation API (api/routers/signing_validate.py):
what a citizen, a clerk or a ministry system sees for a valid, a tampered, a revoked-later, an
encrypted, a broken and an oversized PDF."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from api.context import AppContext
from api.routers import signing_validate, signing_validate_text
from ca.revocation import RevocationReason
from ca.store import IssuedCertificate
from core.clock import FixedClock
from tests.signing._pdf import make_pdf
from tests.signing.test_bad_input import encrypted_pdf

PDF = "application/pdf"


def _signed(ctx: AppContext, cert: IssuedCertificate, *, visible: bool = False) -> bytes:
    return ctx.signing().sign_pdf(
        make_pdf(text="Circular 12"), signer=cert.serial_hex, actor="test", level="B-T",
        visible=visible,
    )  # fmt: skip


def _upload(http: TestClient, data: bytes, lang: str = "en") -> httpx.Response:
    response: httpx.Response = http.post(
        "/sign/validate", files={"file": ("memo.pdf", data, PDF)}, data={"lang": lang}
    )
    return response


def _revoke_an_hour_later(ctx: AppContext, cert: IssuedCertificate, clock: FixedClock) -> None:
    clock.advance(dt.timedelta(hours=1))
    ctx.ca().revoke(cert.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="test")


def _tampered(signed: bytes) -> bytes:
    out = bytearray(signed)
    at = signed.index(b"Circular 12")
    out[at] = ord("X")
    return bytes(out)


def _stamp_link(pdf: bytes) -> str:
    """The URI of the stamp's link annotation (the same URL its QR code holds)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    for annot in page.get("/Annots", ()):
        action = annot.get_object().get("/A")
        if action is not None and "/URI" in action:
            return str(action["/URI"])
    raise AssertionError("the stamp has no link annotation")


def test_upload_form_is_khmer_by_default_english_on_request_without_script(
    validate_http: TestClient,
) -> None:
    km = validate_http.get("/sign/validate")
    assert km.status_code == 200
    assert km.headers["content-language"] == "km"
    assert "ពិនិត្យហត្ថលេខាឌីជីថល" in km.text
    assert 'enctype="multipart/form-data"' in km.text
    assert "<script" not in km.text
    assert "default-src 'self'" in km.headers["content-security-policy"]
    en = validate_http.get("/sign/validate?lang=en")
    assert "Check a digital signature" in en.text
    assert '<label for="file">PDF file</label>' in en.text
    by_header = validate_http.get("/sign/validate", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert by_header.headers["content-language"] == "en"


def test_uploaded_signed_pdf_gets_a_valid_report(
    validate_ctx: AppContext, validate_http: TestClient, servant_cert: IssuedCertificate
) -> None:
    answer = _upload(validate_http, _signed(validate_ctx, servant_cert))
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert 'data-ok="true"' in text
    assert "Every signature is valid." in text
    assert 'data-indication="TOTAL-PASSED"' in text
    assert "Chan Sopheap" in text
    assert re.search(r'class="level">B-T<', text)
    assert re.search(r'class="modifications">none<', text)
    assert re.search(r'class="revocation-then">valid<', text)
    assert servant_cert.serial_hex in text  # links to the certificate's page
    khmer = _upload(validate_http, _signed(validate_ctx, servant_cert), lang="km")
    assert khmer.headers["content-language"] == "km"
    assert "ហត្ថលេខាទាំងអស់មានសុពលភាព។" in khmer.text


def test_tampered_pdf_report_says_it_was_changed(
    validate_ctx: AppContext, validate_http: TestClient, servant_cert: IssuedCertificate
) -> None:
    answer = _upload(validate_http, _tampered(_signed(validate_ctx, servant_cert)))
    assert answer.status_code == 200
    assert 'data-ok="false"' in answer.text
    assert "TOTAL-FAILED / HASH_FAILURE" in answer.text
    assert "The document was changed after it was signed." in answer.text


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (encrypted_pdf(), "encrypted_pdf", "encrypted (password-protected)"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nxref broken trailer", "invalid_pdf",
         "not a readable PDF"),
        (b"GIF89a not a pdf at all", "invalid_pdf", "not a readable PDF"),
    ],
)  # fmt: skip
def test_encrypted_or_broken_pdf_gets_a_clear_error(
    validate_http: TestClient, data: bytes, code: str, words: str
) -> None:
    page = _upload(validate_http, data)
    assert page.status_code == 422
    assert f'data-code="{code}"' in page.text
    assert words in page.text
    api = validate_http.post("/signing/v1/validate", content=data, headers={"Content-Type": PDF})
    assert api.status_code == 422
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["code"] == code


def test_oversized_upload_is_refused_before_validation(
    validate_http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signing_validate, "MAX_UPLOAD_BYTES", 1000)
    big = make_pdf(pages=40)
    assert len(big) > 1000 + 64 * 1024 or len(big) > 1000
    page = _upload(validate_http, big + b"\n%" + b"x" * 70_000)
    assert page.status_code == 413
    assert 'data-code="too_large"' in page.text
    api = validate_http.post("/signing/v1/validate", content=big, headers={"Content-Type": PDF})
    assert api.status_code == 413
    assert api.json()["code"] == "pdf_too_large"


def test_missing_file_or_wrong_media_type(validate_http: TestClient) -> None:
    page = validate_http.post("/sign/validate", data={"lang": "en"}, files={"other": ("x", b"")})
    assert page.status_code == 400
    assert "Please choose a PDF file." in page.text
    api = validate_http.post("/signing/v1/validate", json={"pdf": "no"})
    assert api.status_code == 415


def test_api_reports_every_signature_with_revocation_then_and_now(
    validate_ctx: AppContext,
    validate_http: TestClient,
    servant_cert: IssuedCertificate,
    clock: FixedClock,
) -> None:
    signed = _signed(validate_ctx, servant_cert)
    _revoke_an_hour_later(validate_ctx, servant_cert, clock)
    answer = validate_http.post(
        "/signing/v1/validate", content=signed, headers={"Content-Type": PDF}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    [sig] = body["signatures"]
    # The time-stamp proves the signature came before the revocation (EN 319 102-1 §5.6.2.4).
    assert sig["indication"] == "TOTAL-PASSED"
    assert sig["revocation_then"] == "revoked_later"
    assert sig["revocation_now"] == "revoked"
    assert sig["pades_level"] == "B-T"
    assert sig["signer_serial"] == servant_cert.serial_hex
    assert len(sig["chain"]) >= 2
    assert sig["timestamp_time"] is not None
    assert sig["modifications"] == "none"
    assert body["ok"] is True
    tampered = validate_http.post(
        "/signing/v1/validate", content=_tampered(signed), headers={"Content-Type": PDF}
    ).json()
    assert tampered["ok"] is False
    assert tampered["signatures"][0]["sub_indication"] == "HASH_FAILURE"


def test_api_validation_of_a_revoked_signer_logs_no_id_number(
    validate_ctx: AppContext,
    validate_http: TestClient,
    servant_cert: IssuedCertificate,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    signed = validate_ctx.signing().sign_pdf(
        make_pdf(), signer=servant_cert.serial_hex, actor="test", level="B-B"
    )
    _revoke_an_hour_later(validate_ctx, servant_cert, clock)
    subject = servant_cert.certificate.subject
    id_number = str(subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value)
    caplog.set_level(logging.DEBUG)

    answer = validate_http.post(
        "/signing/v1/validate", content=signed, headers={"Content-Type": PDF}
    )

    assert answer.status_code == 200
    assert answer.json()["signatures"][0]["revocation_now"] == "revoked"
    assert id_number.rsplit("-", 1)[-1] not in caplog.text
    assert "Traceback" not in caplog.text


def test_stamp_qr_link_shows_the_certificate_and_its_status(
    validate_ctx: AppContext,
    validate_http: TestClient,
    servant_cert: IssuedCertificate,
    clock: FixedClock,
) -> None:
    signed = _signed(validate_ctx, servant_cert, visible=True)
    url = urlsplit(_stamp_link(signed))
    assert url.path == "/sign/validate"
    page = validate_http.get(f"{url.path}?{url.query}&lang=en")
    assert page.status_code == 200
    assert "Chan Sopheap" in page.text
    assert 'data-status="good"' in page.text
    assert "IDCKH" not in page.text  # the ID card number is never shown by serial
    assert '<input type="file"' in page.text  # and the document itself can be checked
    clock.advance(dt.timedelta(days=1))
    validate_ctx.ca().revoke(
        servant_cert.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="test"
    )
    later = validate_http.get(f"{url.path}?{url.query}&lang=en")
    assert 'id="status-now" data-status="revoked"' in later.text
    assert 'id="status-then" data-status="good"' in later.text


def test_unknown_serial_on_a_stamp_may_be_forged(validate_http: TestClient) -> None:
    page = validate_http.get("/sign/validate?cert=0123456789ABCDEF&t=20261101T090000Z&lang=en")
    assert page.status_code == 404
    assert "The stamp may be forged." in page.text
    bad = validate_http.get("/sign/validate?cert=not-hex<script>&lang=en")
    assert bad.status_code == 404
    assert "<script>" not in bad.text


def test_stamp_page_and_report_show_cambodia_time_and_khmer_digits(
    validate_ctx: AppContext, validate_http: TestClient, servant_cert: IssuedCertificate
) -> None:
    serial = servant_cert.serial_hex
    # A stamp made at 22:00 UTC was made on the next day in Phnom Penh (UTC+7).
    stamp = validate_http.get(f"/sign/validate?cert={serial}&t=20261101T220000Z&lang=en")
    assert stamp.status_code == 200
    assert "2026-11-02 05:00 Cambodia time" in stamp.text
    assert "+00:00" not in stamp.text and "22:00" not in stamp.text
    khmer = validate_http.get(f"/sign/validate?cert={serial}&t=20261101T220000Z&lang=km")
    assert "២០២៦-១១-០២ ០៥:០០ ម៉ោងកម្ពុជា" in khmer.text
    assert f"<code>{serial}</code>" in khmer.text  # the serial is copied exactly: ASCII
    # The signature's time-stamp comes from the test clock, 2026-11-01 09:00 UTC.
    report = _upload(validate_http, _signed(validate_ctx, servant_cert))
    assert "2026-11-01 16:00 Cambodia time" in report.text and "+00:00" not in report.text
    khmer_report = _upload(validate_http, _signed(validate_ctx, servant_cert), lang="km")
    assert "២០២៦-១១-០១ ១៦:០០ ម៉ោងកម្ពុជា" in khmer_report.text
    assert "ហត្ថលេខាទី ១" in khmer_report.text


def test_report_details_are_worded_in_the_page_language_with_cambodia_time(
    validate_ctx: AppContext,
    validate_http: TestClient,
    servant_cert: IssuedCertificate,
    clock: FixedClock,
) -> None:
    signed = _signed(validate_ctx, servant_cert)
    # Revoked at 10:00 UTC, 17:00 in Phnom Penh.
    _revoke_an_hour_later(validate_ctx, servant_cert, clock)

    khmer = _upload(validate_http, signed, lang="km").text
    english = _upload(validate_http, signed, lang="en").text

    assert 'data-note="revoked"' in khmer and 'data-note="time_stamp_before_revocation"' in khmer
    assert "វិញ្ញាបនបត្រត្រូវបានដកហូតនៅ ២០២៦-១១-០១ ១៧:០០ ម៉ោងកម្ពុជា" in khmer
    assert "ត្រាពេលវេលានៃហត្ថលេខាបញ្ជាក់ថា ហត្ថលេខាត្រូវបានធ្វើមុនពេលដកហូតវិញ្ញាបនបត្រ។" in khmer
    assert "The signature's time-stamp proves" not in khmer
    assert '<ul class="notes">' in khmer and not re.search(r'data-note="[a-z_]+" lang="en"', khmer)
    assert "The certificate was revoked on 2026-11-01 17:00 Cambodia time" in english
    assert "The signature&#39;s time-stamp proves it was made before the revocation." in english
    assert "+00:00" not in english
    # The API gives the same findings with their codes, the English sentence and ISO times.
    api = validate_http.post("/signing/v1/validate", content=signed, headers={"Content-Type": PDF})
    [sig] = api.json()["signatures"]
    revoked = next(note for note in sig["notes"] if note["code"] == "revoked")
    assert revoked["at"] == "2026-11-01T10:00:00+00:00"
    assert revoked["detail"] == "key_compromise"
    assert [note["text"] for note in sig["notes"]] == sig["messages"]


def test_every_finding_a_report_can_carry_is_worded_in_both_languages() -> None:
    from signing.validate import NOTE_CODES

    for lang in signing_validate_text.LANGUAGES:
        words = signing_validate_text.texts(lang)
        missing = [code for code in NOTE_CODES if f"note_{code}" not in words]
        assert not missing, (lang, missing)
