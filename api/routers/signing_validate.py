"""Signature validation for everyone: an upload page, the page behind the stamps' QR codes,
and a JSON API (issue 5, "Validation").

* ``GET /sign/validate[?lang=km|en]`` - the upload form, in Khmer and English, no JavaScript.
* ``GET /sign/validate?cert=SERIAL&t=YYYYMMDDTHHMMSSZ`` - where the QR code and the link of a
  visible stamp lead (``SigningService._validation_url``). A printed or scanned stamp cannot
  prove the document is unchanged, so the page says what the link *can* vouch for - the
  certificate's holder, issuer and validity, its status now and at the time on the stamp - and
  offers the upload form to check the document itself. Only the holder's common name and
  organisation are shown, never the whole subject: a citizen's certificate carries the ID card
  number (``serialNumber=IDCKH-...``), which must not be looked up by serial on a public page.
  An unknown serial says the stamp may be forged (404).
* ``POST /sign/validate`` - ``multipart/form-data`` with ``file`` (and ``lang``); answers the
  report page. At most :data:`MAX_UPLOAD_BYTES`, counted while the body streams in.
* ``POST /signing/v1/validate`` - the PDF itself (``Content-Type: application/pdf``); answers
  the :class:`~signing.validate.ValidationReport` as JSON, each signature with
  ``revocation_then`` and ``revocation_now`` added (see :func:`_revocation_then`).

Encrypted or unreadable PDFs are a clear error: the page in the user's language (422), or
RFC 9457 problem details (422, ``invalid_pdf`` / ``encrypted_pdf``) for the API; too large is
413. Decisions: validation stores nothing and has no side effect, so the form carries no CSRF
token and sets no cookie; validation uses NatID's own OCSP and CRLs in process for the status
now (``SigningService.validate``). Pages carry the IdP pages' security headers
(``default-src 'self'``, no framing, no referrer, ``no-store``), and show times and numbers
the way every citizen page does (:mod:`api.page_format`: Cambodia time, Khmer digits on a
Khmer page); the JSON API keeps ISO 8601 UTC.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, Final

import jinja2
from cryptography import x509
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api import page_format
from api.context import AppContext
from api.errors import problem
from api.idp_web import PAGE_HEADERS, choose_language, static_url
from api.routers.signing_validate_text import LANGUAGES, texts
from core.errors import InfrastructureError, NatIDError
from signing.errors import EncryptedPdf, InvalidPdf
from signing.validate import SignatureReport, ValidationReport

__all__ = ["API_PATH", "MAX_UPLOAD_BYTES", "PAGE_PATH", "router"]

router = APIRouter(tags=["signing"])

PAGE_PATH: Final = "/sign/validate"
API_PATH: Final = "/signing/v1/validate"
#: Largest PDF the public validation accepts (page and API); signing itself takes up to 256 MiB.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
_MULTIPART_OVERHEAD = 64 * 1024
_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "signing_validate"
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))


class _TooLarge(Exception):
    """The body passed the size limit while streaming in."""


@functools.cache
def _environment() -> jinja2.Environment:
    return page_format.environment([_TEMPLATES])


def _render(
    request: Request, template: str, context: dict[str, Any], *, lang: str, status: int = 200
) -> HTMLResponse:
    languages = [
        {"code": code, "name": name, "href": f"{PAGE_PATH}?lang={code}"}
        for code, name in _LANGUAGE_NAMES
    ]
    values = {
        "lang": lang,
        "t": texts(lang),
        "languages": languages,
        "stylesheet": static_url("site.css"),
        "max_mb": MAX_UPLOAD_BYTES // (1024 * 1024),
        **context,
    }
    html = _environment().get_template(template).render(values)
    return HTMLResponse(
        html, status_code=status, headers={**PAGE_HEADERS, "Content-Language": lang}
    )


def _error_page(request: Request, key: str, *, lang: str, status: int) -> HTMLResponse:
    message = texts(lang)[key].format(
        mb=page_format.numerals(MAX_UPLOAD_BYTES // (1024 * 1024), lang)
    )
    return _render(request, "error.html", {"code": key, "message": message}, lang=lang,
                   status=status)  # fmt: skip


# --- the certificate behind a stamp's QR code ---------------------------------------------------


def _names(name: x509.Name) -> str:
    parts = [
        str(a.value)
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME)
        for a in name.get_attributes_for_oid(oid)
    ]
    return ", ".join(parts) or "-"


def _stamp_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _status(cert: Any, at: dt.datetime) -> str:
    """``good``, ``revoked``, ``suspended``, ``expired`` or ``not_yet`` at ``at``."""
    revoked_at = cert.revoked_at
    if cert.status.value != "good" and revoked_at is not None and revoked_at <= at:
        return "suspended" if cert.status.value == "on_hold" else "revoked"
    if at < cert.not_before:
        return "not_yet"
    if at > cert.not_after:
        return "expired"
    return "good"


def _certificate_view(ctx: AppContext, serial: str, stamp: str | None) -> dict[str, Any] | None:
    try:
        cert = ctx.ca().get(serial[:64])
    except NatIDError:
        return None
    now = ctx.clock.now()
    when = _stamp_time(stamp)
    return {
        "holder": _names(cert.certificate.subject),
        "issuer": _names(cert.certificate.issuer),
        "serial": cert.serial_hex,
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "status": _status(cert, now),
        "revoked_at": cert.revoked_at,
        "stamp_time": when,
        "status_then": _status(cert, when) if when else None,
    }


@router.get(PAGE_PATH, response_class=HTMLResponse)
async def validate_page(request: Request) -> HTMLResponse:
    """The upload form; with ``cert`` (a stamp's QR code) the certificate's status first."""
    ctx: AppContext = request.app.state.ctx
    lang = choose_language(request)
    serial = request.query_params.get("cert")
    if not serial:
        return _render(request, "form.html", {"certificate": None, "cert_unknown": False},
                       lang=lang)  # fmt: skip
    view = await run_in_threadpool(_certificate_view, ctx, serial, request.query_params.get("t"))
    return _render(
        request,
        "form.html",
        {"certificate": view, "cert_unknown": view is None},
        lang=lang,
        status=200 if view is not None else 404,
    )


# --- validation ---------------------------------------------------------------------------------


def _revocation_then(sig: SignatureReport) -> str:
    """The signer certificate's status when the signature was made: ``good``,
    ``revoked_later`` (revoked after a time-stamp proved the signature existed, EN 319 102-1
    §5.6.2.4), ``revoked`` or ``unknown`` (no chain, or revoked with nothing proving when the
    signature was made)."""
    if not sig.trusted and sig.revoked_at is None:
        return "unknown"
    if sig.revoked_at is None:
        return "good"
    proven = sig.timestamp_time
    if proven is not None and proven < sig.revoked_at:
        return "revoked_later"
    return "revoked" if sig.indication.value == "TOTAL-FAILED" else "unknown"


def _with_revocation(report: ValidationReport) -> dict[str, Any]:
    data = report.as_dict()
    for entry, sig in zip(data["signatures"], report.signatures, strict=True):
        entry["revocation_then"] = _revocation_then(sig)
        entry["revocation_now"] = "revoked" if sig.revoked_at is not None else sig.revocation
    return data


def _validate(ctx: AppContext, pdf: bytes) -> ValidationReport:
    return ctx.signing().validate(pdf)


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        yield chunk


def _declared_too_large(request: Request, limit: int) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) > limit


async def _uploaded_pdf(request: Request) -> tuple[bytes | None, str | None]:
    """The uploaded file's bytes (None if absent) and the form's ``lang``."""
    limit = MAX_UPLOAD_BYTES + _MULTIPART_OVERHEAD
    if _declared_too_large(request, limit):
        raise _TooLarge
    parser = MultiPartParser(request.headers, _limited(request, limit), max_files=1, max_fields=3)
    form = await parser.parse()
    try:
        lang = form.get("lang")
        upload = form.get("file")
        data = None
        if isinstance(upload, UploadFile):
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if data is not None and len(data) > MAX_UPLOAD_BYTES:
            raise _TooLarge
        return (data or None), (lang if isinstance(lang, str) else None)
    finally:
        await form.close()


@router.post(PAGE_PATH, response_class=HTMLResponse)
async def validate_upload(request: Request) -> HTMLResponse:  # noqa: PLR0911 - one per outcome
    """The report page for an uploaded PDF."""
    ctx: AppContext = request.app.state.ctx
    lang = choose_language(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return _error_page(request, "no_file", lang=lang, status=400)
    try:
        pdf, form_lang = await _uploaded_pdf(request)
    except _TooLarge:
        return _error_page(request, "too_large", lang=lang, status=413)
    except MultiPartException:
        return _error_page(request, "bad_request", lang=lang, status=400)
    if form_lang in LANGUAGES:
        request.state.lang = form_lang
        lang = form_lang
    if not pdf:
        return _error_page(request, "no_file", lang=lang, status=400)
    try:
        report = await run_in_threadpool(_validate, ctx, pdf)
    except EncryptedPdf:
        return _error_page(request, "encrypted_pdf", lang=lang, status=422)
    except InvalidPdf:
        return _error_page(request, "invalid_pdf", lang=lang, status=422)
    except InfrastructureError:
        return _error_page(request, "unavailable", lang=lang, status=503)
    # The page shows each moment in Cambodia time (the template's ``local_time``), so it gets
    # the moments themselves rather than the JSON's ISO strings.
    signatures = [
        {
            **entry,
            "claimed_signing_time": sig.claimed_signing_time,
            "timestamp_time": sig.timestamp_time,
            "revoked_at": sig.revoked_at,
            # Worded on the page in its language, with the moments in Cambodia time.
            "notes": sig.notes,
        }
        for entry, sig in zip(
            _with_revocation(report)["signatures"], report.signatures, strict=True
        )
    ]
    return _render(request, "report.html", {"signatures": signatures, "ok": report.ok},
                   lang=lang)  # fmt: skip


@router.post(API_PATH)
async def validate_api(request: Request) -> Response:
    """Validate the PDF in the body (``application/pdf``); the report as JSON."""
    ctx: AppContext = request.app.state.ctx
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/pdf":
        return problem(415, "Unsupported Media Type", code="unsupported_media_type",
                       detail="send the PDF itself with Content-Type: application/pdf",
                       request=request)  # fmt: skip
    too_large = problem(413, "Content Too Large", code="pdf_too_large",
                        detail=f"at most {MAX_UPLOAD_BYTES} bytes are accepted",
                        request=request)  # fmt: skip
    if _declared_too_large(request, MAX_UPLOAD_BYTES):
        return too_large
    try:
        pdf = b"".join([chunk async for chunk in _limited(request, MAX_UPLOAD_BYTES)])
    except _TooLarge:
        return too_large
    try:
        report = await run_in_threadpool(_validate, ctx, pdf)
    except InvalidPdf as exc:  # EncryptedPdf included
        return problem(422, "Unprocessable Content", code=exc.code, detail=exc.message,
                       request=request)  # fmt: skip
    return JSONResponse(_with_revocation(report), headers={"Cache-Control": "no-store"})
