"""E-seal batches over HTTP, with progress (issue 5, "E-seals ... batches (a multipart upload
of many files; progress shown; a failed file does not stop the others and is reported)").

API (operator token, ``Authorization: Bearer natid_op_...``, role ``ca-operator``: the e-seal
keys are the CA's server-side keys, so sealing over HTTP is given to whoever runs ``natid seal``
on the server; the audit ledger names the operator's id for every seal):

* ``POST /signing/v1/seal-batches`` (multipart/form-data: ``files`` repeated, one PDF each;
  ``entity`` the legal entity's register id; optional ``level`` B-B|B-T|B-LT|B-LTA, default
  B-T; optional ``visible``) -> 202 with the batch and ``Location``. Too many files, a file or
  the whole upload too large -> 413; no file, no entity, an unknown level -> 422; an entity
  without a usable e-seal certificate -> 404. Nothing is stored when the request is refused.
* ``GET /signing/v1/seal-batches/{id}``: ``state`` (running, finished, stalled), ``done`` of
  ``total``, and each file's state (pending, sealed, failed with ``code`` and ``reason``).
* ``GET /signing/v1/seal-batches/{id}/result.zip``: the sealed PDFs and ``report.json``.

Why a background task: sealing a hundred files at B-LT takes minutes, longer than a proxy
waits for an answer, so the upload is stored (:mod:`signing.batch`), answered with 202, and
sealed after the response in the same worker (FastAPI ``BackgroundTasks``); progress goes to
the shared cache, so any worker answers the polls. A worker that dies mid-batch leaves it
``stalled`` (shown after ten minutes without progress) rather than running forever.

Pages (IdP login session of an account linked to a ``ca-operator``): ``GET``/``POST
/sign/seal-batch`` (upload form), ``GET /sign/seal-batch/{id}`` (progress; a small script
polls ``.../status.json`` and updates it, without JavaScript a refresh link does),
``GET /sign/seal-batch/{id}/result.zip``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.context import AppContext
from api.deps import Ctx
from api.errors import ProblemHTTPException
from api.idp_web import (
    CSRF_FIELD,
    PAGE_HEADERS,
    PageRoute,
    check_csrf,
    csrf_token,
    current_session,
    page_environment,
    see_other,
    static_url,
)
from api.idp_web import form_language as _lang
from api.page_format import numerals
from api.routers.signing_batch_text import texts
from api.security import require_operator
from core.errors import NatIDError
from core.operators import Operator, OperatorRole
from signing.batch import BatchNotFound, SealBatch, SealBatches, Upload
from signing.errors import InvalidSigningRequest
from signing.pades import PadesLevel

__all__ = ["router", "seal_batches"]

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_SCRIPT = (_TEMPLATES / "signing_batch" / "progress.js").read_bytes()
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))
_MIB = 1024 * 1024
#: Room for the multipart boundaries and the small fields around the files.
_FORM_OVERHEAD = _MIB

Sealer = Annotated[Operator, Depends(require_operator(OperatorRole.CA_OPERATOR))]

router = APIRouter()
_api = APIRouter(tags=["signing"])
_pages = APIRouter(tags=["signing pages"], route_class=PageRoute, include_in_schema=False)


def seal_batches(ctx: AppContext) -> SealBatches:
    """The batch service over the context's signing service, cache and data directory."""
    return SealBatches(
        signing=ctx.signing(),
        cache=ctx.cache,
        root=ctx.settings.data_dir / "seal-batches",
        clock=ctx.clock,
        ledger=ctx.ledger,
    )


# --- reading an upload within the limits ----------------------------------------------------


