"""The citizen's KYC pages (issue 6): the banks' decoupled requests waiting for an answer and
"who looked at my data" (a login session is required; CSRF on every form; Khmer and English).

``GET /account/kyc-requests``, ``POST /account/kyc-requests/decide``,
``GET /account/data-access`` (paged) and ``GET /account/data-access/export?format=csv|json``.
The bank API and the operators' figures are in :mod:`api.routers.kyc_requests`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.context import AppContext
from api.idp_web import (
    CSRF_FIELD,
    PAGE_HEADERS,
    PageRoute,
    check_csrf,
    consents,
    context_of,
    csrf_token,
    current_session,
    page_environment,
    static_url,
)
from api.idp_web import form_language as _lang
from api.routers.idp_account_text import account_texts
from api.routers.idp_text import texts
from api.routers.kyc import kyc_service
from api.routers.kyc_requests import consent_items, decoupled_requests
from api.routers.kyc_text import kyc_texts
from kyc import AccessEntry
from kyc.requests import RequestNotFound
from registry.errors import RegistryError

__all__ = ["COUNTER_CONSENT_LIFETIME", "pending_kyc_requests", "router"]

PAGE_SIZE = 20
MAX_EXPORT = 10_000
#: How long a consent given at a bank counter lasts (a periodic review asks again).
COUNTER_CONSENT_LIFETIME = dt.timedelta(days=90)
_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))
_DONE = frozenset({"approved", "denied", "gone"})

_pages = APIRouter(tags=["kyc pages"], route_class=PageRoute, include_in_schema=False)
router = APIRouter()

Lang = Annotated[str | None, Query(max_length=8)]
Short = Annotated[str, Form(max_length=128)]


def _environment() -> jinja2.Environment:
    return page_environment("kyc")


def _render(request: Request, name: str, lang: str, **values: Any) -> HTMLResponse:
    links = [
        {"code": code, "name": label, "href": f"{request.url.path}?lang={code}"}
        for code, label in _LANGUAGE_NAMES
    ]
    context = {
        "lang": lang,
        "t": texts(lang),
        "w": {**account_texts(lang), **kyc_texts(lang)},
        CSRF_FIELD: csrf_token(request, None),
        "languages": links,
        "static": static_url,
        "pending": None,
        "notice": None,
        "error": None,
        **values,
    }
    response = HTMLResponse(
        _environment().get_template(name).render(context),
        headers={**PAGE_HEADERS, "Content-Language": lang},
    )
    csrf_token(request, response)  # sets the pre-session cookie if the browser had none
    return response


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _person_id(request: Request, account_id: str) -> str:
    return context_of(request).idp_accounts().get(account_id).person_id


def _bank_names(ctx: AppContext, entity_ids: set[str]) -> dict[str, Mapping[str, str]]:
    names: dict[str, Mapping[str, str]] = {}
    for entity_id in entity_ids:
        try:
            entity = ctx.register.get_entity(entity_id)
            names[entity_id] = {"en": entity.name_en, "km": entity.name_km}
        except RegistryError:
            names[entity_id] = {}
    return names


def pending_kyc_requests(request: Request, account_id: str) -> int:
    """How many bank requests wait for this account's holder (the banner on ``/account``)."""
    ctx = context_of(request)
    person_id = _person_id(request, account_id)
    return len(decoupled_requests(ctx).pending_for_person(person_id, at=ctx.clock.now()))


@_pages.get("/account/kyc-requests", response_class=HTMLResponse)
def requests_page(request: Request, lang: Lang = None, done: str | None = None) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    ctx = context_of(request)
    pending = decoupled_requests(ctx).pending_for_person(
        _person_id(request, session.account_id), at=ctx.clock.now()
    )
    names = _bank_names(ctx, {p.entity_id for p in pending})
    return _render(
        request,
        "requests.html",
        chosen,
        section="kyc_requests",
        requests=pending,
        names=names,
        done=done if done in _DONE else None,
    )


@_pages.post("/account/kyc-requests/decide")
def decide(
    request: Request,
    *,
    csrf_token: Short = "",
    lang: Short = "",
    request_id: Short = "",
    decision: Short = "",
    keep: Annotated[list[str] | None, Form(max_length=40)] = None,
) -> Response:
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    ctx = context_of(request)
    now = ctx.clock.now()
    try:
        approved = decoupled_requests(ctx).decide(
            _person_id(request, session.account_id),
            request_id,
            approve=decision == "approve",
            keep=keep or (),
            actor=session.account_id,
            at=now,
        )
    except RequestNotFound:
        return _see_other(f"/account/kyc-requests?lang={chosen}&done=gone")
    if approved is None:
        return _see_other(f"/account/kyc-requests?lang={chosen}&done=denied")
    scopes, claims = consent_items(approved)
    consents(request).grant(
        session.account_id,
        approved.client_id,
        scopes,
        claims,
        at=now,
        lifetime=COUNTER_CONSENT_LIFETIME,
    )
    return _see_other(f"/account/kyc-requests?lang={chosen}&done=approved")


def _entries(request: Request, person_id: str, *, limit: int, offset: int) -> list[AccessEntry]:
    log = kyc_service(context_of(request)).access_log
    return log.for_person(person_id, limit=limit, offset=offset)


@_pages.get("/account/data-access", response_class=HTMLResponse)
def data_access_page(
    request: Request, lang: Lang = None, page: Annotated[int, Query(ge=1, le=10_000)] = 1
) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    chosen = _lang(request, lang)
    person_id = _person_id(request, session.account_id)
    rows = _entries(request, person_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    shown = rows[:PAGE_SIZE]
    names = _bank_names(context_of(request), {e.entity_id for e in shown})
    return _render(
        request,
        "data_access.html",
        chosen,
        section="data_access",
        entries=shown,
        names=names,
        page=page,
        more=len(rows) > PAGE_SIZE,
    )


_CSV_FIELDS = (
    "time",
    "bank",
    "kind",
    "purpose",
    "attributes",
    "basis",
    "consent_granted_at",
    "txn",
)


@_pages.get("/account/data-access/export")
def data_access_export(
    request: Request, fmt: Annotated[Literal["csv", "json"], Query(alias="format")] = "json"
) -> Response:
    session = current_session(request)
    if session is None:
        return _see_other("/login")
    person_id = _person_id(request, session.account_id)
    entries: list[AccessEntry] = []
    while len(entries) < MAX_EXPORT:
        batch = _entries(request, person_id, limit=1000, offset=len(entries))
        entries.extend(batch)
        if len(batch) < 1000:
            break
    names = _bank_names(context_of(request), {e.entity_id for e in entries})
    rows = [
        {
            **e.to_json(),
            "bank": names[e.entity_id].get("en", ""),
            "bank_km": names[e.entity_id].get("km", ""),
        }
        for e in entries
    ]
    headers = {"Cache-Control": "no-store"}
    if fmt == "json":
        headers["Content-Disposition"] = 'attachment; filename="natid-data-access.json"'
        body = json.dumps({"entries": rows}, ensure_ascii=False, indent=2)
        return Response(body, media_type="application/json", headers=headers)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_CSV_FIELDS)
    for row in rows:
        writer.writerow(
            [_cell(" ".join(row[f]) if f == "attributes" else row[f]) for f in _CSV_FIELDS]
        )
    headers["Content-Disposition"] = 'attachment; filename="natid-data-access.csv"'
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def _cell(value: object) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection).
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@"} else text


router.include_router(_pages)
