"""The activation pages' plumbing (:mod:`api.routers.activation`): the flow's state between
the pages, rendering in Khmer and English, and logging the browser in at the end.

The state (account, person, step) lives in the shared cache under the SHA-256 of a random id
kept in an HttpOnly cookie for :data:`FLOW_TTL`; the browser never holds the ID card number,
the account id or the step.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any, Final

import jinja2
from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from api.context import AppContext
from api.idp_web import (
    CSRF_FIELD,
    PAGE_HEADERS,
    client_ip,
    context_of,
    csrf_token,
    finish_login,
    is_https,
    page_environment,
    see_other,
    static_url,
)
from api.idp_web import form_language as page_language
from api.routers.activation_text import activation_texts
from api.routers.idp_text import texts
from idp.account_records import LoginResult
from registry.records import AssuranceLevel

__all__ = [
    "FLOW_TTL",
    "drop_flow",
    "flow_at_step",
    "flow_url",
    "load_flow",
    "log_in",
    "page_language",
    "render",
    "save_flow",
    "start_flow",
    "where",
]

#: How long the pages after ``/activate`` may take, in all.
FLOW_TTL: Final = dt.timedelta(minutes=30)
_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))


def _environment() -> jinja2.Environment:
    return page_environment("activation")


def render(
    request: Request,
    name: str,
    lang: str,
    *,
    status: int = 200,
    link_query: str = "",
    **context: Any,
) -> HTMLResponse:
    links = [
        {"code": code, "name": label, "href": f"{request.url.path}?lang={code}{link_query}"}
        for code, label in _LANGUAGE_NAMES
    ]
    values = {
        "lang": lang,
        "t": texts(lang),
        "w": activation_texts(lang),
        CSRF_FIELD: csrf_token(request, None),
        "languages": links,
        "static": static_url,
        "error": None,
        **context,
    }
    response = HTMLResponse(
        _environment().get_template(name).render(values),
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Language": lang},
    )
    csrf_token(request, response)  # sets the pre-session cookie if the browser had none
    return response


def flow_url(path: str, lang: str) -> str:
    return f"{path}?lang={lang}"


# --- the flow's state between the pages ---------------------------------------------------------


def _cookie(request: Request) -> str:
    return (
        "__Host-natid_activation" if is_https(context_of(request).settings) else "natid_activation"
    )


def _key(flow_id: str) -> str:
    return "idp:activation-flow:" + hashlib.sha256(flow_id.encode("ascii", "replace")).hexdigest()


def load_flow(request: Request) -> tuple[str, dict[str, Any]] | None:
    flow_id = request.cookies.get(_cookie(request))
    if not flow_id or len(flow_id) > 64:
        return None
    raw = context_of(request).cache.get(_key(flow_id))
    if raw is None:
        return None
    return flow_id, dict(json.loads(raw))


def save_flow(request: Request, flow_id: str, flow: dict[str, Any]) -> None:
    context_of(request).cache.set(
        _key(flow_id), json.dumps(flow).encode(), ttl=FLOW_TTL.total_seconds()
    )


def start_flow(request: Request, response: Response, flow: dict[str, Any]) -> None:
    old = request.cookies.get(_cookie(request))
    if old and len(old) <= 64:
        context_of(request).cache.delete(_key(old))
    flow_id = secrets.token_urlsafe(32)
    save_flow(request, flow_id, flow)
    response.set_cookie(
        _cookie(request),
        flow_id,
        max_age=int(FLOW_TTL.total_seconds()),
        path="/",
        secure=is_https(context_of(request).settings),
        httponly=True,
        samesite="lax",
    )


def drop_flow(request: Request, response: Response, flow_id: str) -> None:
    context_of(request).cache.delete(_key(flow_id))
    response.delete_cookie(
        _cookie(request),
        path="/",
        secure=is_https(context_of(request).settings),
        httponly=True,
        samesite="lax",
    )


def flow_at_step(request: Request, step: str) -> tuple[str, dict[str, Any]] | None:
    loaded = load_flow(request)
    if loaded is None or loaded[1].get("step") != step:
        return None
    return loaded


def where(step: str | None, lang: str) -> Response:
    """Where a page of the wrong step sends the browser."""
    path = {
        "password": "/activate/password",
        "second_factor": "/activate/second-factor",
        "done": "/activate/done",
    }.get(step or "", "/activate")
    return see_other(flow_url(path, lang))


def _level(ctx: AppContext, person_id: str, wanted: AssuranceLevel) -> AssuranceLevel:
    """eIDAS: the lower of the proofing level and the means used (idp/accounts.py)."""
    proven = ctx.register.proofing_level(person_id) or AssuranceLevel.LOW
    return wanted if wanted.rank <= proven.rank else proven


def log_in(
    request: Request,
    flow: dict[str, Any],
    *,
    wanted: AssuranceLevel,
    amr: tuple[str, ...],
    next_path: str,
) -> tuple[Response, AssuranceLevel]:
    """Start (or step up) the browser's login session the way ``/login`` does."""
    ctx = context_of(request)
    acr = _level(ctx, flow["person_id"], wanted)
    result = LoginResult(
        account_id=flow["account_id"],
        person_id=flow["person_id"],
        acr=acr,
        amr=amr,
        authenticated_at=ctx.clock.now(),
        second_factor_available="mfa" in amr,
    )
    ctx.ledger.append(
        "idp.login.succeeded",
        actor=flow["account_id"],
        subject=flow["account_id"],
        data={"step": "activation", "acr": acr.value, "amr": list(amr),
              "source": (client_ip(request) or "")[:64]},
    )  # fmt: skip
    return finish_login(request, result, None, next_path=next_path), acr
