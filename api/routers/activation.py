"""Citizen activation pages (issue 8), Khmer and English, and the activation service factory.

:func:`activation_service` builds the one :class:`idp.activation.ActivationService` of an
application context (officer pages and in-person resets call it to issue codes).

Pages (HTML with the headers of :data:`api.idp_web.PAGE_HEADERS`; every POST checks the CSRF
token first; no JavaScript - the passkey option hands over to the account security page):

* ``GET /activate[?code=..]`` and ``POST /activate`` (``national_id``, ``code``) - the letter's
  QR code opens this page with the code filled in; the ID card number is typed. Every failure
  gets the same words (:class:`idp.activation.ActivationFailed`), status 200 like ``/login``.
* ``GET/POST /activate/password`` - the new password, twice, under the IdP's policy
  (:meth:`idp.accounts.AccountService.check_new_password`); saving it activates the account.
* ``GET /activate/second-factor`` (starts a TOTP enrolment, shows its QR code as inline SVG) and
  ``POST /activate/second-factor`` (the first code) - on success the browser is logged in
  (:func:`api.idp_web.finish_login`) at the proofing level capped at ``substantial``, and the
  recovery codes are shown once. ``POST /activate/passkey`` instead logs in with the password
  just set (level ``low`` at most) and goes to ``/account/security`` to register a passkey.
* ``GET /activate/done`` - the account is ready; links to ``/account``.

Between the pages the flow's state (account, person, step) lives in the shared cache under the
SHA-256 of a random id kept in an HttpOnly cookie for :data:`FLOW_TTL`; the browser never holds
the ID card number, the account id or the step, and no URL carries the ID card number
(:mod:`api.routers.activation_flow` keeps that state and renders the pages).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.context import AppContext
from api.digits import ascii_digits
from api.idp_web import (
    PageRoute,
    check_csrf,
    client_ip,
    context_of,
    current_session,
    see_other,
)
from api.routers.activation_flow import (
    FLOW_TTL,
    drop_flow,
    flow_at_step,
    flow_url,
    load_flow,
    log_in,
    page_language,
    render,
    save_flow,
    start_flow,
    where,
)
from api.routers.activation_text import activation_texts, password_reason_keys
from idp.account_models import AccountStatus
from idp.activation import ActivationFailed, ActivationService, format_code, normalise_code
from idp.errors import AccountNotActive, AuthenticatorError, WeakPassword
from idp.throttle import LoginThrottle
from idp.totp import derive_key, qr_svg
from registry.records import AssuranceLevel

__all__ = ["FLOW_TTL", "activation_service", "router"]

router = APIRouter(tags=["activation"], route_class=PageRoute, include_in_schema=False)

_CACHED = "_activation_service"

Short = Annotated[str, Form(max_length=128)]
Lang = Annotated[str | None, Query(max_length=8)]


def activation_service(ctx: AppContext) -> ActivationService:
    """The context's activation service, built on first use (and again if the context's
    account service was replaced). Codes are HMAC-keyed and the throttle keyed with keys
    derived from ``NATID_IDP_SECRET_KEY`` (or the soft key passphrase), like the IdP's others."""
    accounts = ctx.idp_accounts()
    cached: tuple[object, ActivationService] | None = getattr(ctx, _CACHED, None)
    if cached is not None and cached[0] is accounts:
        return cached[1]
    configured = ctx.settings.idp_secret_key or ctx.settings.soft_key_passphrase
    secret = configured.get_secret_value().encode()
    service = ActivationService(
        ctx.sessions,
        accounts=accounts,
        register=ctx.register,
        ledger=ctx.ledger,
        notifier=ctx.notifier(),
        throttle=LoginThrottle(
            ctx.cache,
            clock=ctx.clock,
            key=derive_key(secret, "activation-throttle"),
            prefix="idp:activation",
        ),
        key=derive_key(secret, "activation-code"),
        public_base_url=ctx.settings.public_base_url,
        lifetime=dt.timedelta(days=ctx.settings.activation_code_days),
    )
    setattr(ctx, _CACHED, (accounts, service))
    return service


def _expired(request: Request, lang: str) -> Response:
    """Back to ``/activate`` with the words for a flow that ran out (or never started)."""
    return _activate_page(request, lang, error=activation_texts(lang)["flow_expired"])


# --- /activate ----------------------------------------------------------------------------------


