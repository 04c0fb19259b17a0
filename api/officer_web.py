"""Shared plumbing of the registration officer's pages (:mod:`api.routers.officer_pages`).

The access check (a live ``acr`` ``high`` IdP login session, an active ``ra-officer`` operator,
an active civil servant), the office remembered for the login session, the ``officer.*`` audit
events, the person lookup, and rendering (Jinja2 over ``api/templates/officer/`` then
``api/templates/idp/``, Khmer and English).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api.context import AppContext
from api.idp_web import (
    CSRF_FIELD,
    PAGE_HEADERS,
    context_of,
    csrf_token,
    current_session,
    page_environment,
    see_other,
    static_url,
)
from api.idp_web import form_language as page_language
from api.routers.officer_text import officer_texts
from ca.profiles import ProfileName
from core.errors import NatIDError
from core.operator_records import OperatorRole
from registry.records import AssuranceLevel, Person
from registry.schemas import free_text

__all__ = [
    "CSR_PROFILES",
    "DOCUMENTS",
    "Officer",
    "audit",
    "checked_office",
    "error_page",
    "find_person",
    "page_language",
    "pdf_response",
    "person_page_response",
    "render",
    "require_officer",
    "saved_office",
]

_OFFICE_TTL = 12 * 3600
_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))
#: The identity documents an officer may record for in-person proofing.
DOCUMENTS = ("national_id_card", "passport", "birth_certificate", "family_book")
#: The profiles a certificate may be issued under from a CSR at the counter.
CSR_PROFILES = (ProfileName.CITIZEN_AUTH.value, ProfileName.CITIZEN_SIGN.value)


@dataclass(frozen=True, slots=True)
class Officer:
    """The registration officer behind a request, after every access check."""

    account_id: str
    operator_id: str
    servant_id: str
    session_id: str
    name: str


def _environment() -> jinja2.Environment:
    return page_environment("officer")


def render(
    request: Request, name: str, lang: str, status: int = 200, **context: Any
) -> HTMLResponse:
    links = [
        {"code": code, "name": label, "href": f"{request.url.path}?lang={code}"}
        for code, label in _LANGUAGE_NAMES
    ]
    values = {
        "lang": lang,
        "t": officer_texts(lang),
        CSRF_FIELD: csrf_token(request, None),
        "languages": links,
        "static": static_url,
        "notice": None,
        "error": None,
        **context,
    }
    response = HTMLResponse(
        _environment().get_template(name).render(values),
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Language": lang},
    )
    csrf_token(request, response)
    return response


def error_page(request: Request, lang: str, key: str, status: int) -> HTMLResponse:
    return render(request, "error.html", lang, status, message_key=key)


def require_officer(request: Request, lang: str) -> Officer | Response:
    """The checked officer, or the response that sends anyone else away (module docstring)."""
    path = request.url.path if request.method == "GET" else "/officer"
    session = current_session(request)
    if session is None:
        return see_other("/login?" + urlencode({"next": path}, quote_via=quote, safe="/"))
    if session.acr.rank < AssuranceLevel.HIGH.rank:
        query = urlencode({"next": path, "acr": "high"}, quote_via=quote, safe="/")
        return see_other(f"/login?{query}")
    ctx = context_of(request)
    account = ctx.idp_accounts().get(session.account_id)
    subject = ctx.idp_accounts().claims_subject(account.id)
    servant = next((s for s in subject.servants if s.active), None)
    if (
        account.operator_id is None
        or OperatorRole.RA_OFFICER.value not in subject.roles
        or servant is None
    ):
        return error_page(request, lang, "forbidden", 403)
    name = subject.person.name_km if lang == "km" else subject.person.name_latin
    return Officer(account.id, account.operator_id, servant.id, session.id, name)


def _office_key(officer: Officer) -> str:
    return f"natid:officer:office:{officer.session_id}"


def saved_office(ctx: AppContext, officer: Officer) -> str:
    value = ctx.cache.get(_office_key(officer))
    return value.decode("utf-8") if value else ""


def checked_office(ctx: AppContext, officer: Officer, typed: str) -> str | None:
    """The typed office if it passes the register's free-text rules (then remembered)."""
    try:
        office = free_text(typed)
    except ValueError:
        return None
    ctx.cache.set(_office_key(officer), office.encode("utf-8"), ttl=_OFFICE_TTL)
    return office


def audit(
    ctx: AppContext, event: str, officer: Officer, office: str, person_id: str | None, **data: Any
) -> None:
    ctx.ledger.append(
        f"officer.{event}",
        actor=officer.operator_id,
        subject=person_id,
        data={"officer_id": officer.servant_id, "office": office, **data},
    )


def find_person(ctx: AppContext, person_id: str) -> Person | None:
    if not _ID.fullmatch(person_id):
        return None
    try:
        return ctx.register.get_person(person_id)
    except NatIDError:
        return None


def pdf_response(data: bytes, filename: str) -> Response:
    headers = {**PAGE_HEADERS, "Content-Disposition": f'inline; filename="{filename}"'}
    return Response(data, media_type="application/pdf", headers=headers)


def person_page_response(
    request: Request,
    lang: str,
    officer: Officer,
    person: Person,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
) -> Response:
    """The person's page: what the register and the CA know, and the officer's forms."""
    ctx = context_of(request)
    level = ctx.register.proofing_level(person.id)
    account = ctx.idp_accounts().find_by_person(person.id)
    certificates = ctx.ca().list(subject_id=person.id, limit=50)
    return render(
        request, "person.html", lang, status, officer=officer, person=person,
        level=level.value if level else "none", account=account.status.value if account else None,
        certificates=certificates, office=saved_office(ctx, officer), documents=DOCUMENTS,
        profiles=CSR_PROFILES, notice=notice, error=error, now=ctx.clock.now(),
    )  # fmt: skip
