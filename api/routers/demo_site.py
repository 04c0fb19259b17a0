"""The demo government site at ``/demo/``: a business-registration portal that logs in with NatID.

A newcomer tries the whole single sign-on journey here (README, "Try it in a browser"). The
portal is an ordinary OpenID Connect client of NatID, registered by ``natid init``
(:mod:`api.demo_setup`), and speaks to the provider over HTTP only (:mod:`api.demo_rp`):

* ``GET /demo/`` - start page (log in), or links to the profile and the business form;
* ``GET /demo/login`` - starts a login (PKCE, state, nonce in a signed flow cookie) and sends
  the browser to the provider's authorization endpoint; ``purpose=business`` asks for
  ``acr_values=substantial`` and ``max_age`` (step-up);
* ``GET /demo/callback`` - the redirect URI: state and ``iss`` checked, code redeemed, ID token
  verified, UserInfo read; the session becomes a signed cookie;
* ``GET /demo/profile`` - the ID-token and UserInfo claims (names in Khmer and Latin script,
  ``acr``, ``amr``);
* ``GET/POST /demo/business`` - needs a login at ``substantial`` within
  :data:`STEP_UP_MAX_AGE` seconds, otherwise the browser is sent to log in again (step-up);
* ``POST /demo/logout`` - forgets the portal's session and sends the browser to the provider's
  end-session endpoint (RP-initiated logout); ``GET /demo/logged-out`` is where it comes back.

Routes are plain ``def`` so they run in the worker's thread pool: the portal's HTTP calls to the
provider may land on the same process. Off unless ``NATID_DEMO_SITE`` allows it (404).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.context import AppContext
from api.demo_cookies import SignedCookie
from api.demo_rp import (
    DemoClientConfig,
    DemoLogin,
    DemoRelyingParty,
    DemoRPError,
    LoginFlow,
    acr_at_least,
)
from api.demo_setup import load_demo_client
from api.idp_web import (
    LANGUAGES,
    PAGE_HEADERS,
    PageError,
    check_csrf,
    context_of,
    csrf_token,
    is_https,
    static_url,
)
from api.idp_web import form_language as _lang
from api.routers.demo_text import demo_texts

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

STEP_UP_MAX_AGE = 300
SESSION_LIFETIME = 3600.0
FLOW_LIFETIME = 600.0
SESSION_COOKIE = "natid_demo_session"
FLOW_COOKIE = "natid_demo_flow"
_LANGUAGE_NAMES = (("km", "ខ្មែរ"), ("en", "English"))
_TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "demo"


# --- plumbing -----------------------------------------------------------------------------------


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(
    request: Request, name: str, context: Mapping[str, Any], *, lang: str, status: int = 200
) -> HTMLResponse:
    values: dict[str, Any] = {
        "lang": lang,
        "t": demo_texts(lang),
        "static": static_url,
        "languages": [
            {"code": c, "name": n, "href": f"{request.url.path}?lang={c}"}
            for c, n in _LANGUAGE_NAMES
        ],
        "csrf_token": csrf_token(request, None),
    }
    values.update(context)
    response = HTMLResponse(
        _environment().get_template(name).render(values),
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Language": lang},
    )
    csrf_token(request, response)  # sets the pre-session cookie when the browser had none
    return response


def _error(request: Request, lang: str, reason: str, status: int, **fmt: str) -> HTMLResponse:
    words = demo_texts(lang)
    message = words.get(reason, words["login_failed"]).format(**fmt)
    return _render(request, "error.html", {"message": message}, lang=lang, status=status)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _ctx(request: Request) -> AppContext:
    ctx = context_of(request)
    if not ctx.settings.demo_site_enabled:
        raise PageError("not_found", status=404)
    return ctx


def _config(ctx: AppContext) -> DemoClientConfig | None:
    return load_demo_client(ctx)


def _relying_party(request: Request, ctx: AppContext, config: DemoClientConfig) -> DemoRelyingParty:
    """One relying party per worker and configuration (it caches discovery and JWKS only)."""
    cached: DemoRelyingParty | None = getattr(request.app.state, "demo_rp", None)
    if cached is not None and cached.config == config:
        return cached
    http: httpx.Client | None = getattr(request.app.state, "demo_http", None)
    if http is None:
        http = httpx.Client(timeout=15.0, follow_redirects=False)
    rp = DemoRelyingParty(config, http=http, clock=ctx.clock)
    request.app.state.demo_rp = rp
    return rp


def _cookie(config: DemoClientConfig, label: str) -> SignedCookie:
    return SignedCookie(bytes.fromhex(config.cookie_key), label=label)


def _set(response: Response, ctx: AppContext, name: str, value: str, max_age: float) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(max_age),
        path="/demo",
        secure=is_https(ctx.settings),
        httponly=True,
        samesite="lax",
    )


def _clear(response: Response, ctx: AppContext, name: str) -> None:
    response.delete_cookie(
        name, path="/demo", secure=is_https(ctx.settings), httponly=True, samesite="lax"
    )


def _session(request: Request, ctx: AppContext, config: DemoClientConfig) -> dict[str, Any] | None:
    value = _cookie(config, "session").loads(
        request.cookies.get(SESSION_COOKIE),
        at=ctx.clock.now().timestamp(),
        max_age=SESSION_LIFETIME,
    )
    if (
        value is None
        or not isinstance(value.get("id"), dict)
        or not isinstance(value.get("ui"), dict)
    ):
        return None
    return value


def _wrong_host(request: Request, ctx: AppContext) -> RedirectResponse | None:
    """Cookies are per host: a portal opened on another name than the public base URL would
    lose its flow cookie on the way back, so the browser is sent to the public name first."""
    public = urlsplit(ctx.settings.base_url)
    here = urlsplit(str(request.base_url))
    if (here.scheme, here.netloc) == (public.scheme, public.netloc):
        return None
    query = f"?{request.url.query}" if request.url.query else ""
    return _see_other(f"{ctx.settings.base_url}{request.url.path}{query}")


def _name(userinfo: Mapping[str, Any], lang: str) -> str:
    khmer, latin = userinfo.get("name#km"), userinfo.get("name")
    chosen = khmer if lang == "km" and khmer else latin or khmer or ""
    return str(chosen)


def _fresh_enough(session: Mapping[str, Any], ctx: AppContext) -> bool:
    claims = session["id"]
    auth_time = claims.get("auth_time")
    now = ctx.clock.now().timestamp()
    return (
        acr_at_least(claims.get("acr"), "substantial")
        and isinstance(auth_time, int)
        and now - auth_time <= STEP_UP_MAX_AGE
    )


# --- pages --------------------------------------------------------------------------------------


@router.get("/demo", response_class=RedirectResponse)
def demo_root(request: Request) -> Response:
    _ctx(request)
    return _see_other("/demo/" + (f"?{request.url.query}" if request.url.query else ""))


@router.get("/demo/", response_class=HTMLResponse)
def demo_home(request: Request) -> Response:
    ctx = _ctx(request)
    lang = _lang(request)
    moved = _wrong_host(request, ctx)
    if moved is not None:
        return moved
    config = _config(ctx)
    if config is None:
        return _error(request, lang, "not_configured", 503)
    session = _session(request, ctx, config)
    name = _name(session["ui"], lang) if session else None
    return _render(request, "home.html", {"name": name, "logged_out": False}, lang=lang)


@router.get("/demo/login")
def demo_login(request: Request, purpose: str = "profile") -> Response:
    ctx = _ctx(request)
    lang = _lang(request)
    moved = _wrong_host(request, ctx)
    if moved is not None:
        return moved
    config = _config(ctx)
    if config is None:
        return _error(request, lang, "not_configured", 503)
    step_up = purpose == "business"
    try:
        url, flow = _relying_party(request, ctx, config).start(
            lang=lang,
            purpose="business" if step_up else "profile",
            acr="substantial" if step_up else None,
            max_age=STEP_UP_MAX_AGE if step_up else None,
        )
    except DemoRPError:
        return _error(request, lang, "login_failed", 502)
    response = _see_other(url)
    value = _cookie(config, "flow").dumps(flow.as_json(), at=ctx.clock.now().timestamp())
    _set(response, ctx, FLOW_COOKIE, value, FLOW_LIFETIME)
    return response


@router.get("/demo/callback")
def demo_callback(request: Request) -> Response:
    ctx = _ctx(request)
    config = _config(ctx)
    if config is None:
        return _error(request, _lang(request), "not_configured", 503)
    stored = _cookie(config, "flow").loads(
        request.cookies.get(FLOW_COOKIE), at=ctx.clock.now().timestamp(), max_age=FLOW_LIFETIME
    )
    flow = LoginFlow.from_json(stored) if stored is not None else None
    lang = flow.lang if flow is not None and flow.lang in LANGUAGES else _lang(request)
    params = {k: v for k, v in request.query_params.items() if len(v) <= 4096}
    try:
        login = _relying_party(request, ctx, config).finish(params, flow)
    except DemoRPError as exc:
        # The reason, never a code or a token (the messages carry neither).
        log.warning("demo portal login refused: %s", exc)
        refused = _error(request, lang, exc.reason, 400)
        if exc.reason != "state":
            # A failed login is over; a mismatched state may be an attacker's, so the
            # browser's own login in progress is kept.
            _clear(refused, ctx, FLOW_COOKIE)
        return refused
    assert flow is not None  # finish() refuses a missing flow
    # After a step-up, the business page must not start another one if the level was not met.
    target = "business?stepped=1&" if flow.purpose == "business" else "profile?"
    response = _see_other(f"/demo/{target}lang={lang}")
    _set(response, ctx, SESSION_COOKIE, _session_value(config, login, ctx), SESSION_LIFETIME)
    _clear(response, ctx, FLOW_COOKIE)
    return response


def _session_value(config: DemoClientConfig, login: DemoLogin, ctx: AppContext) -> str:
    keep = ("iss", "sub", "aud", "acr", "amr", "auth_time", "iat", "exp", "sid", "azp")
    claims = {k: login.id_claims[k] for k in keep if k in login.id_claims}
    value = {"id_token": login.id_token, "id": claims, "ui": login.userinfo}
    return _cookie(config, "session").dumps(value, at=ctx.clock.now().timestamp())


def _logged_in(request: Request) -> tuple[AppContext, dict[str, Any]] | Response:
    ctx = _ctx(request)
    lang = _lang(request)
    config = _config(ctx)
    if config is None:
        return _error(request, lang, "not_configured", 503)
    session = _session(request, ctx, config)
    if session is None:
        return _see_other(f"/demo/?lang={lang}")
    return ctx, session


def _claim_rows(claims: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
        for k, v in sorted(claims.items())
    ]


@router.get("/demo/profile", response_class=HTMLResponse)
def demo_profile(request: Request) -> Response:
    found = _logged_in(request)
    if isinstance(found, Response):
        return found
    session = found[1]
    lang = _lang(request)
    ui, claims = session["ui"], session["id"]
    context = {
        "name_km": ui.get("name#km"),
        "name_latin": ui.get("name"),
        "birthdate": ui.get("birthdate"),
        "acr": str(claims.get("acr", "")),
        "amr": " ".join(str(m) for m in claims.get("amr", [])),
        "id_claims": _claim_rows(claims),
        "userinfo": _claim_rows(ui),
    }
    return _render(request, "profile.html", context, lang=lang)


def _business_page(request: Request, lang: str, message: str | None, status: int = 200) -> Response:
    context = {"minutes": STEP_UP_MAX_AGE // 60, "message": message}
    return _render(request, "business.html", context, lang=lang, status=status)


@router.get("/demo/business", response_class=HTMLResponse)
def demo_business(request: Request) -> Response:
    found = _logged_in(request)
    if isinstance(found, Response):
        return found
    ctx, session = found
    lang = _lang(request)
    if not _fresh_enough(session, ctx):
        acr = session["id"].get("acr")
        if not acr_at_least(acr, "substantial") and request.query_params.get("stepped") == "1":
            return _error(request, lang, "acr_too_low", 403, level=str(acr))
        return _see_other(f"/demo/login?purpose=business&lang={lang}")
    return _business_page(request, lang, None)


@router.post("/demo/business", response_class=HTMLResponse)
def demo_business_submit(
    request: Request,
    *,
    csrf_token: Annotated[str | None, Form()] = None,
    lang: Annotated[str | None, Form()] = None,
    business_name: Annotated[str, Form(max_length=120)] = "",
    business_name_km: Annotated[str, Form(max_length=120)] = "",
    activity: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    chosen = _lang(request, lang)
    found = _logged_in(request)
    if isinstance(found, Response):
        return found
    ctx, session = found
    try:
        check_csrf(request, csrf_token)
    except PageError:
        return _error(request, chosen, "csrf_failed", 403)
    if not _fresh_enough(session, ctx):
        return _see_other(f"/demo/login?purpose=business&lang={chosen}")
    if not business_name.strip() or not activity.strip():
        return _business_page(request, chosen, demo_texts(chosen)["business_missing"], 422)
    # A demonstration: nothing is stored; the number only shows the round trip worked.
    digest = hashlib.sha256(f"{session['id']['sub']}|{business_name}".encode()).hexdigest()
    context = {
        "number": f"DEMO-{digest[:8].upper()}",
        "business": business_name.strip()
        + (f" / {business_name_km.strip()}" if business_name_km.strip() else ""),
        "acr": str(session["id"].get("acr")),
    }
    return _render(request, "done.html", context, lang=chosen)


@router.post("/demo/logout")
def demo_logout(
    request: Request,
    csrf_token: Annotated[str | None, Form()] = None,
    lang: Annotated[str | None, Form()] = None,
) -> Response:
    ctx = _ctx(request)
    chosen = _lang(request, lang)
    config = _config(ctx)
    if config is None:
        return _error(request, chosen, "not_configured", 503)
    try:
        check_csrf(request, csrf_token)
    except PageError:
        return _error(request, chosen, "csrf_failed", 403)
    session = _session(request, ctx, config)
    if session is None:
        response: Response = _see_other(f"/demo/?lang={chosen}")
    else:
        try:
            # The registered return address has no query, so the page's language rides in
            # ``state``, which the provider hands back unchanged (RP-Initiated Logout §3).
            url = _relying_party(request, ctx, config).logout_url(
                str(session["id_token"]), lang=chosen, state=_logout_state(chosen)
            )
        except DemoRPError:
            url = f"/demo/logged-out?lang={chosen}"
        response = _see_other(url)
    _clear(response, ctx, SESSION_COOKIE)
    return response


def _logout_state(lang: str) -> str:
    """The ``state`` of a logout request: the page's language, then a random part."""
    return f"{lang}.{secrets.token_urlsafe(16)}"


def _state_language(state: str | None) -> str | None:
    """The language a logout's ``state`` carries (:func:`_logout_state`), None without one."""
    lang = (state or "").partition(".")[0]
    return lang if lang in LANGUAGES else None


@router.get("/demo/logged-out", response_class=HTMLResponse)
def demo_logged_out(request: Request) -> Response:
    ctx = _ctx(request)
    # An explicit ``lang`` wins; back from the provider there is none, only the ``state``.
    explicit = request.query_params.get("lang") in LANGUAGES
    lang = _lang(request, None if explicit else _state_language(request.query_params.get("state")))
    response = _render(request, "home.html", {"name": None, "logged_out": True}, lang=lang)
    _clear(response, ctx, SESSION_COOKIE)
    return response
