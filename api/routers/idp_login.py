"""The IdP's login pages (issue 4), in Khmer and English; consent and logout are mounted here.

Routes (all HTML, served with the headers of :data:`api.idp_web.PAGE_HEADERS`):

* ``GET /login[?pending=..]`` and ``POST /login`` (``identifier``, ``password``) - the first
  factor (:meth:`idp.accounts.AccountService.authenticate_password`). An unknown ID card number
  and a wrong password get the same page and the same words (status 200 for both; 401 would
  need a ``WWW-Authenticate`` challenge, RFC 9110 §15.5.2, which a form login has none of).
  Too many failures: 429 with ``Retry-After`` and the wait in words. A right password on an
  account that cannot log in: 403 and its own message.
* ``GET/POST /login/second-factor`` (``code``) - a TOTP or recovery code, asked whenever the
  account has TOTP (not only when the client asks for ``substantial``: a stolen password
  alone never opens an account that has a second factor). Between the two steps the first
  step's result lives in the cache, never in the browser (a browser-side claim of ``acr``
  could be forged): under the SHA-256 of a random id kept in a short-lived HttpOnly cookie,
  for at most :data:`idp.accounts.SECOND_FACTOR_WINDOW`. A client that asks for
  ``substantial`` from an account without a second factor gets a ``low`` login: ``acr_values``
  are voluntary (OIDC Core §3.1.2.1) and the ID token's ``acr`` says what was achieved.
* A successful login starts a login session, or steps up the browser's session when it belongs
  to the same account; a session of ANOTHER account is ended first (with back-channel logout),
  so one browser never holds two people's sessions. Then 303 to
  ``/authorize/continue?pending=..`` (or ``/account``).
* ``/consent`` and ``/logout`` are in :mod:`api.routers.idp_consent` and
  :mod:`api.routers.idp_logout`, served through this module's router.
* ``GET /static/idp/{name}`` - the pages' stylesheet; its URL carries a content hash, so it is
  cached for a year as immutable.

Every POST checks the CSRF token (:func:`api.idp_web.check_csrf`) before anything else. The ID
card number and the codes may be typed with Khmer digits (០..៩): they are read as ASCII digits
(:func:`api.digits.ascii_digits`); the password is taken exactly as typed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.digits import ascii_digits
from api.idp_web import (
    STATIC_MEDIA_TYPES,
    PageError,
    PageRoute,
    check_csrf,
    client_ip,
    context_of,
    finish_login,
    is_https,
    page_language,
    page_url,
    pending_request,
    render,
    safe_next,
    see_other,
    static_files,
)
from api.page_format import numerals
from api.routers import idp_consent, idp_logout
from api.routers.idp_text import texts
from idp.account_records import LoginResult
from idp.accounts import SECOND_FACTOR_WINDOW
from idp.authorize import AuthorizationRequest
from idp.claims import CLAIMS_BY_SCOPE
from idp.errors import (
    AccountNotActive,
    LoginFailed,
    LoginThrottled,
)
from registry.records import AssuranceLevel

__all__ = ["router"]

router = APIRouter(tags=["idp"], route_class=PageRoute)

_FIRST_TTL = SECOND_FACTOR_WINDOW.total_seconds()
_PENDING = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NATIONAL_ID = re.compile(r"[0-9]{9}")
_KNOWN_CLAIMS = frozenset(name for names in CLAIMS_BY_SCOPE.values() for name in names)
_STATIC_CACHE = "public, max-age=31536000, immutable"

Text = Annotated[str, Form(max_length=1024)]
Short = Annotated[str, Form(max_length=128)]


# --- helpers ------------------------------------------------------------------------------------


def _hint(auth: AuthorizationRequest | None) -> str:
    """``login_hint`` prefills the identifier only when it looks like an ID card number."""
    if auth is None or not auth.login_hint:
        return ""
    compact = ascii_digits("".join(auth.login_hint.split()).replace("-", ""))
    return compact if _NATIONAL_ID.fullmatch(compact) else ""


# --- the first factor's result between the two steps -------------------------------------------


def _first_cookie(request: Request) -> str:
    return "__Host-natid_login" if is_https(context_of(request).settings) else "natid_login"


def _first_key(record_id: str) -> str:
    return "idp:login-first:" + hashlib.sha256(record_id.encode("ascii", "replace")).hexdigest()


def _save_first(
    response: Response, request: Request, result: LoginResult, pending: str, next_path: str
) -> None:
    record_id = secrets.token_urlsafe(32)
    record = {
        "account_id": result.account_id,
        "person_id": result.person_id,
        "acr": result.acr.value,
        "amr": list(result.amr),
        "at": result.authenticated_at.isoformat(),
        "pending": pending,
        "next": safe_next(next_path) or "",
    }
    context_of(request).cache.set(
        _first_key(record_id), json.dumps(record).encode(), ttl=_FIRST_TTL
    )
    response.set_cookie(
        _first_cookie(request),
        record_id,
        max_age=int(_FIRST_TTL),
        path="/",
        secure=is_https(context_of(request).settings),
        httponly=True,
        samesite="lax",
    )


def _load_first(request: Request) -> tuple[LoginResult, str, str] | None:
    record_id = request.cookies.get(_first_cookie(request))
    if not record_id or len(record_id) > 64:
        return None
    raw = context_of(request).cache.get(_first_key(record_id))
    if raw is None:
        return None
    record = json.loads(raw)
    result = LoginResult(
        account_id=record["account_id"],
        person_id=record["person_id"],
        acr=AssuranceLevel(record["acr"]),
        amr=tuple(record["amr"]),
        authenticated_at=dt.datetime.fromisoformat(record["at"]),
        second_factor_available=True,
    )
    return result, str(record["pending"]), str(record.get("next") or "")


def _drop_first(request: Request, response: Response) -> None:
    record_id = request.cookies.get(_first_cookie(request))
    if record_id and len(record_id) <= 64:
        context_of(request).cache.delete(_first_key(record_id))
    response.delete_cookie(
        _first_cookie(request),
        path="/",
        secure=is_https(context_of(request).settings),
        httponly=True,
        samesite="lax",
    )


def _finish_login(
    request: Request, result: LoginResult, pending: str, next_path: str = ""
) -> RedirectResponse:
    """:func:`api.idp_web.finish_login`, then forget the first step's record."""
    response = finish_login(request, result, pending, next_path=next_path or None)
    _drop_first(request, response)
    return response


