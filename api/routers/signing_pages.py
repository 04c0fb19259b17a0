"""The approval pages of civil servants (issue 5, "Pages in Khmer and English for the inbox,
the document, approve and reject; usable on a phone"): server-rendered, no JavaScript, in the
IdP's look (they extend ``api/templates/idp/base.html``).

* ``GET /sign/inbox``: documents waiting for my approval, and the ones I started (a rejected
  one shows the comment it came back with).
* ``GET /sign/documents/{id}``: title, author, steps with their state, history and comments,
  a link to the current PDF, and, when it is my turn, the approve and reject forms.
* ``GET /sign/documents/{id}/pdf``: the current PDF (inline, so a phone opens its viewer).
* ``POST /sign/documents/{id}/approve`` and ``/reject``; ``GET``/``POST /sign/new`` to upload
  a PDF and name the approvers (one step per line, a group as ids separated by commas).

Everything needs the IdP's login session (no session: 303 to ``/login?next=<this page>``);
only participants see a document (404 otherwise, as for an unknown id). Approving signs, so it
also needs a login at level ``substantial`` or higher made within the last five minutes: without
one the official is sent to ``/login?next=<document page>&acr=substantial&fresh=1``. Every
form carries the IdP's CSRF token (:func:`api.idp_web.check_csrf`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from api.context import AppContext
from api.deps import Ctx
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
from api.routers.signing_text import texts
from api.routers.signing_workflows import workflows_of
from core.errors import NatIDError
from idp.sessions import LoginSession
from signing.errors import InvalidPdf, SigningError
from signing.workflow_errors import (
    FreshAuthenticationRequired,
    InvalidWorkflow,
    NotACivilServant,
    NotYourTurn,
    WorkflowNotFound,
)
from signing.workflow_records import Authentication, Workflow

__all__ = ["fresh_login_url", "router"]

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_MAX_UPLOAD = 32 * 1024 * 1024
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))

router = APIRouter(tags=["signing pages"], route_class=PageRoute, include_in_schema=False)


def _environment() -> jinja2.Environment:
    return page_environment("signing")


def _render(
    request: Request, name: str, context: dict[str, Any], *, lang: str, status: int = 200
) -> HTMLResponse:
    links = [
        {"code": code, "name": label, "href": f"{request.url.path}?lang={code}"}
        for code, label in _LANGUAGE_NAMES
    ]
    values = {
        "lang": lang,
        "t": texts(lang),
        CSRF_FIELD: csrf_token(request, None),
        "languages": links,
        "static": static_url,
        **context,
    }
    response = HTMLResponse(
        _environment().get_template(name).render(values),
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Language": lang},
    )
    csrf_token(request, response)  # sets the pre-session cookie if the browser had none
    return response


def _problem_page(request: Request, lang: str, key: str, status: int, detail: str = "") -> Response:
    return _render(request, "error.html", {"key": key, "detail": detail}, lang=lang, status=status)


def login_url(path: str, *, fresh: bool = False) -> str:
    query = {"next": path}
    if fresh:
        query.update({"acr": "substantial", "fresh": "1"})
    return "/login?" + urlencode(query, quote_via=quote, safe="/")


def fresh_login_url(workflow_id: str) -> str:
    """Where an official with a stale or weak login is sent before signing."""
    return login_url(f"/sign/documents/{workflow_id}", fresh=True)


def _person(ctx: AppContext, session: LoginSession) -> str:
    return ctx.idp_accounts().get(session.account_id).person_id


def _names(ctx: AppContext, servant_ids: set[str], lang: str) -> dict[str, dict[str, str]]:
    """Name and title of each civil servant, in the page's language."""
    found: dict[str, dict[str, str]] = {}
    for servant_id in servant_ids:
        try:
            servant = ctx.register.get_servant(servant_id)
            person = ctx.register.get_person(servant.person_id)
        except NatIDError:
            found[servant_id] = {"name": servant_id, "title": ""}
            continue
        if lang == "km":
            title = servant.title_km or servant.title
            org = servant.ministry_name_km
            name = person.name_km
        else:
            title, org, name = servant.title, servant.ministry_name_en, person.name_latin
        found[servant_id] = {"name": name, "title": f"{title}, {org}"}
    return found


#: Page message and status of each domain error, most specific first.
_ERROR_PAGES: tuple[tuple[type[NatIDError], str, int], ...] = (
    (WorkflowNotFound, "workflow_not_found", 404),
    (NotYourTurn, "not_your_turn", 409),
    (NotACivilServant, "not_a_civil_servant", 403),
    (InvalidPdf, "invalid_pdf", 400),
)


def _error_response(request: Request, lang: str, exc: NatIDError) -> Response:
    for kind, key, status in _ERROR_PAGES:
        if isinstance(exc, kind):
            return _problem_page(request, lang, key, status)
    if isinstance(exc, SigningError) and exc.http_status >= 500:
        return _problem_page(request, lang, "signing_failed", 503)
    return _problem_page(request, lang, "invalid_workflow", exc.http_status, exc.message)


# --- pages ----------------------------------------------------------------------------------------