def _activate_page(
    request: Request,
    lang: str,
    *,
    code: str = "",
    prefilled: bool = False,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    query = f"&code={code}" if prefilled and code else ""
    return render(
        request, "activate.html", lang, status=status, link_query=query, code=code,
        prefilled=prefilled, error=error,
    )  # fmt: skip


@router.get("/activate", response_class=HTMLResponse, summary="Activate an account")
def activate_form(
    request: Request,
    lang: Lang = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    chosen = page_language(request, lang)
    compact = normalise_code(code or "")
    # Only a well-formed code is echoed back into the page.
    shown = format_code(compact) if compact else ""
    return _activate_page(request, chosen, code=shown, prefilled=bool(shown))


@router.post("/activate", response_class=HTMLResponse, summary="Check the activation code")
def activate_submit(
    request: Request,
    *,
    national_id: Annotated[str, Form(max_length=64)] = "",
    code: Annotated[str, Form(max_length=64)] = "",
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    national_id, code = ascii_digits(national_id), ascii_digits(code)  # Khmer keyboards
    check_csrf(request, csrf_token)
    chosen = page_language(request, lang)
    words = activation_texts(chosen)
    compact = normalise_code(code)
    shown = format_code(compact) if compact else ""
    if not national_id.strip() or not code.strip():
        return _activate_page(request, chosen, code=shown, error=words["fields_missing"])
    ctx = context_of(request)
    service = activation_service(ctx)
    try:
        account_id = service.redeem(
            national_id, code, source=client_ip(request), at=ctx.clock.now()
        )
    except ActivationFailed:
        return _activate_page(request, chosen, code=shown, error=words["activate_failed"])
    account = ctx.idp_accounts().get(account_id)
    response = see_other(flow_url("/activate/password", chosen))
    start_flow(request, response, {"account_id": account.id, "person_id": account.person_id,
                               "step": "password"})  # fmt: skip
    return response


# --- /activate/password -------------------------------------------------------------------------


def _password_page(
    request: Request, lang: str, *, error: str | None = None, reasons: list[str] | None = None
) -> HTMLResponse:
    status = 400 if error else 200
    return render(
        request, "activate_password.html", lang, status=status, error=error, reasons=reasons or []
    )


@router.get("/activate/password", response_class=HTMLResponse, summary="Choose a password")
def password_form(request: Request, lang: Lang = None) -> Response:
    chosen = page_language(request, lang)
    loaded = load_flow(request)
    if loaded is None:
        return _expired(request, chosen)
    if loaded[1].get("step") != "password":
        return where(loaded[1].get("step"), chosen)
    return _password_page(request, chosen)


@router.post("/activate/password", response_class=HTMLResponse, summary="Save the password")
def password_submit(
    request: Request,
    *,
    password: Annotated[str, Form(max_length=1024)] = "",
    repeat: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    check_csrf(request, csrf_token)
    chosen = page_language(request, lang)
    words = activation_texts(chosen)
    loaded = flow_at_step(request, "password")
    if loaded is None:
        return _expired(request, chosen)
    flow_id, flow = loaded
    if not password or not repeat:
        return _password_page(request, chosen, error=words["password_missing"])
    if password != repeat:
        return _password_page(request, chosen, error=words["password_mismatch"])
    accounts = context_of(request).idp_accounts()
    try:
        accounts.check_new_password(flow["person_id"], password)
        accounts.set_password(flow["account_id"], password, actor=flow["account_id"],
                              activate=True)  # fmt: skip
        if accounts.get(flow["account_id"]).status is not AccountStatus.ACTIVE:
            # A locked account reopened by an officer's in-person reset.
            accounts.set_status(flow["account_id"], AccountStatus.ACTIVE,
                                actor=flow["account_id"], reason="activation")  # fmt: skip
    except WeakPassword as exc:
        reasons = [words[k] for k in password_reason_keys(exc.reasons)]
        return _password_page(request, chosen, error=words["password_weak"], reasons=reasons)
    except AccountNotActive:
        response = _expired(request, chosen)
        drop_flow(request, response, flow_id)
        return response
    flow["step"] = "second_factor"
    save_flow(request, flow_id, flow)
    return see_other(flow_url("/activate/second-factor", chosen))


# --- /activate/second-factor --------------------------------------------------------------------


def _second_page(
    request: Request,
    lang: str,
    *,
    authenticator_id: str | None,
    qr: str | None = None,
    secret: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    return render(
        request, "activate_second_factor.html", lang, status=400 if error else 200,
        authenticator_id=authenticator_id, qr=qr, secret=secret, error=error,
    )  # fmt: skip


@router.get(
    "/activate/second-factor", response_class=HTMLResponse, summary="Enrol an authenticator app"
)
def second_factor_form(request: Request, lang: Lang = None) -> Response:
    chosen = page_language(request, lang)
    loaded = load_flow(request)
    if loaded is None:
        return _expired(request, chosen)
    flow_id, flow = loaded
    if flow.get("step") != "second_factor":
        return where(flow.get("step"), chosen)
    ctx = context_of(request)
    accounts = ctx.idp_accounts()
    person = ctx.register.get_person(flow["person_id"])
    enrolment = accounts.totp.begin(
        flow["account_id"], account_name=person.name_latin, at=ctx.clock.now(),
        actor=flow["account_id"],
    )  # fmt: skip
    flow["totp"] = enrolment.authenticator_id
    save_flow(request, flow_id, flow)
    secret = " ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4))
    return _second_page(
        request, chosen, authenticator_id=enrolment.authenticator_id,
        qr=qr_svg(enrolment.uri), secret=secret,
    )  # fmt: skip


@router.post(
    "/activate/second-factor", response_class=HTMLResponse, summary="Confirm the authenticator"
)
def second_factor_submit(
    request: Request,
    *,
    code: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    code = ascii_digits(code)  # a Khmer keyboard types Khmer digits
    check_csrf(request, csrf_token)
    chosen = page_language(request, lang)
    words = activation_texts(chosen)
    loaded = flow_at_step(request, "second_factor")
    if loaded is None:
        return _expired(request, chosen)
    flow_id, flow = loaded
    ctx = context_of(request)
    authenticator_id = str(flow.get("totp") or "")
    try:
        codes = ctx.idp_accounts().totp.confirm(
            flow["account_id"], authenticator_id, "".join(code.split()), at=ctx.clock.now(),
            actor=flow["account_id"],
        )  # fmt: skip
    except AuthenticatorError as exc:
        expired = exc.code == "no_pending_enrolment"
        return _second_page(
            request, chosen, authenticator_id=None if expired else authenticator_id,
            error=words["second_expired" if expired else "second_mismatch"],
        )  # fmt: skip
    flow["step"] = "done"
    login, acr = log_in(
        request, flow, wanted=AssuranceLevel.SUBSTANTIAL, amr=("pwd", "otp", "mfa"),
        next_path="/activate/done",
    )  # fmt: skip
    flow["acr"] = acr.value
    save_flow(request, flow_id, flow)
    response = render(request, "activate_codes.html", chosen, codes=codes)
    for value in login.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", value)
    return response


@router.post("/activate/passkey", summary="Register a passkey instead of an authenticator app")
def passkey_instead(request: Request, *, csrf_token: Short = "", lang: Short = "") -> Response:
    check_csrf(request, csrf_token)
    chosen = page_language(request, lang)
    loaded = flow_at_step(request, "second_factor")
    if loaded is None:
        return _expired(request, chosen)
    flow_id, flow = loaded
    # Only the password was proven: the session is ``low`` until the passkey is used to log in.
    login, _acr = log_in(
        request, flow, wanted=AssuranceLevel.LOW, amr=("pwd",),
        next_path=flow_url("/account/security", chosen) + "#passkeys",
    )  # fmt: skip
    drop_flow(request, login, flow_id)
    return login


# --- /activate/done -----------------------------------------------------------------------------


@router.get("/activate/done", response_class=HTMLResponse, summary="The account is ready")
def done(request: Request, lang: Lang = None) -> Response:
    chosen = page_language(request, lang)
    loaded = load_flow(request)
    session = current_session(request)
    if loaded is None or loaded[1].get("step") != "done":
        if loaded is not None:
            return where(loaded[1].get("step"), chosen)
        return see_other(flow_url("/account" if session is not None else "/activate", chosen))
    flow_id, flow = loaded
    level = session.acr.value if session is not None else str(flow.get("acr") or "low")
    response = render(
        request, "activate_done.html", chosen, level=level, logged_in=session is not None
    )
    drop_flow(request, response, flow_id)
    return response