class _Refused(Exception):
    """A request refused before anything is stored: HTTP status, stable code, message."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


async def _read_form(request: Request, ctx: AppContext) -> tuple[FormData, list[Upload]]:
    """The form and its files, refused with 413 past any limit (settings ``seal_batch_*``)."""
    settings = ctx.settings
    max_files, max_file = settings.seal_batch_max_files, settings.seal_batch_max_file_bytes
    max_total = settings.seal_batch_max_total_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_total + _FORM_OVERHEAD:
        raise _Refused(413, "batch_too_large", f"the upload has {length} bytes; at most "
                       f"{max_total} bytes of files are accepted in one batch")  # fmt: skip
    try:
        form = await request.form(max_files=max_files, max_fields=20, max_part_size=64 * 1024)
    except StarletteHTTPException as exc:
        if "Too many files" in str(exc.detail):
            raise _Refused(413, "too_many_files", f"at most {max_files} files per batch") from exc
        raise _Refused(422, "invalid_form", str(exc.detail)[:200]) from exc
    files = [v for v in form.getlist("files") if isinstance(v, UploadFile)]
    total = 0
    uploads = []
    for item in files:
        item.file.seek(0, 2)
        size = item.file.tell()
        item.file.seek(0)
        total += size
        if size > max_file:
            raise _Refused(413, "file_too_large", f"{_shown(item.filename)} has {size} bytes; "
                           f"at most {max_file} bytes per file")  # fmt: skip
        uploads.append(Upload(item.filename or "", item.file))
    if total > max_total:
        raise _Refused(413, "batch_too_large", f"the files have {total} bytes in all; at most "
                       f"{max_total} bytes per batch")  # fmt: skip
    return form, uploads


def _shown(name: str | None) -> str:
    return repr((name or "")[:60])


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _start(
    ctx: AppContext, background: BackgroundTasks, form: FormData, uploads: list[Upload], owner: str
) -> SealBatch:
    entity = _field(form, "entity")
    if not entity:
        raise _Refused(422, "missing_entity", "name the legal entity (field 'entity')")
    if not uploads:
        raise _Refused(422, "no_files", "send at least one PDF (field 'files', repeated)")
    level = _field(form, "level") or PadesLevel.B_T.value
    visible = _field(form, "visible").lower() in {"1", "true", "on", "yes"}
    try:
        batch = seal_batches(ctx).create(entity, uploads, owner=owner, level=level, visible=visible)
    except InvalidSigningRequest as exc:
        raise _Refused(422, exc.code, exc.message) from exc
    background.add_task(seal_batches(ctx).run, batch.id)
    return batch


# --- API ------------------------------------------------------------------------------------


def _batch_json(batch: SealBatch, base: str) -> dict[str, Any]:
    raw = batch.as_dict()
    raw.pop("owner")
    raw.update(
        done=batch.done,
        total=batch.total,
        sealed=batch.sealed,
        failed=batch.failed,
        status_url=f"{base}/{batch.id}",
        result_url=f"{base}/{batch.id}/result.zip" if batch.state.value == "finished" else None,
    )
    return raw


_API_BASE = "/signing/v1/seal-batches"


@_api.post(_API_BASE, status_code=202, summary="E-seal many PDFs (multipart upload)")
async def create_batch(
    request: Request, ctx: Ctx, background: BackgroundTasks, operator: Sealer
) -> JSONResponse:
    try:
        form, uploads = await _read_form(request, ctx)
        # Copying the files and looking up the certificate block: off the event loop.
        batch = await run_in_threadpool(_start, ctx, background, form, uploads, operator.id)
    except _Refused as exc:
        raise ProblemHTTPException(exc.status, code=exc.code, detail=exc.detail) from exc
    return JSONResponse(
        _batch_json(batch, _API_BASE),
        status_code=202,
        headers={"Location": f"{_API_BASE}/{batch.id}"},
    )


@_api.get(_API_BASE + "/{batch_id}", summary="Progress of an e-seal batch")
def batch_status(batch_id: str, ctx: Ctx, operator: Sealer) -> JSONResponse:
    batch = seal_batches(ctx).get(batch_id, owner=operator.id)
    return JSONResponse(_batch_json(batch, _API_BASE), headers={"Cache-Control": "no-store"})


@_api.get(_API_BASE + "/{batch_id}/result.zip", summary="The sealed PDFs and report.json")
def batch_result(batch_id: str, ctx: Ctx, operator: Sealer) -> FileResponse:
    return _zip(seal_batches(ctx).result(batch_id, owner=operator.id), batch_id)


def _zip(path: Path, batch_id: str) -> FileResponse:
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"sealed-{batch_id}.zip",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


# --- pages ----------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    return page_environment("signing_batch")


def _render(
    request: Request, name: str, context: dict[str, Any], *, lang: str, status: int = 200
) -> HTMLResponse:
    links = [
        {"code": code, "name": label, "href": f"{request.url.path}?lang={code}"}
        for code, label in _LANGUAGE_NAMES
    ]
    values = {"lang": lang, "t": texts(lang), CSRF_FIELD: csrf_token(request, None),
              "languages": links, "static": static_url, **context}  # fmt: skip
    response = HTMLResponse(
        _environment().get_template(name).render(values),
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Language": lang},
    )
    csrf_token(request, response)
    return response


def _error(request: Request, lang: str, key: str, status: int, detail: str = "") -> HTMLResponse:
    return _render(request, "error.html", {"key": key, "detail": detail}, lang=lang, status=status)


def _login(path: str) -> Response:
    return see_other(f"/login?next={quote(path, safe='/')}")


def _page_operator(ctx: AppContext, request: Request) -> str | None:
    """The ``ca-operator`` linked to the browser's login session, or None."""
    session = current_session(request)
    if session is None:
        return None
    accounts = ctx.idp_accounts()
    account = accounts.get(session.account_id)
    if account.operator_id is None:
        return ""
    roles = accounts.claims_subject(account.id).roles
    return account.operator_id if OperatorRole.CA_OPERATOR.value in roles else ""