@router.get("/sign/inbox")
def inbox(request: Request, ctx: Ctx) -> Response:
    lang = _lang(request)
    session = current_session(request)
    if session is None:
        return see_other(login_url("/sign/inbox"))
    box = workflows_of(ctx).inbox(_person(ctx, session))
    rejections = {}
    for item in box.started:
        if item.state.value == "rejected":
            found = workflows_of(ctx).get(item.id, person_id=item.author_person_id)
            rejection = found.rejection
            rejections[item.id] = rejection.comment if rejection else ""
    return _render(request, "inbox.html", {"box": box, "rejections": rejections}, lang=lang)


def _document_page(
    request: Request, ctx: AppContext, found: Workflow, person_id: str, lang: str
) -> Response:
    ids = {a.servant_id for step in found.steps for a in step} | {found.author_servant_id}
    ids |= {e.servant_id for e in found.events if e.servant_id}
    context = {
        "w": found,
        "names": _names(ctx, ids, lang),
        "my_turn": found.waiting_for(person_id) is not None,
        "is_author": person_id == found.author_person_id,
        "done": request.query_params.get("done"),
    }
    return _render(request, "document.html", context, lang=lang)


@router.get("/sign/documents/{workflow_id}")
def document(workflow_id: str, request: Request, ctx: Ctx) -> Response:
    lang = _lang(request)
    session = current_session(request)
    if session is None:
        return see_other(login_url(f"/sign/documents/{quote(workflow_id, safe='')}"))
    person_id = _person(ctx, session)
    try:
        found = workflows_of(ctx).get(workflow_id, person_id=person_id)
    except NatIDError as exc:
        return _error_response(request, lang, exc)
    return _document_page(request, ctx, found, person_id, lang)


@router.get("/sign/documents/{workflow_id}/pdf")
def document_pdf(workflow_id: str, request: Request, ctx: Ctx) -> Response:
    lang = _lang(request)
    session = current_session(request)
    if session is None:
        return see_other(login_url(f"/sign/documents/{quote(workflow_id, safe='')}"))
    try:
        found, pdf = workflows_of(ctx).document(workflow_id, person_id=_person(ctx, session))
    except NatIDError as exc:
        return _error_response(request, lang, exc)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{found.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/sign/documents/{workflow_id}/approve")
def approve(
    workflow_id: str,
    *,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str | None, Form()] = None,
    comment: Annotated[str | None, Form(max_length=4000)] = None,
    lang: Annotated[str | None, Form()] = None,
) -> Response:
    page_lang = _lang(request, lang)
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return see_other(fresh_login_url(quote(workflow_id, safe="")))
    person_id = _person(ctx, session)
    service = workflows_of(ctx)
    try:
        # Outsiders get the 404 before anything else, also with a stale login.
        service.get(workflow_id, person_id=person_id)
        service.approve(
            workflow_id,
            person_id=person_id,
            authentication=Authentication(session.acr, session.auth_time),
            comment=comment,
        )
    except FreshAuthenticationRequired:
        return see_other(fresh_login_url(quote(workflow_id, safe="")))
    except NatIDError as exc:
        return _error_response(request, page_lang, exc)
    return see_other(f"/sign/documents/{workflow_id}?lang={page_lang}&done=approved")


@router.post("/sign/documents/{workflow_id}/reject")
def reject(
    workflow_id: str,
    *,
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str | None, Form()] = None,
    comment: Annotated[str | None, Form(max_length=4000)] = None,
    lang: Annotated[str | None, Form()] = None,
) -> Response:
    page_lang = _lang(request, lang)
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return see_other(login_url(f"/sign/documents/{quote(workflow_id, safe='')}"))
    try:
        workflows_of(ctx).reject(
            workflow_id, person_id=_person(ctx, session), comment=comment or ""
        )
    except NatIDError as exc:
        return _error_response(request, page_lang, exc)
    return see_other(f"/sign/documents/{workflow_id}?lang={page_lang}&done=rejected")


@router.get("/sign/new")
def new_form(request: Request) -> Response:
    lang = _lang(request)
    if current_session(request) is None:
        return see_other(login_url("/sign/new"))
    return _render(request, "new.html", {"values": {}}, lang=lang)


@router.post("/sign/new")
async def new_submit(request: Request, ctx: Ctx) -> Response:
    form = await request.form(max_part_size=_MAX_UPLOAD)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    lang = _lang(request, values.get("lang"))
    check_csrf(request, values.get(CSRF_FIELD))
    session = current_session(request)
    if session is None:
        return see_other(login_url("/sign/new"))
    upload = form.get("file")
    data = await upload.read(_MAX_UPLOAD + 1) if isinstance(upload, UploadFile) else b""
    steps = [
        [part.strip() for part in line.split(",") if part.strip()]
        for line in values.get("steps", "").splitlines()
        if line.strip()
    ]
    try:
        found = workflows_of(ctx).create(
            data,
            title=values.get("title", ""),
            author_person_id=_person(ctx, session),
            steps=steps,
            seal=values.get("seal") == "1",
            certify=values.get("certify") == "1",
            filename=upload.filename if isinstance(upload, UploadFile) else None,
        )
    except NatIDError as exc:
        response = _error_response(request, lang, exc)
        if isinstance(exc, InvalidWorkflow | InvalidPdf):
            context = {"values": values, "error": exc.message}
            return _render(request, "new.html", context, lang=lang, status=400)
        return response
    return see_other(f"/sign/documents/{found.id}?lang={lang}&done=created")
