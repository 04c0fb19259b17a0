"""Account recovery pages (issue 8) and the wiring of security notifications.

Citizen pages, server-rendered in Khmer and English, no JavaScript, CSRF on every form:

* ``GET/POST /recover`` - the ID card number; a reset code goes by SMS to the registered phone
  (the page says the same whether or not it did, :mod:`idp.recovery`), then the code form.
* ``GET/POST /recover/code`` - ID card number, the SMS code and a new password: the password is
  replaced, every session ends and the browser gets a new one at level ``low``
  (``/recover/done`` says so).
* ``GET/POST /account/security/lost-device`` - "I lost my phone": removes the authenticator app
  and the passkeys ticked, ends every other session. Like every sign-in-method change it needs
  a fresh login (:data:`api.routers.idp_account.FRESH_LOGIN`) with a second factor when the
  account has one - after a lost phone that is the password plus a recovery code.
* ``GET/POST /account/recovery-codes`` - new recovery codes (the old ones stop working).

For other routers and the app factory: :func:`recovery_service` (the context's
:class:`~idp.recovery.RecoveryService`, e.g. the officer pages' in-person reset) and
:func:`install_security_notifications` (registers :class:`~idp.notifications.SecurityNotifications`
on the audit ledger; call once per context in the app factory).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final

import jinja2
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.context import AppContext
from api.digits import ascii_digits
from api.idp_web import (
    CSRF_FIELD,
    PAGE_HEADERS,
    PageRoute,
    check_csrf,
    client_ip,
    context_of,
    csrf_token,
    current_session,
    end_login_session,
    finish_login,
    login_sessions,
    page_environment,
    see_other,
    static_url,
)
from api.idp_web import form_language as _lang
from api.routers import activation
from api.routers.idp_account import FRESH_LOGIN
from api.routers.idp_account_text import account_texts
from api.routers.idp_text import texts
from api.routers.recovery_text import recovery_texts
from idp.account_models import AuthenticatorKind
from idp.errors import LoginFailed, LoginThrottled, WeakPassword
from idp.notifications import SecurityNotifications
from idp.recovery import RecoveryService
from idp.sessions import LoginSession
from idp.totp import derive_key

__all__ = ["install_security_notifications", "recovery_service", "router"]

router = APIRouter(tags=["idp"], route_class=PageRoute)

_CACHED: Final = "_natid_recovery_service"
_TEMPLATES: Final = Path(__file__).resolve().parent.parent / "templates"
_LANGUAGE_NAMES: Final = (("km", "ខ្មែរ"), ("en", "English"))

Short = Annotated[str, Form(max_length=128)]
Lang = Annotated[str | None, Query(max_length=8)]


# --- services -----------------------------------------------------------------------------------


def recovery_service(ctx: AppContext) -> RecoveryService:
    """The context's recovery service, built on first use (again if the account service was
    replaced). Reset codes are HMAC-keyed with a key derived from ``NATID_IDP_SECRET_KEY`` (or
    the soft key passphrase); in-person resets issue through the activation service."""
    from idp.sessions import LoginSessions

    accounts = ctx.idp_accounts()
    cached: tuple[object, RecoveryService] | None = vars(ctx).get(_CACHED)
    if cached is not None and cached[0] is accounts:
        return cached[1]
    configured = ctx.settings.idp_secret_key or ctx.settings.soft_key_passphrase
    service = RecoveryService(
        ctx.sessions,
        accounts=accounts,
        login_sessions=LoginSessions(ctx.sessions, ledger=ctx.ledger),
        register=ctx.register,
        ledger=ctx.ledger,
        notifier=ctx.notifier(),
        cache=ctx.cache,
        key=derive_key(configured.get_secret_value().encode(), "password-reset"),
        activations=activation.activation_service(ctx),
        tokens=ctx.idp_core().tokens,
    )
    vars(ctx)[_CACHED] = (accounts, service)
    return service


def install_security_notifications(ctx: AppContext) -> SecurityNotifications:
    """Send security notices for the context's audit events (idempotent per context)."""
    notices = SecurityNotifications(ctx.sessions, register=ctx.register, notifier=ctx.notifier())
    ctx.ledger.add_listener("security-notifications", notices)
    return notices