# --- /login -------------------------------------------------------------------------------------


def _login_page(
    request: Request,
    auth: AuthorizationRequest | None,
    *,
    lang: str,
    pending: str | None,
    identifier: str = "",
    next_path: str | None = None,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    needs_high: bool = False,
) -> HTMLResponse:
    local_next = safe_next(next_path) if auth is None else None
    context = {
        "client_name": auth.client_name if auth is not None else None,
        "identifier": identifier,
        "error": error,
        "pending": pending if auth is not None else None,
        "next": local_next,
        # A NatID page that needs level high (the officer pages) sends ``acr=high``: a password
        # never reaches it, so the page says which ways do.
        "needs_high": needs_high and auth is None,
        "other_urls": {
            "passkey": page_url("/login/passkey", lang=lang, pending=pending, next_path=local_next),
            "certificate": page_url(
                "/login/certificate", lang=lang, pending=pending, next_path=local_next
            ),
            "recover": page_url("/recover", lang=lang, pending=None),
        },
    }
    return render(request, "login.html", context, lang=lang, status=status, headers=headers)


@router.get("/login", response_class=HTMLResponse, summary="The login page")
def login_form(
    request: Request,
    *,
    pending: Annotated[str | None, Query(max_length=128)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    next: Annotated[str | None, Query(max_length=512)] = None,  # noqa: A002 - the URL's name
    acr: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    auth = pending_request(request, pending)
    chosen = page_language(request, lang, auth)
    return _login_page(
        request, auth, lang=chosen, pending=pending, identifier=_hint(auth), next_path=next,
        needs_high=acr == "high",
    )  # fmt: skip


@router.post(
    "/login", response_class=HTMLResponse, summary="Log in with ID card number and password"
)
def login_submit(
    request: Request,
    *,
    identifier: Annotated[str, Form(max_length=64)] = "",
    password: Text = "",
    csrf_token: Short = "",
    pending: Short = "",
    lang: Short = "",
    next: Annotated[str, Form(max_length=512)] = "",  # noqa: A002 - the form field's name
) -> Response:
    check_csrf(request, csrf_token)
    auth = pending_request(request, pending)
    chosen = page_language(request, lang, auth)
    words = texts(chosen)
    # An ID card number typed with Khmer digits (០០០៥១៧៧៥៤) is the same number.
    identifier = ascii_digits(identifier)

    def page(error: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return _login_page(
            request, auth, lang=chosen, pending=pending or None, identifier=identifier[:32],
            next_path=next, error=error, status=status, headers=headers,
        )  # fmt: skip

    if not identifier.strip() or not password:
        return page(words["fields_missing"])
    ctx = context_of(request)
    try:
        result = ctx.idp_accounts().authenticate_password(
            identifier, password, source=client_ip(request), at=ctx.clock.now()
        )
    except LoginFailed:
        return page(words["login_failed"])
    except LoginThrottled as exc:
        message = words["login_throttled"].format(seconds=numerals(exc.retry_after, chosen))
        return page(message, 429, {"Retry-After": str(exc.retry_after)})
    except AccountNotActive:
        return page(words["account_not_active"], 403)
    if result.second_factor_available:
        # The account has a second factor: use it (always, not only when the client asks for
        # substantial, so a stolen password alone never opens a protected account).
        response = see_other(page_url("/login/second-factor", lang=chosen, pending=pending))
        _save_first(response, request, result, pending, next)
        return response
    return _finish_login(request, result, pending, next)


# --- /login/second-factor -----------------------------------------------------------------------


def _second_page(
    request: Request,
    auth: AuthorizationRequest | None,
    *,
    lang: str,
    pending: str,
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    restart = page_url("/login", lang=lang, pending=pending)
    context = {
        "client_name": auth.client_name if auth is not None else None,
        "error": error,
        "pending": pending or None,
        "restart_url": restart,
    }
    return render(request, "second_factor.html", context, lang=lang, status=status, headers=headers)


@router.get("/login/second-factor", response_class=HTMLResponse, summary="The second-factor page")
def second_factor_form(
    request: Request,
    *,
    pending: Annotated[str | None, Query(max_length=128)] = None,
    lang: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    first = _load_first(request)
    if first is None:
        return see_other(page_url("/login", lang=lang, pending=pending))
    auth = pending_request(request, first[1])
    chosen = page_language(request, lang, auth)
    return _second_page(request, auth, lang=chosen, pending=first[1])


@router.post("/login/second-factor", response_class=HTMLResponse, summary="Check a second factor")
def second_factor_submit(
    request: Request,
    *,
    code: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Short = "",
    pending: Short = "",
    lang: Short = "",
) -> Response:
    check_csrf(request, csrf_token)
    first = _load_first(request)
    if first is None:
        chosen = page_language(request, lang, None)
        auth = pending_request(request, pending) if pending else None
        return _login_page(
            request, auth, lang=chosen, pending=pending or None,
            error=texts(chosen)["login_expired"],
        )  # fmt: skip
    result, stored_pending, stored_next = first
    # The pending request is the one stored with the first step, not the form's.
    auth = pending_request(request, stored_pending)
    chosen = page_language(request, lang, auth)
    words = texts(chosen)

    def page(error: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return _second_page(
            request, auth, lang=chosen, pending=stored_pending, error=error, status=status,
            headers=headers,
        )  # fmt: skip

    ctx = context_of(request)
    try:
        # A TOTP or recovery code typed with Khmer digits (២៨៥៤៨៣) is the same code.
        second = ctx.idp_accounts().verify_second_factor(
            result, ascii_digits(code), source=client_ip(request), at=ctx.clock.now()
        )
    except LoginThrottled as exc:
        message = words["login_throttled"].format(seconds=numerals(exc.retry_after, chosen))
        return page(message, 429, {"Retry-After": str(exc.retry_after)})
    except LoginFailed as exc:
        if exc.code == "login_expired":
            response = _login_page(
                request, auth, lang=chosen, pending=stored_pending or None,
                error=words["login_expired"],
            )  # fmt: skip
            _drop_first(request, response)
            return response
        return page(words["code_wrong"])
    except AccountNotActive:
        response = _login_page(
            request, auth, lang=chosen, pending=stored_pending or None,
            error=words["account_not_active"], status=403,
        )  # fmt: skip
        _drop_first(request, response)
        return response
    return _finish_login(request, second, stored_pending, stored_next)


# --- static files -------------------------------------------------------------------------------


@router.get("/static/idp/{name}", summary="The IdP pages' files", include_in_schema=False)
def static_file(name: str) -> Response:
    files, _version = static_files()
    if name not in STATIC_MEDIA_TYPES or name not in files:
        raise PageError("not_found", status=404)
    return Response(
        files[name],
        media_type=STATIC_MEDIA_TYPES[name],
        headers={"Cache-Control": _STATIC_CACHE, "X-Content-Type-Options": "nosniff"},
    )


# The consent and logout pages live in their own modules and are served through this router,
# which api/app.py mounts.
router.include_router(idp_consent.router)
router.include_router(idp_logout.router)