def _limits(ctx: AppContext) -> dict[str, int]:
    s = ctx.settings
    return {"files": s.seal_batch_max_files, "size": s.seal_batch_max_file_bytes // _MIB,
            "total": s.seal_batch_max_total_bytes // _MIB}  # fmt: skip


def _form_page(
    request: Request,
    ctx: AppContext,
    lang: str,
    values: dict[str, str],
    *,
    status: int = 200,
    error: str = "",
) -> HTMLResponse:
    context = {"values": values, "error": error, "limits": _limits(ctx),
               "levels": [level.value for level in PadesLevel]}  # fmt: skip
    return _render(request, "form.html", context, lang=lang, status=status)


@_pages.get("/sign/seal-batch.js")
def progress_script() -> Response:
    return Response(
        _SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@_pages.get("/sign/seal-batch")
def batch_form(request: Request, ctx: Ctx) -> Response:
    lang = _lang(request)
    owner = _page_operator(ctx, request)
    if owner is None:
        return _login("/sign/seal-batch")
    if not owner:
        return _error(request, lang, "not_allowed", 403)
    return _form_page(request, ctx, lang, {"level": PadesLevel.B_T.value})


@_pages.post("/sign/seal-batch")
async def batch_submit(request: Request, ctx: Ctx, background: BackgroundTasks) -> Response:
    lang = _lang(request)
    try:
        form, uploads = await _read_form(request, ctx)
    except _Refused as exc:
        # The form may not be readable at all; CSRF is checked on what could be read.
        return _error(request, lang, "too_large" if exc.status == 413 else "invalid_batch",
                      exc.status, exc.detail)  # fmt: skip
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    lang = _lang(request, values.get("lang"))
    check_csrf(request, values.get(CSRF_FIELD))
    owner = _page_operator(ctx, request)
    if owner is None:
        return _login("/sign/seal-batch")
    if not owner:
        return _error(request, lang, "not_allowed", 403)
    try:
        batch = await run_in_threadpool(_start, ctx, background, form, uploads, owner)
    except _Refused as exc:
        return _form_page(request, ctx, lang, values, status=exc.status, error=exc.detail)
    except NatIDError as exc:
        return _form_page(request, ctx, lang, values, status=exc.http_status, error=exc.message)
    return see_other(f"/sign/seal-batch/{batch.id}?lang={lang}")


def _owned(request: Request, ctx: AppContext, batch_id: str, lang: str) -> SealBatch | Response:
    owner = _page_operator(ctx, request)
    if owner is None:
        return _login(f"/sign/seal-batch/{quote(batch_id, safe='')}")
    if not owner:
        return _error(request, lang, "not_allowed", 403)
    try:
        return seal_batches(ctx).get(batch_id, owner=owner)
    except BatchNotFound:
        return _error(request, lang, "batch_not_found", 404)


@_pages.get("/sign/seal-batch/{batch_id}")
def batch_page(batch_id: str, request: Request, ctx: Ctx) -> Response:
    lang = _lang(request)
    found = _owned(request, ctx, batch_id, lang)
    if isinstance(found, Response):
        return found
    return _render(request, "status.html", {"b": found}, lang=lang)


@_pages.get("/sign/seal-batch/{batch_id}/status.json")
def batch_page_status(batch_id: str, request: Request, ctx: Ctx) -> Response:
    lang = _lang(request)
    found = _owned(request, ctx, batch_id, lang)
    if isinstance(found, Response):
        return JSONResponse({"error": "not_found"}, status_code=404)
    t = texts(lang)
    body = _batch_json(found, "/sign/seal-batch")
    body["files"] = [{**f, "label": t[f"file_{f['state']}"]} for f in body["files"]]
    # The page's own words, written as the page writes them (Khmer digits on a Khmer page).
    body["count_text"] = t["progress_count"].format(
        done=numerals(found.done, lang), total=numerals(found.total, lang)
    )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@_pages.get("/sign/seal-batch/{batch_id}/result.zip")
def batch_page_result(batch_id: str, request: Request, ctx: Ctx) -> Response:
    lang = _lang(request)
    found = _owned(request, ctx, batch_id, lang)
    if isinstance(found, Response):
        return found
    try:
        return _zip(seal_batches(ctx).result(found.id, owner=found.owner), found.id)
    except BatchNotFound:
        return _error(request, lang, "batch_not_found", 404)


router.include_router(_api)
router.include_router(_pages)