# --- rendering ------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    return page_environment("recovery")


def _render(
    request: Request,
    name: str,
    lang: str,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render ``name`` with the shared words ``t``, the account words ``w``, ours as ``r``."""
    context: dict[str, Any] = {
        "lang": lang,
        "t": texts(lang),
        "w": account_texts(lang),
        "r": recovery_texts(lang),
        CSRF_FIELD: csrf_token(request, None),
        "languages": [
            {"code": code, "name": label, "href": f"{request.url.path}?lang={code}"}
            for code, label in _LANGUAGE_NAMES
        ],
        "static": static_url,
        "pending": None,
        "notice": None,
        "error": None,
        "section": "security",
    }
    context.update(values)
    response = HTMLResponse(
        _environment().get_template(name).render(context),
        status_code=status,
        headers={**PAGE_HEADERS, "Content-Language": lang},
    )
    csrf_token(request, response)  # sets the pre-session cookie on a first visit
    return response


# --- /recover -------------------------------------------------------------------------------------


@router.get("/recover", response_class=HTMLResponse, summary="Forgot password: ask for an SMS code")
def recover_form(request: Request, lang: Lang = None) -> Response:
    return _render(request, "recover.html", _lang(request, lang), identifier="")


@router.post("/recover", response_class=HTMLResponse, summary="Send a password reset code by SMS")
def recover_submit(
    request: Request, *, identifier: Short = "", csrf_token: Short = "", lang: Short = ""
) -> Response:
    identifier = ascii_digits(identifier)  # a Khmer keyboard types Khmer digits
    check_csrf(request, csrf_token)
    chosen = _lang(request, lang)
    words = recovery_texts(chosen)
    if not identifier.strip():
        return _render(request, "recover.html", chosen, 400, identifier="", error=words["missing"])
    ctx = context_of(request)
    try:
        recovery_service(ctx).start_sms_reset(
            identifier, source=client_ip(request), at=ctx.clock.now(), locale=chosen
        )
    except LoginThrottled:
        return _render(
            request, "recover.html", chosen, 429, identifier="", error=words["throttled"]
        )
    return _render(request, "recover_code.html", chosen, identifier=identifier.strip(), sent=True)


@router.get("/recover/code", response_class=HTMLResponse, summary="Enter the SMS code")
def recover_code_form(request: Request, lang: Lang = None) -> Response:
    return _render(request, "recover_code.html", _lang(request, lang), identifier="", sent=False)


@router.post("/recover/code", response_class=HTMLResponse, summary="Set a new password")
def recover_code_submit(
    request: Request,
    *,
    identifier: Short = "",
    code: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    identifier, code = ascii_digits(identifier), ascii_digits(code)  # Khmer keyboards
    check_csrf(request, csrf_token)
    chosen = _lang(request, lang)
    words = recovery_texts(chosen)

    def again(status: int, key: str) -> HTMLResponse:
        return _render(
            request, "recover_code.html", chosen, status,
            identifier=identifier.strip(), sent=False, error=words[key],
        )  # fmt: skip

    if not (identifier.strip() and code.strip() and password):
        return again(400, "missing")
    ctx = context_of(request)
    now = ctx.clock.now()
    service = recovery_service(ctx)
    try:
        account_id = service.finish_sms_reset(
            identifier, code, password, source=client_ip(request), at=now
        )
    except LoginThrottled:
        return again(429, "throttled")
    except WeakPassword:
        return again(400, "weak_password")
    except LoginFailed:
        return again(400, "reset_failed")
    return finish_login(
        request,
        service.login_after_reset(account_id, at=now),
        None,
        next_path=f"/recover/done?lang={chosen}",
    )


@router.get("/recover/done", response_class=HTMLResponse, summary="The password was reset")
def recover_done(request: Request, lang: Lang = None) -> Response:
    return _render(request, "recover_done.html", _lang(request, lang))


# --- account: lost phone, recovery codes --------------------------------------------------------


def _fresh(request: Request, session: LoginSession) -> bool:
    """The account pages' rule: a recent login, with a second factor if the account has one."""
    ctx = context_of(request)
    kinds = {a.kind for a in ctx.idp_accounts().authenticators(session.account_id)}
    has_second = bool(kinds & {AuthenticatorKind.TOTP, AuthenticatorKind.PASSKEY})
    recent = ctx.clock.now() - session.auth_time <= FRESH_LOGIN
    return recent and (not has_second or "mfa" in session.amr)


def _passkeys(request: Request, account_id: str) -> list[Mapping[str, Any]]:
    authenticators = context_of(request).idp_accounts().authenticators(account_id)
    return [
        {"id": a.id, "label": a.label or "passkey", "created_at": a.created_at}
        for a in authenticators
        if a.kind is AuthenticatorKind.PASSKEY
    ]


def _account_page(
    request: Request, name: str, lang: str, session: LoginSession, status: int = 200, **values: Any
) -> HTMLResponse:
    values.setdefault("fresh", _fresh(request, session))
    values.setdefault("next_path", request.url.path)
    return _render(request, name, lang, status, **values)


@router.get("/account/security/lost-device", response_class=HTMLResponse, summary="I lost my phone")
def lost_device_form(request: Request, lang: Lang = None, done: str | None = None) -> Response:
    session = current_session(request)
    if session is None:
        return see_other("/login?next=/account/security/lost-device")
    chosen = _lang(request, lang)
    return _account_page(
        request, "lost_device.html", chosen, session,
        passkeys=_passkeys(request, session.account_id),
        notice=None, done=done == "1",
    )  # fmt: skip


@router.post("/account/security/lost-device", summary="Report a lost phone")
def lost_device_submit(
    request: Request,
    *,
    passkey: Annotated[list[str] | None, Form(max_length=64)] = None,
    csrf_token: Short = "",
    lang: Short = "",
) -> Response:
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return see_other("/login?next=/account/security/lost-device")
    chosen = _lang(request, lang)
    if not _fresh(request, session):
        return _account_page(
            request, "lost_device.html", chosen, session, 403, fresh=False,
            passkeys=[], done=False, error=recovery_texts(chosen)["reauth_needed"],
        )  # fmt: skip
    ctx = context_of(request)
    # End the other sessions here first, so the clients they logged into get a back-channel
    # logout (OIDC Back-Channel Logout 1.0 §2.5); the service then finds none left to end.
    for live in login_sessions(request).list_for_account(session.account_id, at=ctx.clock.now()):
        if live.id != session.id:
            end_login_session(request, live, reason="lost_device", account_id=session.account_id)
    recovery_service(ctx).report_lost_device(
        session.account_id,
        at=ctx.clock.now(),
        passkey_ids=tuple((passkey or [])[:20]),
        keep_session_id=session.id,
    )
    return see_other(f"/account/security/lost-device?done=1&lang={chosen}")


@router.get(
    "/account/recovery-codes", response_class=HTMLResponse, summary="Make new recovery codes"
)
def recovery_codes_form(request: Request, lang: Lang = None) -> Response:
    session = current_session(request)
    if session is None:
        return see_other("/login?next=/account/recovery-codes")
    chosen = _lang(request, lang)
    enrolled = context_of(request).idp_accounts().totp.status(session.account_id).enrolled
    return _account_page(request, "recovery_codes.html", chosen, session, enrolled=enrolled)


@router.post(
    "/account/recovery-codes", response_class=HTMLResponse, summary="Make new recovery codes"
)
def recovery_codes_submit(
    request: Request, *, csrf_token: Short = "", lang: Short = ""
) -> Response:
    check_csrf(request, csrf_token)
    session = current_session(request)
    if session is None:
        return see_other("/login?next=/account/recovery-codes")
    chosen = _lang(request, lang)
    ctx = context_of(request)
    accounts = ctx.idp_accounts()
    enrolled = accounts.totp.status(session.account_id).enrolled
    if not enrolled or not _fresh(request, session):
        key = "codes_need_totp" if not enrolled else "reauth_needed"
        return _account_page(
            request, "recovery_codes.html", chosen, session, 403,
            enrolled=enrolled, error=recovery_texts(chosen)[key],
        )  # fmt: skip
    codes = accounts.totp.regenerate_recovery_codes(
        session.account_id, at=ctx.clock.now(), actor=session.account_id
    )
    return _render(request, "account_recovery.html", chosen, codes=codes)
